"""``tradewind tasks test``: run one task instance, ignoring its dependencies.

As in Airflow 3.3.2, a task that expands (mapped itself, or inside a mapped task group) needs
``--map-index``, which must be in range when the count is known from the DAG file alone, and
a task that does not expand takes none.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tradewind.cli.common import CommandError, load_dag, logical_date, parse_conf, report


def _check_map_index(task: Any, map_index: int) -> None:
    """Raise :class:`CommandError` unless ``map_index`` picks one instance of ``task``."""
    from tradewind.sdk.map_indexes import expands, expansion_count, mapped_groups

    if not expands(task):
        if map_index >= 0:
            raise CommandError(f"task {task.task_id!r} is not mapped: leave out --map-index")
        return
    groups = mapped_groups(task)
    what = (
        f"task {task.task_id!r} is in mapped task group {groups[0].group_id!r}"
        if groups
        else f"task {task.task_id!r} is mapped"
    )
    try:
        # Known from the DAG file alone only when every input is a literal.
        total = expansion_count(task, lambda task_id, key: None)
    except Exception:
        total = None
    if total is None:
        known = "how many there are is known once a run has its upstream output"
    elif total == 0:
        raise CommandError(f"{what}, and its input is empty: it has no instance to test")
    else:
        known = f"{total} mapped instance(s) [0..{total - 1}]"
    if map_index < 0:
        raise CommandError(f"{what}: give --map-index N to test one instance ({known})")
    if total is not None and map_index >= total:
        raise CommandError(
            f"--map-index {map_index} is out of range: task {task.task_id!r} has {known}"
        )


def test(args: argparse.Namespace) -> int:
    import functools

    from tradewind.exceptions import DagDefinitionError, ParamValidationError
    from tradewind.execution.client import InProcessClient
    from tradewind.execution.in_process_waits import run_waiting_in_process
    from tradewind.execution.runner import run_task_try
    from tradewind.inprocess.driver import manual_run
    from tradewind.xcom.memory import MemoryXComBackend

    try:
        dag = load_dag(args)
        conf = parse_conf(args.conf)
        when = logical_date(args)
        if args.task_id not in dag.task_dict:
            raise CommandError(
                f"task {args.task_id!r} not found in DAG {dag.dag_id!r}; tasks: "
                f"{', '.join(sorted(dag.task_dict))}"
            )
        task = dag.task_dict[args.task_id]
        _check_map_index(task, args.map_index)
        run = manual_run(dag, logical_date=when, conf=conf)
    except CommandError as err:
        return report(err)
    except (ParamValidationError, DagDefinitionError) as err:
        # A bad conf, or a timetable the scheduler could not rebuild either.
        return report(CommandError(f"DAG {dag.dag_id!r}: {err}"))
    out = sys.stderr if args.json else sys.stdout
    mapped = frozenset(t for t, op in dag.task_dict.items() if op.is_mapped)
    outcome = run_waiting_in_process(
        functools.partial(
            run_task_try,
            task,
            run,
            client=InProcessClient(MemoryXComBackend()),
            map_index=args.map_index,
            log_sink=lambda line: print(line, file=out, flush=True),
            mapped_upstreams=mapped,
        ),
        task,
    )
    key = args.task_id if args.map_index < 0 else f"{args.task_id}[{args.map_index}]"
    if args.json:
        print(json.dumps({"dag_id": dag.dag_id, "task": key, "state": outcome.state.value}))
    else:
        print(f"Task {key}: {outcome.state.value} in {outcome.duration:.3f}s")
    return 0 if outcome.state.value in ("success", "skipped") else 1
