"""Jinja rendering of operators' ``template_fields``, with Airflow's environment.

Strings are rendered; lists, tuples, sets and dicts are rendered item by item; XComArgs and
DAG params are resolved to their run-time values. A string ending in one of the operator's
``template_ext`` (``.sh``, ``.sql``...) names a template file, looked up in the DAG's
``template_searchpath`` and then beside the DAG file. Undefined names are errors
(``StrictUndefined``), and the environment is sandboxed. Only DAG authors' strings are
templates: values that arrive at run time (conf, params, XCom) are inserted as data, and the
runner marks a mapped copy's arguments that came from XCom with :func:`data_values` so they
are passed through unrendered. An object held in a template field that has its own
``template_fields`` is copied and its fields rendered too.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.nativetypes
import jinja2.sandbox

from tradewind.exceptions import TemplateError

if TYPE_CHECKING:
    from tradewind.sdk.abstractoperator import AbstractOperator
    from tradewind.sdk.dag import DAG


class _NativeSandboxedEnvironment(jinja2.sandbox.SandboxedEnvironment):
    """Sandboxed, and renders to native Python objects (``render_template_as_native_obj``)."""

    code_generator_class = jinja2.nativetypes.NativeCodeGenerator
    concat = staticmethod(jinja2.nativetypes.native_concat)  # type: ignore[assignment]

    def from_string(self, *args: Any, **kwargs: Any) -> Any:
        template = super().from_string(*args, **kwargs)
        template.__class__ = jinja2.nativetypes.NativeTemplate
        return template

    def get_template(self, *args: Any, **kwargs: Any) -> Any:
        template = super().get_template(*args, **kwargs)
        template.__class__ = jinja2.nativetypes.NativeTemplate
        return template


_data_ids: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "tradewind_template_data_ids", default=frozenset()
)


@contextlib.contextmanager
def data_values(ids: set[int]) -> Iterator[None]:
    """Within the block, values whose ``id`` is in ``ids`` are data: returned unrendered."""
    token = _data_ids.set(frozenset(ids))
    try:
        yield
    finally:
        _data_ids.reset(token)


def _date_filter(fmt: str) -> Any:
    def apply(value: Any) -> Any:
        return None if value is None else value.strftime(fmt)

    return apply


def _ts_nodash_with_tz(value: Any) -> Any:
    return None if value is None else value.isoformat().replace("-", "").replace(":", "")


def make_environment(dag: DAG | None, searchpath: list[str] | None = None) -> jinja2.Environment:
    """The Jinja environment for ``dag``: its searchpath, macros, filters and options."""
    paths: list[str] = []
    if dag is not None:
        paths.extend(dag.template_searchpath)
        if dag.folder:
            paths.append(dag.folder)
    paths.extend(searchpath or [])
    options: dict[str, Any] = {
        "loader": jinja2.FileSystemLoader(paths or [os.getcwd()]),
        "undefined": (dag.template_undefined if dag and dag.template_undefined else None)
        or jinja2.StrictUndefined,
        "extensions": ["jinja2.ext.do"],
        "cache_size": 0 if dag is None else 400,
    }
    if dag is not None:
        options.update(dag.jinja_environment_kwargs)
    native = bool(dag and dag.render_template_as_native_obj)
    env_class = _NativeSandboxedEnvironment if native else jinja2.sandbox.SandboxedEnvironment
    env = env_class(**options)
    env.filters.update(
        {
            "ds": _date_filter("%Y-%m-%d"),
            "ds_nodash": _date_filter("%Y%m%d"),
            "ts": lambda v: None if v is None else v.isoformat(),
            "ts_nodash": _date_filter("%Y%m%dT%H%M%S"),
            "ts_nodash_with_tz": _ts_nodash_with_tz,
        }
    )
    if dag is not None:
        env.globals.update(dag.user_defined_macros)
        env.filters.update(dag.user_defined_filters)
    return env


def environment_for_dag(dag: DAG) -> jinja2.Environment:
    """``dag``'s Jinja environment, made once per DAG object."""
    env = dag.__dict__.get("_tw_jinja_env")
    if env is None:
        env = make_environment(dag)
        dag.__dict__["_tw_jinja_env"] = env
    return env


def _environment_for(task: AbstractOperator) -> jinja2.Environment:
    dag = task.dag
    return make_environment(None) if dag is None else environment_for_dag(dag)


def render_value(
    task: AbstractOperator,
    value: Any,
    context: Mapping[str, Any],
    env: jinja2.Environment,
    field: str = "",
) -> Any:
    """Render one value of a template field (recursively for containers)."""
    from tradewind.sdk.params import DagParam
    from tradewind.sdk.xcom_arg import XComArg

    if id(value) in _data_ids.get():
        return value
    if isinstance(value, str):
        try:
            if value.endswith(tuple(task.template_ext)) and task.template_ext:
                template = env.get_template(value)
            else:
                template = env.from_string(value)
            return template.render(**context)
        except jinja2.TemplateNotFound as err:
            raise TemplateError(
                f"task {task.task_id!r}: template file {err.name!r} for field {field!r} was not "
                f"found in {getattr(env.loader, 'searchpath', [])}"
            ) from None
        except jinja2.UndefinedError as err:
            raise TemplateError(
                f"task {task.task_id!r}: cannot render field {field!r}: {err.message}"
            ) from None
        except jinja2.TemplateSyntaxError as err:
            raise TemplateError(
                f"task {task.task_id!r}: template syntax error in field {field!r} "
                f"(line {err.lineno}): {err.message}"
            ) from None
    if isinstance(value, (XComArg, DagParam)):
        return value.resolve(context)
    if isinstance(value, list):
        return [render_value(task, v, context, env, field) for v in value]
    if isinstance(value, tuple):
        items = [render_value(task, v, context, env, field) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, (set, frozenset)):
        return type(value)(render_value(task, v, context, env, field) for v in value)
    if isinstance(value, dict):
        return {k: render_value(task, v, context, env, field) for k, v in value.items()}
    nested = getattr(value, "template_fields", None)
    if nested and not isinstance(value, type) and not _is_operator(value):
        # An object with its own template fields (Airflow renders these too); copied so the
        # DAG's object is never changed by a run.
        value = copy.copy(value)
        for name in nested:
            inner = getattr(value, name)
            setattr(value, name, render_value(task, inner, context, env, f"{field}.{name}"))
    return value


def _is_operator(value: Any) -> bool:
    from tradewind.sdk.abstractoperator import AbstractOperator

    return isinstance(value, AbstractOperator)


def render_operator_fields(
    task: AbstractOperator, context: Mapping[str, Any], env: jinja2.Environment | None = None
) -> None:
    """Render every ``template_fields`` attribute of ``task`` in place."""
    env = env or _environment_for(task)
    for field in task.template_fields:
        if not hasattr(task, field):
            raise TemplateError(
                f"task {task.task_id!r}: template field {field!r} is not an attribute of "
                f"{type(task).__name__}"
            )
        setattr(task, field, render_value(task, getattr(task, field), context, env, field))


def render_string(task: AbstractOperator, text: str, context: Mapping[str, Any]) -> Any:
    """Render one template string with ``task``'s environment."""
    return render_value(task, text, context, _environment_for(task))
