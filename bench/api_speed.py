"""How fast the REST API answers: ``tradewind api-server`` over PostgreSQL with a real history.

Creates a fresh PostgreSQL database (``--postgres URL``, default ``$TRADEWIND_BENCH_POSTGRES``
or ``postgresql://postgres@127.0.0.1:5432``), migrates it and fills it in bulk with 1,000
DAGs (``dag``, two ``dag_tag`` rows each, a ``serialized_dag`` made from one small DAG
serialized with ``tradewind.serialization`` under each id, ``dag_code``) and 100,000 finished
task instances (20 runs of 5 tasks per DAG). Then it starts ``tradewind api-server`` as a
subprocess on a free port, makes a user, gets a token, and measures from a load generator in
another process (keep-alive connections, the standard library's ``http.client``, so the
generator's own CPU takes as little as possible of the 2 cores it shares with the server and
PostgreSQL):

a. ``GET /api/v2/dags?limit=100``, one connection, one request after another: p50 and p95;
b. the same from ``--clients`` connections at once for ``--seconds``: requests per second
   (and p50/p95 under that load);
c. ``POST /api/v2/dags/{dag_id}/dagRuns`` (trigger a run, ``logical_date`` null), one after
   another over the DAGs: p50 and p95.

    .venv/bin/python bench/api_speed.py [--postgres URL] [--seconds 10] [--clients 4] [--keep]

Targets (issue 6): a. p50 <= 15 ms; b. >= 300 requests/s; c. p50 <= 20 ms. The figures move
with whatever else runs on the machine; run it on an otherwise idle one.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

N_DAGS = 1_000
RUNS_PER_DAG = 20
TASKS_PER_RUN = 5
USER, PASSWORD = "bench", "bench-password-123"
LIST_PATH = "/api/v2/dags?limit=100"

DAG_SOURCE = '''"""A DAG of the API bench (its rows are inserted directly; this is its code)."""
from datetime import datetime
from tradewind.operators import EmptyOperator
from tradewind.sdk import DAG

with DAG("bench_dag", schedule="@daily", start_date=datetime(2024, 1, 1), tags=["bench"]) as dag:
    first = EmptyOperator(task_id="t0")
    for n in range(1, 5):
        first = first >> EmptyOperator(task_id=f"t{n}")
'''


# -- the database ------------------------------------------------------------------------------


def postgres_database(admin_url: str) -> tuple[str, Any]:
    """A new database ``tw_api_bench_<pid>``: its URL and a function that drops it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    admin = create_engine(
        url.set(database=url.database or "postgres"), isolation_level="AUTOCOMMIT"
    )
    name = f"tw_api_bench_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def bench_dag_data() -> dict[str, Any]:
    """One small DAG, serialized as the DAG processor would store it."""
    namespace: dict[str, Any] = {}
    exec(compile(DAG_SOURCE, "bench_dag.py", "exec"), namespace)
    from tradewind.sdk.dag import DAG
    from tradewind.serialization.dag_json import serialize_dag

    dag = next(v for v in namespace.values() if isinstance(v, DAG))
    return serialize_dag(dag)


def seed(url: str) -> float:
    """Migrate and fill the database in bulk; seconds it took."""
    from sqlalchemy import create_engine, insert, select, text

    from tradewind.api.auth.passwords import hash_password
    from tradewind.db import migrate
    from tradewind.db.models import (
        DagCode,
        DagModel,
        DagRun,
        DagTag,
        SerializedDagModel,
        TaskInstance,
    )
    from tradewind.db.queries.pools import ensure_default_pool
    from tradewind.db.queries.users import create_user
    from tradewind.db.types import new_uuid7
    from tradewind.serialization.dag_json import dag_hash

    started = time.perf_counter()
    engine = create_engine(url)
    migrate.upgrade(engine)
    template = bench_dag_data()
    now = datetime.now(UTC)
    dag_ids = [f"bench_dag_{i:04d}" for i in range(N_DAGS)]
    dags, tags, versions, codes = [], [], [], []
    for i, dag_id in enumerate(dag_ids):
        fileloc = f"/bench/dags/{dag_id}.py"
        data = {**template, "dag": {**template["dag"], "dag_id": dag_id, "fileloc": fileloc}}
        dags.append(
            {
                "dag_id": dag_id,
                "dag_display_name": f"Bench DAG {i}",
                "is_paused": i % 7 == 0,
                "is_stale": False,
                "fileloc": fileloc,
                "owners": "bench, ops",
                "description": f"API bench DAG number {i}",
                "timetable_summary": "0 0 * * *",
                "timetable_description": "At 00:00",
                "max_active_tasks": 16,
                "max_active_runs": 16,
                "max_consecutive_failed_dag_runs": 0,
                "has_task_concurrency_limits": False,
                "last_parsed_time": now,
                "next_dagrun": now + timedelta(days=1),
                "next_dagrun_data_interval_start": now,
                "next_dagrun_data_interval_end": now + timedelta(days=1),
                "next_dagrun_create_after": now + timedelta(days=1),
            }
        )
        tags += [{"dag_id": dag_id, "name": "bench"}, {"dag_id": dag_id, "name": f"g{i % 10}"}]
        versions.append(
            {
                "dag_id": dag_id,
                "version_number": 1,
                "dag_hash": dag_hash(data),
                "data": data,
                "created_at": now,
            }
        )
        codes.append(
            {
                "dag_id": dag_id,
                "fileloc": fileloc,
                "source_code": DAG_SOURCE.encode(),
                "source_code_hash": "0" * 64,
                "last_updated": now,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(DagModel), dags)
        conn.execute(insert(DagTag), tags)
        conn.execute(insert(SerializedDagModel), versions)
        conn.execute(insert(DagCode), codes)
        version_ids = dict(
            conn.execute(select(SerializedDagModel.dag_id, SerializedDagModel.id)).all()
        )
        day0 = datetime(2024, 1, 1, tzinfo=UTC)
        runs, tis = [], []
        for dag_id in dag_ids:
            for r in range(RUNS_PER_DAG):
                logical = day0 + timedelta(days=r)
                run_id = f"scheduled__{logical.isoformat()}"
                runs.append(
                    {
                        "dag_id": dag_id,
                        "run_id": run_id,
                        "logical_date": logical,
                        "run_after": logical + timedelta(days=1),
                        "data_interval_start": logical,
                        "data_interval_end": logical + timedelta(days=1),
                        "queued_at": logical,
                        "start_date": logical + timedelta(days=1),
                        "end_date": logical + timedelta(days=1, seconds=5),
                        "state": "success",
                        "run_type": "scheduled",
                        "conf": {},
                        "dag_version_id": version_ids[dag_id],
                        "clear_number": 0,
                    }
                )
                for t in range(TASKS_PER_RUN):
                    tis.append(
                        {
                            "id": new_uuid7(),
                            "dag_id": dag_id,
                            "run_id": run_id,
                            "task_id": f"t{t}",
                            "map_index": -1,
                            "try_number": 1,
                            "max_tries": 0,
                            "state": "success",
                            "start_date": logical + timedelta(days=1, seconds=t),
                            "end_date": logical + timedelta(days=1, seconds=t + 1),
                            "duration": 1.0,
                            "pool": "default_pool",
                            "pool_slots": 1,
                            "queue": "default",
                            "priority_weight": TASKS_PER_RUN - t,
                            "operator": "EmptyOperator",
                            "dag_version_id": version_ids[dag_id],
                        }
                    )
        conn.execute(insert(DagRun), runs)
        for start in range(0, len(tis), 20_000):
            conn.execute(insert(TaskInstance), tis[start : start + 20_000])
    from sqlalchemy.orm import Session

    with Session(engine) as session, session.begin():
        ensure_default_pool(session)
        create_user(session, USER, hash_password(PASSWORD), ["Admin"])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


# -- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, home: Path) -> tuple[subprocess.Popen[bytes], int, Any]:
    port = free_port()
    env = {**os.environ, "TRADEWIND_HOME": str(home), "TRADEWIND__DATABASE__URL": url}
    env = {k: v for k, v in env.items() if not k.startswith("TRADEWIND__API__")}
    if "TRADEWIND__CORE__FERNET_KEY" not in env:  # the server refuses to start without one
        from cryptography.fernet import Fernet

        env["TRADEWIND__CORE__FERNET_KEY"] = Fernet.generate_key().decode()
    log = open(home / "api-server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradewind.cli.main", "api-server", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            status, _ = request(
                http.client.HTTPConnection("127.0.0.1", port), "GET", "/api/v2/monitor/health"
            )
            if status == 200:
                return proc, port, log
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the API server did not start; see {home / 'api-server.log'}")
        time.sleep(0.1)


def request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()


def get_token(port: int) -> str:
    body = json.dumps({"username": USER, "password": PASSWORD}).encode()
    status, data = request(
        http.client.HTTPConnection("127.0.0.1", port),
        "POST",
        "/auth/token",
        body,
        {"Content-Type": "application/json"},
    )
    if status != 201:
        raise SystemExit(f"could not get a token: {status} {data[:200]!r}")
    return str(json.loads(data)["access_token"])


# -- the load generator (runs in its own process) ----------------------------------------------


def load(
    port: int, token: str, mode: str, clients: int, seconds: float, count: int
) -> dict[str, Any]:
    """Requests from ``clients`` keep-alive connections for ``seconds`` (or ``count``
    requests in all): ``GET mode`` (a path), or triggers when ``mode`` is ``trigger``; the
    latency of each, and the wall time."""
    auth = {"Authorization": f"Bearer {token}"}
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    stop_at = time.perf_counter() + seconds
    counter = iter(range(10**9))
    lock = threading.Lock()

    def worker(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        mine = latencies[slot]
        while time.perf_counter() < stop_at:
            with lock:
                n = next(counter)
            if count and n >= count:
                return
            if mode != "trigger":
                method, path, body, headers = "GET", mode, None, auth
            else:
                dag_id = f"bench_dag_{n % N_DAGS:04d}"
                payload = {"dag_run_id": f"bench_trigger_{os.getpid()}_{n}", "logical_date": None}
                method, path = "POST", f"/api/v2/dags/{dag_id}/dagRuns"
                body = json.dumps(payload).encode()
                headers = {**auth, "Content-Type": "application/json"}
            t0 = time.perf_counter()
            status, data = request(conn, method, path, body, headers)
            mine.append(time.perf_counter() - t0)
            if status >= 300:
                errors.append(f"{status} {data[:300]!r}")
                if len(errors) > 20:
                    return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    flat = [x for per in latencies for x in per]
    return {"latencies": flat, "wall": wall, "errors": errors[:5], "n_errors": len(errors)}


def run_load(
    port: int, token: str, mode: str, clients: int, seconds: float, count: int = 0
) -> dict[str, Any]:
    """:func:`load` in a fresh process, so the generator never shares the server's GIL."""
    args = json.dumps([port, token, mode, clients, seconds, count])
    proc = subprocess.run(
        [sys.executable, __file__, "--load", args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"the load generator failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# -- the report --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("TRADEWIND_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL admin URL (default: $TRADEWIND_BENCH_POSTGRES or the local server)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of b. (default 10)")
    parser.add_argument("--clients", type=int, default=4, help="connections in b. (default 4)")
    parser.add_argument("--triggers", type=int, default=300, help="runs triggered in c.")
    parser.add_argument("--keep", action="store_true", help="keep the temp home (server log)")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        print(json.dumps(load(*json.loads(args.load))))
        return

    url, drop = postgres_database(args.postgres)
    home = Path(tempfile.mkdtemp(prefix="tw-api-bench-"))
    proc = log = None
    try:
        seeded = seed(url)
        print(
            f"seeded {N_DAGS:,} DAGs, {N_DAGS * RUNS_PER_DAG:,} runs and "
            f"{N_DAGS * RUNS_PER_DAG * TASKS_PER_RUN:,} task instances in {seeded:.1f} s"
        )
        proc, port, log = start_server(url, home)
        token = get_token(port)
        run_load(port, token, LIST_PATH, 1, 3.0, 300)  # warm-up: imports, caches, pool
        serial = run_load(port, token, LIST_PATH, 1, min(args.seconds, 5.0))
        loaded = run_load(port, token, LIST_PATH, args.clients, args.seconds)
        trigger = run_load(port, token, "trigger", 1, 60.0, args.triggers)
        report(serial, loaded, trigger, args)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=15)
        if log is not None:
            log.close()
        drop()
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


def report(
    serial: dict[str, Any],
    loaded: dict[str, Any],
    trigger: dict[str, Any],
    args: argparse.Namespace,
) -> None:
    print()
    print(
        f"tradewind api-server on PostgreSQL, {os.cpu_count()} CPUs, python "
        f"{sys.version.split()[0]}; {N_DAGS:,} DAGs, "
        f"{N_DAGS * RUNS_PER_DAG * TASKS_PER_RUN:,} task instances"
    )
    header = f"{'figure':<62} {'value':>12} {'target':>12} {'verdict':>7}"
    print(header)
    print("-" * len(header))

    def row(label: str, value: str, target: str = "", ok: bool | None = None) -> None:
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        print(f"{label:<62} {value:>12} {target:>12} {verdict:>7}")

    for name, result in (("a.", serial), ("b.", loaded), ("c.", trigger)):
        if result["n_errors"]:
            print(f"{name} {result['n_errors']} error answer(s), e.g. {result['errors'][0]}")
    lat = serial["latencies"]
    p50 = pct(lat, 0.5)
    row(f"a. GET {LIST_PATH}, one client, p50", f"{p50:.1f} ms", "<= 15 ms", p50 <= 15)
    row(f"   p95 ({len(lat)} requests)", f"{pct(lat, 0.95):.1f} ms")
    rate = len(loaded["latencies"]) / loaded["wall"]
    row(
        f"b. GET {LIST_PATH}, {args.clients} clients, requests/s",
        f"{rate:.0f} /s",
        ">= 300 /s",
        rate >= 300,
    )
    row(
        "   p50 / p95 under that load",
        f"{pct(loaded['latencies'], 0.5):.1f}/{pct(loaded['latencies'], 0.95):.1f} ms",
    )
    if trigger["latencies"] and not trigger["n_errors"]:
        t50 = pct(trigger["latencies"], 0.5)
        row(
            "c. POST /api/v2/dags/{dag_id}/dagRuns (trigger), p50",
            f"{t50:.1f} ms",
            "<= 20 ms",
            t50 <= 20,
        )
        row(
            f"   p95 ({len(trigger['latencies'])} runs)",
            f"{pct(trigger['latencies'], 0.95):.1f} ms",
        )
    else:
        row("c. POST /api/v2/dags/{dag_id}/dagRuns (trigger)", "unavailable", "<= 20 ms")
    print("(one machine shared with PostgreSQL and the load generator: figures are noisy)")


if __name__ == "__main__":
    main()
