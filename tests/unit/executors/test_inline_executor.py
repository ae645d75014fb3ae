"""The inline executor runs tries in this process with the same runner, logs and events."""

from __future__ import annotations

from typing import Any

import pytest

from tradewind.executors.base import ExecutorError
from tradewind.executors.inline import InlineExecutor
from tradewind.executors.memory_services import MemoryWorkerServices
from tradewind.executors.workload import TaskOutcomeEvent, TaskStartedEvent
from tradewind.states import TaskInstanceState as TI
from tradewind.task_logs import logs_folder, resolve_log_path

Workloads = Any  # conftest's Workloads: fixtures are the way to share here (no packages)


def outcomes(executor: InlineExecutor) -> list[TaskOutcomeEvent]:
    assert executor.wait_for_event(0)
    return [e for e in executor.get_events() if isinstance(e, TaskOutcomeEvent)]


def test_tries_pass_xcom_through_the_services_and_write_their_logs(pipeline: Workloads) -> None:
    services = MemoryWorkerServices()
    executor = InlineExecutor(services)
    executor.start()
    first = pipeline("produce")
    assert executor.queue_workload(first)
    assert not executor.queue_workload(first)  # the same try twice is a no-op
    events = executor.get_events()
    assert [type(e) for e in events] == [TaskStartedEvent, TaskOutcomeEvent]
    done = events[1]
    assert isinstance(done, TaskOutcomeEvent)
    assert (done.state, done.pushed_keys, done.crashed) == (TI.SUCCESS, ["return_value"], False)
    executor.queue_workload(pipeline("consume"))
    (second,) = outcomes(executor)
    assert second.state is TI.SUCCESS
    from tradewind.xcom.base import XComKey

    key = XComKey("pipeline", first.run_id, "consume", -1, "return_value")
    assert services.xcom_get(key) == 6
    log = resolve_log_path(logs_folder(), first.log_path).read_text()
    assert "producing" in log and "Marking task as SUCCESS" in log
    executor.end()


def test_a_failure_is_retried_while_the_task_instance_has_tries_left(
    pipeline: Workloads,
) -> None:
    executor = InlineExecutor(MemoryWorkerServices())
    executor.start()
    executor.queue_workload(pipeline("flaky"))
    executor.queue_workload(pipeline("flaky", try_number=3))
    executor.queue_workload(pipeline("flaky", try_number=3, max_tries=5))  # cleared once
    retry, last, cleared = outcomes(executor)
    assert retry.state is TI.UP_FOR_RETRY and retry.next_retry_at is not None
    assert "ValueError: boom" in (retry.error or "")
    assert (last.state, last.crashed) == (TI.FAILED, False)
    assert cleared.state is TI.UP_FOR_RETRY


def test_a_dag_file_that_fails_to_import_is_a_crashed_try(dag_file: Any) -> None:
    broken = dag_file("broken", "from tradewind.sdk import dag\nraise ImportError('x')")
    executor = InlineExecutor(MemoryWorkerServices())
    executor.start()
    executor.queue_workload(broken("t"))
    (event,) = outcomes(executor)
    assert (event.state, event.crashed) == (TI.FAILED, True)
    assert "ImportError" in (event.error or "")


def test_a_queued_try_can_be_cancelled_before_it_runs(pipeline: Workloads) -> None:
    executor = InlineExecutor(MemoryWorkerServices())
    executor.start()
    executor.queue_workload(pipeline("produce", ti_id="x"))
    assert executor.open_slots == 0
    assert executor.cancel("x") and not executor.cancel("x")
    (event,) = outcomes(executor)
    assert event.crashed and "cancelled" in (event.error or "")


def test_workloads_need_a_started_executor(pipeline: Workloads) -> None:
    with pytest.raises(ExecutorError):
        InlineExecutor(MemoryWorkerServices()).queue_workload(pipeline("produce"))
