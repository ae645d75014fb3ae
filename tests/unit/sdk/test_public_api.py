"""The SDK's public surface is what ``tradewind.sdk.__all__`` lists, and it is light to import."""

from __future__ import annotations

import importlib
import subprocess
import sys

import tradewind.sdk

PROMISED = [
    "DAG",
    "BaseOperator",
    "BaseSensorOperator",
    "Connection",
    "Context",
    "Label",
    "Param",
    "ParamsDict",
    "PokeReturnValue",
    "TaskGroup",
    "TradewindFailException",
    "TradewindSkipException",
    "TriggerRule",
    "Variable",
    "WeightRule",
    "XComArg",
    "XComFile",
    "chain",
    "chain_linear",
    "cross_downstream",
    "dag",
    "get_current_context",
    "setup",
    "task",
    "task_group",
    "teardown",
]


def test_all_lists_exactly_the_promised_names() -> None:
    assert sorted(tradewind.sdk.__all__) == sorted(PROMISED)
    assert len(set(tradewind.sdk.__all__)) == len(tradewind.sdk.__all__)


def test_every_promised_name_is_importable() -> None:
    module = importlib.import_module("tradewind.sdk")
    missing = [name for name in PROMISED if getattr(module, name, None) is None]
    assert missing == []
    namespace: dict[str, object] = {}
    exec("from tradewind.sdk import *", namespace)
    assert set(PROMISED) <= set(namespace)


def test_importing_the_sdk_does_not_pull_in_heavy_dependencies() -> None:
    code = (
        "import sys, tradewind.sdk\n"
        "heavy = ['jinja2', 'jsonschema', 'croniter', 'sqlalchemy', 'tradewind.execution']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_defining_a_dag_without_params_or_cron_stays_light() -> None:
    code = (
        "import sys\n"
        "from tradewind.sdk import DAG, task\n"
        "with DAG('light') as d:\n"
        "    @task\n"
        "    def t():\n"
        "        return 1\n"
        "    t()\n"
        "print(','.join(m for m in ('jinja2', 'jsonschema', 'croniter') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
