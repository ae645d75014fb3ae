"""A task's ``start_from_trigger`` in serialized form: what the scheduler needs to defer it
without a worker try, checked where the DAG file is parsed.

Stored as ``{"trigger_cls", "trigger_kwargs", "next_method", "next_kwargs", "timeout"}``
with both kwargs as text in the typed XCom codec (as a deferring worker stores them) and the
timeout in seconds, or ``null`` for a task that starts in a worker.
"""

from __future__ import annotations

import inspect
from typing import Any

from tradewind.exceptions import DagDefinitionError, TaskDeferralError
from tradewind.serialization import codec


def start_trigger_json(task_id: str, start_from_trigger: Any, args: Any) -> dict[str, Any] | None:
    """The serialized ``start_from_trigger`` of a task, or ``None`` when it has none;
    :class:`DagDefinitionError` when the trigger could never be built."""
    if not start_from_trigger:
        return None
    from tradewind.triggers.base import StartTriggerArgs
    from tradewind.triggers.serialization import trigger_class

    if not isinstance(args, StartTriggerArgs):
        raise DagDefinitionError(
            f"task {task_id!r}: start_from_trigger needs start_trigger_args, a "
            f"tradewind.triggers.base.StartTriggerArgs (got {args!r})"
        )
    kwargs = dict(args.trigger_kwargs or {})
    try:
        cls = trigger_class(args.trigger_cls)
        inspect.signature(cls).bind(**kwargs)
        kwargs_text = codec.encode(kwargs)
        next_kwargs_text = codec.encode(dict(args.next_kwargs or {}))
    except (TaskDeferralError, TypeError, codec.UnsupportedValueError) as err:
        raise DagDefinitionError(f"task {task_id!r}: start_trigger_args: {err}") from None
    if not isinstance(args.next_method, str) or not args.next_method.isidentifier():
        raise DagDefinitionError(
            f"task {task_id!r}: start_trigger_args.next_method must be a method name, "
            f"got {args.next_method!r}"
        )
    return {
        "trigger_cls": args.trigger_cls,
        "trigger_kwargs": kwargs_text,
        "next_method": args.next_method,
        "next_kwargs": next_kwargs_text,
        "timeout": args.timeout.total_seconds() if args.timeout is not None else None,
    }


def start_trigger_of(task: Any) -> dict[str, Any] | None:
    """:func:`start_trigger_json` of an authored task, plain or mapped (a mapped task's
    settings are its partial arguments, else its operator class's)."""
    from tradewind.sdk.mapping import MappedOperator

    if isinstance(task, MappedOperator):
        klass = task.operator_class
        flag = task.partial_kwargs.get(
            "start_from_trigger", getattr(klass, "start_from_trigger", False)
        )
        args = task.partial_kwargs.get(
            "start_trigger_args", getattr(klass, "start_trigger_args", None)
        )
    else:
        flag = getattr(task, "start_from_trigger", False)
        args = getattr(task, "start_trigger_args", None)
    return start_trigger_json(task.task_id, flag, args)
