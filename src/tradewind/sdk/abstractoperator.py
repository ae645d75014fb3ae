"""What every task node shares, mapped or not: identity, place in the graph, scheduling knobs.

:class:`~tradewind.sdk.baseoperator.BaseOperator` (one task) and
:class:`~tradewind.sdk.mapping.MappedOperator` (a task expanded at run time) both derive
from :class:`AbstractOperator`, so the graph, the scheduler and the CLI treat them alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tradewind.exceptions import DagDefinitionError
from tradewind.sdk.dependency import DependencyMixin
from tradewind.sdk.trigger_rule import TriggerRule, WeightRule

if TYPE_CHECKING:
    from tradewind.sdk.dag import DAG
    from tradewind.sdk.taskgroup import TaskGroup
    from tradewind.sdk.xcom_arg import XComArg

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,250}$")
#: Run ids may also hold ``~ : +`` (Airflow's ``allowed_run_id_pattern``: ``manual__<iso>``).
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.~:+\-]{1,250}$")

#: Scheduling attributes and their defaults (Airflow's), shared by mapped and plain tasks.
SCHEDULING_DEFAULTS: dict[str, Any] = {
    "owner": "tradewind",
    "retries": 0,
    "retry_delay": timedelta(seconds=300),
    "retry_exponential_backoff": False,
    "max_retry_delay": None,
    "execution_timeout": None,
    "trigger_rule": TriggerRule.ALL_SUCCESS,
    "pool": "default_pool",
    "pool_slots": 1,
    "priority_weight": 1,
    "weight_rule": WeightRule.DOWNSTREAM,
    "queue": "default",
    "depends_on_past": False,
    "wait_for_downstream": False,
    "ignore_first_depends_on_past": True,
    "do_xcom_push": True,
    "multiple_outputs": False,
    "max_active_tis_per_dag": None,
    "max_active_tis_per_dagrun": None,
    "on_execute_callback": None,
    "on_failure_callback": None,
    "on_success_callback": None,
    "on_retry_callback": None,
    "on_skipped_callback": None,
    "start_date": None,
    "end_date": None,
    "doc_md": None,
    "map_index_template": None,
    "executor": None,
    "executor_config": None,
    "email": None,
    "run_as_user": None,
    "task_display_name": None,
}

Callback = Callable[[dict[str, Any]], Any]


def validate_run_id(value: object) -> str:
    """Check a run id: Airflow's allowed characters, and never ``.`` or ``..``.

    >>> validate_run_id("manual__2024-01-01T00:00:00+00:00")
    'manual__2024-01-01T00:00:00+00:00'
    """
    if not isinstance(value, str) or not RUN_ID_PATTERN.match(value) or value in (".", ".."):
        raise DagDefinitionError(
            f"invalid run_id {value!r}: use 1-250 letters, digits, '_', '-', '.', '~', ':' or '+'"
        )
    return value


def validate_id(value: object, what: str) -> str:
    """Check an id against the strict pattern used everywhere (file paths, keys, URLs)."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise DagDefinitionError(
            f"invalid {what} {value!r}: use 1-250 letters, digits, '_', '-' or '.'"
        )
    return value


def as_timedelta(value: Any, name: str, task_id: str) -> timedelta:
    """``value`` as a timedelta (numbers are seconds), or a definition error naming the task."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise DagDefinitionError(
        f"task {task_id!r}: {name} must be a timedelta or seconds, got {type(value).__name__}"
    )


def check_scheduling_args(op: AbstractOperator) -> None:
    """Check and normalise ``op``'s scheduling attributes in place (plain and mapped tasks).

    Run when a task is defined, so a bad value fails the DAG file, not a run.
    """
    from tradewind.sdk.trigger_rule import coerce_trigger_rule, coerce_weight_rule

    tid = op.task_id
    try:
        op.retries = int(op.retries or 0)
    except (TypeError, ValueError):
        raise DagDefinitionError(
            f"task {tid!r}: retries must be an integer, got {op.retries!r}"
        ) from None
    if op.retries < 0:
        raise DagDefinitionError(f"task {tid!r}: retries must be >= 0, got {op.retries}")
    op.retry_delay = as_timedelta(op.retry_delay, "retry_delay", tid)
    backoff = op.retry_exponential_backoff
    if backoff is None:
        op.retry_exponential_backoff = False
    elif not isinstance(backoff, bool):
        # A number is Airflow 3's multiplier (True means 2.0); keep it.
        if not isinstance(backoff, (int, float)) or backoff < 0:
            raise DagDefinitionError(
                f"task {tid!r}: retry_exponential_backoff must be a bool or a multiplier "
                f">= 0, got {backoff!r}"
            )
        op.retry_exponential_backoff = float(backoff)
    if op.max_retry_delay is not None:
        op.max_retry_delay = as_timedelta(op.max_retry_delay, "max_retry_delay", tid)
    if op.execution_timeout is not None and not isinstance(op.execution_timeout, timedelta):
        raise DagDefinitionError(
            f"task {tid!r}: execution_timeout must be a timedelta, "
            f"got {type(op.execution_timeout).__name__}"
        )
    op.trigger_rule = coerce_trigger_rule(op.trigger_rule, tid)
    op.weight_rule = coerce_weight_rule(op.weight_rule, tid)
    op.pool = op.pool or "default_pool"
    if not isinstance(op.pool_slots, int) or op.pool_slots < 1:
        raise DagDefinitionError(f"task {tid!r}: pool_slots must be >= 1, got {op.pool_slots!r}")
    op.priority_weight = int(op.priority_weight)


class AbstractOperator(DependencyMixin):
    """The node of a DAG's task graph. See the module docstring."""

    task_id: str
    dag: DAG | None
    task_group: TaskGroup | None
    trigger_rule: TriggerRule
    retries: int
    retry_delay: timedelta
    retry_exponential_backoff: bool | float
    max_retry_delay: timedelta | None
    execution_timeout: timedelta | None
    pool: str
    pool_slots: int
    priority_weight: int
    weight_rule: WeightRule
    queue: str
    depends_on_past: bool
    do_xcom_push: bool
    multiple_outputs: bool
    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False
    template_fields: Sequence[str] = ()
    template_ext: Sequence[str] = ()
    #: Set by operators that choose which downstream tasks run (branching, short-circuit).
    is_branching: bool = False

    def _init_graph(self) -> None:
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()

    # -- graph -------------------------------------------------------------------------
    @property
    def roots(self) -> Sequence[AbstractOperator]:
        return [self]

    @property
    def leaves(self) -> Sequence[AbstractOperator]:
        return [self]

    @property
    def is_mapped(self) -> bool:
        return False

    @property
    def label(self) -> str:
        """The task id without its task-group prefix."""
        group = self.task_group
        if group is not None and group.group_id and group.prefix_group_id:
            prefix = group.child_id("")
            if self.task_id.startswith(prefix):
                return self.task_id[len(prefix) :]
        return self.task_id

    def add_edge_to(self, downstream: AbstractOperator, label: str | None = None) -> None:
        """Record ``self >> downstream``; both end up in the same DAG."""
        dag = self.dag or downstream.dag
        if dag is None:
            raise DagDefinitionError(
                f"cannot link {self.task_id!r} >> {downstream.task_id!r}: neither is in a DAG"
            )
        for node in (self, downstream):
            if node.dag is None:
                dag.add_task(node)
            elif node.dag is not dag:
                raise DagDefinitionError(
                    f"cannot link {self.task_id!r} >> {downstream.task_id!r}: tasks belong to "
                    f"different DAGs ({self.dag and self.dag.dag_id!r} and "
                    f"{downstream.dag and downstream.dag.dag_id!r})"
                )
        if downstream.task_id == self.task_id:
            raise DagDefinitionError(f"task {self.task_id!r} cannot depend on itself")
        self.downstream_task_ids.add(downstream.task_id)
        downstream.upstream_task_ids.add(self.task_id)
        if label is not None:
            dag.edge_info[(self.task_id, downstream.task_id)] = {"label": label}

    @property
    def upstream_list(self) -> list[AbstractOperator]:
        assert self.dag is not None
        return [self.dag.task_dict[t] for t in sorted(self.upstream_task_ids)]

    @property
    def downstream_list(self) -> list[AbstractOperator]:
        assert self.dag is not None
        return [self.dag.task_dict[t] for t in sorted(self.downstream_task_ids)]

    def get_flat_relative_ids(self, upstream: bool = False) -> set[str]:
        """Every task id reachable downstream (or upstream) of this task."""
        assert self.dag is not None
        seen: set[str] = set()
        stack = [self.task_id]
        while stack:
            current = self.dag.task_dict[stack.pop()]
            nxt = current.upstream_task_ids if upstream else current.downstream_task_ids
            for tid in nxt:
                if tid not in seen:
                    seen.add(tid)
                    stack.append(tid)
        return seen

    # -- setup / teardown --------------------------------------------------------------
    def as_setup(self) -> AbstractOperator:
        """Mark this task as a setup task (see :func:`tradewind.sdk.setup`)."""
        self.is_setup = True
        return self

    def as_teardown(
        self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None
    ) -> AbstractOperator:
        """Mark this task as a teardown; it runs when its setups succeeded, whatever else did."""
        self.is_teardown = True
        self.trigger_rule = TriggerRule.ALL_DONE_SETUP_SUCCESS
        if on_failure_fail_dagrun is not None:
            self.on_failure_fail_dagrun = on_failure_fail_dagrun
        if setups is not None:
            from tradewind.sdk.dependency import _flatten

            for node in _flatten(setups):
                for leaf in node.leaves:
                    leaf.is_setup = True
                node.set_downstream(self)
        return self

    # -- XCom --------------------------------------------------------------------------
    @property
    def output(self) -> XComArg:
        """The task's return value as an :class:`XComArg` (``key="return_value"``)."""
        from tradewind.sdk.xcom_arg import PlainXComArg

        return PlainXComArg(self)

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"
