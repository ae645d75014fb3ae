"""TaskFlow: ``@task`` and its variants turn plain functions into tasks.

Calling a decorated function inside a DAG adds a task and returns an
:class:`~tradewind.sdk.xcom_arg.XComArg` for its return value; passing that to another
decorated function links the two and hands the value over at run time.

>>> from tradewind.sdk import DAG, task
>>> with DAG("doc_taskflow") as d:
...     @task
...     def add(a, b):
...         return a + b
...     total = add(1, add(2, 3))
>>> sorted(d.task_ids)
['add', 'add__1']
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from tradewind.sdk.abstractoperator import AbstractOperator
from tradewind.sdk.mapping import (
    DictOfListsExpandInput,
    ListOfDictsExpandInput,
    MappedOperator,
)
from tradewind.sdk.xcom_arg import PlainXComArg, XComArg

#: Context names a TaskFlow function may take as arguments and get filled at run time
#: (Airflow 3's context keys, plus ``conf``, which Tradewind's context also has).
KNOWN_CONTEXT_KEYS = frozenset(
    {
        "asset_state_store",
        "conf",
        "conn",
        "dag",
        "dag_run",
        "data_interval_end",
        "data_interval_start",
        "ds",
        "ds_nodash",
        "exception",
        "expanded_ti_count",
        "inlet_events",
        "inlets",
        "logical_date",
        "macros",
        "map_index_template",
        "outlet_events",
        "outlets",
        "params",
        "partition_date",
        "partition_key",
        "prev_data_interval_end_success",
        "prev_data_interval_start_success",
        "prev_end_date_success",
        "prev_start_date_success",
        "reason",
        "run_id",
        "task",
        "task_instance",
        "task_instance_key_str",
        "task_reschedule_count",
        "task_state_store",
        "templates_dict",
        "test_mode",
        "ti",
        "triggering_asset_events",
        "try_number",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "var",
    }
)


def unique_task_id(task_id: str, dag: Any, group: Any) -> str:
    """``task_id``, or ``task_id__N`` when a task (or group) with that id is in the DAG."""
    if dag is None:
        return task_id
    groups = dag.task_group.used_group_ids

    def taken(label: str) -> bool:
        full = group.child_id(label) if group is not None else label
        return full in dag.task_dict or full in groups

    if not taken(task_id):
        return task_id
    # Remember where the search ended, so calling one function n times costs O(n), not O(n²).
    hints: dict[str, int] = dag.__dict__.setdefault("_tw_suffix_hints", {})
    key = group.child_id(task_id) if group is not None else task_id
    n = hints.get(key, 1)
    while taken(f"{task_id}__{n}"):
        n += 1
    hints[key] = n + 1
    return f"{task_id}__{n}"


def infer_multiple_outputs(fn: Callable[..., Any]) -> bool:
    """True when the function is annotated to return a dict (``-> dict[str, int]``)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        return False
    ret = hints.get("return")
    origin = typing.get_origin(ret) or ret
    if origin in (dict, Mapping, typing.Dict):  # noqa: UP006
        return True
    return isinstance(origin, type) and typing.is_typeddict(origin)


def check_call_binds(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Fail at definition when the call cannot bind to the function's signature.

    Parameters named after context keys may be left out; they are filled at run time.
    """
    sig = inspect.signature(fn)
    try:
        bound = sig.bind_partial(*args, **kwargs)
    except TypeError as err:
        raise TypeError(f"{fn.__name__}(): {err}") from None
    missing = [
        p.name
        for p in sig.parameters.values()
        if p.default is p.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and p.name not in bound.arguments
        and p.name not in KNOWN_CONTEXT_KEYS
    ]
    if missing:
        names = ", ".join(repr(n) for n in missing)
        plural = "s" if len(missing) > 1 else ""
        raise TypeError(f"{fn.__name__}(): missing required argument{plural} {names}")


def _check_not_context_keys(fn: Callable[..., Any], names: Any, how: str) -> None:
    clash = sorted(KNOWN_CONTEXT_KEYS.intersection(names))
    if clash:
        raise ValueError(
            f"cannot {how} {fn.__name__}() over task context variables {clash}; "
            "they are filled at run time"
        )


class TaskDecorator:
    """A decorated function; call it to add a task, or ``.partial/.expand`` to map it."""

    def __init__(
        self,
        function: Callable[..., Any],
        operator_class: type[Any],
        kwargs: dict[str, Any],
        *,
        is_setup: bool = False,
        is_teardown: bool = False,
        on_failure_fail_dagrun: bool = False,
    ) -> None:
        self.function = function
        self.operator_class = operator_class
        self.kwargs = kwargs
        self.is_setup = is_setup
        self.is_teardown = is_teardown
        self.on_failure_fail_dagrun = on_failure_fail_dagrun
        functools.update_wrapper(self, function)

    def _copy(self, **changes: Any) -> TaskDecorator:
        options = {
            "is_setup": self.is_setup,
            "is_teardown": self.is_teardown,
            "on_failure_fail_dagrun": self.on_failure_fail_dagrun,
        }
        kwargs = changes.pop("kwargs", self.kwargs)
        options.update(changes)
        return TaskDecorator(self.function, self.operator_class, kwargs, **options)

    def _finish(self, op: AbstractOperator) -> XComArg:
        """Apply what the decorator says about the task (setup, teardown, docs)."""
        if self.is_setup:
            op.as_setup()
        if self.is_teardown:
            op.as_teardown(on_failure_fail_dagrun=self.on_failure_fail_dagrun)
        doc = self.function.__doc__
        if doc and not any(
            getattr(op, name, None) for name in ("doc", "doc_md", "doc_rst", "doc_json", "doc_yaml")
        ):
            op.doc_md = inspect.cleandoc(doc)  # type: ignore[attr-defined]
        return PlainXComArg(op)

    def _operator_kwargs(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        from tradewind.sdk.baseoperator import resolve_dag_and_group

        kwargs = {**self.kwargs, **(extra or {})}
        dag, group = resolve_dag_and_group(kwargs)
        kwargs["task_id"] = unique_task_id(
            kwargs.get("task_id") or self.function.__name__, dag, group
        )
        if "multiple_outputs" not in kwargs:
            kwargs["multiple_outputs"] = infer_multiple_outputs(self.function)
        return kwargs

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        check_call_binds(self.function, args, kwargs)
        op = self.operator_class(
            python_callable=self.function,
            op_args=args,
            op_kwargs=kwargs,
            **self._operator_kwargs(),
        )
        return self._finish(op)

    def override(self, **kwargs: Any) -> TaskDecorator:
        """A copy of this decorator with other task arguments (``task_id``, ``retries``...)."""
        return self._copy(kwargs={**self.kwargs, **kwargs})

    def partial(self, **kwargs: Any) -> TaskPartial:
        """Fix some function arguments for every mapped copy; then call ``expand``."""
        return TaskPartial(self, kwargs)

    def expand(self, **mapped: Any) -> XComArg:
        return TaskPartial(self, {}).expand(**mapped)

    def expand_kwargs(self, kwargs: Any) -> XComArg:
        return TaskPartial(self, {}).expand_kwargs(kwargs)


class TaskPartial:
    """A TaskFlow function with some arguments fixed, waiting for ``expand``."""

    def __init__(self, decorator: TaskDecorator, op_kwargs: dict[str, Any]) -> None:
        self.decorator = decorator
        self.op_kwargs = op_kwargs

    def _mapped(self, expand_input: Any) -> XComArg:
        from tradewind.sdk.baseoperator import apply_default_args

        d = self.decorator
        kwargs = d._operator_kwargs()
        kwargs = apply_default_args(d.operator_class, kwargs)
        kwargs.update(python_callable=d.function, op_args=(), op_kwargs=dict(self.op_kwargs))
        op = MappedOperator(d.operator_class, kwargs, expand_input, expand_into="op_kwargs")
        return d._finish(op)

    def expand(self, **mapped: Any) -> XComArg:
        fn = self.decorator.function
        if not mapped:
            raise TypeError("expand() needs at least one argument to map over")
        clash = set(mapped) & set(self.op_kwargs)
        if clash:
            raise TypeError(f"arguments given to both partial() and expand(): {sorted(clash)}")
        _check_not_context_keys(fn, mapped, "expand")
        check_call_binds(fn, (), {**self.op_kwargs, **mapped})
        return self._mapped(DictOfListsExpandInput(mapped))

    def expand_kwargs(self, kwargs: Any) -> XComArg:
        expand_input = ListOfDictsExpandInput(kwargs)
        fn = self.decorator.function
        if not isinstance(kwargs, XComArg):
            for row in kwargs:
                if isinstance(row, Mapping):
                    _check_not_context_keys(fn, row, "expand_kwargs")
                    check_call_binds(fn, (), {**self.op_kwargs, **row})
        return self._mapped(expand_input)


def _make_decorator(operator_path: str) -> Callable[..., Any]:
    def decorator(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        def wrap(fn: Callable[..., Any]) -> TaskDecorator:
            module, _, name = operator_path.rpartition(".")
            import importlib

            operator_class = getattr(importlib.import_module(module), name)
            return TaskDecorator(fn, operator_class, kwargs)

        return wrap(python_callable) if python_callable is not None else wrap

    return decorator


class _TaskNamespace:
    """``@task`` and its variants: ``@task.branch``, ``@task.short_circuit``,
    ``@task.sensor``, ``@task.bash``, ``@task.python``."""

    python = staticmethod(_make_decorator("tradewind.operators.python.PythonDecoratedOperator"))
    branch = staticmethod(
        _make_decorator("tradewind.operators.python.BranchPythonDecoratedOperator")
    )
    short_circuit = staticmethod(
        _make_decorator("tradewind.operators.python.ShortCircuitDecoratedOperator")
    )
    sensor = staticmethod(_make_decorator("tradewind.sensors.python.DecoratedSensorOperator"))
    bash = staticmethod(_make_decorator("tradewind.operators.bash.BashDecoratedOperator"))

    def __call__(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return self.python(python_callable, **kwargs)


task = _TaskNamespace()


def _as_decorator(func: Any) -> TaskDecorator:
    from tradewind.sdk.taskgroup import TaskGroup

    if isinstance(func, TaskDecorator):
        return func
    if isinstance(func, TaskGroup) or getattr(func, "_tw_task_group_factory", False):
        raise TypeError("task groups cannot be marked as setup or teardown")
    if not callable(func):
        raise TypeError(f"setup/teardown decorate a function, got {type(func).__name__}")
    return task(func)  # type: ignore[no-any-return]


def setup(func: Callable[..., Any]) -> TaskDecorator:
    """Mark a ``@task`` function (or a plain function) as a setup task.

    The result is still a TaskFlow decorator: ``.override()``, ``.partial()`` and
    ``.expand()`` work on it.
    """
    return _as_decorator(func)._copy(is_setup=True)


def teardown(
    func: Callable[..., Any] | None = None, *, on_failure_fail_dagrun: bool = False
) -> Any:
    """Mark a ``@task`` function as a teardown task: it runs when its setups succeeded, even
    if the work between failed."""

    def wrap(f: Callable[..., Any]) -> TaskDecorator:
        return _as_decorator(f)._copy(
            is_teardown=True, on_failure_fail_dagrun=on_failure_fail_dagrun
        )

    return wrap(func) if func is not None else wrap
