"""Python callables as tasks: ``PythonOperator``, branching and short-circuiting, and the
operators behind ``@task``, ``@task.branch`` and ``@task.short_circuit``.

A callable gets the context entries its signature names (or all of them with
``**context``), after ``op_args``/``op_kwargs``.
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tradewind.exceptions import TradewindException
from tradewind.sdk.baseoperator import BaseOperator

#: Signatures read so far, by callable. A worker fills it for the callables of the DAGs it
#: imports (``execution.priming``), so the tries it forks find them here.
_signatures: weakref.WeakKeyDictionary[Callable[..., Any], inspect.Signature] = (
    weakref.WeakKeyDictionary()
)


def signature_of(fn: Callable[..., Any]) -> inspect.Signature:
    """``inspect.signature(fn)``, read once per callable."""
    try:
        return _signatures[fn]
    except (KeyError, TypeError):  # not read yet, or a callable that takes no weak reference
        pass
    sig = inspect.signature(fn)
    with contextlib.suppress(TypeError):
        _signatures[fn] = sig
    return sig


def determine_kwargs(
    fn: Callable[..., Any], args: Sequence[Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    """The keyword arguments ``fn`` receives: everything with ``**kwargs``, else the names
    in its signature that ``context`` has and ``args`` did not fill."""
    sig = signature_of(fn)
    params = list(sig.parameters.values())
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return dict(context)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    filled = {p.name for p in positional[: len(args)]}
    return {
        p.name: context[p.name]
        for p in params
        if p.name in context and p.name not in filled and p.kind != p.POSITIONAL_ONLY
    }


class PythonOperator(BaseOperator):
    """Calls ``python_callable(*op_args, **op_kwargs)``; its return value is the XCom.

    >>> from tradewind.sdk import DAG
    >>> with DAG("doc_python") as d:
    ...     PythonOperator(task_id="hi", python_callable=lambda: "hi")
    <Task(PythonOperator): hi>
    """

    template_fields: Sequence[str] = ("templates_dict", "op_args", "op_kwargs")
    template_ext: Sequence[str] = ()
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        templates_exts: Sequence[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        if not callable(python_callable):
            raise TypeError(
                f"python_callable of task {kwargs.get('task_id')!r} must be callable, "
                f"got {type(python_callable).__name__}"
            )
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict
        if templates_exts:
            self.template_ext = tuple(templates_exts)
        self.show_return_value_in_logs = show_return_value_in_logs
        from tradewind.sdk.xcom_arg import set_dependencies_from_args

        set_dependencies_from_args(self, self.op_args, self.op_kwargs, self.templates_dict)

    def execute(self, context: Any) -> Any:
        context = dict(context)
        context.update(self.op_kwargs)
        context["templates_dict"] = self.templates_dict
        kwargs = determine_kwargs(self.python_callable, self.op_args, context)
        result = self.python_callable(*self.op_args, **kwargs)
        if self.show_return_value_in_logs and result is not None:
            self.log.info("Done. Returned value was: %s", _short(result))
        return result


def _short(value: Any, limit: int = 500) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class BranchMixin:
    """Skips the direct downstream tasks that are not on the chosen branches."""

    is_branching = True

    def do_branch(self, context: Mapping[str, Any], branches: str | Iterable[str] | None) -> Any:
        task: Any = self
        dag = task.dag
        if branches is None:
            chosen: set[str] = set()
        elif isinstance(branches, str):
            chosen = {branches}
        else:
            chosen = set(branches)
        for item in list(chosen):
            if not isinstance(item, str):
                raise TradewindException(
                    f"branch task {task.task_id!r} returned {item!r}; return task ids as str"
                )
        chosen = _expand_group_ids(dag, chosen)
        invalid = sorted(chosen - set(dag.task_dict))
        if invalid:
            raise TradewindException(
                f"branch task {task.task_id!r} returned ids that are not tasks in DAG "
                f"{dag.dag_id!r}: {invalid}"
            )
        reachable = set(chosen)
        for tid in chosen:
            reachable |= dag.task_dict[tid].get_flat_relative_ids()
        to_skip = sorted(t for t in task.downstream_task_ids if t not in reachable)
        if to_skip:
            task.log.info("Following branch %s; skipping %s", sorted(chosen), to_skip)
            context["ti"].skip_downstream(to_skip)
        return branches


def _expand_group_ids(dag: Any, ids: set[str]) -> set[str]:
    """Replace task group ids with the ids of the group's root tasks."""
    from tradewind.sdk.taskgroup import TaskGroup

    groups: dict[str, TaskGroup] = {}
    stack = [dag.task_group]
    while stack:
        group = stack.pop()
        for child in group.children.values():
            if isinstance(child, TaskGroup):
                if child.group_id:
                    groups[child.group_id] = child
                stack.append(child)
    out: set[str] = set()
    for tid in ids:
        if tid not in dag.task_dict and tid in groups:
            out.update(t.task_id for t in groups[tid].roots)
        else:
            out.add(tid)
    return out


class BranchPythonOperator(BranchMixin, PythonOperator):
    """Runs a callable that returns the task id (or ids, or a group id) to follow; the other
    direct downstream tasks are skipped."""

    def execute(self, context: Any) -> Any:
        return self.do_branch(context, super().execute(context))


class ShortCircuitOperator(PythonOperator):
    """Continues when the callable's result is truthy; otherwise skips downstream tasks.

    With ``ignore_downstream_trigger_rules=True`` (default) every task downstream is skipped;
    with ``False`` only direct downstream tasks are, and later tasks follow their trigger rules.
    Teardowns are never skipped: they still clean up after their setups (as in Airflow).
    """

    is_branching = True

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    def execute(self, context: Any) -> Any:
        condition = super().execute(context)
        if condition:
            self.log.info("Condition result is %r; proceeding", condition)
            return condition
        if self.ignore_downstream_trigger_rules:
            candidates = self.get_flat_relative_ids()
        else:
            candidates = set(self.downstream_task_ids)
        assert self.dag is not None
        to_skip = {tid for tid in candidates if not self.dag.task_dict[tid].is_teardown}
        self.log.info("Condition result is %r; skipping %s", condition, sorted(to_skip))
        if to_skip:
            context["ti"].skip_downstream(sorted(to_skip))
        return condition


class PythonDecoratedOperator(PythonOperator):
    """The operator behind ``@task``."""

    custom_operator_name = "@task"

    def __init__(self, *, python_callable: Callable[..., Any], **kwargs: Any) -> None:
        kwargs.setdefault("show_return_value_in_logs", True)
        super().__init__(python_callable=python_callable, **kwargs)


class BranchPythonDecoratedOperator(BranchPythonOperator):
    """The operator behind ``@task.branch``."""

    custom_operator_name = "@task.branch"


class ShortCircuitDecoratedOperator(ShortCircuitOperator):
    """The operator behind ``@task.short_circuit``."""

    custom_operator_name = "@task.short_circuit"
