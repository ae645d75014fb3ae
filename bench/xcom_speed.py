"""How fast large XCom values move, and how much memory that takes.

For each store (``file://`` always; S3 through a local moto server and GCS through
gcp-storage-emulator, started here, when installed) and each setting asked for, one fresh
process pushes a value through the default backend (``serialize_value`` + the row written to
a SQLite metadata DB), drops it (a pulling task is another process) and pulls it back (row
read + ``deserialize_value``), and prints:

* throughput: value bytes / (push + pull seconds), best of ``--repeat``;
* peak RSS of that process, and the peak over its RSS just before the value was made,
  against the value's size (goal: at most 2.5x), stored and in memory (``mem MB``: a
  list of a million dicts takes several times its JSON size as Python objects);
* the size of the DB row (goal: at most 512 bytes).

Values: ``bytes`` of ``--mb`` MB (random, so compression has nothing to gain; goal
>= 300 MB/s through ``file://`` with compression off), and a list of 1,000,000 small dicts.

    .venv/bin/python bench/xcom_speed.py [--mb 100] [--repeat 3] [--stores file,s3,gcs]
        [--settings none,zstd,lz4,gzip,encrypted]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _value(kind: str, mb: int) -> Any:
    if kind == "bytes":
        return os.urandom(mb * 1_000_000)
    return [{"id": i, "name": f"item-{i}", "ok": i % 2 == 0} for i in range(1_000_000)]


def _case(kind: str, mb: int, repeat: int) -> dict[str, Any]:
    """One measurement, in this (fresh) process; settings come from the environment."""
    from sqlalchemy import create_engine

    from tradewind.db import migrate
    from tradewind.db.models import DagModel, DagRun
    from tradewind.db.queries import xcom as xcom_queries
    from tradewind.serialization.codec import encode
    from tradewind.xcom.backend import XComResult, get_backend
    from tradewind.xcom.base import XComKey

    engine = create_engine(f"sqlite:///{os.environ['TRADEWIND_HOME']}/bench.db")
    migrate.upgrade(engine)
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    with Session(engine) as s:
        s.add(DagModel(dag_id="bench"))
        s.flush()
        s.add(
            DagRun(
                dag_id="bench",
                run_id="r",
                run_after=datetime.now(UTC),
                state="running",
                run_type="manual",
            )
        )
        s.commit()
    backend = get_backend()
    base = _rss_mb()
    best = float("inf")
    row = size = 0
    made = base
    key = XComKey("bench", "r", "t", -1, "return_value")
    for _ in range(repeat):
        value = _value(kind, mb)
        made = _rss_mb()
        size = len(value) if kind == "bytes" else len(encode(value))
        last = value[-1]
        start = time.perf_counter()
        text = backend.serialize_value(
            value, key=key.key, task_id="t", dag_id="bench", run_id="r", map_index=-1
        )
        with engine.begin() as conn:
            xcom_queries.set_encoded(conn, key, text)
        pushed = time.perf_counter() - start
        # The pulling task is another process: it does not hold the pushed value.
        del value
        start = time.perf_counter()
        with engine.connect() as conn:
            stored = xcom_queries.get_encoded(conn, key)
        pulled = backend.deserialize_value(
            XComResult("bench", "r", "t", -1, "return_value", stored)
        )
        best = min(best, pushed + time.perf_counter() - start)
        row = len(stored.encode())
        assert pulled[-1] == last and (kind != "bytes" or len(pulled) == size)
        del pulled
        backend.purge(XComResult("bench", "r", "t", -1, "return_value", stored))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    return {
        "mb_per_s": size / 1e6 / best,
        "seconds": best,
        "value_mb": size / 1e6,
        "peak_mb": peak,
        "over_base_mb": peak - base,
        "value_in_memory_mb": made - base,
        "row_bytes": row,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


@contextmanager
def _server(store: str):  # type: ignore[no-untyped-def]
    """Environment for a store: a URL and what the backend needs to reach it."""
    if store == "file":
        yield {}
        return
    port = _free_port()
    if store == "s3":
        cmd = [str(BIN / "moto_server"), "-p", str(port)]
    else:
        cmd = [str(BIN / "gcp-storage-emulator"), "start", "--port", str(port), "--in-memory"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(port)
        endpoint = f"http://127.0.0.1:{port}"
        if store == "s3":
            env = {
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_DEFAULT_REGION": "us-east-1",
                "TRADEWIND__XCOM__OBJECTSTORAGE_PATH": "s3://bench/xcom",
            }
            import boto3

            boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
            ).create_bucket(Bucket="bench")
        else:
            env = {
                "STORAGE_EMULATOR_HOST": endpoint,
                "TRADEWIND__XCOM__OBJECTSTORAGE_PATH": "gs://bench/xcom",
            }
            import urllib.request

            req = urllib.request.Request(
                f"{endpoint}/storage/v1/b?project=bench",
                data=json.dumps({"name": "bench"}).encode(),
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(req).read()
        yield env
    finally:
        proc.terminate()
        proc.wait()


SETTINGS: dict[str, dict[str, str]] = {
    "none": {},
    "zstd": {"TRADEWIND__XCOM__COMPRESSION": "zstd"},
    "lz4": {"TRADEWIND__XCOM__COMPRESSION": "lz4"},
    "gzip": {"TRADEWIND__XCOM__COMPRESSION": "gzip"},
    "encrypted": {"TRADEWIND__XCOM__ENCRYPTION_KEYS": "bench:" + "A" * 43},
}


def _measure(kind: str, env: dict[str, str], setting: str, args: argparse.Namespace) -> str:
    """One case in a fresh process with its own $TRADEWIND_HOME; its figures as a line."""
    home = tempfile.mkdtemp(prefix="tw-xcom-bench-")
    try:
        child_env = {**os.environ, **env, **SETTINGS[setting], "TRADEWIND_HOME": home}
        cmd = [sys.executable, __file__, "--case", kind, "--mb", str(args.mb)]
        cmd += ["--repeat", str(args.repeat)]
        out = subprocess.run(cmd, env=child_env, capture_output=True, text=True, check=False)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if out.returncode != 0:
        return "failed: " + out.stderr.strip()[-400:]
    r = json.loads(out.stdout)
    return (
        f"{r['value_mb']:6.0f} {r['mb_per_s']:8.0f} {r['peak_mb']:8.0f} "
        f"{r['over_base_mb']:7.0f} {r['over_base_mb'] / r['value_mb']:8.2f} "
        f"{r['value_in_memory_mb']:7.0f} {r['over_base_mb'] / r['value_in_memory_mb']:7.2f} "
        f"{r['row_bytes']:6}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stores", default="file,s3,gcs")
    parser.add_argument("--settings", default="none,zstd,encrypted")
    parser.add_argument("--values", default="bytes,dicts")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(_case(args.case, args.mb, args.repeat)))
        return 0
    print(
        f"{'store':6} {'setting':10} {'value':6} {'MB':>6} {'MB/s':>8} {'peak MB':>8} "
        f"{'+MB':>7} {'x value':>8} {'mem MB':>7} {'x mem':>7} {'row B':>6}"
    )
    for store in args.stores.split(","):
        with _server(store) as env:
            for setting in args.settings.split(","):
                for kind in args.values.split(","):
                    print(f"{store:6} {setting:10} {kind:6} " + _measure(kind, env, setting, args))
    print(
        "goals: >= 300 MB/s for bytes through file:// with compression off; peak over the "
        "process's base <= 2.5x the value; row <= 512 B"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
