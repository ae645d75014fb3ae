"""``BaseOperator``: the class every task derives from, and the chain helpers.

Subclass it and implement ``execute(context)``; its return value becomes the task's
``return_value`` XCom. Arguments not given explicitly come from ``default_args`` of the
enclosing task groups and DAG, as in Airflow.

Example::

    class Hello(BaseOperator):
        template_fields = ("name",)

        def __init__(self, *, name: str, **kwargs):
            super().__init__(**kwargs)
            self.name = name

        def execute(self, context):
            return f"hello {self.name}"
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from tradewind.exceptions import DagDefinitionError, TaskDeferred
from tradewind.sdk.abstractoperator import (
    SCHEDULING_DEFAULTS,
    AbstractOperator,
    check_scheduling_args,
    validate_id,
)
from tradewind.sdk.dependency import DependencyMixin, _flatten

if TYPE_CHECKING:
    from tradewind.sdk.dag import DAG
    from tradewind.sdk.mapping import OperatorPartial
    from tradewind.sdk.taskgroup import TaskGroup

_NOT_SET: Any = object()


@functools.cache
def accepted_init_args(cls: type) -> frozenset[str]:
    """Names of keyword arguments the ``__init__`` methods along ``cls``'s MRO accept."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        init = getattr(init, "__wrapped__", init)
        for p in inspect.signature(init).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
    return frozenset(names)


def merged_default_args(
    dag: DAG | None, group: TaskGroup | None, explicit: dict[str, Any] | None
) -> dict[str, Any]:
    """``default_args`` of the DAG, then each enclosing group, then the task's own."""
    merged: dict[str, Any] = dict(dag.default_args) if dag is not None else {}
    chain: list[TaskGroup] = []
    while group is not None:
        chain.append(group)
        group = group.parent_group
    for g in reversed(chain):
        merged.update(g.default_args)
    if explicit:
        merged.update(explicit)
    return merged


def resolve_dag_and_group(kwargs: dict[str, Any]) -> tuple[DAG | None, TaskGroup | None]:
    """The DAG and task group a task being created belongs to (explicit or from context)."""
    from tradewind.sdk.dag import DagContext
    from tradewind.sdk.taskgroup import TaskGroupContext

    dag = kwargs.get("dag") or DagContext.current()
    group = kwargs.get("task_group")
    if group is None and dag is not None:
        group = TaskGroupContext.current(dag)
    return dag, group


def apply_default_args(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Fill ``kwargs`` from the applicable ``default_args`` for arguments ``cls`` accepts."""
    dag, group = resolve_dag_and_group(kwargs)
    defaults = merged_default_args(dag, group, kwargs.pop("default_args", None))
    accepted = accepted_init_args(cls)
    for key, value in defaults.items():
        if key in accepted and key not in kwargs:
            kwargs[key] = value
    if "params" in defaults and "params" in accepted:
        # default_args params are merged under the task's own.
        base = dict(defaults["params"] or {})
        base.update(kwargs.get("params") or {})
        kwargs["params"] = base
    return kwargs


def _wrap_init(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def wrapper(self: BaseOperator, *args: Any, **kwargs: Any) -> None:
        if self.__dict__.get("_tw_init_started"):
            init(self, *args, **kwargs)
            return
        self.__dict__["_tw_init_started"] = True
        if args:
            raise TypeError(f"{type(self).__name__} takes keyword arguments only")
        init(self, **apply_default_args(type(self), kwargs))

    wrapper._tw_wrapped = True  # type: ignore[attr-defined]
    return wrapper


class BaseOperator(AbstractOperator):
    """A task: one unit of work in a DAG. Subclasses implement :meth:`execute`.

    >>> from tradewind.sdk import DAG
    >>> class Noop(BaseOperator):
    ...     def execute(self, context):
    ...         return None
    >>> with DAG("doc_baseop") as dag:
    ...     t = Noop(task_id="noop", retries=2)
    >>> (t.retries, dag.task_dict["noop"] is t)
    (2, True)
    """

    template_fields: Sequence[str] = ()
    template_ext: Sequence[str] = ()
    template_fields_renderers: dict[str, str] = {}
    ui_color: str = "#fff"
    ui_fgcolor: str = "#000"
    #: With ``start_trigger_args`` (a ``tradewind.triggers.base.StartTriggerArgs``): the
    #: task starts deferred, waiting in the triggerer, without a first worker try.
    start_from_trigger: bool = False
    start_trigger_args: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_tw_wrapped", False):
            cls.__init__ = _wrap_init(init)  # type: ignore[method-assign]

    def __init__(
        self,
        *,
        task_id: str,
        owner: str = SCHEDULING_DEFAULTS["owner"],
        email: str | Sequence[str] | None = None,
        retries: int | None = 0,
        retry_delay: timedelta | float = SCHEDULING_DEFAULTS["retry_delay"],
        retry_exponential_backoff: bool | float = False,
        max_retry_delay: timedelta | float | None = None,
        execution_timeout: timedelta | None = None,
        trigger_rule: str = SCHEDULING_DEFAULTS["trigger_rule"],
        pool: str | None = None,
        pool_slots: int = 1,
        priority_weight: int = 1,
        weight_rule: str = SCHEDULING_DEFAULTS["weight_rule"],
        queue: str = "default",
        depends_on_past: bool = False,
        wait_for_downstream: bool = False,
        ignore_first_depends_on_past: bool = True,
        do_xcom_push: bool = True,
        multiple_outputs: bool = False,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        params: dict[str, Any] | None = None,
        on_execute_callback: Any = None,
        on_failure_callback: Any = None,
        on_success_callback: Any = None,
        on_retry_callback: Any = None,
        on_skipped_callback: Any = None,
        max_active_tis_per_dag: int | None = None,
        max_active_tis_per_dagrun: int | None = None,
        executor: str | None = None,
        executor_config: dict[str, Any] | None = None,
        run_as_user: str | None = None,
        doc: str | None = None,
        doc_md: str | None = None,
        doc_rst: str | None = None,
        doc_json: str | None = None,
        doc_yaml: str | None = None,
        map_index_template: str | None = None,
        task_display_name: str | None = None,
        email_on_failure: bool = True,
        email_on_retry: bool = True,
        inlets: Any = None,
        outlets: Any = None,
        dag: DAG | None = None,
        task_group: TaskGroup | None = None,
        **kwargs: Any,
    ) -> None:
        from tradewind.sdk.params import ParamsDict

        self.__dict__["_tw_init_started"] = True
        if kwargs:
            raise TypeError(
                f"Invalid arguments were passed to {type(self).__name__} (task_id: {task_id}). "
                f"Invalid arguments were: {sorted(kwargs)}"
            )
        self._init_graph()
        dag_, group = resolve_dag_and_group({"dag": dag, "task_group": task_group})
        validate_id(task_id, "task_id")
        self.task_group = group
        self.task_id = group.child_id(task_id) if group is not None else task_id
        validate_id(self.task_id, "task_id")
        self.owner = owner
        self.email = email
        self.email_on_failure = email_on_failure
        self.email_on_retry = email_on_retry
        self.retries = retries  # type: ignore[assignment]
        self.retry_delay = retry_delay  # type: ignore[assignment]
        self.retry_exponential_backoff = retry_exponential_backoff
        self.max_retry_delay = max_retry_delay  # type: ignore[assignment]
        self.execution_timeout = execution_timeout
        self.trigger_rule = trigger_rule  # type: ignore[assignment]
        self.pool = pool  # type: ignore[assignment]
        self.pool_slots = pool_slots
        self.priority_weight = priority_weight
        self.weight_rule = weight_rule  # type: ignore[assignment]
        check_scheduling_args(self)
        self.queue = queue
        # As in Airflow, waiting for the previous run's downstream implies depending on it.
        self.depends_on_past = depends_on_past or wait_for_downstream
        self.wait_for_downstream = wait_for_downstream
        self.ignore_first_depends_on_past = ignore_first_depends_on_past
        self.do_xcom_push = do_xcom_push
        self.multiple_outputs = multiple_outputs
        self.start_date = start_date
        self.end_date = end_date
        self.params = ParamsDict(params or {})
        self.on_execute_callback = on_execute_callback
        self.on_failure_callback = on_failure_callback
        self.on_success_callback = on_success_callback
        self.on_retry_callback = on_retry_callback
        self.on_skipped_callback = on_skipped_callback
        self.max_active_tis_per_dag = max_active_tis_per_dag
        self.max_active_tis_per_dagrun = max_active_tis_per_dagrun
        self.executor = executor
        self.executor_config = executor_config or {}
        self.run_as_user = run_as_user
        self.doc = doc
        self.doc_md = doc_md
        self.doc_rst = doc_rst
        self.doc_json = doc_json
        self.doc_yaml = doc_yaml
        self.map_index_template = map_index_template
        self.task_display_name = task_display_name
        self.inlets = list(_flatten_plain(inlets))
        self.outlets = list(_flatten_plain(outlets))
        self.dag = None
        if dag_ is not None:
            dag_.add_task(self)

    @property
    def log(self) -> logging.Logger:
        """The task's logger; lines go to the try's log."""
        return logging.getLogger("tradewind.task")

    def execute(self, context: Any) -> Any:
        """Do the task's work. The return value is pushed as the ``return_value`` XCom."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute()")

    def defer(
        self,
        *,
        trigger: Any,
        method_name: str,
        kwargs: dict[str, Any] | None = None,
        timeout: timedelta | None = None,
    ) -> NoReturn:
        """Leave the worker and wait for ``trigger`` in the triggerer; when it fires, the
        task resumes in a worker at ``method_name(context, event=payload, **kwargs)``::

            def execute(self, context):
                self.defer(trigger=TimeDeltaTrigger(timedelta(minutes=5)),
                           method_name="execute_complete")

            def execute_complete(self, context, event=None):
                return event
        """
        raise TaskDeferred(trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)

    def on_kill(self) -> None:
        """Called when the task is stopped from outside (timeout, kill); release resources."""

    def pre_execute(self, context: Any) -> None:
        """Hook run just before :meth:`execute`."""

    def post_execute(self, context: Any, result: Any = None) -> None:
        """Hook run just after :meth:`execute`."""

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Render every field in ``template_fields`` in place, with ``context``."""
        from tradewind.execution.templating import render_operator_fields

        render_operator_fields(self, context, jinja_env)

    @classmethod
    def partial(cls, **kwargs: Any) -> OperatorPartial:
        """Fix the arguments that are the same for every mapped copy; then call ``expand``.

        >>> from tradewind.operators import BashOperator
        >>> from tradewind.sdk import DAG
        >>> with DAG("doc_partial") as dag:
        ...     m = BashOperator.partial(task_id="echo").expand(bash_command=["echo 1", "echo 2"])
        >>> m.is_mapped
        True
        """
        from tradewind.sdk.mapping import OperatorPartial

        explicit = set(kwargs) - {"default_args", "dag", "task_group"}
        return OperatorPartial(cls, apply_default_args(cls, kwargs), explicit)

    def __deepcopy__(self, memo: dict[int, Any]) -> BaseOperator:
        # Tasks are copied per try so rendering never leaks between tries; the graph and the
        # DAG are shared, not copied.
        import copy

        cls = type(self)
        result = cls.__new__(cls)
        memo[id(self)] = result
        shallow = {"dag", "task_group", "upstream_task_ids", "downstream_task_ids"}
        for key, value in self.__dict__.items():
            result.__dict__[key] = value if key in shallow else copy.deepcopy(value, memo)
        return result


def _flatten_plain(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return list(value)
    return [value]


def chain(*elements: Any) -> None:
    """Link each element to the next: ``chain(a, [b, c], d)`` is ``a >> [b, c] >> d``.

    Two neighbouring lists must have the same length and are linked pairwise, as in Airflow.

    >>> from tradewind.sdk import DAG
    >>> from tradewind.operators import EmptyOperator
    >>> with DAG("doc_chain") as dag:
    ...     a, b, c = (EmptyOperator(task_id=x) for x in "abc")
    ...     chain(a, b, c)
    >>> sorted(dag.task_dict["b"].upstream_task_ids)
    ['a']
    """
    for up, down in itertools.pairwise(elements):
        up_is_list = isinstance(up, (list, tuple))
        down_is_list = isinstance(down, (list, tuple))
        if up_is_list and down_is_list:
            if len(up) != len(down):
                raise DagDefinitionError(
                    f"chain() got neighbouring lists of different lengths ({len(up)} and "
                    f"{len(down)})"
                )
            for u, d in zip(up, down, strict=True):
                _as_node(u).set_downstream(_as_node(d))
        elif up_is_list:
            for u in up:
                _as_node(u).set_downstream(_as_node(down))
        else:
            _as_node(up).set_downstream(down if down_is_list else _as_node(down))


def chain_linear(*elements: Any) -> None:
    """Link every node of each element to every node of the next (full cross product)."""
    if len(elements) < 2:
        raise DagDefinitionError("chain_linear() needs at least two elements")
    for up, down in itertools.pairwise(elements):
        for u in _flatten(up):
            for d in _flatten(down):
                u.set_downstream(d)


def cross_downstream(from_tasks: Sequence[Any], to_tasks: Any) -> None:
    """Make every task in ``to_tasks`` run after every task in ``from_tasks``."""
    for task in from_tasks:
        _as_node(task).set_downstream(to_tasks)


def _as_node(value: Any) -> DependencyMixin:
    if isinstance(value, DependencyMixin):
        return value
    raise TypeError(f"chain() cannot link {value!r} ({type(value).__name__})")


BaseOperator.__init__ = _wrap_init(BaseOperator.__init__)  # type: ignore[method-assign]
