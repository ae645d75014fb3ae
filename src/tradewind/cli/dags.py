"""``tradewind dags ...``: list, show and test DAGs."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import TYPE_CHECKING, Any

from tradewind.cli.common import CommandError, load_bag, load_dag, logical_date, parse_conf, report
from tradewind.cli.output import print_rows

if TYPE_CHECKING:
    from tradewind.inprocess import TaskInstanceRecord
    from tradewind.sdk.dag import DAG


def list_dags(args: argparse.Namespace) -> int:
    try:
        bag = load_bag(args)
    except CommandError as err:
        return report(err)
    rows = [
        {
            "dag_id": dag.dag_id,
            "fileloc": dag.fileloc,
            "owners": sorted({t.owner for t in dag.tasks if hasattr(t, "owner")}),
            "schedule": dag.timetable.summary,
            "tags": dag.tags,
            "tasks": len(dag.task_dict),
        }
        for dag in sorted(bag.dags.values(), key=lambda d: d.dag_id)
    ]
    print_rows(rows, ["dag_id", "fileloc", "owners", "schedule", "tags", "tasks"], args.output)
    if bag.import_errors:
        print(
            f"warning: {len(bag.import_errors)} file(s) failed to import; "
            "see 'tradewind dags list-import-errors'",
            file=sys.stderr,
        )
    return 0


def list_import_errors(args: argparse.Namespace) -> int:
    try:
        bag = load_bag(args)
    except CommandError as err:
        return report(err)
    rows = [{"filepath": p, "error": e} for p, e in sorted(bag.import_errors.items())]
    print_rows(rows, ["filepath", "error"], args.output)
    return 1 if rows else 0


def _mermaid_id(task_id: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in task_id)


def render_graph(dag: DAG, mermaid: bool = False) -> str:
    """The DAG as indented text (each task with its downstream tasks) or a Mermaid chart."""
    order = dag.topological_sort()
    lines: list[str] = []
    if mermaid:
        lines.append("flowchart LR")
        for t in order:
            shape = f'{_mermaid_id(t.task_id)}["{t.task_id}{" [mapped]" if t.is_mapped else ""}"]'
            lines.append(f"    {shape}")
        for t in order:
            for d in sorted(t.downstream_task_ids):
                label = dag.edge_info.get((t.task_id, d), {}).get("label")
                arrow = f" -->|{label}| " if label else " --> "
                lines.append(f"    {_mermaid_id(t.task_id)}{arrow}{_mermaid_id(d)}")
        return "\n".join(lines)
    lines.append(f"DAG {dag.dag_id} (schedule: {dag.timetable.summary}, {len(order)} tasks)")
    for t in order:
        kind = type(t).__name__
        if t.is_mapped:
            kind = f"mapped {t.operator_class.__name__}"  # type: ignore[attr-defined]
        rule = "" if t.trigger_rule == "all_success" else f", trigger_rule={t.trigger_rule}"
        lines.append(f"{t.task_id} ({kind}{rule})")
        for d in sorted(t.downstream_task_ids):
            label = dag.edge_info.get((t.task_id, d), {}).get("label")
            lines.append(f"  >> {d}" + (f"  [{label}]" if label else ""))
    return "\n".join(lines)


def show(args: argparse.Namespace) -> int:
    try:
        dag = load_dag(args)
    except CommandError as err:
        return report(err)
    print(render_graph(dag, args.mermaid))
    return 0


class _Printer:
    """Prints task log lines and state changes as they happen (one lock for all threads)."""

    def __init__(self, quiet: bool) -> None:
        self.lock = threading.Lock()
        self.out = sys.stderr if quiet else sys.stdout

    def log(self, rec: TaskInstanceRecord, line: str) -> None:
        with self.lock:
            print(f"{rec.key} | {line}", file=self.out, flush=True)

    def state(self, rec: TaskInstanceRecord) -> None:
        if rec.state is None or rec.state.value in ("running", "scheduled"):
            return
        with self.lock:
            print(f"{rec.key} | state: {rec.state.value}", file=self.out, flush=True)


def summary_rows(records: list[TaskInstanceRecord]) -> list[dict[str, Any]]:
    return [
        {
            "task": r.key,
            "state": r.state.value if r.state else "none",
            "tries": r.try_number,
            "duration": f"{r.duration:.3f}s" if r.duration is not None else "",
        }
        for r in records
    ]


def test(args: argparse.Namespace) -> int:
    from tradewind.exceptions import DagDefinitionError, ParamValidationError
    from tradewind.inprocess import run_dag

    try:
        dag = load_dag(args)
        conf = parse_conf(args.conf)
        when = logical_date(args)
    except CommandError as err:
        return report(err)
    printer = _Printer(quiet=args.json)
    try:
        result = run_dag(
            dag, logical_date=when, conf=conf, on_log=printer.log, on_state=printer.state
        )
    except (ParamValidationError, DagDefinitionError) as err:
        # A bad conf, or a timetable the scheduler could not rebuild either.
        return report(CommandError(f"DAG {dag.dag_id!r}: {err}"))
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print()
        print_rows(summary_rows(result.task_instances), ["task", "state", "tries", "duration"])
        elapsed = (result.end_date - result.start_date).total_seconds()
        print(
            f"\nDAG run {result.run_id} of {result.dag_id}: {result.state.value} in {elapsed:.3f}s"
        )
    return 0 if result.state.value == "success" else 1
