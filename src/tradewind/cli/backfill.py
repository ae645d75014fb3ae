"""``tradewind backfill create | list | pause | unpause | cancel``, as Airflow 3's.

``create`` makes, in one transaction, the backfill and a run for each interval of the
DAG's schedule in ``[--from-date, --to-date]`` that has ended; dates that already have a run
follow ``--reprocess-behavior`` (see :mod:`tradewind.scheduler.backfill`). Naive dates are
read in ``core.default_timezone``. Bad input changes nothing: exit 2; a conflict (unknown DAG,
a backfill already running, nothing to create): exit 1.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from tradewind.cli.metadb import EPILOG, Failed, handles_errors, output_arg

HANDLERS = "tradewind.cli.backfill"
PLAN_COLUMNS = ["sort_ordinal", "logical_date", "run_id", "action", "state", "exception_reason"]
FULL_PLAN_COLUMNS = ["backfill_id", "dag_id", *PLAN_COLUMNS]
BACKFILL_COLUMNS = [
    "id",
    "dag_id",
    "from_date",
    "to_date",
    "reprocess_behavior",
    "max_active_runs",
    "is_paused",
    "created_at",
    "completed_at",
    "runs",
]
FULL_BACKFILL_COLUMNS = [
    *BACKFILL_COLUMNS[:-1],
    "run_backwards",
    "dag_run_conf",
    "updated_at",
    "runs",
]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_parsers(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``backfill`` command group to the CLI."""
    group = groups.add_parser(
        "backfill",
        help="create, list, pause and cancel backfills",
        description="Backfills: runs of a DAG for past intervals of its schedule, created at "
        "once and started in order, a few at a time.",
        epilog=EPILOG,
    )
    cmds = group.add_subparsers(dest="command", metavar="COMMAND")

    create = cmds.add_parser(
        "create",
        help="create a backfill: runs for the DAG's past intervals in a date range",
        description="Create a run for every interval of the DAG's schedule that starts in "
        "[FROM, TO] and has ended (inclusive; naive dates are read in core.default_timezone). "
        "Dates that already have a run keep it unless --reprocess-behavior says to run it "
        "again; queued or running runs are never touched. The scheduler starts the runs in "
        "order, at most --max-active-runs at a time.",
    )
    create.add_argument("dag_id_pos", nargs="?", metavar="DAG_ID", help="same as --dag-id")
    create.add_argument("--dag-id", help="the DAG to backfill")
    create.add_argument(
        "--from-date",
        "--from",
        dest="from_date",
        required=True,
        metavar="ISO",
        help="backfill window start (inclusive), ISO 8601",
    )
    create.add_argument(
        "--to-date",
        "--to",
        dest="to_date",
        required=True,
        metavar="ISO",
        help="backfill window end (inclusive), ISO 8601",
    )
    create.add_argument(
        "--reprocess-behavior",
        choices=["none", "failed", "completed"],
        help="when a date already has a finished run: none keeps it (default), failed runs "
        "failed ones again, completed runs every finished one again",
    )
    create.add_argument(
        "--max-active-runs",
        type=_positive_int,
        default=10,
        metavar="N",
        help="at most N of the backfill's runs at once (default 10)",
    )
    create.add_argument(
        "--run-backwards",
        action="store_true",
        help="newest date first (not with depends_on_past tasks)",
    )
    create.add_argument(
        "--dag-run-conf",
        "--conf",
        dest="dag_run_conf",
        metavar="JSON",
        help="dag_run.conf of every run, a JSON object (checked against the DAG's params)",
    )
    create.add_argument(
        "--dry-run", action="store_true", help="print what would be done; change nothing"
    )
    output_arg(create)
    create.set_defaults(handler=f"{HANDLERS}:create")

    list_ = cmds.add_parser("list", help="list backfills, newest first")
    list_.add_argument("--dag-id", help="only this DAG's backfills")
    output_arg(list_)
    list_.set_defaults(handler=f"{HANDLERS}:list_")

    for name, text in (
        ("pause", "pause a backfill: none of its runs start until it is unpaused"),
        ("unpause", "unpause a backfill"),
        ("cancel", "cancel a backfill: its runs not started yet fail, running ones finish"),
    ):
        cmd = cmds.add_parser(name, help=text)
        cmd.add_argument("backfill_id", metavar="ID", type=int, help="the backfill's id")
        cmd.set_defaults(handler=f"{HANDLERS}:{name}")


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _parse_when(text: str, flag: str) -> datetime:
    """An ISO 8601 date or datetime; naive means ``core.default_timezone``."""
    from tradewind.cli.common import CommandError
    from tradewind.timetables.zones import default_zone, localize, to_utc

    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(
            f"{flag} {text!r} is not an ISO 8601 date or datetime (e.g. 2024-01-31)"
        ) from None
    return localize(value, default_zone()) if value.tzinfo is None else to_utc(value)


def _parse_conf(text: str | None) -> dict[str, Any] | None:
    import json

    from tradewind.cli.common import CommandError

    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise CommandError(
            f"--dag-run-conf is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})"
        ) from None
    if not isinstance(value, dict):
        raise CommandError(f"--dag-run-conf must be a JSON object, got {type(value).__name__}")
    return value


def _dag_id(args: argparse.Namespace) -> str:
    from tradewind.cli.common import CommandError

    if args.dag_id and args.dag_id_pos and args.dag_id != args.dag_id_pos:
        raise CommandError("give the DAG id once: either DAG_ID or --dag-id")
    dag_id = args.dag_id or args.dag_id_pos
    if not dag_id:
        raise CommandError("the DAG to backfill is required: DAG_ID or --dag-id")
    return str(dag_id)


def _plan_rows(plan: list[Any], dag_id: str, backfill_id: int | None) -> list[dict[str, Any]]:
    rows = []
    for item in plan:
        if item.action == "skip":
            state = item.existing.state if item.existing else None
        else:
            state = "queued"
        rows.append(
            {
                "backfill_id": backfill_id,
                "dag_id": dag_id,
                "sort_ordinal": item.sort_ordinal,
                "logical_date": _iso(item.logical_date),
                "run_id": item.run_id,
                "action": str(item.action),
                "state": state,
                "exception_reason": item.reason,
            }
        )
    return rows


def _say(text: str, fmt: str) -> None:
    """A human line: on stdout beside a table, on stderr when stdout is data."""
    import sys

    print(text, file=sys.stdout if fmt == "table" else sys.stderr)


@handles_errors
def create(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import IntegrityError

    from tradewind.cli.metadb import session
    from tradewind.cli.output import print_rows
    from tradewind.db.models import DagModel
    from tradewind.db.queries import audit, backfills
    from tradewind.scheduler.backfill import BackfillAction, summarize

    dag_id = _dag_id(args)
    from_date = _parse_when(args.from_date, "--from-date")
    to_date = _parse_when(args.to_date, "--to-date")
    conf = _parse_conf(args.dag_run_conf)
    options: dict[str, Any] = {
        "from_date": from_date,
        "to_date": to_date,
        "reprocess_behavior": args.reprocess_behavior,
        "run_backwards": args.run_backwards,
        "dag_run_conf": conf,
    }
    backfill_id: int | None = None
    try:
        with session() as s:
            if args.dry_run:
                _, _, plan = backfills.plan(s, dag_id, **options)
            else:
                backfill, plan = backfills.create_backfill(
                    s, dag_id, max_active_runs=args.max_active_runs, **options
                )
                backfill_id = backfill.id
                audit.record(
                    s,
                    "backfill_create",
                    dag_id=dag_id,
                    extra={"backfill_id": backfill_id, **options, **_counts(plan)},
                )
            dag_row = s.get(DagModel, dag_id)
            paused = bool(dag_row and dag_row.is_paused)
    except IntegrityError:
        raise Failed(
            f"the runs of DAG {dag_id!r} changed while the backfill was being created; "
            "nothing changed: try again"
        ) from None
    except backfills.NoBackfillRunsToCreate as err:
        raise Failed(f"{err} (intervals that have ended: nothing to do)") from None
    counts = summarize(plan)
    started = counts[BackfillAction.CREATE] + counts[BackfillAction.CLEAR]
    what = (
        f"{counts[BackfillAction.CREATE]} new run(s), {counts[BackfillAction.CLEAR]} cleared "
        f"and re-run, {counts[BackfillAction.SKIP]} skipped"
    )
    if args.dry_run:
        _say(f"Dry run of a backfill of {dag_id}: {what}. Nothing changed.", args.output)
    else:
        _say(
            f"Created backfill {backfill_id} of {dag_id}: {what}; at most "
            f"{args.max_active_runs} running at once.",
            args.output,
        )
    columns = PLAN_COLUMNS if args.output in ("table", "plain") else FULL_PLAN_COLUMNS
    print_rows(_plan_rows(plan, dag_id, backfill_id), columns, args.output)
    if paused and started:
        import sys

        print(
            f"note: DAG {dag_id} is paused; its backfill runs start when it is unpaused "
            f"('tradewind dags unpause {dag_id}')",
            file=sys.stderr,
        )
    if backfill_id is not None and started:
        _wake_scheduler()
    return 0


def _counts(plan: list[Any]) -> dict[str, int]:
    """``{"create": n, "clear": n, "skip": n}`` for the audit row."""
    from tradewind.scheduler.backfill import summarize

    return {str(action): n for action, n in summarize(plan).items()}


def _wake_scheduler() -> None:
    from tradewind.scheduler.wakeup import notify

    notify()


def _backfill_row(backfill: Any, runs: dict[str, int], fmt: str) -> dict[str, Any]:
    """Airflow's backfill fields, and how many of its runs are in each state (an object in
    JSON, ``"2 queued, 1 running"`` otherwise)."""
    import json

    row = {c: _iso(getattr(backfill, c, None)) for c in FULL_BACKFILL_COLUMNS[:-1]}
    row["is_paused"] = bool(backfill.is_paused)
    if fmt == "json":
        row["runs"] = runs
    else:
        row["dag_run_conf"] = json.dumps(row["dag_run_conf"])
        row["runs"] = ", ".join(f"{n} {state}" for state, n in sorted(runs.items()))
    return row


@handles_errors
def list_(args: argparse.Namespace) -> int:
    from tradewind.cli.metadb import session
    from tradewind.cli.output import print_rows
    from tradewind.db.queries import backfills

    with session() as s:
        backfills.mark_completed(s)
        found = backfills.list_backfills(s, args.dag_id)
        counts = backfills.run_counts(s, [b.id for b in found])
        rows = [_backfill_row(b, counts[b.id], args.output) for b in found]
    columns = BACKFILL_COLUMNS if args.output in ("table", "plain") else FULL_BACKFILL_COLUMNS
    print_rows(rows, columns, args.output)
    return 0


def _set_paused(args: argparse.Namespace, paused: bool) -> int:
    from tradewind.cli.metadb import session
    from tradewind.db.queries import audit, backfills

    with session() as s:
        backfill = backfills.set_paused(s, args.backfill_id, paused)
        dag_id = backfill.dag_id
        audit.record(
            s,
            "backfill_pause" if paused else "backfill_unpause",
            dag_id=dag_id,
            extra={"backfill_id": args.backfill_id},
        )
    print(f"Backfill {args.backfill_id} of {dag_id}: paused: {paused}")
    if not paused:
        _wake_scheduler()
    return 0


@handles_errors
def pause(args: argparse.Namespace) -> int:
    return _set_paused(args, True)


@handles_errors
def unpause(args: argparse.Namespace) -> int:
    return _set_paused(args, False)


@handles_errors
def cancel(args: argparse.Namespace) -> int:
    from tradewind.cli.metadb import session
    from tradewind.db.queries import audit, backfills

    with session() as s:
        backfill, failed = backfills.cancel(s, args.backfill_id)
        dag_id = backfill.dag_id
        audit.record(
            s,
            "backfill_cancel",
            dag_id=dag_id,
            extra={"backfill_id": args.backfill_id, "failed_runs": failed},
        )
    print(
        f"Cancelled backfill {args.backfill_id} of {dag_id}: {failed} run(s) not started yet "
        "marked failed; running runs finish"
    )
    return 0
