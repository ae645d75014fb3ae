"""Large values and files through XCom, with nothing to set up.

* ``orders`` returns 20,000 rows (about 700 KB of JSON): over ``xcom.max_db_bytes``, so the
  service writes it to object storage (``$TRADEWIND_HOME/xcom`` by default) and the metadata
  DB keeps a reference of under 200 bytes.
* ``export`` writes the rows as CSV to a file and returns it as an ``XComFile``: the content
  moves to XCom storage by streaming, a chunk at a time.
* ``count_lines`` gets an ``XComFile`` back and reads it as a stream; it returns 20,000.

Clearing or retrying a task, deleting the DAG, or ``tradewind xcom purge`` removes the
stored objects with their rows.
"""

import csv
import io
import tempfile
from datetime import datetime
from pathlib import Path

from tradewind.sdk import XComFile, dag, task

ROWS = 20_000


@dag(schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["example"])
def example_large_xcom():
    @task
    def orders() -> list[dict]:
        return [{"id": i, "customer": f"c{i % 97}", "amount": i * 1.25} for i in range(ROWS)]

    @task
    def export(rows: list[dict]) -> XComFile:
        path = Path(tempfile.mkdtemp()) / "orders.csv"
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["id", "customer", "amount"])
            writer.writeheader()
            writer.writerows(rows)
        return XComFile(path)

    @task
    def count_lines(exported: XComFile) -> int:
        with exported.open() as stream:
            reader = csv.DictReader(io.TextIOWrapper(stream, encoding="utf-8"))
            return sum(1 for _ in reader)

    count_lines(export(orders()))


example_large_xcom()
