"""Per-try log files: Airflow's layout, ids checked, written through, read in pieces."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewind.task_logs import (
    TryLogWriter,
    logs_folder,
    read_log,
    resolve_log_path,
    try_log_path,
)


def test_logs_live_under_tradewind_home_unless_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWIND_HOME", str(tmp_path))
    assert logs_folder() == tmp_path / "logs"
    monkeypatch.setenv("TRADEWIND__LOGGING__BASE_LOG_FOLDER", str(tmp_path / "elsewhere"))
    assert logs_folder() == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    ("dag_id", "run_id", "task_id"),
    [("..", "r", "t"), ("d", "a/b", "t"), ("d", "r", "."), ("d", "r\n", "t"), ("", "r", "t")],
)
def test_ids_that_could_name_another_folder_are_refused(
    dag_id: str, run_id: str, task_id: str
) -> None:
    with pytest.raises(ValueError, match="cannot be used in a log path"):
        try_log_path(dag_id, run_id, task_id, -1, 1)


@pytest.mark.parametrize("relative", ["/etc/passwd", "a/../../b", "./a", "", "a//b/../c"])
def test_a_relative_log_path_cannot_climb_out(tmp_path: Path, relative: str) -> None:
    with pytest.raises(ValueError):
        resolve_log_path(tmp_path, relative)


def test_a_try_log_is_written_through_and_read_from_an_offset(tmp_path: Path) -> None:
    path = resolve_log_path(tmp_path, try_log_path("d", "r", "t", 2, 1))
    assert path == tmp_path / "dag_id=d/run_id=r/task_id=t/map_index=2/attempt=1.log"
    writer = TryLogWriter(path)
    writer.write_line("first")
    assert path.read_text() == "first\n"  # no buffering: a SIGKILL loses nothing
    other = TryLogWriter(path)  # a second writer (the supervisor) appends, never clobbers
    other.write_line("second\n")
    other.close()
    writer.close()
    writer.write_line("after close is ignored")
    whole = read_log(path)
    assert (whole.text, whole.next_offset) == ("first\nsecond\n", 13)
    assert read_log(path, offset=whole.next_offset).text == ""


def test_a_large_log_is_read_in_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "attempt=1.log"
    path.write_text("".join(f"line {i}\n" for i in range(100)))
    chunk = read_log(path, max_bytes=50)
    assert chunk.text.endswith("\n") and len(chunk.text) <= 50
    rest = read_log(path, offset=chunk.next_offset)
    assert chunk.text + rest.text == path.read_text()
