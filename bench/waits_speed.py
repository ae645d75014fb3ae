"""How cheaply the service waits: deferred tasks in the triggerer, sensors in reschedule mode.

Runs the DAG processor once, then ``tradewind scheduler`` and ``tradewind triggerer`` as
separate processes against a fresh ``$TRADEWIND_HOME`` (SQLite; PostgreSQL with
``--postgres URL``), and measures:

a. 1,000 concurrent deferred waits of 5 s each (a task mapped over 1,000 inputs, each
   deferring to a ``TimeDeltaTrigger``) with one triggerer and 2 local workers: trigger
   to run end (goal <= 10 s), and the triggerer's peak RSS (goal <= 150 MB); then the
   same with ``end_from_trigger`` (the trigger ends each task: no resume in a worker),
   with ``start_from_trigger`` (each task starts waiting, no first worker try), and with
   both (a pure wait: no worker at all);
b. 200 sensors in reschedule mode poking every second (each done 8 s after the run
   started) on 4 worker slots, beside a 20-task chain of ordinary tasks in the same run:
   when the chain ends compared with the chain alone (no starvation), and when the sensors
   end.

    .venv/bin/python bench/waits_speed.py [--postgres postgresql://postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proctree import PeakSampler, tree_cpu_seconds
from service_speed import _utc

DEFERRED = """
from datetime import timedelta
from tradewind.sdk import BaseOperator, dag
from tradewind.triggers.base import StartTriggerArgs
from tradewind.triggers.temporal import TimeDeltaTrigger


class Wait(BaseOperator):
    def __init__(self, i, **kwargs):
        super().__init__(**kwargs)
        self.i = i

    def execute(self, context):
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=5)), method_name="done")

    def done(self, context, event=None):
        return None


@dag(schedule=None, max_active_tasks=2000)
def bench_deferred_1000():
    Wait.partial(task_id="wait").expand(i=list(range(1000)))

bench_deferred_1000()


class WaitEndingInTriggerer(BaseOperator):
    def __init__(self, i, **kwargs):
        super().__init__(**kwargs)
        self.i = i

    def execute(self, context):
        trigger = TimeDeltaTrigger(timedelta(seconds=5), end_from_trigger=True)
        self.defer(trigger=trigger, method_name="done")

    def done(self, context, event=None):
        return None


@dag(schedule=None, max_active_tasks=2000)
def bench_deferred_1000_end_from_trigger():
    WaitEndingInTriggerer.partial(task_id="wait").expand(i=list(range(1000)))

bench_deferred_1000_end_from_trigger()


class WaitFromTheStart(BaseOperator):
    start_from_trigger = True
    start_trigger_args = StartTriggerArgs(
        trigger_cls="tradewind.triggers.temporal.TimeDeltaTrigger",
        trigger_kwargs={"delta": timedelta(seconds=5)},
        next_method="done",
    )

    def __init__(self, i, **kwargs):
        super().__init__(**kwargs)
        self.i = i

    def done(self, context, event=None):
        return None


@dag(schedule=None, max_active_tasks=2000)
def bench_deferred_1000_start_from_trigger():
    WaitFromTheStart.partial(task_id="wait").expand(i=list(range(1000)))

bench_deferred_1000_start_from_trigger()


class OnlyWait(WaitFromTheStart):
    start_trigger_args = StartTriggerArgs(
        trigger_cls="tradewind.triggers.temporal.TimeDeltaTrigger",
        trigger_kwargs={"delta": timedelta(seconds=5), "end_from_trigger": True},
        next_method="done",
    )


@dag(schedule=None, max_active_tasks=2000)
def bench_deferred_1000_in_triggerer_only():
    OnlyWait.partial(task_id="wait").expand(i=list(range(1000)))

bench_deferred_1000_in_triggerer_only()
"""

SENSORS = """
from datetime import UTC, datetime
from tradewind.sdk import chain, dag, task
from tradewind.sensors.python import PythonSensor


def eight_seconds_in(**context):
    return (datetime.now(UTC) - context["dag_run"].start_date).total_seconds() >= 8


@dag(schedule=None, max_active_tasks=2000)
def bench_sensors_200(with_sensors: bool = True):
    for i in range(200):
        PythonSensor(
            task_id=f"sensor_{i}",
            python_callable=eight_seconds_in,
            mode="reschedule",
            poke_interval=1,
        )

    @task
    def step(x=0):
        return x

    chain(*[step.override(task_id=f"step_{i}")() for i in range(20)])

bench_sensors_200()

@dag(schedule=None)
def bench_chain_20():
    @task
    def step(x=0):
        return x

    chain(*[step.override(task_id=f"step_{i}")() for i in range(20)])

bench_chain_20()
"""


class Services:
    def __init__(self, home: Path, dags: Path, db_url: str | None, workers: int) -> None:
        self.home, self.dags = home, dags
        self.env = {**os.environ, "TRADEWIND_HOME": str(home)}
        self.env["TRADEWIND__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "false"
        if db_url:
            self.env["TRADEWIND__DATABASE__URL"] = db_url
        self.db_url = db_url or f"sqlite:///{home / 'tradewind.db'}"
        self.workers = workers
        self.procs: list[subprocess.Popen[bytes]] = []

    def cli(self, *args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "tradewind.cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise SystemExit(f"tradewind {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    def start(self) -> tuple[int, int]:
        self.cli("db", "migrate")
        from tradewind.secrets.encryption import ensure_fernet_key

        ensure_fernet_key(self.home)
        self.cli("dag-processor", "--dags-folder", str(self.dags), "--once")
        log = open(self.home / "services.log", "wb")  # noqa: SIM115
        for args in (
            ["scheduler", "--dags-folder", str(self.dags), "--workers", str(self.workers)],
            ["triggerer"],
        ):
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tradewind.cli.main", *args],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        time.sleep(2)  # workers warm
        return self.procs[0].pid, self.procs[1].pid

    def run(self, dag_id: str, run_id: str, timeout: float = 120) -> tuple[float, Any]:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.db_url)
        started = datetime.now(UTC)
        self.cli("dags", "trigger", dag_id, "--run-id", run_id)
        deadline = time.monotonic() + timeout
        query = text("SELECT state, end_date FROM dag_run WHERE dag_id = :d AND run_id = :r")
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                row = conn.execute(query, {"d": dag_id, "r": run_id}).first()
            if row is not None and row[0] in ("success", "failed"):
                end = _utc(row[1])
                return (end - started).total_seconds(), (engine, row[0])
            time.sleep(0.05)
        raise SystemExit(f"{dag_id} did not finish in {timeout} s")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _ends(engine: Any, dag_id: str, run_id: str, prefix: str) -> list[datetime]:
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT end_date FROM task_instance WHERE dag_id = :d AND run_id = :r "
                "AND task_id LIKE :p"
            ),
            {"d": dag_id, "r": run_id, "p": prefix + "%"},
        ).scalars()
        return [_utc(v) for v in rows]


def deferred(db_url: str | None) -> None:
    home = Path(tempfile.mkdtemp(prefix="tw-bench-waits-"))
    dags = home / "dags"
    dags.mkdir()
    (dags / "deferred.py").write_text(textwrap.dedent(DEFERRED))
    services = Services(home, dags, db_url, workers=2)
    try:
        scheduler_pid, triggerer_pid = services.start()
        cpu_before = tree_cpu_seconds(scheduler_pid), tree_cpu_seconds(triggerer_pid)
        sampler = PeakSampler(triggerer_pid)
        sampler.start()
        seconds, (_, state) = services.run("bench_deferred_1000", "bench_1")
        ended, (_, ended_state) = services.run("bench_deferred_1000_end_from_trigger", "bench_2")
        started, (_, started_state) = services.run(
            "bench_deferred_1000_start_from_trigger", "bench_3"
        )
        only, (_, only_state) = services.run("bench_deferred_1000_in_triggerer_only", "bench_4")
        sampler.stop.set()
        sampler.join()
        print(
            f"a. 1,000 deferred 5 s waits, 1 triggerer, 2 workers: {seconds:.2f} s ({state}); "
            f"goal <= 10 s"
        )
        print(
            f"   the same, each ending in the triggerer (end_from_trigger, no resume try): "
            f"{ended:.2f} s ({ended_state})"
        )
        print(
            f"   the same, each starting in the triggerer (start_from_trigger, no first try; "
            f"resumes in a worker): {started:.2f} s ({started_state})"
        )
        print(
            f"   the same, starting and ending in the triggerer (no worker at all): "
            f"{only:.2f} s ({only_state})"
        )
        cpu_scheduler = tree_cpu_seconds(scheduler_pid) - cpu_before[0]
        cpu_triggerer = tree_cpu_seconds(triggerer_pid) - cpu_before[1]
        print(
            f"   CPU over the four runs: scheduler + workers + task processes "
            f"{cpu_scheduler:.1f} s, "
            f"triggerer {cpu_triggerer:.1f} s"
        )
        print(
            f"   triggerer peak RSS {sampler.rss:.0f} MB (PSS {sampler.pss:.0f} MB); goal <= 150 MB"
        )
    finally:
        services.stop()
        shutil.rmtree(home, ignore_errors=True)


def sensors(db_url: str | None) -> None:
    home = Path(tempfile.mkdtemp(prefix="tw-bench-sensors-"))
    dags = home / "dags"
    dags.mkdir()
    (dags / "sensors.py").write_text(textwrap.dedent(SENSORS))
    services = Services(home, dags, db_url, workers=4)
    try:
        services.start()
        alone, _ = services.run("bench_chain_20", "alone")
        seconds, (engine, state) = services.run("bench_sensors_200", "busy")
        from sqlalchemy import text

        with engine.connect() as conn:
            start = conn.execute(
                text("SELECT start_date FROM dag_run WHERE run_id = 'busy'")
            ).scalar()
        start = _utc(start)
        chain_end = max(_ends(engine, "bench_sensors_200", "busy", "step_"))
        sensor_ends = _ends(engine, "bench_sensors_200", "busy", "sensor_")
        with engine.connect() as conn:
            pokes = conn.execute(text("SELECT count(*) FROM task_reschedule")).scalar()
        print(
            f"b. 200 reschedule sensors poking every 1 s on 4 slots + a 20-task chain: run "
            f"{seconds:.2f} s ({state})"
        )
        print(
            f"   chain alone {alone:.2f} s; beside the sensors it ended "
            f"{(chain_end - start).total_seconds():.2f} s into the run"
        )
        print(
            f"   sensors done {(max(sensor_ends) - start).total_seconds():.2f} s into the run "
            f"(each waits 8 s); {pokes} reschedules recorded"
        )
    finally:
        services.stop()
        if not os.environ.get("TW_KEEP"):
            shutil.rmtree(home, ignore_errors=True)
        else:
            print("kept", home)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", help="admin URL; a throwaway database is made there")
    parser.add_argument("--only", choices=["deferred", "sensors"])
    args = parser.parse_args()
    db_url = None
    if args.postgres:
        from service_speed import _postgres_database

        db_url, drop = _postgres_database(args.postgres)
    try:
        if args.only in (None, "deferred"):
            deferred(db_url)
        if args.only in (None, "sensors"):
            sensors(db_url)
    finally:
        if args.postgres:
            drop()


if __name__ == "__main__":
    main()
