"""How fast and how light the whole service is: ``tradewind standalone`` end to end.

Starts ``tradewind standalone`` as a subprocess against a fresh ``$TRADEWIND_HOME`` (a temp
dir; SQLite by default, and a throwaway PostgreSQL database with ``--postgres URL``) on a
temp DAGs folder, and measures what a user sees:

a. a 50-task ``@task`` chain passing an int, triggered with ``tradewind dags trigger``:
   from starting the trigger command to the run's ``end_date`` (the bench polls the DB to
   see it finish); the first run after start-up (workers import the DAG file) is shown
   apart, the figure is the median of the next ``--repeat`` runs. Shown beside it: the
   trigger command's own time (a fresh interpreter) and the run's (created to ended);
b. latency from a task finishing to its downstream starting (each TI's ``end_date`` to the
   next one's ``start_date`` along the chain), p50 and p95 over those runs;
c. a 1 -> 1000 mapped fan-out of no-op tasks: trigger to run end, and completions per
   second over the mapped tries (their count over first start to last end), medians of
   ``--fanouts`` runs; and the CPU time per try of the whole process tree;
d. the sum of RSS (and of PSS, from ``/proc/*/smaps_rollup``) over the whole standalone
   process tree (scheduler, DAG processor, workers, task processes), peak while the
   fan-out runs;
e. the chain again with 100,000 finished task instances in the DB (scheduler cost must not
   grow with history); ``--no-history`` skips it. On PostgreSQL the bench runs ``ANALYZE``
   after adding them, as autovacuum would shortly after such growth.

    .venv/bin/python bench/service_speed.py [--repeat 5] [--fanouts 2] [--postgres URL]
        [--no-sqlite] [--no-history] [--workers N] [--keep]

The machine should be otherwise idle: on 2 CPUs the fan-out is CPU-bound, and anything
else running (a test suite) shows in every figure.

``--postgres postgresql://postgres@127.0.0.1:5432`` creates a database ``tw_bench_<pid>``
there and drops it at the end. Airflow 3.3.2 figures (LocalExecutor on PostgreSQL, the same
kind of 2-core machine, measured for issue 3) are quoted beside the targets.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proctree import PeakSampler, tree_cpu_seconds, tree_memory_mb

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

@dag(schedule=None, max_active_tasks=1024)
def bench_fanout_1000():
    @task
    def numbers() -> list[int]:
        return list(range(1000))

    @task
    def noop(x: int) -> None:
        return None

    noop.expand(x=numbers())

bench_fanout_1000()
"""

CHAIN_ID, FANOUT_ID = "bench_chain_50", "bench_fanout_1000"


# -- the service under test --------------------------------------------------------------------


@dataclass
class Service:
    """A running ``tradewind standalone`` and how to reach its database."""

    home: Path
    env: dict[str, str]
    db_url: str
    proc: subprocess.Popen[bytes] | None = None
    engine: Any = None
    log: Any = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "tradewind.cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise SystemExit(f"tradewind {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
        return proc

    def start(self, dags: Path) -> None:
        standalone = [sys.executable, "-m", "tradewind.cli.main", "standalone"]
        self.log = open(self.home / "standalone.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            # --port 0: the REST API on any free port, so benches never collide on 8080.
            [*standalone, "--port", "0", "--dags-folder", str(dags)],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        from sqlalchemy import create_engine, text

        self.engine = create_engine(self.db_url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"standalone exited:\n{self.tail()}")
            with contextlib.suppress(Exception), self.engine.connect() as conn:
                found = set(
                    conn.execute(text("SELECT DISTINCT dag_id FROM serialized_dag")).scalars()
                )
                if {CHAIN_ID, FANOUT_ID} <= found:
                    break
            time.sleep(0.1)
        else:
            raise SystemExit(f"the DAGs were not parsed within 60 s:\n{self.tail()}")
        for dag_id in (CHAIN_ID, FANOUT_ID):
            self.cli("dags", "unpause", dag_id)

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.home / "standalone.log").read_text()[-4000:]
        return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.engine is not None:
            self.engine.dispose()
        if self.log is not None:
            self.log.close()

    # -- runs ------------------------------------------------------------------------------
    def trigger_and_wait(self, dag_id: str, run_id: str, timeout: float = 60) -> Timing:
        """Trigger with ``tradewind dags trigger``; poll the DB until the run ends."""
        from sqlalchemy import text

        started = datetime.now(UTC)
        clock = time.perf_counter()
        self.cli("dags", "trigger", dag_id, "--run-id", run_id)
        command = time.perf_counter() - clock
        query = text(
            "SELECT state, queued_at, end_date FROM dag_run WHERE dag_id = :d AND run_id = :r"
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.engine.connect() as conn:
                row = conn.execute(query, {"d": dag_id, "r": run_id}).first()
            if row is not None and row[0] in ("success", "failed"):
                if row[0] != "success":
                    raise SystemExit(f"{dag_id} {run_id} ended {row[0]}:\n{self.tail()}")
                end = _utc(row[2])
                return Timing(
                    (end - started).total_seconds(), command, (end - _utc(row[1])).total_seconds()
                )
            time.sleep(0.025)  # the figure is the run's end_date: polling only has to see it
        raise SystemExit(f"{dag_id} {run_id} did not finish in {timeout} s:\n{self.tail()}")

    def tries(self, dag_id: str, run_id: str) -> list[tuple[str, int, datetime, datetime]]:
        """``(task_id, map_index, start_date, end_date)`` of a run's task instances."""
        from sqlalchemy import text

        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT task_id, map_index, start_date, end_date FROM task_instance "
                    "WHERE dag_id = :d AND run_id = :r"
                ),
                {"d": dag_id, "r": run_id},
            ).all()
        return [(t, int(m), _utc(s), _utc(e)) for t, m, s, e in rows]

    def add_history(self, n_runs: int, tasks_per_run: int) -> int:
        """Insert finished runs of the chain DAG with their task instances, as history
        (through the models' tables, so values are stored as the service stores them)."""
        from datetime import timedelta

        from sqlalchemy import func, insert, select

        from tradewind.db.models import DagRun, SerializedDagModel, TaskInstance
        from tradewind.db.types import new_uuid7

        base = datetime(2020, 1, 1, tzinfo=UTC)
        task_ids = ["add_one"] + [f"add_one__{t}" for t in range(1, tasks_per_run)]
        with self.engine.begin() as conn:
            version = conn.execute(
                select(func.max(SerializedDagModel.id)).where(SerializedDagModel.dag_id == CHAIN_ID)
            ).scalar()
            for first in range(0, n_runs, 200):
                runs, tis = [], []
                for i in range(first, min(n_runs, first + 200)):
                    when = base + timedelta(hours=i)
                    run_id = f"history__{i:06d}"
                    runs.append(
                        dict(
                            dag_id=CHAIN_ID,
                            run_id=run_id,
                            logical_date=when,
                            run_after=when,
                            start_date=when,
                            end_date=when,
                            state="success",
                            run_type="manual",
                            conf={},
                            dag_version_id=version,
                            clear_number=0,
                        )
                    )
                    tis += [
                        dict(
                            id=new_uuid7(),
                            dag_id=CHAIN_ID,
                            run_id=run_id,
                            task_id=task_id,
                            map_index=-1,
                            try_number=1,
                            max_tries=0,
                            state="success",
                            start_date=when,
                            end_date=when,
                            pool="default_pool",
                            pool_slots=1,
                            priority_weight=1,
                        )
                        for task_id in task_ids
                    ]
                conn.execute(insert(DagRun.__table__), runs)
                conn.execute(insert(TaskInstance.__table__), tis)
        if self.engine.dialect.name == "postgresql":
            # What autovacuum does within a minute of such growth. Until then the plans
            # PostgreSQL cached while the tables were tiny (psycopg prepares a statement
            # after 5 runs) can make a pass several times slower.
            from sqlalchemy import text

            with self.engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
        return n_runs * tasks_per_run


def _utc(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite through plain SQL
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# -- the measurements --------------------------------------------------------------------------


@dataclass
class Timing:
    """Seconds from starting the trigger command to the run's end; the command alone
    (a fresh interpreter writing the run); the run's own time (created to ended)."""

    total: float
    command: float
    run: float


@dataclass
class Figures:
    backend: str
    chain_cold: float = 0.0
    chain: list[Timing] = field(default_factory=list)
    gaps_ms: list[float] = field(default_factory=list)
    try_ms: list[float] = field(default_factory=list)
    fanout: list[float] = field(default_factory=list)
    fanout_rate: list[float] = field(default_factory=list)
    cpu_per_try_ms: float = 0.0
    rss: float = 0.0
    pss: float = 0.0
    procs: int = 0
    idle_rss: float = 0.0
    idle_pss: float = 0.0
    history_rows: int = 0
    chain_history: list[float] = field(default_factory=list)


def chain_gaps(tries: list[tuple[str, int, datetime, datetime]]) -> list[float]:
    """Milliseconds from each chain task's end to the next one's start."""
    order = sorted(tries, key=lambda t: t[2])
    return [(b[2] - a[3]).total_seconds() * 1000 for a, b in itertools.pairwise(order)]


def measure(backend: str, db_url: str | None, args: argparse.Namespace) -> Figures:
    """Start a standalone on a fresh home (SQLite there unless ``db_url``) and measure."""
    home = Path(tempfile.mkdtemp(prefix=f"tw-service-{backend}-"))
    dags = home / "dags"
    dags.mkdir()
    (dags / "chain.py").write_text(textwrap.dedent(CHAIN))
    (dags / "fanout.py").write_text(textwrap.dedent(FANOUT))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIND")}
    env["TRADEWIND_HOME"] = str(home)
    if db_url:
        env["TRADEWIND__DATABASE__URL"] = db_url
    if args.workers:
        env["TRADEWIND__LOCAL_EXECUTOR__WORKERS"] = str(args.workers)
    service = Service(home=home, env=env, db_url=db_url or f"sqlite:///{home / 'tradewind.db'}")
    figures = Figures(backend)
    try:
        service.start(dags)
        assert service.proc is not None
        figures.chain_cold = service.trigger_and_wait(CHAIN_ID, "chain_cold").total
        for i in range(args.repeat):
            run_id = f"chain_{i}"
            figures.chain.append(service.trigger_and_wait(CHAIN_ID, run_id))
            tries = service.tries(CHAIN_ID, run_id)
            figures.gaps_ms += chain_gaps(tries)
            figures.try_ms += [(end - start).total_seconds() * 1000 for *_, start, end in tries]
        figures.idle_rss, figures.idle_pss, _ = tree_memory_mb(service.proc.pid, pss=True)

        sampler = PeakSampler(service.proc.pid)
        sampler.start()
        cpu = tree_cpu_seconds(service.proc.pid)
        tries_run = 0
        for i in range(args.fanouts):
            run_id = f"fanout_{i}"
            figures.fanout.append(service.trigger_and_wait(FANOUT_ID, run_id, timeout=120).total)
            mapped = [t for t in service.tries(FANOUT_ID, run_id) if t[0] == "noop"]
            span = (max(t[3] for t in mapped) - min(t[2] for t in mapped)).total_seconds()
            figures.fanout_rate.append(len(mapped) / span if span > 0 else 0.0)
            tries_run += len(mapped) + 1
        figures.cpu_per_try_ms = (tree_cpu_seconds(service.proc.pid) - cpu) / tries_run * 1000
        sampler.stop.set()
        sampler.join()
        figures.rss, figures.pss, figures.procs = sampler.rss, sampler.pss, sampler.procs

        if args.history:
            figures.history_rows = service.add_history(args.history // 50, 50)
            for i in range(args.repeat):
                timing = service.trigger_and_wait(CHAIN_ID, f"chain_history_{i}")
                figures.chain_history.append(timing.total)
    finally:
        service.stop()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
        else:
            print(f"kept {home}")
    return figures


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def report(all_figures: list[Figures], args: argparse.Namespace) -> None:
    print()
    print(
        f"tradewind standalone, {os.cpu_count()} CPUs, python {sys.version.split()[0]}; "
        f"chain: 1 cold run + median of {args.repeat}; fan-out: median of {args.fanouts}"
    )
    header = f"{'figure':<60} {'value':>12} {'target':>10} {'verdict':>7}  Airflow 3.3.2"
    print(header)
    print("-" * len(header))

    def row(label: str, value: str, target: str = "", ok: bool | None = None, af: str = "") -> None:
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        print(f"{label:<60} {value:>12} {target:>10} {verdict:>7}  {af}")

    for f in all_figures:
        db = f.backend
        chain_target = 1.0 if db == "sqlite" else 1.5
        med = statistics.median(t.total for t in f.chain)
        row(
            f"[{db}] a. 50-task chain, CLI trigger -> success",
            f"{med:.3f} s",
            f"<= {chain_target:g} s",
            med <= chain_target,
            "61.5 s",
        )
        row(
            f"[{db}]      of which the trigger command (interpreter start..exit)",
            f"{statistics.median(t.command for t in f.chain):.3f} s",
        )
        row(
            f"[{db}]      run created -> run ended",
            f"{statistics.median(t.run for t in f.chain):.3f} s",
        )
        row(f"[{db}]      a task's try (start -> end), p50", f"{_p(f.try_ms, 0.5):.1f} ms")
        row(f"[{db}]      first run after start-up", f"{f.chain_cold:.3f} s")
        p50 = _p(f.gaps_ms, 0.5)
        gap_target = db == "sqlite"
        row(
            f"[{db}] b. task end -> downstream start, p50",
            f"{p50:.1f} ms",
            "<= 10 ms" if gap_target else "",
            p50 <= 10 if gap_target else None,
        )
        row(f"[{db}]    task end -> downstream start, p95", f"{_p(f.gaps_ms, 0.95):.1f} ms")
        fan = statistics.median(f.fanout)
        row(
            f"[{db}] c. 1 -> 1000 mapped no-op fan-out, trigger -> success",
            f"{fan:.2f} s",
            "<= 10 s",
            fan <= 10,
            "1->100: 17.6 s",
        )
        rate = statistics.median(f.fanout_rate)
        row(
            f"[{db}]    fan-out task completions per second",
            f"{rate:.0f} /s",
            ">= 200 /s",
            rate >= 200,
        )
        row(f"[{db}]    CPU per try, whole standalone tree", f"{f.cpu_per_try_ms:.1f} ms")
        row(
            f"[{db}] d. standalone tree during fan-out, peak RSS",
            f"{f.rss:.0f} MB",
            "<= 300 MB",
            f.rss <= 300,
            "5.5 GB",
        )
        row(f"[{db}]    peak PSS ({f.procs} processes at the RSS peak)", f"{f.pss:.0f} MB")
        row(f"[{db}]    idle RSS / PSS", f"{f.idle_rss:.0f}/{f.idle_pss:.0f} MB")
        if f.chain_history:
            hmed = statistics.median(f.chain_history)
            row(
                f"[{db}] e. chain with {f.history_rows:,} finished TIs in the DB",
                f"{hmed:.3f} s",
                f"~{med:.3f} s",
                hmed <= max(med * 1.15, med + 0.05),
            )


def _postgres_database(admin_url: str) -> tuple[str, Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    admin = create_engine(
        url.set(database=url.database or "postgres"), isolation_level="AUTOCOMMIT"
    )
    name = f"tw_bench_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed chain runs (default 5)")
    parser.add_argument("--postgres", metavar="URL", help="also run on PostgreSQL (admin URL)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    parser.add_argument("--workers", type=int, help="local executor workers (default: config)")
    parser.add_argument(
        "--history", type=int, default=100_000, help="finished TIs to add for (e); 0 skips"
    )
    parser.add_argument("--no-history", dest="history", action="store_const", const=0)
    parser.add_argument("--keep", action="store_true", help="keep the temp home (logs)")
    parser.add_argument("--fanouts", type=int, default=2, help="fan-out runs (default 2)")
    args = parser.parse_args()

    results: list[Figures] = []
    if not args.no_sqlite:
        results.append(measure("sqlite", None, args))
    if args.postgres:
        url, drop = _postgres_database(args.postgres)
        try:
            results.append(measure("postgresql", url, args))
        finally:
            drop()
    report(results, args)


if __name__ == "__main__":
    main()
