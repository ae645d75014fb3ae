"""Generates the CLI reference (``docs/cli.md``) from the parser's own ``--help`` texts.

``python -m tradewind.cli.reference > docs/cli.md``; a test checks the file is current.
"""

from __future__ import annotations

import argparse
import os

from tradewind.cli.main import build_parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _walk(
    parser: argparse.ArgumentParser, path: list[str]
) -> list[tuple[list[str], argparse.ArgumentParser]]:
    found = [(path, parser)]
    for name, sub in _subparsers(parser).items():
        found.extend(_walk(sub, [*path, name]))
    return found


def render() -> str:
    """Markdown with every command's help, in a stable width."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        parser = build_parser()
        parts = ["# Command line reference", "", "Generated from `--help`; do not edit.", ""]
        for path, sub in _walk(parser, ["tradewind"]):
            parts += [f"## `{' '.join(path)}`", "", "```", sub.format_help().rstrip(), "```", ""]
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(parts)


def commands() -> list[list[str]]:
    """Every command path, e.g. ``["tradewind", "dags", "test"]``."""
    return [path for path, _ in _walk(build_parser(), ["tradewind"])]


if __name__ == "__main__":
    print(render(), end="")
