"""How fast ``tradewind dags test`` runs a 50-task chain and a 1→100 mapped fan-out.

Prints, for each workload, the wall time of the whole command (interpreter start to exit,
what a user waits for) and of the in-process run alone, as the median and best of N runs.

    .venv/bin/python bench/dags_test_speed.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

CHAIN = """
from tradewind.sdk import dag, task

@dag(schedule=None)
def bench_chain_50():
    @task
    def add_one(x: int) -> int:
        return x + 1

    value = add_one(0)
    for _ in range(49):
        value = add_one(value)

bench_chain_50()
"""

FANOUT = """
from tradewind.sdk import dag, task

@dag(schedule=None)
def bench_fanout_100():
    @task
    def numbers() -> list[int]:
        return list(range(100))

    @task
    def square(x: int) -> int:
        return x * x

    @task
    def total(values) -> int:
        result = sum(values)
        assert result == sum(i * i for i in range(100)), result
        return result

    total(square.expand(x=numbers()))

bench_fanout_100()
"""

WORKLOADS = {
    "bench_chain_50": ("50-task @task chain passing an int", 0.5, 14.4),
    "bench_fanout_100": ("1 -> 100 mapped tasks -> sum", 1.0, 18.4),
}


def time_cli(folder: Path, dag_id: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tradewind.cli.main",
            "dags",
            "test",
            dag_id,
            "--dags-folder",
            str(folder),
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or '"state": "success"' not in proc.stdout:
        raise SystemExit(f"{dag_id} did not succeed:\n{proc.stdout}\n{proc.stderr[-2000:]}")
    return elapsed


def time_in_process(folder: Path, dag_id: str) -> float:
    from tradewind.dag_processing.loader import DagBag
    from tradewind.inprocess import run_dag

    dag = DagBag.from_folder(folder).get_dag(dag_id)
    start = time.perf_counter()
    result = run_dag(dag)
    elapsed = time.perf_counter() - start
    assert result.state.value == "success", result.task_states()
    return elapsed


def time_help() -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tradewind.cli.main", "--help"], capture_output=True, check=True
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "chain.py").write_text(textwrap.dedent(CHAIN))
        (folder / "fanout.py").write_text(textwrap.dedent(FANOUT))
        print(f"tradewind dags test, {args.repeat} runs each (python {sys.version.split()[0]})")
        print(
            f"{'workload':<38} {'command median':>14} {'best':>7} {'in-process':>11} "
            f"{'target':>7} {'Airflow':>8}"
        )
        helps = [time_help() for _ in range(args.repeat)]
        print(
            f"{'tradewind --help':<38} {statistics.median(helps):>13.3f}s {min(helps):>6.3f}s "
            f"{'':>11} {0.3:>6.1f}s"
        )
        for dag_id, (label, target, airflow) in WORKLOADS.items():
            cli = [time_cli(folder, dag_id) for _ in range(args.repeat)]
            inproc = [time_in_process(folder, dag_id) for _ in range(args.repeat)]
            median = statistics.median(cli)
            verdict = "ok" if median <= target else "MISSED"
            print(
                f"{label:<38} {median:>13.3f}s {min(cli):>6.3f}s "
                f"{statistics.median(inproc):>10.3f}s {target:>6.1f}s {airflow:>7.1f}s  {verdict}"
            )


if __name__ == "__main__":
    main()
