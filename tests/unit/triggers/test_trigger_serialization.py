"""A trigger is stored as (class path, codec text) and rebuilt from it; whatever would make
the rebuild fail is a TaskDeferralError where the task defers, naming the problem."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tradewind.exceptions import TaskDeferralError
from tradewind.triggers.base import BaseTrigger, TriggerEvent
from tradewind.triggers.callable import CallableTrigger
from tradewind.triggers.file import FileTrigger
from tradewind.triggers.serialization import import_object, load_trigger, serialize_trigger
from tradewind.triggers.temporal import DateTimeTrigger, TimeDeltaTrigger


def ready() -> bool:
    return True


class Stored(BaseTrigger):
    """A test trigger whose serialize() returns whatever the test sets."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.path = f"{__name__}.Stored"

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return self.path, self.kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent(None)


class ForgotToSerialize(DateTimeTrigger):
    """Changes run() but keeps the inherited serialize(): would run different code."""

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent("different")


def round_trip(trigger: BaseTrigger) -> BaseTrigger:
    return load_trigger(*serialize_trigger(trigger))


def test_date_time_trigger_round_trips() -> None:
    trigger = DateTimeTrigger(datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC), end_from_trigger=True)
    rebuilt = round_trip(trigger)
    assert type(rebuilt) is DateTimeTrigger
    assert rebuilt.serialize() == trigger.serialize()


def test_time_delta_trigger_comes_back_as_the_same_moment() -> None:
    trigger = TimeDeltaTrigger(timedelta(hours=1))
    rebuilt = round_trip(trigger)
    assert type(rebuilt) is DateTimeTrigger
    assert isinstance(rebuilt, DateTimeTrigger)
    assert rebuilt.moment == trigger.moment


def test_file_and_callable_triggers_round_trip() -> None:
    for trigger in (
        FileTrigger("/data/**/*.csv", recursive=True, poke_interval=1.5),
        CallableTrigger(f"{__name__}.ready", {"when": timedelta(seconds=3)}, timeout=9),
    ):
        rebuilt = round_trip(trigger)
        assert type(rebuilt) is type(trigger)
        assert rebuilt.serialize() == trigger.serialize()


def test_stored_arguments_keep_their_types() -> None:
    kwargs = {"at": datetime(2030, 1, 1, tzinfo=UTC), "pair": (1, 2), "raw": b"\x00"}
    path, text = serialize_trigger(Stored(**kwargs))
    assert path == f"{__name__}.Stored"
    assert load_trigger(path, text).serialize()[1] == kwargs


def test_a_naive_moment_is_refused_when_building_and_when_loading() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DateTimeTrigger(datetime(2030, 1, 1))
    text = '{"moment":{"__tw__":"datetime","v":"2030-01-01T00:00:00"}}'
    with pytest.raises(TaskDeferralError, match=r"raised ValueError: .*timezone-aware"):
        load_trigger("tradewind.triggers.temporal.DateTimeTrigger", text)


def test_a_class_path_that_does_not_import_is_refused() -> None:
    trigger = Stored()
    trigger.path = "no_such_module_abc.Trigger"
    with pytest.raises(TaskDeferralError, match="cannot load trigger class 'no_such_module_abc"):
        serialize_trigger(trigger)
    with pytest.raises(TaskDeferralError, match=f"'{__name__}' has no attribute 'Gone'"):
        load_trigger(f"{__name__}.Gone", "{}")


def test_a_class_that_is_not_a_trigger_is_refused() -> None:
    with pytest.raises(TaskDeferralError, match=r"not a subclass of .*BaseTrigger"):
        load_trigger("collections.OrderedDict", "{}")
    with pytest.raises(TaskDeferralError, match=r"not a subclass of .*BaseTrigger"):
        load_trigger(f"{__name__}.ready", "{}")


def test_arguments_the_codec_cannot_store_are_refused_by_name() -> None:
    with pytest.raises(TaskDeferralError, match=r"cannot store arguments\['lock'\] of type"):
        serialize_trigger(Stored(lock=threading.Lock()))


def test_a_class_path_naming_a_class_that_runs_other_code_is_refused() -> None:
    with pytest.raises(TaskDeferralError, match="the triggerer would run different code"):
        serialize_trigger(ForgotToSerialize(datetime(2030, 1, 1, tzinfo=UTC)))


def test_a_class_path_naming_another_trigger_class_is_refused() -> None:
    trigger = Stored(filepath="/x")
    trigger.path = "tradewind.triggers.file.FileTrigger"
    with pytest.raises(TaskDeferralError, match=r"imports as tradewind.triggers.file.FileTrigger"):
        serialize_trigger(trigger)


def test_arguments_the_class_does_not_accept_are_refused() -> None:
    trigger = FileTrigger("/x")
    trigger.serialize = lambda: (  # type: ignore[method-assign]
        "tradewind.triggers.file.FileTrigger",
        {"path": "/x"},
    )
    with pytest.raises(TaskDeferralError, match=r"cannot be rebuilt from .*'path'"):
        serialize_trigger(trigger)


@pytest.mark.parametrize(
    "returned", [None, ("a.B",), ("a.B", []), (1, {}), ("a.B", {1: 2}), ["a.B", {}]]
)
def test_serialize_must_return_a_path_and_keyword_arguments(returned: Any) -> None:
    trigger = Stored()
    trigger.serialize = lambda: returned  # type: ignore[method-assign]
    with pytest.raises(TaskDeferralError, match=r"must return \(class path, dict"):
        serialize_trigger(trigger)


def test_serialize_raising_is_reported() -> None:
    trigger = Stored()

    def boom() -> tuple[str, dict[str, Any]]:
        raise KeyError("conn_id")

    trigger.serialize = boom  # type: ignore[method-assign]
    with pytest.raises(TaskDeferralError, match=r"Stored.serialize\(\) raised KeyError"):
        serialize_trigger(trigger)


def test_only_triggers_can_be_serialized() -> None:
    with pytest.raises(TaskDeferralError, match=r"must be a tradewind.triggers.base.BaseTrigger"):
        serialize_trigger(object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [("{not json", "cannot be decoded"), ("[1, 2]", "must be a dict of keyword arguments")],
)
def test_stored_arguments_that_are_not_keyword_arguments_are_refused(
    text: str, message: str
) -> None:
    with pytest.raises(TaskDeferralError, match=message):
        load_trigger("tradewind.triggers.file.FileTrigger", text)


def test_import_errors_say_what_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "trigger_mod_that_raises.py").write_text("raise RuntimeError('bad config')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="raised RuntimeError: bad config"):
        import_object("trigger_mod_that_raises.Trigger")
    assert import_object("tradewind.triggers.file.FileTrigger") is FileTrigger
    assert import_object("tradewind.triggers.file.FileTrigger.serialize") is FileTrigger.serialize
