"""Triggers: what a deferred task waits for in the triggerer (see :mod:`.base`)."""

from tradewind.triggers.base import BaseTrigger, TriggerEvent

__all__ = ["BaseTrigger", "TriggerEvent"]
