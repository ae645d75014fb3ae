"""The triggerer: where deferred tasks wait. Triggers run here on one asyncio event loop
(:class:`TriggerRunner`); the service around it feeds the runner the triggers assigned to
it and turns each :class:`TriggerResult` into the deferred task's next step.

>>> from tradewind.triggerer import TriggerRunner
>>> TriggerRunner().running_ids()
set()
"""

from tradewind.triggerer.runner import TriggerResult, TriggerRunner

__all__ = ["TriggerResult", "TriggerRunner"]
