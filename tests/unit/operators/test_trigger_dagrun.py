"""``TriggerDagRunOperator``: triggers through the execution client with Airflow 3.3's rules,
over the worker pipe as in process; under ``dags test`` it records the trigger only."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tradewind.exceptions import DagDefinitionError, DagRunAlreadyExists, TradewindException
from tradewind.execution.client import InProcessClient
from tradewind.execution.comms import FrameReader, ServiceRequest, send_frame
from tradewind.execution.runner import TryOutcome, run_task_try
from tradewind.execution.runtime import DagRunInfo
from tradewind.execution.worker_client import PipeClient
from tradewind.executors.memory_services import MemoryWorkerServices
from tradewind.executors.serving import answer
from tradewind.inprocess import run_dag
from tradewind.operators import TriggerDagRunOperator
from tradewind.sdk import DAG
from tradewind.states import TaskInstanceState as TI
from tradewind.xcom.base import XComKey
from tradewind.xcom.memory import MemoryXComBackend

LOGICAL = datetime(2024, 3, 5, tzinfo=UTC)
RUN_ID = "manual__2024-03-05T00:00:00+00:00"


def run_try(task: Any, client: Any, *, try_number: int = 1) -> tuple[TryOutcome, list[str]]:
    lines: list[str] = []
    info = DagRunInfo(
        task.dag.dag_id, RUN_ID, LOGICAL, LOGICAL, LOGICAL, LOGICAL, conf={"who": "ops"}
    )
    outcome = run_task_try(task, info, client=client, try_number=try_number, log_sink=lines.append)
    return outcome, lines


def pushed_run_id(services: MemoryWorkerServices, task: Any) -> Any:
    return services.xcom_get(XComKey(task.dag.dag_id, RUN_ID, task.task_id, -1, "trigger_run_id"))


def make(**kwargs: Any) -> TriggerDagRunOperator:
    kwargs.setdefault("task_id", "kick")
    kwargs.setdefault("trigger_dag_id", "target")
    with DAG("parent", params={"target": "target"}):
        return TriggerDagRunOperator(**kwargs)


# -- triggering ------------------------------------------------------------------------------
def test_a_trigger_makes_a_run_and_pushes_its_id() -> None:
    services = MemoryWorkerServices()
    before = datetime.now(UTC)
    outcome, _ = run_try(make(conf={"n": 1}, note="from parent"), services)
    assert outcome.state is TI.SUCCESS
    [(dag_id, run_id)] = services.dag_runs
    run = services.dag_runs[(dag_id, run_id)]
    assert dag_id == "target"
    assert run_id == f"manual__{run['logical_date'].isoformat()}"
    assert before <= run["logical_date"] <= datetime.now(UTC)
    assert (run["conf"], run["note"], run["state"]) == ({"n": 1}, "from parent", "queued")
    assert pushed_run_id(services, make()) == run_id
    assert outcome.pushed_keys == ["trigger_run_id"]  # no return value, as in Airflow


def test_the_templated_fields_are_rendered() -> None:
    services = MemoryWorkerServices()
    task = make(
        trigger_dag_id="{{ params.target }}",
        trigger_run_id="from_{{ ds_nodash }}",
        logical_date="{{ ds }}",
        conf={"day": "{{ ds }}", "who": "{{ dag_run.conf['who'] }}"},
    )
    assert run_try(task, services)[0].state is TI.SUCCESS
    run = services.dag_runs[("target", "from_20240305")]
    assert run["conf"] == {"day": "2024-03-05", "who": "ops"}
    assert run["logical_date"] == LOGICAL


def test_logical_date_none_makes_a_run_without_one_and_a_suffixed_id() -> None:
    services = MemoryWorkerServices()
    assert run_try(make(logical_date=None), services)[0].state is TI.SUCCESS
    [(_, run_id)] = services.dag_runs
    assert services.dag_runs[("target", run_id)]["logical_date"] is None
    prefix, _, suffix = run_id.rpartition("_")
    assert prefix.startswith("manual__") and len(suffix) == 8


def test_a_naive_logical_date_is_read_in_the_default_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEWIND__CORE__DEFAULT_TIMEZONE", "Europe/Paris")
    services = MemoryWorkerServices()
    assert run_try(make(logical_date="2024-03-05T12:00:00"), services)[0].state is TI.SUCCESS
    [run] = services.dag_runs.values()
    assert run["logical_date"] == datetime(2024, 3, 5, 11, tzinfo=UTC)


def test_a_json_string_conf_is_parsed_and_a_non_json_conf_fails() -> None:
    services = MemoryWorkerServices()
    assert run_try(make(conf='{"a": [1, 2]}'), services)[0].state is TI.SUCCESS
    assert next(iter(services.dag_runs.values()))["conf"] == {"a": [1, 2]}
    outcome, _ = run_try(make(conf={"when": object()}), MemoryWorkerServices())
    assert outcome.state is TI.FAILED
    assert "conf parameter should be JSON Serializable" in (outcome.error or "")


# -- a run that already exists -------------------------------------------------------------------
def test_a_taken_run_id_fails_the_task_without_retries() -> None:
    services = MemoryWorkerServices()
    services.trigger_dag_run("target", "taken", None, None, False, None)
    outcome, _ = run_try(make(trigger_run_id="taken", retries=3), services)
    assert outcome.state is TI.FAILED
    assert "already has a run" in (outcome.error or "")


def test_skip_when_already_exists_skips() -> None:
    services = MemoryWorkerServices()
    services.trigger_dag_run("target", "taken", None, None, False, None)
    outcome, _ = run_try(make(trigger_run_id="taken", skip_when_already_exists=True), services)
    assert outcome.state is TI.SKIPPED


def test_reset_dag_run_clears_the_existing_run_and_wins_over_skipping() -> None:
    services = MemoryWorkerServices()
    services.trigger_dag_run("target", "taken", {"old": 1}, None, False, None)
    services.dag_runs[("target", "taken")]["state"] = "failed"
    task = make(trigger_run_id="taken", reset_dag_run=True, skip_when_already_exists=True)
    outcome, _ = run_try(task, services)
    assert outcome.state is TI.SUCCESS
    assert services.dag_runs[("target", "taken")] == {
        "conf": {"old": 1},
        "logical_date": None,
        "note": None,
        "state": "queued",
    }
    assert pushed_run_id(services, task) == "taken"


# -- waiting -------------------------------------------------------------------------------------
class FinishesAfter(MemoryWorkerServices):
    """The triggered run reaches ``final`` after ``polls`` state reads."""

    def __init__(self, final: str, polls: int = 2) -> None:
        super().__init__()
        self.final = final
        self.polls = polls
        self.reads = 0

    def get_dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        self.reads += 1
        if self.reads == 1:
            self.dag_runs[(dag_id, run_id)]["state"] = "running"
        if self.reads >= self.polls:
            self.dag_runs[(dag_id, run_id)]["state"] = self.final
        return super().get_dag_run_state(dag_id, run_id)


def test_wait_for_completion_polls_until_an_allowed_state() -> None:
    services = FinishesAfter("success", polls=3)
    outcome, lines = run_try(make(wait_for_completion=True, poke_interval=0.01), services)
    assert outcome.state is TI.SUCCESS
    assert services.reads == 3
    assert any("target finished with allowed state success" in line for line in lines)


def test_a_failed_state_fails_the_task_and_retries_apply() -> None:
    services = FinishesAfter("failed")
    task = make(wait_for_completion=True, poke_interval=0.01, retries=1)
    outcome, _ = run_try(task, services)
    assert outcome.state is TI.UP_FOR_RETRY
    assert "target failed with failed state failed" in (outcome.error or "")


def test_custom_allowed_and_failed_states() -> None:
    task = make(
        wait_for_completion=True,
        poke_interval=0.01,
        allowed_states=["success", "failed"],
        failed_states=[],
    )
    assert run_try(task, FinishesAfter("failed"))[0].state is TI.SUCCESS


def test_a_run_that_disappears_while_waited_for_fails_the_task() -> None:
    class Vanishing(MemoryWorkerServices):
        def get_dag_run_state(self, dag_id: str, run_id: str) -> str | None:
            return None

    outcome, _ = run_try(make(wait_for_completion=True, poke_interval=0), Vanishing())
    assert outcome.state is TI.FAILED
    assert "no longer exists" in (outcome.error or "")


def test_bad_arguments_are_refused_when_the_dag_is_defined() -> None:
    with pytest.raises(DagDefinitionError, match="allowed_states"):
        make(allowed_states=["done"])
    with pytest.raises(DagDefinitionError, match="poke_interval"):
        make(poke_interval=-1)
    with pytest.raises(TypeError, match="logical_date"):
        make(logical_date=20240101)


def test_an_empty_allowed_states_means_success_as_in_airflow() -> None:
    task = make(allowed_states=[], failed_states=None)
    assert [s.value for s in task.allowed_states] == ["success"]
    assert [s.value for s in task.failed_states] == ["failed"]


# -- over the worker pipe ------------------------------------------------------------------------
@pytest.fixture
def piped() -> Iterator[tuple[PipeClient, MemoryWorkerServices]]:
    """A task's client whose requests a thread answers, as the executor does for a worker."""
    services = MemoryWorkerServices()
    ours, theirs = socket.socketpair()

    def serve() -> None:
        reader = FrameReader(theirs)
        while True:
            try:
                request = reader.read_blocking()
            except (EOFError, OSError):
                return
            assert isinstance(request, ServiceRequest)
            send_frame(theirs, answer(services, request, ("parent", RUN_ID, "kick", -1)))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield PipeClient(ours), services
    ours.close()
    thread.join(5)
    theirs.close()


def test_trigger_and_state_cross_the_pipe(piped: tuple[PipeClient, MemoryWorkerServices]) -> None:
    client, services = piped
    assert client.trigger_dag_run("target", "r1", {"n": [1]}, LOGICAL, False, "hi") == "r1"
    assert services.dag_runs[("target", "r1")] == {
        "conf": {"n": [1]},
        "logical_date": LOGICAL,
        "note": "hi",
        "state": "queued",
    }
    assert client.get_dag_run_state("target", "r1") == "queued"
    assert client.get_dag_run_state("target", "nope") is None
    with pytest.raises(DagRunAlreadyExists, match="already has a run"):
        client.trigger_dag_run("target", "r1", None, None, False, None)
    with pytest.raises(ValueError, match="JSON object"):
        client._call("trigger_dag_run", dag_id="t", run_id="r2", conf=[1], reset_dag_run=False)


def test_the_operator_runs_over_the_pipe(piped: tuple[PipeClient, MemoryWorkerServices]) -> None:
    client, services = piped
    task = make(trigger_run_id="piped", skip_when_already_exists=True)
    assert run_try(task, client)[0].state is TI.SUCCESS
    assert ("target", "piped") in services.dag_runs
    assert run_try(task, client)[0].state is TI.SKIPPED


# -- dags test -----------------------------------------------------------------------------------
def test_dags_test_records_the_trigger_and_says_the_target_did_not_run() -> None:
    with DAG("parent_in_process") as dag:
        TriggerDagRunOperator(task_id="kick", trigger_dag_id="target", conf={"n": 1})
    client = InProcessClient(MemoryXComBackend())
    result = run_dag(dag, client=client)
    assert result.state.value == "success"
    [triggered] = client.triggered.values()
    assert (triggered.dag_id, triggered.conf) == ("target", {"n": 1})
    log = "\n".join(result.get("kick").log)
    assert "did not start it: dags test has no scheduler" in log
    key = XComKey("parent_in_process", result.run_id, "kick", -1, "trigger_run_id")
    assert client.xcom_get(key) == triggered.run_id


def test_dags_test_fails_a_wait_for_completion_at_once_instead_of_hanging() -> None:
    with DAG("parent_waits") as dag:
        TriggerDagRunOperator(
            task_id="kick",
            trigger_dag_id="target",
            wait_for_completion=True,
            poke_interval=0,
            retries=2,
        )
    result = run_dag(dag)
    kick = result.get("kick")
    assert (kick.state, kick.try_number) == (TI.FAILED, 1)
    assert "dags test has no scheduler" in (kick.error or "")


def test_dags_test_applies_the_duplicate_rules_too() -> None:
    client = InProcessClient(MemoryXComBackend())
    client.trigger_dag_run("target", "same", None, None, False, None)
    with pytest.raises(DagRunAlreadyExists):
        client.trigger_dag_run("target", "same", None, None, False, None)
    assert client.trigger_dag_run("target", "same", None, None, True, None) == "same"
    assert client.triggered[("target", "same")].resets == 1
    assert client.get_dag_run_state("target", "other") is None


def test_a_mapped_trigger_makes_one_run_per_target() -> None:
    with DAG("parent_mapped") as dag:
        TriggerDagRunOperator.partial(task_id="kick").expand(trigger_dag_id=["a", "b"])
    client = InProcessClient(MemoryXComBackend())
    assert run_dag(dag, client=client).state.value == "success"
    assert sorted(d for d, _ in client.triggered) == ["a", "b"]


# -- the task instance's own methods ---------------------------------------------------------
def test_any_task_can_trigger_a_run_and_read_its_state_through_its_task_instance() -> None:
    from tradewind.sdk import task

    seen: dict[str, Any] = {}
    with DAG("parent_ti") as dag:

        @task
        def kick(ti: Any = None) -> None:
            run_id = ti.trigger_dag_run("target", "by_hand", conf={"n": 2}, note="hi")
            seen["state"] = ti.get_dagrun_state("target", run_id)
            seen["missing"] = ti.get_dagrun_state("target", "never")

        kick()
    services = MemoryWorkerServices()
    [task_] = dag.task_dict.values()
    assert run_try(task_, services)[0].state is TI.SUCCESS
    run = services.dag_runs[("target", "by_hand")]
    assert (run["conf"], run["note"], run["logical_date"]) == ({"n": 2}, "hi", None)
    assert seen == {"state": "queued", "missing": None}


def test_the_operator_outside_a_running_task_says_so() -> None:
    with pytest.raises(TradewindException, match="must run as a task"):
        make().execute({"ti": None})
