"""Helpers shared by commands: loading the DAG folder, parsing --conf and dates."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from tradewind.dag_processing.loader import DagBag
    from tradewind.sdk.dag import DAG

USAGE_ERROR = 2


class CommandError(Exception):
    """A usage or DAG error: printed as ``error: ...`` and exit code 2."""


def fail(message: str) -> NoReturn:
    raise CommandError(message)


def dags_folder(args: argparse.Namespace) -> Path:
    from tradewind import config

    return Path(args.dags_folder).expanduser() if args.dags_folder else config.dags_folder()


def load_bag(args: argparse.Namespace) -> DagBag:
    from tradewind import config
    from tradewind.dag_processing.loader import DagBag

    folder = dags_folder(args)
    if not folder.exists():
        fail(f"DAGs folder {folder} does not exist (set --dags-folder or $TRADEWIND_HOME)")
    timeout = float(config.get("core", "dagbag_import_timeout"))
    return DagBag.from_folder(folder, timeout=timeout)


def load_dag(args: argparse.Namespace) -> DAG:
    """The DAG named by ``args.dag_id``; a file with an error that could hold it is fatal."""
    from tradewind.exceptions import UnknownDagError

    bag = load_bag(args)
    try:
        return bag.get_dag(args.dag_id)
    except UnknownDagError as err:
        details = "".join(
            f"\n--- {path}\n{error}" for path, error in sorted(bag.import_errors.items())
        )
        fail(f"{err}{details}")


def parse_conf(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        fail(f"--conf is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})")
    if not isinstance(value, dict):
        fail(f"--conf must be a JSON object, got {type(value).__name__}")
    return value


def parse_date(text: str | None) -> datetime | None:
    """An ISO 8601 date or datetime; without a zone it is read in ``core.default_timezone``."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        fail(f"logical date {text!r} is not an ISO 8601 date or datetime (e.g. 2024-01-31)")
    if value.tzinfo is not None:
        return value
    from tradewind.timetables.zones import default_zone, localize

    return localize(value, default_zone())


def logical_date(args: argparse.Namespace) -> datetime | None:
    if args.logical_date and args.logical_date_pos:
        fail("give the logical date once: either LOGICAL_DATE or --logical-date")
    return parse_date(args.logical_date or args.logical_date_pos)


def report(err: CommandError) -> int:
    print(f"error: {err}", file=sys.stderr)
    return USAGE_ERROR
