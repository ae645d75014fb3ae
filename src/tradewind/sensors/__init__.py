"""Sensors: tasks that wait for a condition. See :mod:`tradewind.sensors.base`."""

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
