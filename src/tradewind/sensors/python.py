"""``PythonSensor`` and the operator behind ``@task.sensor``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tradewind.sensors.base import BaseSensorOperator, PokeReturnValue


class PythonSensor(BaseSensorOperator):
    """Pokes by calling ``python_callable``; done when it returns a truthy value.

    >>> from tradewind.sdk import DAG
    >>> with DAG("doc_sensor") as d:
    ...     PythonSensor(task_id="wait", python_callable=lambda: True, poke_interval=1)
    <Task(PythonSensor): wait>
    """

    template_fields: Sequence[str] = ("templates_dict", "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict
        from tradewind.sdk.xcom_arg import set_dependencies_from_args

        set_dependencies_from_args(self, self.op_args, self.op_kwargs)

    def poke(self, context: Any) -> bool | PokeReturnValue:
        from tradewind.operators.python import determine_kwargs

        merged = dict(context)
        merged.update(self.op_kwargs)
        merged["templates_dict"] = self.templates_dict
        result = self.python_callable(
            *self.op_args, **determine_kwargs(self.python_callable, self.op_args, merged)
        )
        if isinstance(result, PokeReturnValue):
            return result
        return bool(result)


class DecoratedSensorOperator(PythonSensor):
    """The operator behind ``@task.sensor``: the function is the poke."""

    custom_operator_name = "@task.sensor"

    def __init__(self, *, multiple_outputs: bool = False, **kwargs: Any) -> None:
        super().__init__(multiple_outputs=multiple_outputs, **kwargs)
