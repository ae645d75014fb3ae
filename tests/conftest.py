"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every test gets its own $TRADEWIND_HOME and no TRADEWIND_* settings from outside."""
    import os

    for key in list(os.environ):
        if key.startswith(("TRADEWIND__", "TRADEWIND_VAR_", "TRADEWIND_CONN_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TRADEWIND_HOME", str(tmp_path_factory.mktemp("home")))
    yield
