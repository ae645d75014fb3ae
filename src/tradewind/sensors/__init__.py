"""Sensors: tasks that wait for a condition. See :mod:`tradewind.sensors.base`."""

from tradewind.sensors.base import BaseSensorOperator, PokeReturnValue
from tradewind.sensors.python import PythonSensor

__all__ = ["BaseSensorOperator", "PokeReturnValue", "PythonSensor"]
