"""A worker primes what tries of a DAG file need, once, before forking them: and only that.

Each case runs in a fresh interpreter set up as a worker is (its preloads), so what is
imported shows in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROBE = """
import json, sys
from pathlib import Path
from tradewind.execution.worker import preload
preload()
from tradewind.dag_processing.loader import load_dag_file
from tradewind.execution.priming import prime
from tradewind.operators import python

dags = load_dag_file(Path(sys.argv[1]), 30)
before = {m: m in sys.modules for m in ("jsonschema", "asyncio")}
prime(dags)
callables = [
    getattr(t, "python_callable", None) or getattr(t, "partial_kwargs", {}).get("python_callable")
    for d in dags for t in d.task_dict.values()
]
print(json.dumps({
    "before": before,
    "jsonschema": "jsonschema" in sys.modules,
    "asyncio": "asyncio" in sys.modules,
    "triggers": "tradewind.triggers.temporal" in sys.modules,
    "jinja": all("_tw_jinja_env" in d.__dict__ for d in dags),
    "signatures": all(fn in python._signatures for fn in callables if fn is not None),
}))
"""


def primed(tmp_path: Path, source: str) -> dict[str, object]:
    path = tmp_path / "dag_file.py"
    path.write_text(textwrap.dedent(source))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


PLAIN = """
from tradewind.sdk import dag, task, Param

@dag(schedule=None, params={"n": Param(3, type="integer")})
def plain():
    @task
    def one(x: int, ti=None) -> int:
        return x

    @task
    def each(x: int) -> int:
        return x

    each.expand(x=[one(1), one(2)])

plain()
"""


def test_plain_tasks_get_their_environment_and_signatures_and_nothing_heavy(
    tmp_path: Path,
) -> None:
    result = primed(tmp_path, PLAIN)
    assert result["before"] == {"jsonschema": False, "asyncio": False}
    assert result["jinja"] is True and result["signatures"] is True
    # A type-only schema is checked without jsonschema; nothing here defers.
    assert result["jsonschema"] is False and result["asyncio"] is False


@pytest.mark.parametrize(
    "param",
    [
        'Param(3, type="integer", minimum=1)',
        'Param("a", enum=["a", "b"])',
        'Param("x@y.z", type="string", format="email")',
    ],
)
def test_a_schema_beyond_a_type_check_primes_jsonschema(tmp_path: Path, param: str) -> None:
    source = f"""
    from tradewind.sdk import DAG, Param
    from tradewind.operators import EmptyOperator
    with DAG("schema", schedule=None):
        EmptyOperator(task_id="a", params={{"p": {param}}})
    """
    assert primed(tmp_path, source)["jsonschema"] is True


@pytest.mark.parametrize(
    "task",
    [
        'TimeDeltaSensor(task_id="wait", delta=timedelta(seconds=1), deferrable=True)',
        'DateTimeSensorAsync(task_id="wait", target_time=datetime(2030, 1, 1, tzinfo=UTC))',
        'FileSensor.partial(task_id="wait", deferrable=True).expand(filepath=["a", "b"])',
    ],
)
def test_a_task_that_may_defer_primes_the_triggers(tmp_path: Path, task: str) -> None:
    source = f"""
    from datetime import UTC, datetime, timedelta
    from tradewind.sdk import DAG
    from tradewind.sensors import DateTimeSensorAsync, FileSensor, TimeDeltaSensor
    with DAG("defers", schedule=None):
        {task}
    """
    result = primed(tmp_path, source)
    assert result["before"] == {"jsonschema": False, "asyncio": False}
    assert result["triggers"] is True and result["asyncio"] is True


def test_sensors_that_only_poke_do_not(tmp_path: Path) -> None:
    source = """
    from datetime import timedelta
    from tradewind.sdk import DAG
    from tradewind.sensors import TimeDeltaSensor
    with DAG("pokes", schedule=None):
        TimeDeltaSensor(task_id="wait", delta=timedelta(seconds=1), mode="reschedule")
    """
    result = primed(tmp_path, source)
    assert result["triggers"] is False and result["asyncio"] is False
