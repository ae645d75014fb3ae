"""TriggerRunner: many triggers on one loop thread; first event or error collected for
drain(); cancel, cleanup, stop, the wakeup hook, and the warning about a blocking trigger."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tradewind.triggerer import TriggerResult, TriggerRunner
from tradewind.triggerer.runner import NO_EVENT
from tradewind.triggers.base import BaseTrigger, TriggerEvent
from tradewind.triggers.temporal import DateTimeTrigger, TimeDeltaTrigger


class Probe(BaseTrigger):
    """Runs ``body`` as its run(); records (thread-safely) that run, its generator's
    finally, and cleanup happened, in that order."""

    def __init__(self, body: Callable[[], AsyncIterator[TriggerEvent]] | None = None) -> None:
        self.body = body or self.forever
        self.started = threading.Event()
        self.cleaned = threading.Event()
        self.steps: list[str] = []

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{__name__}.Probe", {}

    @staticmethod
    async def forever() -> AsyncIterator[TriggerEvent]:
        await asyncio.sleep(3600)
        yield TriggerEvent("never")

    async def run(self) -> AsyncIterator[TriggerEvent]:
        self.started.set()
        try:
            async for event in self.body():
                yield event
        finally:
            self.steps.append("run closed")

    async def cleanup(self) -> None:
        self.steps.append("cleanup")
        self.cleaned.set()


class Sleepy(BaseTrigger):
    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{__name__}.Sleepy", {}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        time.sleep(0.5)  # the mistake the watchdog is there to catch
        yield TriggerEvent("slept")


class NotAGenerator(BaseTrigger):
    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{__name__}.NotAGenerator", {}

    async def run(self) -> TriggerEvent:  # type: ignore[override]
        return TriggerEvent("oops")


@pytest.fixture
def woke() -> threading.Event:
    return threading.Event()


@pytest.fixture
def runner(woke: threading.Event) -> Iterator[TriggerRunner]:
    runner = TriggerRunner(wakeup=woke.set)
    runner.start()
    yield runner
    runner.stop()


def wait_for_results(
    runner: TriggerRunner, count: int, timeout: float = 3.0
) -> list[TriggerResult]:
    results: list[TriggerResult] = []
    deadline = time.monotonic() + timeout
    while len(results) < count and time.monotonic() < deadline:
        results.extend(runner.drain())
        time.sleep(0.005)
    assert len(results) == count, results
    return results


def the_error(runner: TriggerRunner, trigger: BaseTrigger) -> str:
    runner.add(1, trigger)
    [result] = wait_for_results(runner, 1)
    assert result.event is None and result.error is not None
    return result.error


def test_many_triggers_wait_concurrently_on_one_thread(runner: TriggerRunner) -> None:
    moment = datetime.now(UTC) + timedelta(milliseconds=300)
    threads_before = threading.active_count()
    for trigger_id in range(300):
        runner.add(trigger_id, DateTimeTrigger(moment))
    assert runner.running_ids() == set(range(300))
    assert threading.active_count() == threads_before  # no thread per trigger
    results = wait_for_results(runner, 300)
    assert datetime.now(UTC) >= moment
    assert {r.trigger_id for r in results} == set(range(300))
    assert all(r.event == TriggerEvent(moment) and r.error is None for r in results)
    assert runner.running_ids() == set()
    assert runner.drain() == []


def test_wakeup_is_called_when_results_arrive(runner: TriggerRunner, woke: threading.Event) -> None:
    runner.add(7, TimeDeltaTrigger(timedelta(milliseconds=20)))
    assert woke.wait(2)
    assert [r.trigger_id for r in runner.drain()] == [7]


def test_adding_a_running_id_again_is_a_no_op(runner: TriggerRunner) -> None:
    first, second = Probe(), Probe()
    runner.add(1, first)
    runner.add(1, second)
    assert first.started.wait(2)
    time.sleep(0.05)
    assert not second.started.is_set()
    assert runner.running_ids() == {1}


def test_cancel_stops_the_trigger_runs_its_cleanup_and_reports_nothing(
    runner: TriggerRunner,
) -> None:
    probe = Probe()
    runner.add(1, probe)
    assert probe.started.wait(2)
    runner.cancel(1)
    assert runner.running_ids() == set()
    assert probe.cleaned.wait(2)
    assert probe.steps == ["run closed", "cleanup"]
    runner.cancel(1)  # again, and an unknown id: no-ops
    runner.cancel(99)
    time.sleep(0.05)
    assert runner.drain() == []


def test_cancel_forgets_a_result_not_drained_yet(runner: TriggerRunner) -> None:
    runner.add(1, DateTimeTrigger(datetime(2001, 1, 1, tzinfo=UTC)))
    deadline = time.monotonic() + 2
    while 1 in runner.running_ids() and time.monotonic() < deadline:
        time.sleep(0.005)
    runner.add(1, Probe())  # its result is waiting: the id is still known, nothing starts
    assert runner.running_ids() == set()
    runner.cancel(1)
    assert runner.drain() == []


def test_the_first_event_wins_then_the_trigger_is_closed_and_cleaned_up(
    runner: TriggerRunner,
) -> None:
    async def two_events() -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent("first")
        yield TriggerEvent("second")

    probe = Probe(two_events)
    runner.add(1, probe)
    [result] = wait_for_results(runner, 1)
    assert result == TriggerResult(1, TriggerEvent("first"), None)
    assert probe.cleaned.wait(2)
    assert probe.steps == ["run closed", "cleanup"]


def test_an_exception_is_reported_with_its_traceback(runner: TriggerRunner) -> None:
    async def failing() -> AsyncIterator[TriggerEvent]:
        await asyncio.sleep(0)
        raise ValueError("the API said no")
        yield TriggerEvent("unreachable")

    probe = Probe(failing)
    error = the_error(runner, probe)
    assert error.startswith("Traceback (most recent call last):")
    assert "in failing" in error
    assert error.rstrip().endswith("ValueError: the API said no")
    assert probe.cleaned.wait(2)


def test_a_trigger_that_ends_without_an_event_is_reported(runner: TriggerRunner) -> None:
    async def nothing() -> AsyncIterator[TriggerEvent]:
        return
        yield TriggerEvent("unreachable")

    probe = Probe(nothing)
    assert the_error(runner, probe) == NO_EVENT == "trigger exited without an event"
    assert probe.cleaned.wait(2)


def test_a_run_that_is_not_an_async_generator_is_reported(runner: TriggerRunner) -> None:
    error = the_error(runner, NotAGenerator())
    assert "NotAGenerator.run() returned coroutine, not an async generator" in error


def test_yielding_something_that_is_not_an_event_is_reported(runner: TriggerRunner) -> None:
    async def plain_value() -> AsyncIterator[Any]:
        yield {"status": "done"}

    error = the_error(runner, Probe(plain_value))
    assert error == "trigger yielded {'status': 'done'}, not a TriggerEvent"


def test_a_failing_cleanup_is_logged_and_the_event_still_delivered(
    runner: TriggerRunner, caplog: pytest.LogCaptureFixture
) -> None:
    class BadCleanup(DateTimeTrigger):
        async def cleanup(self) -> None:
            raise OSError("socket already closed")

    runner.add(1, BadCleanup(datetime(2001, 1, 1, tzinfo=UTC)))
    [result] = wait_for_results(runner, 1)
    assert result.error is None
    deadline = time.monotonic() + 2
    while "cleaning up trigger 1" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "socket already closed" in caplog.text


def test_stop_cancels_every_trigger_and_cleans_each_up(woke: threading.Event) -> None:
    runner = TriggerRunner(wakeup=woke.set)
    runner.start()
    probes = [Probe() for _ in range(5)]
    for trigger_id, probe in enumerate(probes):
        runner.add(trigger_id, probe)
    for probe in probes:
        assert probe.started.wait(2)
    runner.stop(timeout=2)
    assert all(probe.cleaned.is_set() for probe in probes)
    assert runner.running_ids() == set()
    assert runner.drain() == []
    with pytest.raises(RuntimeError, match="stopped"):
        runner.add(9, Probe())
    with pytest.raises(RuntimeError, match="start it only once"):
        runner.start()


def test_triggers_added_before_start_run_once_started() -> None:
    runner = TriggerRunner()
    runner.add(1, DateTimeTrigger(datetime(2001, 1, 1, tzinfo=UTC)))
    runner.start()
    try:
        assert [r.trigger_id for r in wait_for_results(runner, 1)] == [1]
    finally:
        runner.stop()


def test_bad_arguments_to_add_are_refused(runner: TriggerRunner) -> None:
    with pytest.raises(TypeError, match=r"must be a tradewind.triggers.base.BaseTrigger"):
        runner.add(1, object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="trigger_id must be an int"):
        runner.add("1", Probe())  # type: ignore[arg-type]


def test_a_trigger_blocking_the_loop_is_named_in_a_warning(
    runner: TriggerRunner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tradewind.triggerer")
    runner.add(42, Sleepy())
    [result] = wait_for_results(runner, 1)
    assert result.event == TriggerEvent("slept")
    deadline = time.monotonic() + 2
    while not caplog.records and time.monotonic() < deadline:
        time.sleep(0.01)
    [record] = [r for r in caplog.records if r.name == "tradewind.triggerer"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "event loop was blocked for 0.5" in message
    assert f"trigger 42 <{__name__}.Sleepy {{}}>" in message
