"""The CLI is documented: every command has help, and docs/cli.md matches ``--help``."""

from __future__ import annotations

from pathlib import Path

from tradewind.cli import reference

DOC = Path(__file__).parents[3] / "docs" / "cli.md"


def test_cli_reference_is_generated_from_current_help() -> None:
    assert DOC.read_text() == reference.render(), (
        "docs/cli.md is stale: run python -m tradewind.cli.reference > docs/cli.md"
    )


def test_every_command_has_help_text() -> None:
    parser_text = reference.render()
    for path in reference.commands()[1:]:
        assert f"## `{' '.join(path)}`" in parser_text
    assert "usage: tradewind dags test" in parser_text
    assert "usage: tradewind tasks test" in parser_text
