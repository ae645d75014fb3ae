"""What a DAG file imports first works on its own, in a fresh interpreter (no circular
import depends on something else having been imported before)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "statement",
    [
        "from tradewind.sensors import FileSensor, PythonSensor",
        "from tradewind.sensors.base import BaseSensorOperator",
        "from tradewind.sensors.bash import BashSensor",
        "from tradewind.operators import BashOperator",
        "from tradewind.sdk import dag, task",
        "from tradewind.triggers.temporal import TimeDeltaTrigger",
        "from tradewind.xcom import XComFile",
    ],
)
def test_a_first_import_works_on_its_own(statement: str) -> None:
    done = subprocess.run([sys.executable, "-c", statement], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
