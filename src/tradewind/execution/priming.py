"""Work a warm worker does once per DAG file, so that the tries it forks do not each do it.

Whatever a task process computes or imports dies with it: a cache filled in a child is
empty again in the next one. So when a worker has imported a DAG file, :func:`prime` fills,
in the worker, what the tries of that file's DAGs would each fill for themselves:

* each DAG's Jinja environment (every try renders its templated fields with it);
* the signature of each ``python_callable`` (read on every call to pick context entries);
* ``jsonschema``, only when a param's schema needs more than a type check;
* the built-in triggers (and ``asyncio`` with them), only when a task may defer.

The last two are imported here rather than by every worker up front: unused, they would
cost each worker, and each task process forked from it, about 5 MB.

Example::

    dags = cache.get_dag(...)            # the worker imported the file
    prime([dag])                          # then forks tries of it
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Iterable
from typing import Any

from tradewind.sdk.dag import DAG

#: Modules a task that may defer imports when it does.
TRIGGER_MODULES = (
    "tradewind.triggers.temporal",
    "tradewind.triggers.file",
    "tradewind.triggers.callable",
)


def _attribute(task: Any, name: str) -> Any:
    """``task.name``; of a mapped task, what its ``partial()`` or its class says."""
    partial = getattr(task, "partial_kwargs", None)
    if isinstance(partial, dict):
        return partial.get(name, getattr(getattr(task, "operator_class", None), name, None))
    return getattr(task, name, None)


def _deferrable_flag(task: Any) -> bool | None:
    """The task's ``deferrable`` argument; ``None`` if its operator takes none."""
    partial = getattr(task, "partial_kwargs", None)
    if isinstance(partial, dict):
        if "deferrable" in partial:
            return bool(partial["deferrable"])
        init = getattr(getattr(task, "operator_class", None), "__init__", None)
        try:
            takes_it = init is not None and "deferrable" in inspect.signature(init).parameters
        except (TypeError, ValueError):
            takes_it = False
        return False if takes_it else None
    return bool(task.deferrable) if hasattr(task, "deferrable") else None


def may_defer(task: Any) -> bool:
    """Whether ``task`` may defer to a trigger: it starts from one, its ``deferrable``
    argument says so, or (an operator without that argument) it has a resume method, as
    operators that always defer do."""
    if _attribute(task, "start_from_trigger"):
        return True
    flag = _deferrable_flag(task)
    if flag is not None:
        return flag
    return callable(_attribute(task, "execute_complete"))


def _needs_jsonschema(params: Any) -> bool:
    from tradewind.sdk.params import needs_jsonschema

    items = getattr(params, "items_params", None)
    if items is None:
        return False
    return any(needs_jsonschema(param) for _, param in items())


def prime(dags: Iterable[DAG]) -> None:
    """Prepare this process to fork tries of ``dags`` (see the module docstring)."""
    from tradewind.execution.templating import environment_for_dag
    from tradewind.operators.python import signature_of

    schema = defer = False
    for dag in dags:
        # A DAG whose environment cannot be made fails each try with the reason; not here.
        with contextlib.suppress(Exception):
            environment_for_dag(dag)
        schema = schema or _needs_jsonschema(dag.params)
        for task in dag.task_dict.values():
            fn = _attribute(task, "python_callable")
            if callable(fn):
                with contextlib.suppress(TypeError, ValueError):  # no signature to read
                    signature_of(fn)
            schema = schema or _needs_jsonschema(getattr(task, "params", None))
            defer = defer or may_defer(task)
    names = (["jsonschema"] if schema else []) + (list(TRIGGER_MODULES) if defer else [])
    for name in names:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
