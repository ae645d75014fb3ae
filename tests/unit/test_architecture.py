"""The data flows one way: authoring and execution code never reach into the service side.

``sdk``, ``operators``, ``sensors``, ``execution`` and ``xcom`` must not import ``db``,
``scheduler`` or ``api``; ``scheduler`` and ``api`` must not import ``execution`` (they never
load user code). Checked on the source with :mod:`ast`, so it needs no extra tool.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[2] / "src" / "tradewind"

RULES = {
    "sdk": {"db", "scheduler", "api"},
    "operators": {"db", "scheduler", "api"},
    "sensors": {"db", "scheduler", "api"},
    "execution": {"db", "scheduler", "api"},
    "xcom": {"db", "scheduler", "api"},
    "scheduler": {"execution", "api"},
    "api": {"execution", "dag_processing"},
}


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "tradewind" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_respects_the_one_way_data_flow(package: str) -> None:
    forbidden = RULES[package]
    offenders = {
        str(path.relative_to(SRC)): sorted(imported_packages(path) & forbidden)
        for path in (SRC / package).rglob("*.py")
        if imported_packages(path) & forbidden
    }
    assert offenders == {}


def test_pickle_is_not_used_anywhere_but_the_xcom_opt_in() -> None:
    # serialization/pickled.py implements xcom.allow_pickle (off by default); nothing else.
    users = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "pickle" in imported_packages(p) or "import pickle" in p.read_text()
    ]
    assert users == ["serialization/pickled.py"]
