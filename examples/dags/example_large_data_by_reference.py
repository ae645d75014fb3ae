"""Large data kept outside XCom and passed by reference.

XCom is for small values. A big result goes to storage the tasks share (here a local
folder; in production an object store or a network file system), and only its path
travels through XCom:

* ``produce`` writes the rows to ``<data root>/<dag_id>/<run_id>/orders.csv`` and returns
  the path. The data root is ``$TRADEWIND_HOME/data`` (or ``<tmp>/tradewind_examples``).
  dag_id and run_id are sanitised before use in a path: a run id may contain ``:``, ``+``
  or, if someone passed it in, ``../``.
* ``consume`` checks the path is under the data root, reads the file, and removes the
  run's folder when done, so runs leave nothing behind.
"""

import csv
import os
import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from tradewind.sdk import DAG, task

ROWS = 50_000


def data_root() -> Path:
    home = os.environ.get("TRADEWIND_HOME")
    base = Path(home) / "data" if home else Path(tempfile.gettempdir()) / "tradewind_examples"
    return base.resolve()


def safe_part(value: str) -> str:
    """A string usable as one path segment: only letters, digits, ``_``, ``-`` and ``.``."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", value).strip(".")
    return cleaned or "_"


with DAG(
    "example_large_data_by_reference",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example"],
) as dag:

    @task
    def produce(dag_run) -> str:
        folder = data_root() / safe_part(dag_run.dag_id) / safe_part(dag_run.run_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "orders.csv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["order_id", "amount"])
            writer.writerows((i, i % 100) for i in range(ROWS))
        print(f"wrote {ROWS} rows ({path.stat().st_size} bytes) to {path}")
        return str(path)

    @task
    def consume(path: str) -> int:
        file = Path(path).resolve()
        if not file.is_relative_to(data_root()):
            raise ValueError(f"refusing to read {file}: not under {data_root()}")
        try:
            with file.open(newline="") as f:
                total = sum(int(row["amount"]) for row in csv.DictReader(f))
        finally:
            shutil.rmtree(file.parent, ignore_errors=True)
        print(f"total amount {total}; removed {file.parent}")
        expected = sum(i % 100 for i in range(ROWS))
        if total != expected:
            raise ValueError(f"expected {expected}, got {total}")
        return total

    consume(produce())
