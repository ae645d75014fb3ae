"""Polling an external job with a sensor (``@task.sensor`` returning ``PokeReturnValue``).

``submit_job`` stands in for starting work elsewhere (a Spark job, a vendor export...): it
writes a status file saying when the job will be done, and returns the file's path.
``wait_for_job`` pokes every 0.1 s; each poke reads the status and returns
``PokeReturnValue(is_done=..., xcom_value=...)``. When the job is done, the sensor
succeeds and ``xcom_value`` becomes its XCom, which ``report`` receives. Had the job not
finished within ``timeout`` seconds, the sensor would fail (``soft_fail=True`` would skip
it instead).

``mode="poke"`` holds the worker slot while waiting, which suits short waits; use
``mode="reschedule"`` for long ones.
"""

import json
import os
import re
import tempfile
import time
from datetime import datetime
from pathlib import Path

from tradewind.sdk import DAG, PokeReturnValue, task

JOB_SECONDS = 0.3


with DAG(
    "example_sensor_external_job",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example"],
) as dag:

    @task
    def submit_job(run_id) -> str:
        home = os.environ.get("TRADEWIND_HOME")
        base = Path(home) / "data" if home else Path(tempfile.gettempdir()) / "tradewind_examples"
        folder = base / "jobs"
        folder.mkdir(parents=True, exist_ok=True)
        status = folder / (re.sub(r"[^A-Za-z0-9_.-]", "_", run_id) + ".json")
        job = {"job_id": "job-1", "done_at": time.time() + JOB_SECONDS, "rows": 1234}
        status.write_text(json.dumps(job))
        print(f"submitted {job['job_id']}; status in {status}")
        return str(status)

    @task.sensor(poke_interval=0.1, timeout=10, mode="poke")
    def wait_for_job(status_path: str) -> PokeReturnValue:
        job = json.loads(Path(status_path).read_text())
        done = time.time() >= job["done_at"]
        print(f"{job['job_id']}: {'done' if done else 'still running'}")
        result = {"job_id": job["job_id"], "rows": job["rows"]} if done else None
        return PokeReturnValue(is_done=done, xcom_value=result)

    @task
    def report(result: dict, status_path: str) -> None:
        Path(status_path).unlink(missing_ok=True)
        print(f"job {result['job_id']} produced {result['rows']} rows")

    status = submit_job()
    report(wait_for_job(status), status)
