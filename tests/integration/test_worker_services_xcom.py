"""The service's XCom store for workers: the codec's text in, the same text out, on both
databases, with each call committed on its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tradewind.db import migrate
from tradewind.db.models import DagModel, DagRun, XComRow
from tradewind.db.session import get_engine
from tradewind.scheduler.worker_services import DatabaseWorkerServices
from tradewind.serialization import codec
from tradewind.xcom.base import XComKey

NOW = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = get_engine(db_url)
    migrate.upgrade(engine)
    with Session(engine) as s:
        s.add(DagModel(dag_id="d"))
        s.flush()
        s.add(DagRun(dag_id="d", run_id="r", run_after=NOW, state="running", run_type="manual"))
        s.commit()
    yield engine


@pytest.fixture
def services(engine: Engine) -> Iterator[DatabaseWorkerServices]:
    services = DatabaseWorkerServices(engine)
    yield services
    services.close_connection()


def test_a_value_is_stored_replaced_read_and_cleared(
    engine: Engine, services: DatabaseWorkerServices
) -> None:
    key = XComKey("d", "r", "t", -1, "return_value")
    services.xcom_set_encoded(key, codec.encode({"rows": (1, 2)}))
    services.xcom_set_encoded(key, codec.encode([3, 4]))  # a retry pushes again
    assert services.xcom_get_encoded(key) == "[3,4]"
    with Session(engine) as s:  # committed: another connection sees exactly one row
        assert s.scalar(select(func.count()).select_from(XComRow)) == 1
    services.xcom_clear("d", "r", "t", -1)
    with pytest.raises(KeyError):
        services.xcom_get_encoded(key)


def test_every_map_index_comes_back_in_order_as_stored(services: DatabaseWorkerServices) -> None:
    for i in (2, 0, 1):
        services.xcom_set_encoded(XComKey("d", "r", "m", i, "return_value"), codec.encode((i,)))
    rows = services.xcom_get_all_encoded("d", "r", "m", "return_value")
    assert [(i, codec.decode(v)) for i, v in rows] == [(0, (0,)), (1, (1,)), (2, (2,))]


def test_a_value_for_a_run_that_does_not_exist_is_refused(services: DatabaseWorkerServices) -> None:
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        services.xcom_set_encoded(XComKey("d", "no-such-run", "t", -1, "k"), "1")
    # The kept connection still works after the refused statement.
    services.xcom_set_encoded(XComKey("d", "r", "t", -1, "k"), "1")
    assert services.xcom_get_encoded(XComKey("d", "r", "t", -1, "k")) == "1"
