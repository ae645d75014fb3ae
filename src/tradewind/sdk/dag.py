"""``DAG`` and ``@dag``: a named graph of tasks with a schedule.

Use it as a context manager (tasks created inside join it) or decorate a function with
:func:`dag`. A DAG validates itself when its ``with`` block or ``@dag`` function ends: a
cycle, a duplicate task id, a bad schedule or a bad param fails right there, with a message
that says what to fix.

>>> from datetime import datetime
>>> from tradewind.sdk import DAG, task
>>> with DAG("doc_dag", schedule="@daily", start_date=datetime(2024, 1, 1)) as d:
...     @task
...     def hello():
...         return "hi"
...     hello()
<XComArg ...>
>>> d.task_ids
['hello']
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tradewind.exceptions import (
    DagCycleError,
    DagDefinitionError,
    DuplicateTaskIdError,
    ParamValidationError,
)
from tradewind.sdk.abstractoperator import AbstractOperator, validate_id
from tradewind.sdk.graph import TaskGraph
from tradewind.sdk.params import ParamsDict

if TYPE_CHECKING:
    from tradewind.sdk.taskgroup import TaskGroup
    from tradewind.timetables.base import Timetable


class _DefinitionState(threading.local):
    """Per thread, so DAG files imported at once in two threads never mix their DAGs."""

    def __init__(self) -> None:
        self.dags: list[DAG] = []
        self.groups: list[TaskGroup] = []
        self.created: list[DAG] = []


_definitions = _DefinitionState()


class DagContext:
    """The stack of DAGs being defined (``with DAG(...)`` blocks and ``@dag`` calls), per
    thread, and the DAGs created since the last :meth:`collect`."""

    @classmethod
    def push(cls, dag: DAG) -> None:
        _definitions.dags.append(dag)

    @classmethod
    def pop(cls) -> DAG | None:
        return _definitions.dags.pop() if _definitions.dags else None

    @classmethod
    def current(cls) -> DAG | None:
        return _definitions.dags[-1] if _definitions.dags else None

    @classmethod
    def created(cls, dag: DAG) -> None:
        _definitions.created.append(dag)

    @classmethod
    def collect(cls) -> list[DAG]:
        """Return and forget the DAGs created (in this thread) since the previous call."""
        created, _definitions.created = _definitions.created, []
        return created

    @classmethod
    @contextlib.contextmanager
    def detached(cls) -> Iterator[None]:
        """No DAG or task group is being defined inside the block (tasks built at run time)."""
        saved = (_definitions.dags, _definitions.groups)
        _definitions.dags, _definitions.groups = [], []
        try:
            yield
        finally:
            _definitions.dags, _definitions.groups = saved


def _aware(value: datetime | None, name: str, dag_id: str) -> datetime | None:
    """``value`` with a time zone: a naive datetime is wall time in ``core.default_timezone``
    (UTC unless configured), as Airflow reads it."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise DagDefinitionError(
            f"DAG {dag_id!r}: {name} must be a datetime, got {type(value).__name__}"
        )
    if value.tzinfo is not None:
        return value
    from tradewind.timetables.zones import default_zone, localize

    zone = default_zone()
    return localize(value, zone).astimezone(zone)


class DAG(TaskGraph[AbstractOperator]):
    """A directed acyclic graph of tasks, with the schedule and defaults they share.

    Arguments and defaults follow Airflow 3 (``catchup=False``, ``max_active_tasks=16``,
    ``max_active_runs=16``, ``schedule=None``). Naive datetimes are read as UTC.
    """

    def __init__(
        self,
        dag_id: str,
        description: str | None = None,
        schedule: Any = None,
        *,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        catchup: bool = False,
        default_args: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        tags: Iterable[str] | None = None,
        doc_md: str | None = None,
        max_active_runs: int = 16,
        max_active_tasks: int = 16,
        max_consecutive_failed_dag_runs: int = 0,
        dagrun_timeout: timedelta | None = None,
        on_success_callback: Any = None,
        on_failure_callback: Any = None,
        template_searchpath: str | Iterable[str] | None = None,
        template_undefined: Any = None,
        user_defined_macros: dict[str, Any] | None = None,
        user_defined_filters: dict[str, Callable[..., Any]] | None = None,
        jinja_environment_kwargs: dict[str, Any] | None = None,
        render_template_as_native_obj: bool = False,
        access_control: dict[str, Any] | None = None,
        is_paused_upon_creation: bool | None = None,
        owner_links: dict[str, str] | None = None,
        fail_fast: bool = False,
        dag_display_name: str | None = None,
        auto_register: bool = True,
    ) -> None:
        from tradewind.sdk.taskgroup import TaskGroup
        from tradewind.timetables import timetable_from_schedule

        self.dag_id = validate_id(dag_id, "dag_id")
        self.description = description
        self.default_args: dict[str, Any] = dict(default_args or {})
        given_start = start_date or self.default_args.get("start_date")
        self.start_date = _aware(given_start, "start_date", dag_id)
        self.end_date = _aware(end_date or self.default_args.get("end_date"), "end_date", dag_id)
        self.schedule = schedule
        # A cron schedule runs in an aware start date's time zone, as in Airflow; otherwise
        # in core.default_timezone, read when the schedule is evaluated.
        aware = isinstance(given_start, datetime) and given_start.tzinfo is not None
        zone = self.start_date.tzinfo if aware and self.start_date is not None else None
        try:
            self.timetable: Timetable = timetable_from_schedule(schedule, timezone=zone)
        except DagDefinitionError as err:
            raise DagDefinitionError(f"DAG {dag_id!r}: {err}") from None
        self.catchup = catchup
        if catchup and self.timetable.can_be_scheduled and self.start_date is None:
            raise DagDefinitionError(f"DAG {dag_id!r}: start_date is required when catchup=True")
        try:
            self.params = ParamsDict(params or {})
            # default_args["params"] are DAG params too, and win over ``params`` (Airflow).
            for key, value in dict(self.default_args.pop("params", None) or {}).items():
                self.params[key] = value
        except Exception as err:
            raise DagDefinitionError(f"DAG {dag_id!r}: {err}") from None
        if self.timetable.can_be_scheduled:
            try:
                self.params.validate()
            except ParamValidationError as err:
                raise DagDefinitionError(
                    f"DAG {dag_id!r} is not allowed to define a schedule, as there are "
                    f"required params without default values, or the default values are not "
                    f"valid: {err}"
                ) from None
        self.tags = sorted(set(tags or ()))
        self.doc_md = doc_md
        if max_active_runs < 1 or max_active_tasks < 1:
            raise DagDefinitionError(
                f"DAG {dag_id!r}: max_active_runs and max_active_tasks must be >= 1"
            )
        limit = self.timetable.active_runs_limit
        if limit is not None and max_active_runs > limit:
            raise DagDefinitionError(
                f"DAG {dag_id!r}: schedule {self.timetable.summary!r} allows at most {limit} "
                f"active run(s); set max_active_runs={limit} (got {max_active_runs})"
            )
        self.max_active_runs = max_active_runs
        self.max_active_tasks = max_active_tasks
        self.max_consecutive_failed_dag_runs = max_consecutive_failed_dag_runs
        if dagrun_timeout is not None and not isinstance(dagrun_timeout, timedelta):
            raise DagDefinitionError(f"DAG {dag_id!r}: dagrun_timeout must be a timedelta")
        self.dagrun_timeout = dagrun_timeout
        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        if isinstance(template_searchpath, str):
            template_searchpath = [template_searchpath]
        self.template_searchpath: list[str] = list(template_searchpath or [])
        self.template_undefined = template_undefined
        self.user_defined_macros = dict(user_defined_macros or {})
        self.user_defined_filters = dict(user_defined_filters or {})
        self.jinja_environment_kwargs = dict(jinja_environment_kwargs or {})
        self.render_template_as_native_obj = render_template_as_native_obj
        self.access_control = access_control
        self.is_paused_upon_creation = is_paused_upon_creation
        self.owner_links = dict(owner_links or {})
        self.fail_fast = fail_fast
        self.dag_display_name = dag_display_name or dag_id
        #: File the DAG was defined in (set by the loader); templates are looked up beside it.
        self.fileloc: str | None = None
        self.task_dict: dict[str, AbstractOperator] = {}
        self.edge_info: dict[tuple[str, str], dict[str, str]] = {}
        self.task_group: TaskGroup = TaskGroup.create_root(self)
        if auto_register:
            DagContext.created(self)

    # -- context manager ---------------------------------------------------------------
    def __enter__(self) -> DAG:
        DagContext.push(self)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        DagContext.pop()
        if exc_type is None:
            self.validate()

    # -- tasks -------------------------------------------------------------------------
    def add_task(self, task: AbstractOperator) -> None:
        """Add ``task`` to this DAG; a second task with the same id is an error."""
        if task.task_id in self.task_dict and self.task_dict[task.task_id] is not task:
            raise DuplicateTaskIdError(
                f"DAG {self.dag_id!r}: task id {task.task_id!r} has already been added to the DAG"
            )
        if task.task_id in self.task_group.used_group_ids:
            raise DuplicateTaskIdError(
                f"DAG {self.dag_id!r}: task id {task.task_id!r} has already been added to the "
                "DAG as a group id"
            )
        self.task_dict[task.task_id] = task
        task.dag = self
        if task.task_group is None:
            task.task_group = self.task_group
        task.task_group.add(task)

    def add_tasks(self, tasks: Iterable[AbstractOperator]) -> None:
        for t in tasks:
            self.add_task(t)

    def _cycle_error(self) -> Exception:
        return DagCycleError(self._describe_cycle())

    def _describe_cycle(self) -> str:
        """The first cycle found, as ``a >> b >> a`` (iterative: long chains are fine)."""
        color: dict[str, int] = dict.fromkeys(self.task_dict, 0)  # 0 new, 1 on path, 2 done
        for start in sorted(self.task_dict):
            if color[start]:
                continue
            path = [start]
            color[start] = 1
            stack = [iter(sorted(self.task_dict[start].downstream_task_ids))]
            while stack:
                down = next(stack[-1], None)
                if down is None:
                    stack.pop()
                    color[path.pop()] = 2
                elif color[down] == 1:
                    cycle = [*path[path.index(down) :], down]
                    return f"DAG {self.dag_id!r} has a cycle: " + " >> ".join(cycle)
                elif color[down] == 0:
                    color[down] = 1
                    path.append(down)
                    stack.append(iter(sorted(self.task_dict[down].downstream_task_ids)))
        return f"DAG {self.dag_id!r} has a cycle"

    def validate(self) -> None:
        """Check the DAG is runnable: no cycle, tasks' ids and links are consistent, and the
        timetable's own check (Airflow's ``Timetable.validate``) passes."""
        self.timetable.validate()
        self.topological_sort()
        for task in self.task_dict.values():
            for tid in task.upstream_task_ids | task.downstream_task_ids:
                if tid not in self.task_dict:
                    raise DagDefinitionError(
                        f"DAG {self.dag_id!r}: task {task.task_id!r} is linked to {tid!r}, "
                        "which is not in the DAG"
                    )
        self._validate_setup_teardown()

    def _validate_setup_teardown(self) -> None:
        """Airflow's rules: work right after a setup runs only if the setup succeeded, and a
        ``fail_fast`` DAG uses only rules that stop on the first failure."""
        from tradewind.sdk.trigger_rule import TriggerRule

        allowed_fast = {TriggerRule.ALL_SUCCESS, TriggerRule.ALL_DONE_SETUP_SUCCESS}
        for task in self.task_dict.values():
            if self.fail_fast and task.trigger_rule not in allowed_fast:
                raise DagDefinitionError(
                    f"DAG {self.dag_id!r} has fail_fast=True, so task {task.task_id!r} must use "
                    f"trigger_rule all_success (or be a teardown), not {task.trigger_rule}"
                )
            if not task.is_setup:
                continue
            for down_id in sorted(task.downstream_task_ids):
                down = self.task_dict[down_id]
                if not down.is_teardown and down.trigger_rule is not TriggerRule.ALL_SUCCESS:
                    raise DagDefinitionError(
                        f"DAG {self.dag_id!r}: task {down_id!r} follows setup task "
                        f"{task.task_id!r}, so it must use trigger_rule all_success, not "
                        f"{down.trigger_rule}"
                    )

    # -- misc --------------------------------------------------------------------------
    @property
    def folder(self) -> str | None:
        import os

        return os.path.dirname(self.fileloc) if self.fileloc else None

    def test(
        self,
        logical_date: datetime | None = None,
        conf: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run this DAG once, in this process, and return the run's result (like ``dags test``)."""
        from tradewind.inprocess import run_dag

        return run_dag(self, logical_date=logical_date, conf=conf, **kwargs)

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"

    def __hash__(self) -> int:
        return id(self)


def dag(dag_id: str | Callable[..., Any] | None = None, **dag_kwargs: Any) -> Callable[..., Any]:
    """Make a function into a DAG factory: calling the function defines the DAG.

    The function's name is the default ``dag_id``; its keyword parameters become DAG
    params, and inside the function they stand for the run's value of that param.

    >>> from tradewind.sdk import dag, task
    >>> @dag(schedule=None)
    ... def doc_decorated(greeting: str = "hi"):
    ...     @task
    ...     def say(word):
    ...         return word
    ...     say(greeting)
    >>> d = doc_decorated()
    >>> (d.dag_id, d.params["greeting"])
    ('doc_decorated', 'hi')
    """
    if callable(dag_id):
        return dag()(dag_id)  # type: ignore[no-any-return]

    def decorator(fn: Callable[..., Any]) -> Callable[..., DAG]:
        sig = inspect.signature(fn)
        name = dag_id if isinstance(dag_id, str) and dag_id.strip() else fn.__name__

        @functools.wraps(fn)
        def factory(*args: Any, **kwargs: Any) -> DAG:
            from tradewind.sdk.params import DagParam

            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError as err:
                raise TypeError(f"@dag {name!r}: {fn.__name__}(): {err}") from None
            bound.apply_defaults()
            new_dag = DAG(name, **dag_kwargs)
            if fn.__doc__ and not new_dag.doc_md:
                new_dag.doc_md = inspect.cleandoc(fn.__doc__)
            # Each argument's value (the call's, else the function default) becomes the
            # param's value, checked against a schema given in ``params=``.
            for arg, value in bound.arguments.items():
                try:
                    new_dag.params[arg] = value
                except ParamValidationError as err:
                    raise DagDefinitionError(f"DAG {name!r}: {err}") from None
            with new_dag:
                fn(**{arg: DagParam(new_dag, arg) for arg in bound.arguments})
            new_dag.fileloc = inspect.getsourcefile(fn)
            return new_dag

        return factory

    return decorator
