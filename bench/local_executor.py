"""How fast and how light the local executor is, on its own (memory services, no DB).

Prints, for no-op tries of a mapped task (map indexes 0..N-1, each with its own log file):

- throughput: N tries queued at once, wall time until the last outcome, tries per second;
- throughput with the scheduler's pattern: keep ``open_slots`` filled as outcomes arrive;
- latency: one try at a time, from ``queue_workload`` to its outcome event, p50/p95 (what a
  task finishing adds before its downstream can start, minus the scheduler's own work);
- memory: the sum of RSS, and of PSS (shared pages counted once), over the executor's
  process, its workers and their task processes: idle and the peak while running.

    .venv/bin/python bench/local_executor.py [--tasks 1000] [--workers 2] [--latency 300]

Airflow's executor cannot run without its API server and database, so there is no
executor-only Airflow figure to print beside these; the whole-system Airflow 3.3.2 figures
measured for issue 3 (LocalExecutor on PostgreSQL, this kind of 2-core machine) are quoted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from proctree import PeakSampler, tree_cpu_seconds, tree_memory_mb

DAG_FILE = """
from tradewind.sdk import dag, task

@dag(schedule=None)
def bench_noop():
    @task
    def noop(x):
        return None

    noop.expand(x=list(range({n})))

bench_noop()
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency", type=int, default=300, help="sequential tries to time")
    parser.add_argument("--no-memory", action="store_true", help="do not sample memory")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="tw-bench-"))
    os.environ["TRADEWIND_HOME"] = str(home)
    dag_file = home / "bench_noop.py"
    dag_file.write_text(DAG_FILE.replace("{n}", str(args.tasks)))

    from tradewind.executors.local import LocalExecutor
    from tradewind.executors.memory_services import MemoryWorkerServices
    from tradewind.executors.workload import (
        ExecuteTask,
        RunData,
        TaskOutcomeEvent,
        TaskStartedEvent,
    )

    now = datetime.now(UTC)
    run = RunData(logical_date=now, data_interval_start=now, data_interval_end=now, run_after=now)
    counter = iter(range(10**9))

    def workload(run_id: str, index: int) -> ExecuteTask:
        return ExecuteTask.make(
            ti_id=f"ti-{next(counter)}",
            dag_id="bench_noop",
            run_id=run_id,
            task_id="noop",
            map_index=index,
            try_number=1,
            dag_file=str(dag_file),
            dag_file_hash="bench",
            run=run,
        )

    executor = LocalExecutor(MemoryWorkerServices(), workers=args.workers)
    started = time.perf_counter()
    executor.start()

    def finish(count: int) -> list[TaskOutcomeEvent]:
        done: list[TaskOutcomeEvent] = []
        while len(done) < count:
            executor.wait_for_event(30)
            done += [e for e in executor.get_events() if isinstance(e, TaskOutcomeEvent)]
        return done

    # Warm up: every worker ready and with the DAG file imported.
    for i in range(args.workers * 3):
        executor.queue_workload(workload("warmup", i))
    finish(args.workers * 3)
    warm = time.perf_counter() - started
    idle = tree_memory_mb(os.getpid(), pss=True)

    sampler = PeakSampler(os.getpid())
    if not args.no_memory:
        sampler.start()
    t0, cpu0 = time.perf_counter(), tree_cpu_seconds(os.getpid())
    for i in range(args.tasks):
        executor.queue_workload(workload("burst", i))
    outcomes = finish(args.tasks)
    burst = time.perf_counter() - t0
    cpu_per_try = (tree_cpu_seconds(os.getpid()) - cpu0) / args.tasks
    failed = [o for o in outcomes if o.state != "success"]

    t0 = time.perf_counter()
    queued = finished = 0
    while finished < args.tasks:
        while queued < args.tasks and executor.open_slots > 0:
            executor.queue_workload(workload("slots", queued))
            queued += 1
        executor.wait_for_event(30)
        finished += sum(isinstance(e, TaskOutcomeEvent) for e in executor.get_events())
    slots = time.perf_counter() - t0
    sampler.stop.set()
    if sampler.is_alive():
        sampler.join()

    latencies, to_start, to_event = [], [], []
    for i in range(args.latency):
        queued_at = datetime.now(UTC)
        t0 = time.perf_counter()
        executor.queue_workload(workload("latency", i % args.tasks))
        events: list[object] = []
        while not any(isinstance(e, TaskOutcomeEvent) for e in events):
            executor.wait_for_event(30)
            events += executor.get_events()
        arrived = datetime.now(UTC)
        latencies.append((time.perf_counter() - t0) * 1000)
        for e in events:
            if isinstance(e, TaskStartedEvent):
                to_start.append((e.start_date - queued_at).total_seconds() * 1000)
            elif isinstance(e, TaskOutcomeEvent):
                to_event.append((arrived - e.end_date).total_seconds() * 1000)
    executor.end(30)
    shutil.rmtree(home, ignore_errors=True)

    lat = sorted(latencies)
    print(f"local executor, {args.workers} workers, {os.cpu_count()} CPUs, memory services")
    print(f"  start + warm-up ({args.workers * 3} tries):          {warm:.2f} s")
    print(
        f"  {args.tasks} no-op tries queued at once:        {burst:.2f} s = "
        f"{args.tasks / burst:.0f} tries/s ({len(failed)} not successful)"
    )
    print(
        f"  {args.tasks} no-op tries, open_slots kept full:  {slots:.2f} s = "
        f"{args.tasks / slots:.0f} tries/s"
    )
    cpus = os.cpu_count() or 1
    print(
        f"  CPU per try (executor + worker + task process): {cpu_per_try * 1000:.2f} ms "
        f"-> at most {cpus / cpu_per_try:.0f} tries/s on {cpus} CPUs with nothing else running"
    )
    print(
        f"  queue_workload -> outcome, one at a time:  p50 {statistics.median(lat):.2f} ms, "
        f"p95 {lat[int(len(lat) * 0.95)]:.2f} ms (n={len(lat)})"
    )
    print(
        "  the executor's share of finish -> downstream start: runner end -> outcome event "
        f"p50 {statistics.median(to_event):.2f} ms, queue_workload -> try started "
        f"p50 {statistics.median(to_start):.2f} ms"
    )
    print(
        "  for reference, Airflow 3.3.2 whole system (issue 3): 1->100 mapped fan-out 17.6 s "
        "(~6 tries/s), 5.5 GB RSS"
    )
    print(
        f"  memory idle: RSS {idle[0]:.0f} MB, PSS {idle[1]:.0f} MB ({idle[2]} processes); "
        f"peak while running: RSS {sampler.rss:.0f} MB, PSS {sampler.pss:.0f} MB "
        f"({sampler.procs} processes)"
    )


if __name__ == "__main__":
    main()
