"""``tradewind``: the command line entry point.

Only :mod:`argparse` is imported up front; each command's module is imported when that
command runs, so ``tradewind --help`` stays fast. Exit codes: 0 success, 1 the thing run
failed, 2 a usage error or a broken DAG.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

Handler = str  # "module:function", imported lazily

EPILOG = "Run 'tradewind COMMAND --help' for a command's options."


def _dags_folder_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dags-folder",
        "-S",
        "--subdir",
        dest="dags_folder",
        metavar="PATH",
        help="folder (or file) with DAG files; default $TRADEWIND_HOME/dags, else ./dags",
    )


def _output_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-o",
        "--output",
        choices=["table", "json", "yaml", "plain"],
        default="table",
        help="output format (default: table)",
    )


def build_parser() -> argparse.ArgumentParser:
    from tradewind.cli import (
        api_server,
        backfill,
        config_cmd,
        connections,
        pools,
        runs,
        services,
        users,
        variables,
        xcom,
    )

    parser = argparse.ArgumentParser(
        prog="tradewind",
        description="Tradewind: write pipelines as DAGs of tasks in Python; run and test them.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND")

    version = groups.add_parser("version", help="print the version")
    version.set_defaults(handler="tradewind.cli.version:run")

    dags = groups.add_parser("dags", help="list, show and test DAGs", epilog=EPILOG)
    dag_cmds = dags.add_subparsers(dest="command", metavar="COMMAND")

    d_list = dag_cmds.add_parser("list", help="list the DAGs in the DAGs folder")
    _dags_folder_arg(d_list)
    _output_arg(d_list)
    d_list.set_defaults(handler="tradewind.cli.dags:list_dags")

    d_errors = dag_cmds.add_parser("list-import-errors", help="list DAG files that fail to load")
    _dags_folder_arg(d_errors)
    _output_arg(d_errors)
    d_errors.set_defaults(handler="tradewind.cli.dags:list_import_errors")

    d_show = dag_cmds.add_parser("show", help="show a DAG's tasks and dependencies")
    d_show.add_argument("dag_id", metavar="DAG_ID")
    _dags_folder_arg(d_show)
    d_show.add_argument("--mermaid", action="store_true", help="print a Mermaid flowchart")
    d_show.set_defaults(handler="tradewind.cli.dags:show")

    d_test = dag_cmds.add_parser(
        "test",
        help="run one DAG run in this process (no database, no services)",
        description="Run one DAG run in this process, independent tasks concurrently, and "
        "print each task's log and state. Exit 0 when the run succeeds, 1 when it fails, "
        "2 for a usage or DAG error.",
    )
    d_test.add_argument("dag_id", metavar="DAG_ID")
    d_test.add_argument(
        "logical_date_pos", nargs="?", metavar="LOGICAL_DATE", help="same as --logical-date"
    )
    _dags_folder_arg(d_test)
    _run_args(d_test)
    d_test.set_defaults(handler="tradewind.cli.dags:test")
    runs.add_dag_parsers(dag_cmds)

    db = groups.add_parser("db", help="manage the metadata database schema", epilog=EPILOG)
    db_cmds = db.add_subparsers(dest="command", metavar="COMMAND")
    db_cmds.add_parser(
        "migrate", help="create or upgrade the schema to the current version"
    ).set_defaults(handler="tradewind.cli.db:migrate")
    db_cmds.add_parser(
        "check", help="exit 0 if the schema is current, 1 (saying what differs) if not"
    ).set_defaults(handler="tradewind.cli.db:check")
    db_reset = db_cmds.add_parser("reset", help="delete all tables and data, then migrate")
    db_reset.add_argument("--yes", "-y", action="store_true", help="do not ask to confirm")
    db_reset.set_defaults(handler="tradewind.cli.db:reset")

    processor = groups.add_parser(
        "dag-processor",
        help="parse the DAGs folder into the metadata database and keep it current",
        description="Parse each DAG file in a child process with a time limit "
        "(core.dagbag_import_timeout) and store its DAGs as versioned JSON, its source and any "
        "import error in the metadata database; then follow file changes until interrupted "
        "(Ctrl-C or SIGTERM). With --once, do one full pass and exit.",
    )
    _dags_folder_arg(processor)
    processor.add_argument("--once", action="store_true", help="do one full pass and exit")
    processor.set_defaults(handler="tradewind.cli.dag_processor:run")
    services.add_parsers(groups, _dags_folder_arg)

    tasks = groups.add_parser("tasks", help="run single tasks", epilog=EPILOG)
    task_cmds = tasks.add_subparsers(dest="command", metavar="COMMAND")
    t_test = task_cmds.add_parser(
        "test",
        help="run one task in this process, ignoring its dependencies",
        description="Run one task instance in this process, ignoring upstream tasks (XCom "
        "pulls from them get nothing). Exit 0 on success or skip, 1 on failure.",
    )
    t_test.add_argument("dag_id", metavar="DAG_ID")
    t_test.add_argument("task_id", metavar="TASK_ID")
    t_test.add_argument(
        "logical_date_pos", nargs="?", metavar="LOGICAL_DATE", help="same as --logical-date"
    )
    _dags_folder_arg(t_test)
    _run_args(t_test)
    t_test.add_argument(
        "--map-index",
        type=int,
        default=-1,
        help="which instance of a task that expands (mapped, or in a mapped task group) to "
        "run; required for those, refused for others",
    )
    t_test.set_defaults(handler="tradewind.cli.tasks:test")
    runs.add_task_parsers(task_cmds)
    for module in (variables, connections, pools, config_cmd, backfill, xcom, users, api_server):
        module.add_parsers(groups)
    return parser


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--conf", "-c", metavar="JSON", help="dag_run.conf as a JSON object")
    p.add_argument(
        "--logical-date",
        "-l",
        metavar="ISO",
        help="logical date (ISO 8601; naive means UTC); default now",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object with the result")


def _load(handler: Handler) -> Callable[[argparse.Namespace], int]:
    module, _, name = handler.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        args.handler = "tradewind.cli.version:run"
    handler = getattr(args, "handler", None)
    if handler is None:
        # A group without a command: show that group's help.
        if args.group:
            parser.parse_args([args.group, "--help"])
        parser.print_help()
        return 2
    try:
        return _load(handler)(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
