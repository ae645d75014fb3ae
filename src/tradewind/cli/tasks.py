"""``tradewind tasks test``: run one task instance, ignoring its dependencies."""

from __future__ import annotations

import argparse
import json
import sys

from tradewind.cli.common import CommandError, load_dag, logical_date, parse_conf, report


def test(args: argparse.Namespace) -> int:
    from tradewind.exceptions import ParamValidationError
    from tradewind.execution.client import InProcessClient
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
        if task.is_mapped and args.map_index < 0:
            raise CommandError(f"task {args.task_id!r} is mapped: give --map-index N")
        run = manual_run(dag, logical_date=when, conf=conf)
    except CommandError as err:
        return report(err)
    except ParamValidationError as err:
        return report(CommandError(f"DAG {dag.dag_id!r}: {err}"))
    out = sys.stderr if args.json else sys.stdout
    mapped = frozenset(t for t, op in dag.task_dict.items() if op.is_mapped)
    outcome = run_task_try(
        task,
        run,
        client=InProcessClient(MemoryXComBackend()),
        map_index=args.map_index,
        log_sink=lambda line: print(line, file=out, flush=True),
        mapped_upstreams=mapped,
    )
    key = args.task_id if args.map_index < 0 else f"{args.task_id}[{args.map_index}]"
    if args.json:
        print(json.dumps({"dag_id": dag.dag_id, "task": key, "state": outcome.state.value}))
    else:
        print(f"Task {key}: {outcome.state.value} in {outcome.duration:.3f}s")
    return 0 if outcome.state.value in ("success", "skipped") else 1
