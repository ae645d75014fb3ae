"""Waiting without holding a worker: reschedule mode and deferrable sensors.

* ``write_marker`` writes a file under ``$TRADEWIND_HOME/data`` (or a temp folder).
* ``file_arrives`` is a deferrable ``FileSensor``: it checks once, then waits in the
  triggerer (``FileTrigger``) until the file is there, holding no worker slot.
* ``short_pause`` is a deferrable ``TimeDeltaSensor`` that ends in the triggerer
  (``end_from_trigger``): it never goes back to a worker.
* ``third_poke`` is a ``PythonSensor`` in ``reschedule`` mode: between pokes it gives its
  slot back (state ``up_for_reschedule``) and pokes again in the same try; it is done on
  its third poke.
* ``done`` runs when all of them are.

Under ``dags test`` the same waits happen in process.
"""

import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from tradewind.sdk import dag, task
from tradewind.sensors import FileSensor, PythonSensor, TimeDeltaSensor


def marker_path(run_id: str) -> str:
    home = os.environ.get("TRADEWIND_HOME")
    base = Path(home) / "data" if home else Path(tempfile.gettempdir()) / "tradewind_examples"
    safe = "".join(c if c.isalnum() else "_" for c in run_id)
    return str(base / f"marker_{safe}.txt")


def poked_three_times(**context) -> bool:
    return context["task_reschedule_count"] >= 2


@dag(schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["example"])
def example_waiting():
    @task
    def write_marker(run_id=None) -> str:
        path = Path(marker_path(run_id))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("ready\n")
        return str(path)

    marker = write_marker()
    file_arrives = FileSensor(
        task_id="file_arrives", filepath=marker, deferrable=True, poke_interval=0.2
    )
    short_pause = TimeDeltaSensor(
        task_id="short_pause", delta=timedelta(seconds=1), deferrable=True, end_from_trigger=True
    )
    third_poke = PythonSensor(
        task_id="third_poke",
        python_callable=poked_three_times,
        mode="reschedule",
        poke_interval=0.2,
    )

    @task
    def done(path: str) -> str:
        Path(path).unlink(missing_ok=True)
        return "all waits over"

    [file_arrives, short_pause, third_poke] >> done(marker)


example_waiting()
