"""Record ``airflow_states.json``: run every scenario under real Apache Airflow and keep its states.

Not a test and not part of Tradewind: run it with the interpreter of a virtualenv where Apache
Airflow 3.3.2 is installed (never Tradewind's own), whenever a scenario is added or changed::

    AIRFLOW_HOME=/tmp/afhome /work/airflow-venv/bin/python tests/compat/record_airflow_states.py
    ... record_airflow_states.py mapped_group_simple mapped_group_zero_length   # only these
    ... record_airflow_states.py --check                                          # compare only

It takes ``scenarios.py`` as it is, swaps the block between ``# -- imports: begin`` and
``# -- imports: end`` for Airflow's imports (the scenario bodies are plain Airflow-3 authoring
code), writes the result into ``$AIRFLOW_HOME/dags`` (``DAG.test()`` only runs DAGs it finds
in the DAGs folder), runs each chosen scenario with ``DAG.test()`` and reads every task
instance's final state from Airflow's metadata database: ``task_id`` for an unmapped task,
``task_id[i]`` for map index ``i``. Recorded scenarios are merged into the JSON file; the
others are kept as they were.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios.py"
STATES = HERE / "airflow_states.json"

AIRFLOW_IMPORTS = """\
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from airflow.sdk import DAG, TaskGroup, task, task_group
from airflow.sdk.exceptions import AirflowSkipException as SkipException
"""

#: Appended to the generated module: build only the scenarios named in the environment, so
#: each ``DAG.test()`` (which parses the DAGs folder again) stays quick.
BUILD_TAIL = """

import os as _os

for _name in _os.environ.get("TW_SCENARIOS", "").split(","):
    if _name:
        globals()["dag_" + _name] = SCENARIOS[_name]()
"""


def airflow_module_text() -> str:
    """``scenarios.py`` with Airflow's imports instead of Tradewind's."""
    text = SCENARIOS.read_text()
    pattern = re.compile(r"(# -- imports: begin[^\n]*\n).*?(# -- imports: end)", re.DOTALL)
    if not pattern.search(text):
        raise SystemExit("scenarios.py has no '# -- imports: begin/end' block")
    return pattern.sub(lambda m: m.group(1) + AIRFLOW_IMPORTS + "\n" + m.group(2), text)


def prepare_home(home: Path, names: list[str]) -> Path:
    """Migrate Airflow's database in ``home`` and write the scenario module to its DAGs folder."""
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ["TW_SCENARIOS"] = ",".join(names)
    dags = home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    target = dags / "tradewind_scenarios.py"
    target.write_text(airflow_module_text() + BUILD_TAIL)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return target


def run_scenario(module: Any, name: str) -> dict[str, Any]:
    """Run one scenario with ``DAG.test()``; its run state and every task instance's state."""
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    dag = getattr(module, "dag_" + name)
    run = dag.test()
    with create_session() as session:
        rows = (
            session.query(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state)
            .filter(TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == run.run_id)
            .all()
        )
    tasks = {
        (task_id if map_index < 0 else f"{task_id}[{map_index}]"): state
        for task_id, map_index, state in rows
    }
    state = run.state.value if hasattr(run.state, "value") else str(run.state)
    return {"run": state, "tasks": dict(sorted(tasks.items()))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="scenarios to record (default: all)")
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()

    home = Path(os.environ.get("AIRFLOW_HOME") or tempfile.mkdtemp(prefix="airflow-home-"))
    # Import the scenarios once under their Airflow imports just to learn their names.
    namespace: dict[str, Any] = {"__name__": "tradewind_scenarios_names"}
    exec(compile(airflow_module_text(), str(SCENARIOS), "exec"), namespace)
    known = list(namespace["SCENARIOS"])
    names = args.names or known
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise SystemExit(f"no such scenarios: {unknown}")

    target = prepare_home(home, names)
    import importlib.util

    spec = importlib.util.spec_from_file_location("tradewind_scenarios", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    recorded = json.loads(STATES.read_text()) if STATES.exists() else {}
    differ = []
    for name in names:
        result = run_scenario(module, name)
        if recorded.get(name) != result:
            differ.append(name)
        recorded[name] = result
        print(name, json.dumps(result), flush=True)
    if args.check:
        print("differ from the recorded file:", differ or "none")
        return 1 if differ else 0
    ordered = {name: recorded[name] for name in known if name in recorded}
    STATES.write_text(json.dumps(ordered, indent=1) + "\n")
    print(f"wrote {len(ordered)} scenarios to {STATES.name}; changed: {differ or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
