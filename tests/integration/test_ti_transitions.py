"""State changes are compare-and-set: duplicates and stale tries change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tradewind.db import migrate
from tradewind.db.models import DagModel, DagRun, TaskInstance, TaskInstanceHistory
from tradewind.db.queries import taskinstances as tis
from tradewind.db.session import get_engine
from tradewind.states import IllegalTransition
from tradewind.states import TaskInstanceState as TI

NOW = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    with Session(engine) as s:
        s.add(DagModel(dag_id="d"))
        s.flush()
        s.add(DagRun(dag_id="d", run_id="r", run_after=NOW, state="running", run_type="manual"))
        s.flush()
        s.add(TaskInstance(id="ti-1", dag_id="d", run_id="r", task_id="t", try_number=1))
        s.commit()
        yield s


def state_of(session: Session) -> tuple[str | None, int]:
    session.expire_all()
    ti = session.get(TaskInstance, "ti-1")
    assert ti is not None
    return ti.state, ti.try_number


def test_a_transition_applies_once_and_a_duplicate_is_a_no_op(session: Session) -> None:
    assert tis.transition(session, "ti-1", expected=None, new=TI.SCHEDULED)
    assert not tis.transition(session, "ti-1", expected=None, new=TI.SCHEDULED)
    assert tis.transition(session, "ti-1", expected=TI.SCHEDULED, new=TI.QUEUED)
    assert state_of(session) == ("queued", 1)


def test_a_report_from_a_stale_try_is_refused(session: Session) -> None:
    tis.transition(session, "ti-1", expected=None, new=TI.SCHEDULED)
    tis.transition(session, "ti-1", expected=TI.SCHEDULED, new=TI.QUEUED)
    tis.transition(session, "ti-1", expected=TI.QUEUED, new=TI.RUNNING, try_number=1)
    assert not tis.transition(session, "ti-1", expected=TI.RUNNING, new=TI.SUCCESS, try_number=2)
    assert tis.transition(session, "ti-1", expected=TI.RUNNING, new=TI.SUCCESS, try_number=1)
    assert state_of(session) == ("success", 1)


def test_an_illegal_transition_raises_and_changes_nothing(session: Session) -> None:
    with pytest.raises(IllegalTransition, match="from None to running"):
        tis.transition(session, "ti-1", expected=None, new=TI.RUNNING)
    assert state_of(session) == (None, 1)


def test_many_at_once_counts_only_those_in_the_expected_state(session: Session) -> None:
    session.add(TaskInstance(id="ti-2", dag_id="d", run_id="r", task_id="u", state="success"))
    session.commit()
    assert tis.transition_many(session, ["ti-1", "ti-2"], expected=None, new=TI.SCHEDULED) == 1


def test_archiving_a_try_keeps_it_in_history(session: Session) -> None:
    tis.transition(session, "ti-1", expected=None, new=TI.FAILED, values={"hostname": "h1"})
    tis.archive_try(session, "ti-1")
    session.commit()
    rows = session.execute(select(TaskInstanceHistory)).scalars().all()
    assert [(r.task_instance_id, r.try_number, r.state, r.hostname) for r in rows] == [
        ("ti-1", 1, "failed", "h1")
    ]


def test_many_are_queued_in_one_statement_and_only_those_still_scheduled_move(
    session: Session,
) -> None:
    session.add_all(
        [
            TaskInstance(id="ti-2", dag_id="d", run_id="r", task_id="u", try_number=3),
            TaskInstance(id="ti-3", dag_id="d", run_id="r", task_id="v", try_number=0),
        ]
    )
    session.flush()
    for ti_id in ("ti-1", "ti-2"):
        assert tis.transition(session, ti_id, expected=None, new=TI.SCHEDULED)
    # ti-3 is not scheduled; ti-2 was read at another try number than it has now.
    moved = tis.mark_queued_many(session, [("ti-1", 1), ("ti-2", 2), ("ti-3", 0)], job_id=7)
    assert moved == {"ti-1": 2}
    session.expire_all()
    ti = session.get(TaskInstance, "ti-1")
    assert ti is not None and (ti.state, ti.try_number, ti.queued_by_job_id) == ("queued", 2, 7)
    assert state_of(session) == ("queued", 2)
    assert tis.mark_queued_many(session, []) == {}


def test_many_transitions_of_one_shape_go_in_one_statement_and_say_if_all_held(
    session: Session,
) -> None:
    session.add_all(
        [
            TaskInstance(id="ti-2", dag_id="d", run_id="r", task_id="u", try_number=1),
            TaskInstance(id="ti-3", dag_id="d", run_id="r", task_id="v", try_number=1),
        ]
    )
    session.flush()
    for ti_id in ("ti-1", "ti-2", "ti-3"):
        assert tis.transition(session, ti_id, expected=None, new=TI.SCHEDULED)
    done = {"end_date": NOW}
    moves: list[tis.Move] = [
        ("ti-2", TI.SCHEDULED, TI.SKIPPED, (), None, done),
        ("ti-3", TI.SCHEDULED, TI.SKIPPED, (), None, done),
    ]
    assert tis.transition_all(session, moves)
    # ti-3 is not running at try 5: that one does not hold, the other still applies.
    moves = [
        ("ti-3", TI.RUNNING, TI.SUCCESS, (), 5, done),
        ("ti-1", TI.SCHEDULED, TI.QUEUED, (), None, {}),
    ]
    assert not tis.transition_all(session, moves)
    session.expire_all()
    states = [session.get(TaskInstance, i).state for i in ("ti-1", "ti-2", "ti-3")]  # type: ignore[union-attr]
    assert states == ["queued", "skipped", "skipped"]
    with pytest.raises(IllegalTransition):
        tis.transition_all(session, [("ti-2", TI.SKIPPED, TI.RUNNING, (), None, {})])
