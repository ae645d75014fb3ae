"""A deployment's own timetable classes: serialized by path, rebuilt only when trusted."""

from __future__ import annotations

import json
import logging
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custom_timetables import AfterWorkday, EveryNHours
from tradewind.cli.main import main
from tradewind.exceptions import TimetableNotRegistered, TimetableUnavailable
from tradewind.operators import EmptyOperator
from tradewind.sdk import DAG
from tradewind.serialization.dag_json import SerializedDAG, serialize_dag
from tradewind.timetables import (
    CustomTimetable,
    DataInterval,
    TimeRestriction,
    Timetable,
    UnavailableTimetable,
    as_scheduled,
    iter_backfill_runs,
    serialize_timetable,
    timetable_from_dict,
)

AFTER_WORKDAY = "custom_timetables.AfterWorkday"
EVERY_N_HOURS = "custom_timetables.EveryNHours"
SETTING = "TRADEWIND__CORE__TIMETABLE_CLASSES"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SETTING, f"{AFTER_WORKDAY}, {EVERY_N_HOURS}")


def runs(tt: Timetable, restriction: TimeRestriction, count: int) -> list[tuple[datetime, ...]]:
    out, last = [], None
    for _ in range(count):
        run = tt.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        if run is None:
            break
        out.append((run.logical_date, *run.data_interval, run.run_after))
        last = run.data_interval
    return out


def test_a_custom_timetable_is_serialized_by_class_path_with_its_own_data() -> None:
    assert serialize_timetable(AfterWorkday(hour=3)) == {
        "type": AFTER_WORKDAY,
        "summary": "after workday +3h",
        "description": "",
        "data": {"hour": 3},
    }
    assert serialize_timetable(EveryNHours(6)) == {
        "type": EVERY_N_HOURS,
        "summary": "every 6h",
        "description": "every few hours",
        "data": {"hours": 6},
    }


def test_a_registered_airflow_style_timetable_schedules_the_same_runs_when_rebuilt(
    registered: None,
) -> None:
    original = AfterWorkday(hour=2)
    rebuilt = timetable_from_dict(json.loads(json.dumps(serialize_timetable(original))))
    assert isinstance(rebuilt, CustomTimetable)
    assert isinstance(rebuilt.inner, AfterWorkday) and rebuilt.inner.hour == 2
    assert rebuilt.summary == "after workday +2h"
    # Friday 5 January to Wednesday 10 January 2024: the weekend is skipped.
    restriction = TimeRestriction(utc(2024, 1, 5), utc(2024, 1, 10), catchup=True)
    assert runs(rebuilt, restriction, 10) == [
        (utc(2024, 1, 5), utc(2024, 1, 5), utc(2024, 1, 6), utc(2024, 1, 6, 2)),
        (utc(2024, 1, 8), utc(2024, 1, 8), utc(2024, 1, 9), utc(2024, 1, 9, 2)),
        (utc(2024, 1, 9), utc(2024, 1, 9), utc(2024, 1, 10), utc(2024, 1, 10, 2)),
        (utc(2024, 1, 10), utc(2024, 1, 10), utc(2024, 1, 11), utc(2024, 1, 11, 2)),
    ]
    # Airflow's keyword-only signature is called the way it is declared.
    assert rebuilt.infer_manual_data_interval(utc(2024, 1, 8, 9)) == DataInterval(
        utc(2024, 1, 5), utc(2024, 1, 6)
    )


def test_a_rebuilt_custom_timetable_can_be_backfilled(registered: None) -> None:
    rebuilt = as_scheduled(AfterWorkday())
    backfill = iter_backfill_runs(rebuilt, utc(2024, 1, 5), utc(2024, 1, 9), now=utc(2024, 6, 1))
    assert [run.logical_date for run in backfill] == [
        utc(2024, 1, 5),
        utc(2024, 1, 8),
        utc(2024, 1, 9),
    ]


def test_a_registered_tradewind_style_timetable_round_trips(registered: None) -> None:
    rebuilt = timetable_from_dict(serialize_timetable(EveryNHours(6)))
    assert isinstance(rebuilt, CustomTimetable) and rebuilt.inner.hours == 6  # type: ignore[attr-defined]
    restriction = TimeRestriction(utc(2024, 1, 1), None, catchup=True)
    run = rebuilt.next_dagrun_info(
        last_automated_data_interval=None, restriction=restriction, now=utc(2024, 1, 1, 7)
    )
    assert run is not None and run.data_interval == DataInterval(
        utc(2024, 1, 1), utc(2024, 1, 1, 6)
    )
    # ``now`` reaches a timetable that takes it: nothing is due before the interval ends.
    early = rebuilt.next_dagrun_info(
        last_automated_data_interval=None, restriction=restriction, now=utc(2024, 1, 1, 5)
    )
    assert early is None
    assert serialize_timetable(rebuilt) == serialize_timetable(EveryNHours(6))


def test_an_unregistered_class_is_refused_with_the_setting_to_change() -> None:
    with pytest.raises(TimetableNotRegistered) as err:
        timetable_from_dict(serialize_timetable(AfterWorkday()))
    message = str(err.value)
    assert f"timetable class {AFTER_WORKDAY!r} is not registered" in message
    assert "core.timetable_classes" in message and SETTING in message


def test_a_path_that_is_not_listed_is_never_imported(tmp_path: Path, monkeypatch) -> None:
    # What a serialized DAG names is data: only the deployment's list decides what is imported.
    marker = tmp_path / "imported"
    (tmp_path / "hostile_timetable.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "from tradewind.timetables import NullTimetable as Sneaky\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(SETTING, AFTER_WORKDAY)
    with pytest.raises(TimetableNotRegistered):
        timetable_from_dict({"type": "hostile_timetable.Sneaky", "data": {}})
    assert not marker.exists()


def test_a_class_defined_in_a_dag_file_is_told_to_move() -> None:
    with pytest.raises(TimetableNotRegistered, match="defined in a DAG file, so first move it"):
        timetable_from_dict({"type": "tradewind_dag_0123456789_my_dag.Mine", "data": {}})


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("custom_timetables.Missing", "cannot be imported: AttributeError"),
        ("no_such_module_anywhere.Tt", "cannot be imported: ModuleNotFoundError"),
        ("custom_timetables.NotATimetable", "is not a subclass of tradewind.timetables.Timetable"),
    ],
)
def test_a_listed_class_that_cannot_be_used_gets_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, path: str, message: str
) -> None:
    monkeypatch.setenv(SETTING, path)
    with pytest.raises(TimetableUnavailable, match=message):
        timetable_from_dict({"type": path, "data": {}})


def test_a_class_that_cannot_rebuild_itself_gets_a_clear_error(registered: None) -> None:
    with pytest.raises(TimetableUnavailable, match=r"cannot rebuild itself.*KeyError"):
        timetable_from_dict({"type": AFTER_WORKDAY, "data": {}})


def test_the_setting_may_be_a_toml_list(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    home = Path(os.environ["TRADEWIND_HOME"])
    (home / "tradewind.toml").write_text(f'[core]\ntimetable_classes = ["{AFTER_WORKDAY}"]\n')
    assert isinstance(timetable_from_dict(serialize_timetable(AfterWorkday())), CustomTimetable)
    (home / "tradewind.toml").write_text("[core]\ntimetable_classes = 3\n")
    with pytest.raises(TimetableUnavailable, match="must be a list of dotted class paths"):
        timetable_from_dict(serialize_timetable(AfterWorkday()))


def test_a_dag_read_back_without_the_class_trusted_is_never_scheduled(caplog) -> None:
    with DAG("after_work", schedule=AfterWorkday(hour=1), start_date=utc(2024, 1, 1)) as dag:
        EmptyOperator(task_id="a")
    with caplog.at_level(logging.ERROR, logger="tradewind.serialization"):
        back = SerializedDAG.from_dict(serialize_dag(dag))
    assert isinstance(back.timetable, UnavailableTimetable)
    assert not back.timetable.can_be_scheduled
    assert back.timetable.summary == "after workday +1h"
    assert "DAG after_work will not be scheduled" in caplog.text
    with pytest.raises(TimetableNotRegistered, match="is not registered"):
        back.timetable.infer_manual_data_interval(utc(2024, 1, 2))
    # The rest of the DAG reads as usual, and writes back what was stored.
    assert list(back.task_dict) == ["a"]
    assert back.timetable.serialize() == serialize_dag(dag)["dag"]["timetable"]


class _Broken(Timetable):
    def next_dagrun_info(self, *, last_automated_data_interval, restriction):  # type: ignore[no-untyped-def, override]
        raise ZeroDivisionError("oops")

    def generate_run_id(self, *, run_type, run_after, data_interval):  # type: ignore[no-untyped-def, override]
        return "not a valid / run id"


def test_a_bug_in_a_custom_timetable_is_logged_and_does_not_escape(caplog) -> None:
    tt = CustomTimetable(_Broken(), {"type": "somewhere.Broken", "data": {}})
    restriction = TimeRestriction(utc(2024, 1, 1), None, catchup=True)
    with caplog.at_level(logging.ERROR, logger="tradewind.timetables"):
        assert (
            tt.next_dagrun_info(last_automated_data_interval=None, restriction=restriction) is None
        )
        run_id = tt.generate_run_id(
            run_type="scheduled", run_after=utc(2024, 1, 2), data_interval=None
        )
    assert run_id == "scheduled__2024-01-02T00:00:00+00:00"
    assert "somewhere.Broken failed to work out the next run" in caplog.text
    assert "ZeroDivisionError" in caplog.text
    assert "somewhere.Broken failed to name a run" in caplog.text


DAG_FILE = """
from datetime import datetime, timezone
from custom_timetables import AfterWorkday
from tradewind.operators import PythonOperator
from tradewind.sdk import DAG

def show(data_interval_start=None, data_interval_end=None):
    print("interval", data_interval_start.isoformat(), data_interval_end.isoformat())

with DAG("workdays", schedule=AfterWorkday(hour=2),
         start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)):
    PythonOperator(task_id="show", python_callable=show)
"""


def test_dags_test_runs_a_registered_custom_timetable(
    tmp_path: Path, capsys, registered: None
) -> None:
    (tmp_path / "workdays.py").write_text(textwrap.dedent(DAG_FILE))
    code = main(
        ["dags", "test", "workdays", "--dags-folder", str(tmp_path), "-l", "2024-01-08T09:00:00"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    # The manual run's interval is the one the custom class infers: the last workday.
    assert "interval 2024-01-05T00:00:00+00:00 2024-01-06T00:00:00+00:00" in out
    assert "workdays: success" in out


def test_dags_test_refuses_an_unregistered_custom_timetable(tmp_path: Path, capsys) -> None:
    (tmp_path / "workdays.py").write_text(textwrap.dedent(DAG_FILE))
    code = main(["dags", "test", "workdays", "--dags-folder", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0
    assert f"DAG 'workdays': timetable class {AFTER_WORKDAY!r} is not registered" in err


def test_as_scheduled_rebuilds_custom_timetables_only(registered: None) -> None:
    rebuilt = as_scheduled(AfterWorkday(hour=4))
    assert isinstance(rebuilt, CustomTimetable)
    assert (
        rebuilt.generate_run_id(
            run_type="manual", run_after=utc(2024, 1, 1) + timedelta(hours=1), data_interval=None
        )
        == "manual__2024-01-01T01:00:00+00:00"
    )
