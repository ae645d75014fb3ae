"""FileTrigger: fires (payload True, as in Airflow) once a path or glob matches a file, or a
directory holding one; checks off the event loop; refuses bad arguments."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tradewind.triggers.base import BaseTrigger, TriggerEvent
from tradewind.triggers.file import FileTrigger


async def first_event(trigger: BaseTrigger, timeout: float = 2.0) -> TriggerEvent:
    events: Any = trigger.run()
    try:
        return await asyncio.wait_for(anext(events), timeout)
    finally:
        await events.aclose()


def fires(trigger: FileTrigger, timeout: float = 0.3) -> bool:
    try:
        asyncio.run(first_event(trigger, timeout))
    except TimeoutError:
        return False
    return True


def test_fires_with_true_once_the_file_appears(tmp_path: Path) -> None:
    target = tmp_path / "ready.txt"

    async def scenario() -> TriggerEvent:
        waiting = asyncio.create_task(first_event(FileTrigger(str(target), poke_interval=0.02)))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        target.write_text("done")
        return await waiting

    assert asyncio.run(scenario()) == TriggerEvent(True)


def test_a_glob_matches(tmp_path: Path) -> None:
    (tmp_path / "part-0001.csv").write_text("a")
    assert fires(FileTrigger(str(tmp_path / "part-*.csv"), poke_interval=0.01))
    assert not fires(FileTrigger(str(tmp_path / "*.parquet"), poke_interval=0.01))


def test_double_star_crosses_directories_only_when_recursive(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b" / "c"
    nested.mkdir(parents=True)
    (nested / "data.json").write_text("{}")
    pattern = str(tmp_path / "**" / "*.json")
    assert fires(FileTrigger(pattern, recursive=True, poke_interval=0.01))
    assert not fires(FileTrigger(pattern, recursive=False, poke_interval=0.01))


def test_a_directory_counts_once_a_file_is_somewhere_beneath_it(tmp_path: Path) -> None:
    folder = tmp_path / "incoming"
    (folder / "deeper").mkdir(parents=True)
    assert not fires(FileTrigger(str(folder), poke_interval=0.01))
    (folder / "deeper" / "file.bin").write_bytes(b"x")
    assert fires(FileTrigger(str(folder), poke_interval=0.01))


def test_serializes_with_airflow_argument_names() -> None:
    assert FileTrigger("/in/*.csv", recursive=True, poke_interval=2).serialize() == (
        "tradewind.triggers.file.FileTrigger",
        {"filepath": "/in/*.csv", "recursive": True, "poke_interval": 2},
    )


@pytest.mark.parametrize("filepath", ["", None, 3])
def test_a_missing_filepath_is_refused(filepath: Any) -> None:
    with pytest.raises(ValueError, match="non-empty filepath"):
        FileTrigger(filepath)


@pytest.mark.parametrize("interval", [-1, True, "5", float("nan")])
def test_a_poke_interval_that_is_not_positive_seconds_is_refused(interval: Any) -> None:
    with pytest.raises(ValueError, match="poke_interval must be a number of seconds >= 0"):
        FileTrigger("/x", poke_interval=interval)
