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

#: Context names a TaskFlow function may take as arguments and get filled at run time.
KNOWN_CONTEXT_KEYS = frozenset(
    {
        "conf",
        "conn",
        "dag",
        "dag_run",
        "data_interval_end",
        "data_interval_start",
        "ds",
        "ds_nodash",
        "inlets",
        "logical_date",
        "macros",
        "map_index_template",
        "outlets",
        "params",
        "prev_data_interval_start_success",
        "prev_data_interval_end_success",
        "prev_start_date_success",
        "prev_end_date_success",
        "run_id",
        "task",
        "task_instance",
        "task_instance_key_str",
        "test_mode",
        "ti",
        "triggering_asset_events",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "var",
        "expanded_ti_count",
    }
)


def unique_task_id(task_id: str, dag: Any, group: Any) -> str:
    """``task_id``, or ``task_id__N`` when a task with that id is already in the DAG."""
    if dag is None:
        return task_id
    full = group.child_id(task_id) if group is not None else task_id
    if full not in dag.task_dict:
        return task_id
    n = 1
    while (group.child_id(f"{task_id}__{n}") if group else f"{task_id}__{n}") in dag.task_dict:
        n += 1
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
    params = [
        p.replace(default=None)
        if p.name in KNOWN_CONTEXT_KEYS and p.default is p.empty and p.kind != p.VAR_POSITIONAL
        else p
        for p in sig.parameters.values()
    ]
    try:
        sig.replace(parameters=params).bind(*args, **kwargs)
    except TypeError as err:
        raise TypeError(f"{fn.__name__}(): {err}") from None


class TaskDecorator:
    """A decorated function; call it to add a task, or ``.partial/.expand`` to map it."""

    def __init__(
        self,
        function: Callable[..., Any],
        operator_class: type[Any],
        kwargs: dict[str, Any],
    ) -> None:
        self.function = function
        self.operator_class = operator_class
        self.kwargs = kwargs
        functools.update_wrapper(self, function)

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
        return PlainXComArg(op)

    def override(self, **kwargs: Any) -> TaskDecorator:
        """A copy of this decorator with other task arguments (``task_id``, ``retries``...)."""
        return TaskDecorator(self.function, self.operator_class, {**self.kwargs, **kwargs})

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
        return PlainXComArg(op)

    def expand(self, **mapped: Any) -> XComArg:
        if not mapped:
            raise TypeError("expand() needs at least one argument to map over")
        clash = set(mapped) & set(self.op_kwargs)
        if clash:
            raise TypeError(f"arguments given to both partial() and expand(): {sorted(clash)}")
        check_call_binds(self.decorator.function, (), {**self.op_kwargs, **mapped})
        return self._mapped(DictOfListsExpandInput(mapped))

    def expand_kwargs(self, kwargs: Any) -> XComArg:
        return self._mapped(ListOfDictsExpandInput(kwargs))


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


def _node(value: Any) -> AbstractOperator:
    if isinstance(value, PlainXComArg):
        return value.operator
    if isinstance(value, AbstractOperator):
        return value
    raise TypeError(f"expected a task, got {type(value).__name__}")


def setup(func: Callable[..., Any]) -> Any:
    """Mark a ``@task`` function (or a plain function) as a setup task."""
    dec = func if isinstance(func, TaskDecorator) else task(func)

    @functools.wraps(dec.function)
    def call(*args: Any, **kwargs: Any) -> XComArg:
        result = dec(*args, **kwargs)
        _node(result).as_setup()
        return result

    return call


def teardown(
    func: Callable[..., Any] | None = None, *, on_failure_fail_dagrun: bool = False
) -> Any:
    """Mark a ``@task`` function as a teardown task: it runs when its setups succeeded, even
    if the work between failed."""

    def wrap(f: Callable[..., Any]) -> Any:
        dec = f if isinstance(f, TaskDecorator) else task(f)

        @functools.wraps(dec.function)
        def call(*args: Any, **kwargs: Any) -> XComArg:
            result = dec(*args, **kwargs)
            _node(result).as_teardown(on_failure_fail_dagrun=on_failure_fail_dagrun)
            return result

        return call

    return wrap(func) if func is not None else wrap
