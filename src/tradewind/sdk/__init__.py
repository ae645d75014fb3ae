"""The authoring SDK: what DAG files import. Names follow Airflow 3's ``airflow.sdk``.

>>> from tradewind.sdk import DAG, task, chain
"""

from tradewind.exceptions import TradewindFailException, TradewindSkipException
from tradewind.sdk.baseoperator import BaseOperator, chain, chain_linear, cross_downstream
from tradewind.sdk.connection import Connection
from tradewind.sdk.context import Context, get_current_context
from tradewind.sdk.dag import DAG, dag
from tradewind.sdk.decorators import setup, task, teardown
from tradewind.sdk.edges import Label
from tradewind.sdk.params import Param, ParamsDict
from tradewind.sdk.taskgroup import TaskGroup, task_group
from tradewind.sdk.trigger_rule import TriggerRule, WeightRule
from tradewind.sdk.variable import Variable
from tradewind.sdk.xcom_arg import XComArg
from tradewind.sensors.base import BaseSensorOperator, PokeReturnValue
from tradewind.xcom.files import XComFile

__all__ = [
    "DAG",
    "BaseOperator",
    "BaseSensorOperator",
    "Connection",
    "Context",
    "Label",
    "Param",
    "ParamsDict",
    "PokeReturnValue",
    "TaskGroup",
    "TradewindFailException",
    "TradewindSkipException",
    "TriggerRule",
    "Variable",
    "WeightRule",
    "XComArg",
    "XComFile",
    "chain",
    "chain_linear",
    "cross_downstream",
    "dag",
    "get_current_context",
    "setup",
    "task",
    "task_group",
    "teardown",
]
