"""Timetables give the runs Apache Airflow 3.3.2 gives, case by case.

``airflow_expected.json`` was made by running Airflow 3.3.2's own timetables (with their
clocks frozen at each case's "now") on the same inputs; see its ``specs`` (each a timetable
in serialized form, which is also Tradewind's) and ``restrictions``. Times in it are UTC,
written ``YYYY-MM-DD HH:MM[:SS[.ffffff]]``. The generator script needs Airflow installed and
lives outside the repository (the team notes, ``timetables_gen/generate.py``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tradewind.timetables import (
    BackfillError,
    DataInterval,
    NextRun,
    TimeRestriction,
    Timetable,
    generate_run_id,
    iter_backfill_runs,
    timetable_from_dict,
)

DATA = json.loads((Path(__file__).parent / "airflow_expected.json").read_text())


def parse(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text).astimezone(UTC)


def compact(at: datetime) -> str:
    """The expected-data form of an instant."""
    at = at.astimezone(UTC)
    text = at.strftime("%Y-%m-%d %H:%M")
    if at.second or at.microsecond:
        text += at.strftime(":%S")
    if at.microsecond:
        text += at.strftime(".%f")
    return text


def row(run: NextRun | None) -> list[str] | None:
    if run is None:
        return None
    assert run.logical_date == run.data_interval.start
    assert run.run_after.tzinfo is UTC and run.data_interval.start.tzinfo is UTC
    return [
        compact(run.data_interval.start),
        compact(run.data_interval.end),
        compact(run.run_after),
    ]


@cache
def timetable(spec_index: int) -> Timetable:
    return timetable_from_dict(DATA["specs"][spec_index])


def spec_id(spec: dict[str, Any]) -> str:
    args = spec["args"]
    detail = args.get("expression") or args.get("expressions") or args.get("delta") or ""
    return f"{spec['type']}({detail}, {args.get('timezone', '')})".replace(" ", "")


def next_case_id(case: list[Any]) -> str:
    earliest, latest, catchup, now, _, last = DATA["restrictions"][case[1]]
    parts = [
        spec_id(DATA["specs"][case[0]]),
        f"from={earliest}",
        f"to={latest}" if latest else "",
        "catchup" if catchup else "no-catchup",
        f"now={now}",
        f"last={last[0]}" if last else "",
    ]
    return " ".join(p for p in parts if p)


@pytest.mark.parametrize("case", DATA["next"], ids=next_case_id)
def test_next_runs_match_airflow(case: list[Any]) -> None:
    spec_index, restriction_index, expected = case
    earliest, latest, catchup, now, steps, last = DATA["restrictions"][restriction_index]
    tt = timetable(spec_index)
    restriction = TimeRestriction(parse(earliest), parse(latest), catchup)
    previous = None if last is None else DataInterval(parse(last[0]), parse(last[1]))  # type: ignore[arg-type]
    got: list[list[str] | None] = []
    for _ in range(steps):
        run = tt.next_dagrun_info(
            last_automated_data_interval=previous, restriction=restriction, now=parse(now)
        )
        got.append(row(run))
        if run is None:
            break
        previous = run.data_interval
    assert got == expected


def manual_case_id(case: dict[str, Any]) -> str:
    return f"{spec_id(DATA['specs'][case['spec']])} at {case['run_after']}"


@pytest.mark.parametrize("case", DATA["manual"], ids=manual_case_id)
def test_manual_data_intervals_match_airflow(case: dict[str, Any]) -> None:
    at = parse(case["run_after"])
    assert at is not None
    interval = timetable(case["spec"]).infer_manual_data_interval(at)
    assert [compact(interval.start), compact(interval.end)] == case["interval"]


@pytest.mark.parametrize("case", DATA["describe"], ids=lambda c: spec_id(c["spec"]))
def test_summary_description_and_serialized_form_match_airflow(case: dict[str, Any]) -> None:
    tt = timetable_from_dict(case["spec"])
    assert tt.summary == case["summary"]
    assert tt.description == case["description"]
    assert tt.periodic == case["periodic"]
    assert tt.can_be_scheduled == case["can_be_scheduled"]
    assert tt.active_runs_limit == case["active_runs_limit"]
    # Tradewind's ``args`` are Airflow's ``__var``.
    assert tt.serialize()["args"] == case["serialized"]


def backfill_case_id(case: dict[str, Any]) -> str:
    spec = DATA["backfill_specs"][case["spec"]]
    back = " backwards" if case["reverse"] else ""
    return f"{spec_id(spec)} {case['from']}..{case['to']}{back} now={case['now']}"


@pytest.mark.parametrize("case", DATA["backfill"], ids=backfill_case_id)
def test_backfill_runs_match_airflow(case: dict[str, Any]) -> None:
    tt = timetable_from_dict(DATA["backfill_specs"][case["spec"]])
    start, end, now = parse(case["from"]), parse(case["to"]), parse(case["now"])
    assert start is not None and end is not None
    if "error" in case:
        # Airflow: DagNonPeriodicScheduleException, InvalidBackfillDateRange, InvalidBackfillDate
        with pytest.raises(BackfillError):
            iter_backfill_runs(tt, start, end, reverse=case["reverse"], now=now)
        return
    runs = iter_backfill_runs(tt, start, end, reverse=case["reverse"], now=now)
    got = [
        [*(row(run) or []), generate_run_id("backfill", run.logical_date, run.run_after)]
        for run in runs
    ]
    assert got == [[*expected[:3], in_utc(expected[3])] for expected in case["runs"]]


def in_utc(run_id: str) -> str:
    """Airflow writes ``run_after`` in the zone it has: UTC, except for an event date given
    in another zone. Tradewind's times are always UTC, so its run id is too."""
    run_type, _, when = run_id.partition("__")
    return f"{run_type}__{datetime.fromisoformat(when).astimezone(UTC).isoformat()}"


@pytest.mark.parametrize("case", DATA["run_ids"], ids=lambda c: f"{c['run_type']}-{c['run_after']}")
def test_run_ids_match_airflow(case: dict[str, Any]) -> None:
    run_after = parse(case["run_after"])
    assert run_after is not None
    run_id = generate_run_id(case["run_type"], parse(case["logical_date"]), run_after)
    if case["logical_date"] is None:  # ends in 8 random letters and digits
        assert run_id[:-8] == case["run_id"][:-8]
        assert run_id[-8:].isalnum() and len(run_id) == len(case["run_id"])
    else:
        assert run_id == case["run_id"]
    from tradewind.timetables import NullTimetable

    assert (
        NullTimetable().generate_run_id(
            run_type=case["run_type"], run_after=run_after, data_interval=None
        )
        == case["timetable_run_id"]
    )


@pytest.mark.parametrize("expression", sorted(DATA["cron_descriptions"]))
def test_cron_descriptions_match_airflow(expression: str) -> None:
    from croniter import croniter

    from tradewind.exceptions import DagDefinitionError
    from tradewind.timetables import CronTriggerTimetable

    if not croniter.is_valid(expression):
        # Airflow builds these (describing them as "") but its DAG validation rejects them;
        # Tradewind rejects them as soon as the timetable is made.
        assert DATA["cron_descriptions"][expression] == ""
        with pytest.raises(DagDefinitionError, match="invalid cron expression"):
            CronTriggerTimetable(expression, timezone="UTC")
        return
    tt = CronTriggerTimetable(expression, timezone="UTC")
    assert tt.description == DATA["cron_descriptions"][expression]
