"""``ExternalTaskSensor``: Airflow's arguments, checks and messages, reading another DAG's
runs through the execution client (in-memory services here, over the worker pipe too);
under ``dags test`` it fails at once instead of waiting for runs it can never see."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tradewind.exceptions import DagDefinitionError
from tradewind.execution.client import ServicesClient
from tradewind.execution.comms import FrameReader, ServiceRequest, send_frame
from tradewind.execution.runner import TryOutcome, run_task_try
from tradewind.execution.runtime import DagRunInfo
from tradewind.execution.worker_client import PipeClient
from tradewind.executors.base import NO_STATE, ExternalStates
from tradewind.executors.memory_services import MemoryWorkerServices
from tradewind.executors.serving import answer
from tradewind.inprocess import run_dag
from tradewind.sdk import DAG
from tradewind.sensors import ExternalTaskSensor
from tradewind.sensors import external_task as module
from tradewind.states import TaskInstanceState as TI

LOGICAL = datetime(2024, 3, 5, tzinfo=UTC)
RUN_ID = "scheduled__2024-03-05T00:00:00+00:00"
FAST = {"poke_interval": 0.01, "timeout": 5}


class Services(MemoryWorkerServices):
    """Memory services that record each ask and can change the world before one."""

    def __init__(self) -> None:
        super().__init__()
        self.asks: list[tuple[str, list[datetime], list[str] | None, str | None]] = []
        #: Called with the ask's number (1-based) before it is answered.
        self.before: Callable[[int], None] = lambda n: None

    def get_external_states(
        self,
        dag_id: str,
        logical_dates: list[datetime],
        task_ids: list[str] | None,
        task_group_id: str | None,
    ) -> ExternalStates:
        self.asks.append((dag_id, list(logical_dates), task_ids, task_group_id))
        self.before(len(self.asks))
        return super().get_external_states(dag_id, logical_dates, task_ids, task_group_id)


def make(**kwargs: Any) -> ExternalTaskSensor:
    kwargs.setdefault("task_id", "wait")
    kwargs.setdefault("external_dag_id", "other")
    for key, value in FAST.items():
        kwargs.setdefault(key, value)
    with DAG("waiter", params={"source": "other"}):
        return ExternalTaskSensor(**kwargs)


def run_try(task: ExternalTaskSensor, client: Any) -> tuple[TryOutcome, str]:
    if isinstance(client, MemoryWorkerServices):
        client = ServicesClient(client)
    lines: list[str] = []
    assert task.dag is not None
    info = DagRunInfo(task.dag.dag_id, RUN_ID, LOGICAL, LOGICAL, LOGICAL, LOGICAL)
    outcome = run_task_try(task, info, client=client, log_sink=lines.append)
    return outcome, "\n".join(lines)


def other_dag(services: MemoryWorkerServices) -> None:
    services.add_dag("other", ["extract", "load"], groups={"grp": ["grp.a", "grp.b"]})


# -- definition ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"external_task_id": "a", "external_task_ids": ["b"]}, "Only one of `external_task_id`"),
        (
            {"external_task_ids": ["a"], "external_task_group_id": "g"},
            "Only one of `external_task_group_id`",
        ),
        (
            {"external_task_id": "a", "allowed_states": ["success"], "failed_states": ["success"]},
            "Duplicate values provided across allowed_states",
        ),
        ({"allowed_states": ["skipped"]}, "when `external_task_id` and `external_task_group_id`"),
        ({"external_task_id": "a", "failed_states": ["done"]}, "`external_task_group_id` is not"),
        (
            {"execution_delta": timedelta(1), "execution_date_fn": lambda d: d},
            "Only one of `execution_delta` or `execution_date_fn`",
        ),
        ({"external_task_ids": ["a", "a"]}, "Duplicate task_ids"),
        ({"external_task_ids": "a"}, "use external_task_id for one task"),
        ({"allowed_states": "success"}, "must be a list of states"),
        ({"poll_interval": -1}, "poll_interval"),
    ],
)
def test_bad_arguments_are_refused_when_the_dag_is_defined(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(DagDefinitionError, match=message) as caught:
        make(**kwargs)
    assert "task 'wait'" in str(caught.value)


def test_defaults_and_templated_fields_are_airflows() -> None:
    sensor = make(external_task_id="load")
    assert sensor.external_task_ids == ["load"]
    assert (sensor.allowed_states, sensor.skipped_states, sensor.failed_states) == (
        ["success"],
        [],
        [],
    )
    assert (sensor.check_existence, sensor.deferrable, sensor.poll_interval) == (False, False, 2.0)
    assert sensor.template_fields == (
        "external_dag_id",
        "external_task_id",
        "external_task_ids",
        "external_task_group_id",
    )
    assert make(external_task_ids=[]).external_task_ids is None
    # Task states are valid for tasks, "no status yet" (None) included.
    assert make(external_task_id="a", allowed_states=[None, "upstream_failed"]).allowed_states == [
        None,
        "upstream_failed",
    ]


def test_the_no_state_key_is_the_services_one() -> None:
    assert module._NO_STATE == NO_STATE


# -- waiting for a DAG run -----------------------------------------------------------------------
def test_waits_for_the_run_at_the_same_logical_date_to_succeed() -> None:
    services = Services()
    other_dag(services)

    def world(ask: int) -> None:
        if ask == 1:
            services.set_run("other", LOGICAL, "running")
        if ask == 3:
            services.set_run("other", LOGICAL, "success")

    services.before = world
    outcome, log = run_try(make(), services)
    assert outcome.state is TI.SUCCESS
    assert [a[1] for a in services.asks] == [[LOGICAL]] * 3
    assert services.asks[0][2:] == (None, None)
    assert f"Poking for DAG 'other' on {LOGICAL.isoformat()} ..." in log


def test_a_run_at_another_logical_date_does_not_count() -> None:
    services = Services()
    services.set_run("other", LOGICAL - timedelta(days=1), "success")
    outcome, _ = run_try(make(timeout=0.05), services)
    assert outcome.state is TI.FAILED
    assert "Sensor has timed out" in (outcome.error or "")


def test_a_failed_run_is_waited_on_by_default_until_the_timeout() -> None:
    services = Services()
    services.set_run("other", LOGICAL, "failed")
    outcome, _ = run_try(make(timeout=0.05, retries=2), services)
    assert outcome.state is TI.FAILED  # a timeout is not retried
    assert "TradewindSensorTimeout" in (outcome.error or "")


def test_failed_states_fail_the_sensor_and_retries_apply() -> None:
    services = Services()
    services.set_run("other", LOGICAL, "failed")
    outcome, _ = run_try(make(failed_states=["failed"], retries=1), services)
    assert outcome.state is TI.UP_FOR_RETRY
    assert "ExternalDagFailedError: The external DAG other failed." in (outcome.error or "")


def test_soft_fail_skips_instead_of_failing() -> None:
    services = Services()
    services.set_run("other", LOGICAL, "failed")
    outcome, log = run_try(make(failed_states=["failed"], soft_fail=True), services)
    assert outcome.state is TI.SKIPPED
    assert "The external DAG other failed. Skipping due to soft_fail." in log


def test_skipped_states_skip_the_sensor() -> None:
    services = Services()
    services.set_run("other", LOGICAL, "failed")
    outcome, log = run_try(make(skipped_states=["failed"]), services)
    assert outcome.state is TI.SKIPPED
    assert "The external DAG other reached a state in our states-to-skip-on list" in log


def test_allowed_states_can_be_flipped() -> None:
    services = Services()
    services.set_run("other", LOGICAL, "failed")
    task = make(allowed_states=["failed"], failed_states=["success"])
    assert run_try(task, services)[0].state is TI.SUCCESS
    services.set_run("other", LOGICAL, "success")
    assert run_try(task, services)[0].state is TI.FAILED


# -- waiting for tasks ---------------------------------------------------------------------------
def test_waits_until_every_task_succeeded() -> None:
    services = Services()
    other_dag(services)
    services.set_run("other", LOGICAL, "running", {"extract": "success", "load": "running"})

    def world(ask: int) -> None:
        if ask == 3:
            services.set_run("other", LOGICAL, "running", {"extract": "success", "load": "success"})

    services.before = world
    outcome, log = run_try(make(external_task_ids=["extract", "load"]), services)
    assert outcome.state is TI.SUCCESS
    assert len(services.asks) == 3
    assert services.asks[0][2] == ["extract", "load"]
    assert "Poking for tasks ['extract', 'load'] in dag other on" in log


def test_one_failed_task_fails_the_sensor_with_airflows_message() -> None:
    services = Services()
    services.set_run("other", LOGICAL, "running", {"extract": "failed", "load": None})
    task = make(external_task_ids=["extract", "load"], failed_states=["failed"])
    outcome, _ = run_try(task, services)
    assert outcome.state is TI.FAILED
    assert (
        "ExternalTaskFailedError: Some of the external tasks ['extract', 'load'] in DAG other "
        "failed." in (outcome.error or "")
    )


def test_failed_states_win_over_skipped_states() -> None:
    services = Services()
    services.set_run("other", LOGICAL, "running", {"extract": "failed", "load": "skipped"})
    task = make(
        external_task_ids=["extract", "load"],
        failed_states=["failed"],
        skipped_states=["skipped"],
    )
    assert run_try(task, services)[0].state is TI.FAILED


def test_a_skipped_task_skips_the_sensor() -> None:
    services = Services()
    services.set_run("other", LOGICAL, "running", {"load": "skipped"})
    outcome, log = run_try(make(external_task_id="load", skipped_states=["skipped"]), services)
    assert outcome.state is TI.SKIPPED
    assert "Some of the external tasks ['load'] in DAG other reached a state" in log


def test_a_mapped_task_is_done_when_every_map_index_is() -> None:
    services = Services()
    services.set_run("other", LOGICAL, "running", {"load": ["success", "running", "success"]})

    def world(ask: int) -> None:
        if ask == 2:
            services.set_run("other", LOGICAL, "running", {"load": ["success"] * 3})

    services.before = world
    assert run_try(make(external_task_id="load"), services)[0].state is TI.SUCCESS
    assert len(services.asks) == 2


def test_a_task_without_a_state_yet_is_not_done() -> None:
    services = Services()
    services.set_run("other", LOGICAL, "queued", {"load": None})
    assert run_try(make(external_task_id="load", timeout=0.05), services)[0].state is TI.FAILED
    # ...unless "no status yet" is what the sensor waits for, as Airflow allows.
    task = make(external_task_id="load", allowed_states=[None])
    assert run_try(task, services)[0].state is TI.SUCCESS


def test_the_fields_are_rendered_before_the_first_poke() -> None:
    services = Services()
    services.set_run("other", LOGICAL, "running", {"load_2024-03-05": "success"})
    task = make(external_dag_id="{{ params.source }}", external_task_id="load_{{ ds }}")
    assert run_try(task, services)[0].state is TI.SUCCESS
    assert services.asks[0][0] == "other"
    assert services.asks[0][2] == ["load_2024-03-05"]


# -- waiting for a task group --------------------------------------------------------------------
def test_a_task_group_is_done_when_all_its_tasks_are() -> None:
    services = Services()
    other_dag(services)
    # Tasks without a state do not make a group done (Airflow 3.3, apache/airflow#66881).
    services.set_run("other", LOGICAL, "running", {"grp.a": "success", "grp.b": None})

    def world(ask: int) -> None:
        if ask == 2:
            services.set_run("other", LOGICAL, "running", {"grp.a": "success", "grp.b": "success"})

    services.before = world
    outcome, log = run_try(make(external_task_group_id="grp"), services)
    assert outcome.state is TI.SUCCESS
    assert len(services.asks) == 2
    assert services.asks[0][2:] == (None, "grp")
    assert "Poking for task_group 'grp' in dag 'other' on" in log


def test_a_group_with_one_failed_task_fails_the_sensor() -> None:
    services = Services()
    other_dag(services)
    services.set_run("other", LOGICAL, "running", {"grp.a": "failed", "grp.b": "running"})
    outcome, _ = run_try(make(external_task_group_id="grp", failed_states=["failed"]), services)
    assert outcome.state is TI.FAILED
    assert "ExternalTaskGroupFailedError: The external task_group 'grp' in DAG 'other' failed." in (
        outcome.error or ""
    )
    task = make(external_task_group_id="grp", failed_states=["failed"], soft_fail=True)
    outcome, log = run_try(task, services)
    assert outcome.state is TI.SKIPPED
    assert "in DAG 'other' failed. Skipping due to soft_fail." in log


def test_a_group_in_skipped_states_skips_the_sensor() -> None:
    services = Services()
    other_dag(services)
    services.set_run("other", LOGICAL, "running", {"grp.a": "skipped", "grp.b": "success"})
    outcome, log = run_try(make(external_task_group_id="grp", skipped_states=["skipped"]), services)
    assert outcome.state is TI.SKIPPED
    assert "The external task_group 'grp' in DAG other reached a state" in log


def test_an_unknown_group_is_waited_for_and_logged_without_check_existence() -> None:
    services = Services()
    other_dag(services)
    services.set_run("other", LOGICAL, "success", {"grp.a": "success"})
    outcome, log = run_try(make(external_task_group_id="nope", timeout=0.05), services)
    assert outcome.state is TI.FAILED
    assert "Sensor has timed out" in (outcome.error or "")
    assert "DAG other has no task group 'nope' (yet)" in log


# -- which logical dates -------------------------------------------------------------------------
def test_execution_delta_looks_that_far_back() -> None:
    services = Services()
    services.set_run("other", LOGICAL - timedelta(hours=1), "success")
    outcome, log = run_try(make(execution_delta=timedelta(hours=1)), services)
    assert outcome.state is TI.SUCCESS
    assert services.asks[0][1] == [LOGICAL - timedelta(hours=1)]
    assert "on 2024-03-04T23:00:00+00:00" in log


def test_execution_date_fn_gets_the_logical_date_and_the_context_it_names() -> None:
    services = Services()
    seen: dict[str, Any] = {}

    def two_days(logical_date: datetime, ds: str, context: Any) -> list[datetime]:
        seen.update(ds=ds, run_id=context["run_id"])
        return [logical_date - timedelta(days=1), logical_date]

    services.set_run("other", LOGICAL - timedelta(days=1), "success")
    services.set_run("other", LOGICAL, "running")

    def world(ask: int) -> None:
        if ask == 2:
            services.set_run("other", LOGICAL, "success")

    services.before = world
    outcome, log = run_try(make(execution_date_fn=two_days), services)
    assert outcome.state is TI.SUCCESS
    assert services.asks[0][1] == [LOGICAL - timedelta(days=1), LOGICAL]
    assert seen == {"ds": "2024-03-05", "run_id": RUN_ID}
    assert "on 2024-03-04T00:00:00+00:00,2024-03-05T00:00:00+00:00" in log


def test_execution_date_fn_may_return_one_date_and_take_any_context() -> None:
    services = Services()
    services.set_run("other", datetime(2024, 1, 1, tzinfo=UTC), "success")
    task = make(execution_date_fn=lambda dt, **context: datetime(2024, 1, 1, tzinfo=UTC))
    assert run_try(task, services)[0].state is TI.SUCCESS


def test_execution_date_fn_returning_no_date_fails_the_poke() -> None:
    outcome, _ = run_try(make(execution_date_fn=lambda dt: "yesterday"), Services())
    assert outcome.state is TI.FAILED
    assert "execution_date_fn must return a datetime" in (outcome.error or "")


# -- check_existence -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({}, "ExternalDagNotFoundError: The external DAG other does not exist."),
        (
            {"external_task_ids": ["load", "publish"]},
            "ExternalTaskNotFoundError: The external task publish in DAG other does not exist.",
        ),
        (
            {"external_task_group_id": "nope"},
            "ExternalTaskGroupNotFoundError: The external task group 'nope' in DAG 'other' "
            "does not exist.",
        ),
    ],
)
def test_check_existence_fails_at_the_first_poke(kwargs: dict[str, Any], error: str) -> None:
    services = Services()
    if kwargs:
        other_dag(services)
    outcome, _ = run_try(make(check_existence=True, **kwargs), services)
    assert outcome.state is TI.FAILED
    assert error in (outcome.error or "")
    assert len(services.asks) == 1


def test_check_existence_refuses_a_deleted_dag() -> None:
    services = Services()
    services.add_dag("other", ["load"], deleted=True)
    outcome, _ = run_try(make(check_existence=True), services)
    assert "ExternalDagDeletedError: The external DAG other was deleted." in (outcome.error or "")


def test_check_existence_passes_then_is_not_checked_again_in_the_try() -> None:
    services = Services()
    other_dag(services)

    def world(ask: int) -> None:
        if ask == 2:  # the DAG goes away, then its run succeeds: the check is not repeated
            services.external_dags.clear()
            services.set_run("other", LOGICAL, "success", {"load": "success"})

    services.before = world
    task = make(check_existence=True, external_task_id="load")
    assert run_try(task, services)[0].state is TI.SUCCESS


def test_without_check_existence_a_missing_dag_is_waited_for() -> None:
    outcome, _ = run_try(make(timeout=0.05), Services())
    assert outcome.state is TI.FAILED
    assert "Sensor has timed out" in (outcome.error or "")


# -- deferrable ----------------------------------------------------------------------------------
def test_deferrable_pokes_in_the_worker_every_poll_interval_and_says_so() -> None:
    services = Services()
    services.before = lambda ask: (
        services.set_run("other", LOGICAL, "success") if ask == 2 else None
    )
    task = make(deferrable=True, poll_interval=0.01, poke_interval=600)
    outcome, log = run_try(task, services)
    assert outcome.state is TI.SUCCESS  # not deferred, and not waiting 600 s
    assert len(services.asks) == 2
    assert "deferrable=True" in log and "instead of deferring" in log


def test_execute_complete_takes_airflows_trigger_events() -> None:
    task = make(external_task_id="load")
    context = {"logical_date": LOGICAL}
    task.execute_complete(context, {"status": "success"})
    assert task.external_dates_filter == LOGICAL.isoformat()
    with pytest.raises(module.TradewindSkipException, match="skipped skipping"):
        task.execute_complete(context, {"status": "skipped"})
    with pytest.raises(module.ExternalDagFailedError, match="External job has failed"):
        task.execute_complete(context, {"status": "failed"})
    with pytest.raises(module.ExternalTaskNotFoundError, match="check the name"):
        task.execute_complete(context, {"status": "timeout"})
    with pytest.raises(module.ExternalTaskNotFoundError, match="No event"):
        task.execute_complete(context, None)
    soft = make(external_task_id="load", soft_fail=True)
    with pytest.raises(module.TradewindSkipException, match="failed skipping"):
        soft.execute_complete(context, {"status": "failed"})


# -- dags test -----------------------------------------------------------------------------------
def test_dags_test_fails_the_sensor_at_once_instead_of_waiting_forever() -> None:
    with DAG("waiter_in_process") as dag:
        ExternalTaskSensor(task_id="wait", external_dag_id="other", retries=3, **FAST)
    wait = run_dag(dag).get("wait")
    assert (wait.state, wait.try_number) == (TI.FAILED, 1)
    assert "dags test has no metadata database" in (wait.error or "")


# -- over the worker pipe ------------------------------------------------------------------------
@pytest.fixture
def piped() -> Iterator[tuple[PipeClient, Services]]:
    """A task's client whose requests a thread answers, as the executor does for a worker."""
    services = Services()
    ours, theirs = socket.socketpair()

    def serve() -> None:
        reader = FrameReader(theirs)
        while True:
            try:
                request = reader.read_blocking()
            except (EOFError, OSError):
                return
            assert isinstance(request, ServiceRequest)
            send_frame(theirs, answer(services, request, ("waiter", RUN_ID, "wait", -1)))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield PipeClient(ours), services
    ours.close()
    thread.join(5)
    theirs.close()


def test_external_states_cross_the_pipe(piped: tuple[PipeClient, Services]) -> None:
    client, services = piped
    other_dag(services)
    services.set_run("other", LOGICAL, "running", {"grp.a": ["success", None]})
    found = client.get_external_states("other", [LOGICAL, LOGICAL + timedelta(1)], None, "grp")
    assert found == ExternalStates(
        dag="active",
        run_states=["running", None],
        task_states=[{"grp.a": {"success": 1, NO_STATE: 1}}, {}],
        task_group_found=True,
    )
    assert services.asks[0][1] == [LOGICAL, LOGICAL + timedelta(1)]
    found = client.get_external_states("other", [LOGICAL], ["load", "nope"], None)
    assert (found.missing_task_ids, found.task_group_found) == (["nope"], None)
    with pytest.raises(ValueError, match="time zone"):
        client._call_raw(
            "get_external_states", dag_id="other", logical_dates=["2024-03-05T00:00:00"]
        )
    with pytest.raises(ValueError, match="task_ids"):
        client._call_raw("get_external_states", dag_id="other", logical_dates=[], task_ids="load")


def test_the_sensor_runs_over_the_pipe(piped: tuple[PipeClient, Services]) -> None:
    client, services = piped
    services.set_run("other", LOGICAL, "success", {"load": "success"})
    assert run_try(make(external_task_id="load"), client)[0].state is TI.SUCCESS
    services.set_run("other", LOGICAL, "running", {"load": "failed"})
    outcome, _ = run_try(make(external_task_id="load", failed_states=["failed"]), client)
    assert outcome.state is TI.FAILED


def test_dags_test_skips_a_soft_fail_sensor() -> None:
    with DAG("waiter_soft_in_process") as dag:
        ExternalTaskSensor(task_id="wait", external_dag_id="other", soft_fail=True, **FAST)
    wait = run_dag(dag).get("wait")
    assert wait.state is TI.SKIPPED
    assert "dags test has no metadata database" in "\n".join(wait.log)
