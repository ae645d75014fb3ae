"""Sensors: tasks that wait for a condition. See :mod:`tradewind.sensors.base`."""

# The SDK first: it exports BaseSensorOperator, so importing the sensors before it (a DAG
# file's first line may be ``from tradewind.sensors import FileSensor``) would otherwise
# find tradewind.sensors.base half made.
import tradewind.sdk  # noqa: F401
from tradewind.sensors.base import BaseSensorOperator, PokeReturnValue
from tradewind.sensors.bash import BashSensor
from tradewind.sensors.external_task import ExternalTaskSensor
from tradewind.sensors.filesystem import FileSensor
from tradewind.sensors.python import PythonSensor
from tradewind.sensors.time import (
    DateTimeSensor,
    DateTimeSensorAsync,
    TimeDeltaSensor,
    TimeDeltaSensorAsync,
    TimeSensor,
    TimeSensorAsync,
)

__all__ = [
    "BaseSensorOperator",
    "BashSensor",
    "DateTimeSensor",
    "DateTimeSensorAsync",
    "ExternalTaskSensor",
    "FileSensor",
    "PokeReturnValue",
    "PythonSensor",
    "TimeDeltaSensor",
    "TimeDeltaSensorAsync",
    "TimeSensor",
    "TimeSensorAsync",
]
