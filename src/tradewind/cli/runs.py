"""DAG and run commands over the metadata DB: trigger, list-runs, pause, unpause, delete,
``tasks states-for-dag-run`` and ``tasks clear``.

Every change is one transaction with its audit row; bad input changes nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING, Any

from tradewind.cli.metadb import Failed, handles_errors, output_arg

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tradewind.db.models import DagModel

RUN_COLUMNS = [
    "dag_id",
    "run_id",
    "state",
    "run_type",
    "logical_date",
    "run_after",
    "start_date",
    "end_date",
    "data_interval_start",
    "data_interval_end",
]


def add_dag_parsers(dag_cmds: Any) -> None:
    """``tradewind dags trigger | list-runs | pause | unpause | delete``."""
    trig = dag_cmds.add_parser("trigger", help="create a run of a DAG now (manual run)")
    trig.add_argument("dag_id", metavar="DAG_ID")
    trig.add_argument("--conf", "-c", metavar="JSON", help="dag_run.conf as a JSON object")
    trig.add_argument("--run-id", "-r", help="run id (default: manual__<now>)")
    trig.add_argument("--logical-date", "-l", metavar="ISO", help="logical date (default: now)")
    trig.add_argument("--note", help="a note on the run")
    output_arg(trig)
    trig.set_defaults(handler="tradewind.cli.runs:trigger")

    runs = dag_cmds.add_parser("list-runs", help="list a DAG's runs, newest first")
    runs.add_argument("dag_id", metavar="DAG_ID")
    runs.add_argument("--state", help="only runs in this state (queued, running, success, failed)")
    runs.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    output_arg(runs)
    runs.set_defaults(handler="tradewind.cli.runs:list_runs")

    for name, verb in (("pause", "pause"), ("unpause", "unpause")):
        p = dag_cmds.add_parser(name, help=f"{verb} a DAG (paused DAGs get no new runs started)")
        p.add_argument("dag_id", metavar="DAG_ID")
        p.set_defaults(handler=f"tradewind.cli.runs:{name}")

    delete = dag_cmds.add_parser(
        "delete", help="delete a DAG and every trace of it (runs, tasks, XCom, logs, audit)"
    )
    delete.add_argument("dag_id", metavar="DAG_ID")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask to confirm")
    delete.set_defaults(handler="tradewind.cli.runs:delete")


def add_task_parsers(task_cmds: Any) -> None:
    """``tradewind tasks states-for-dag-run | clear``."""
    states = task_cmds.add_parser("states-for-dag-run", help="the states of a run's tasks")
    states.add_argument("dag_id", metavar="DAG_ID")
    states.add_argument("run_id", metavar="RUN_ID")
    output_arg(states)
    states.set_defaults(handler="tradewind.cli.runs:states_for_dag_run")

    clear = task_cmds.add_parser("clear", help="clear task instances so they run again")
    clear.add_argument("dag_id", metavar="DAG_ID")
    clear.add_argument("--task-regex", "-t", help="only tasks whose id matches this regex")
    clear.add_argument("--run-id", "-r", help="only this run (default: every run)")
    clear.add_argument("--only-failed", "-f", action="store_true", help="only failed ones")
    clear.add_argument("--downstream", "-d", action="store_true", help="also their downstream")
    clear.add_argument("--upstream", "-u", action="store_true", help="also their upstream")
    clear.add_argument("--yes", "-y", action="store_true", help="do not ask to confirm")
    clear.set_defaults(handler="tradewind.cli.runs:clear")


def _dag_row(session: Session, dag_id: str) -> DagModel:
    from tradewind.db.models import DagModel

    row = session.get(DagModel, dag_id)
    if row is None:
        raise Failed(
            f"DAG {dag_id!r} not found in the metadata database (is the DAG processor running "
            "on its folder? 'tradewind dag-processor --once' processes it now)"
        )
    return row


def _iso(value: Any) -> Any:
    """Times as ISO 8601 in ``core.default_timezone`` (stored in UTC, shown in local terms)."""
    from datetime import datetime

    if isinstance(value, datetime):
        from tradewind.timetables.zones import default_zone

        return value.astimezone(default_zone()).isoformat()
    return value


def _run_row(run: Any) -> dict[str, Any]:
    return {c: _iso(getattr(run, c)) for c in RUN_COLUMNS}


@handles_errors
def trigger(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from tradewind.cli.common import parse_conf, parse_date
    from tradewind.cli.metadb import session
    from tradewind.cli.output import print_rows
    from tradewind.db.queries import audit, dagruns
    from tradewind.db.queries.dags import latest_version, load_serialized_dag

    conf = parse_conf(args.conf)
    logical = parse_date(args.logical_date)
    with session() as s:
        _dag_row(s, args.dag_id)
        version = latest_version(s, args.dag_id)
        dag = load_serialized_dag(s, args.dag_id)
        if dag is None or version is None:
            raise Failed(f"DAG {args.dag_id!r} has not been serialized yet")
        now = datetime.now(UTC)
        logical = logical or now
        interval = dag.timetable.infer_manual_data_interval(logical)
        run_id = args.run_id or dag.timetable.generate_run_id(
            run_type="manual", run_after=now, data_interval=interval
        )
        try:
            run = dagruns.create_dag_run(
                s,
                dag,
                run_id=run_id,
                run_type="manual",
                run_after=now,
                logical_date=logical,
                data_interval=(interval.start, interval.end),
                conf=conf,
                triggered_by="cli",
                triggering_user_name=_os_user(),
                note=args.note,
                dag_version_id=version.id,
            )
        except dagruns.DuplicateRunError as err:
            raise Failed(str(err)) from None
        audit.record(s, "trigger", dag_id=args.dag_id, run_id=run_id, extra={"conf": conf})
        row = _run_row(run)
    print_rows([row], RUN_COLUMNS[:5], args.output)
    _wake_scheduler()
    return 0


def _wake_scheduler() -> None:
    """Tell a local scheduler a run was created, so it starts it without waiting."""
    try:
        from tradewind.scheduler.wakeup import notify

        notify()
    except ImportError:
        pass


@handles_errors
def list_runs(args: argparse.Namespace) -> int:
    from tradewind.cli.metadb import session
    from tradewind.cli.output import print_rows
    from tradewind.db.queries import dagruns
    from tradewind.states import DagRunState

    states = None
    if args.state:
        valid = [s.value for s in DagRunState]
        if args.state not in valid:
            from tradewind.cli.common import CommandError

            raise CommandError(f"--state must be one of {', '.join(valid)}, not {args.state!r}")
        states = [args.state]
    with session() as s:
        _dag_row(s, args.dag_id)
        rows = [
            _run_row(r) for r in dagruns.list_runs(s, args.dag_id, states=states, limit=args.limit)
        ]
    print_rows(rows, RUN_COLUMNS, args.output)
    return 0


def _set_paused(args: argparse.Namespace, paused: bool) -> int:
    from tradewind.cli.metadb import session
    from tradewind.db.queries import audit

    with session() as s:
        row = _dag_row(s, args.dag_id)
        row.is_paused = paused
        audit.record(s, "pause" if paused else "unpause", dag_id=args.dag_id)
    print(f"Dag: {args.dag_id}, paused: {paused}")
    return 0


@handles_errors
def pause(args: argparse.Namespace) -> int:
    return _set_paused(args, True)


@handles_errors
def unpause(args: argparse.Namespace) -> int:
    return _set_paused(args, False)


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        from tradewind.cli.common import CommandError

        raise CommandError("this deletes data; pass --yes to confirm")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


@handles_errors
def delete(args: argparse.Namespace) -> int:
    from tradewind.cli.metadb import service_secrets_reader, session
    from tradewind.db.queries.delete_dag import delete_dag

    if not _confirm(f"Delete DAG {args.dag_id!r} and all its runs, XCom and logs?", args.yes):
        print("cancelled; nothing changed")
        return 1
    from tradewind.db.models import XComRow
    from tradewind.db.queries import xcom as xcom_queries
    from tradewind.db.queries.xcom_purge import purge_dag_storage, purge_deleted
    from tradewind.xcom.backend import get_backend

    backend = get_backend()
    with session() as s:
        _dag_row(s, args.dag_id)
        # What its XCom rows refer to outside the DB goes after the commit.
        stored = (
            xcom_queries.rows_where(
                s.connection(), XComRow.dag_id == args.dag_id, prefix=backend.purged_prefix
            )
            if backend.purges
            else []
        )
        counts = delete_dag(s, args.dag_id)
    with service_secrets_reader():
        purge_deleted(stored, backend)
        purge_dag_storage(args.dag_id, backend)
    removed_logs = _delete_dag_logs(args.dag_id)
    summary = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
    print(f"Deleted DAG {args.dag_id}: {summary or 'no rows'}; {removed_logs} log file(s)")
    return 0


def _delete_dag_logs(dag_id: str) -> int:
    """Remove ``<logs>/dag_id=<dag_id>``; returns how many files went."""
    import shutil

    from tradewind.task_logs.paths import logs_folder, safe_part

    folder = logs_folder() / f"dag_id={safe_part(dag_id, 'dag_id')}"
    if not folder.is_dir():
        return 0
    count = sum(1 for p in folder.rglob("*") if p.is_file())
    shutil.rmtree(folder)
    return count


@handles_errors
def states_for_dag_run(args: argparse.Namespace) -> int:
    from tradewind.cli.metadb import session
    from tradewind.cli.output import print_rows
    from tradewind.db.queries import dagruns

    with session() as s:
        run = dagruns.get_run(s, args.dag_id, args.run_id)
        if run is None:
            raise Failed(f"DAG {args.dag_id!r} has no run {args.run_id!r}")
        rows = [
            {
                "dag_id": t.dag_id,
                "logical_date": _iso(run.logical_date),
                "task_id": t.task_id,
                "map_index": t.map_index,
                "state": t.state,
                "try_number": t.try_number,
                "start_date": _iso(t.start_date),
                "end_date": _iso(t.end_date),
            }
            for t in dagruns.task_instances_of(s, args.dag_id, args.run_id)
        ]
    columns = [
        "dag_id",
        "logical_date",
        "task_id",
        "map_index",
        "state",
        "try_number",
        "start_date",
        "end_date",
    ]
    print_rows(rows, columns, args.output)
    return 0


@handles_errors
def clear(args: argparse.Namespace) -> int:
    from tradewind.cli.common import CommandError
    from tradewind.cli.metadb import session
    from tradewind.db.queries import audit
    from tradewind.db.queries.clear import clear_task_instances
    from tradewind.db.queries.dags import load_serialized_dag

    pattern = None
    if args.task_regex:
        try:
            pattern = re.compile(args.task_regex)
        except re.error as err:
            raise CommandError(f"--task-regex is not a valid regex: {err}") from None
    with session() as s:
        _dag_row(s, args.dag_id)
        dag = load_serialized_dag(s, args.dag_id)
        if dag is None:
            raise Failed(f"DAG {args.dag_id!r} has not been serialized yet")
        task_ids = {t for t in dag.task_dict if pattern is None or pattern.search(t)}
        if not task_ids:
            raise Failed(f"no task of DAG {args.dag_id!r} matches {args.task_regex!r}")
        for tid in list(task_ids):
            if args.downstream:
                task_ids |= _relatives(dag, tid, "downstream_task_ids")
            if args.upstream:
                task_ids |= _relatives(dag, tid, "upstream_task_ids")
        if not _confirm(f"Clear {len(task_ids)} task(s) of {args.dag_id!r}?", args.yes):
            print("cancelled; nothing changed")
            return 1
        cleared = clear_task_instances(
            s,
            args.dag_id,
            task_ids,
            run_id=args.run_id,
            only_failed=args.only_failed,
            retries={tid: dag.task_dict[tid].retries for tid in task_ids},
        )
        audit.record(
            s,
            "clear",
            dag_id=args.dag_id,
            run_id=args.run_id,
            extra={"tasks": sorted(task_ids), "cleared": cleared},
        )
    print(f"Cleared {cleared} task instance(s) of {args.dag_id}")
    if cleared:
        _wake_scheduler()
    return 0


def _relatives(dag: Any, task_id: str, attr: str) -> set[str]:
    seen: set[str] = set()
    stack = [task_id]
    while stack:
        for nxt in getattr(dag.task_dict[stack.pop()], attr):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _os_user() -> str | None:
    """Who runs this command, as Airflow's CLI records a trigger's user."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container without one)
        return None
