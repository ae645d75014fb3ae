"""Executors: where tries run. See :mod:`tradewind.executors.base` for the contract.

- :class:`~tradewind.executors.local.LocalExecutor`: a pool of warm worker processes here;
- :class:`~tradewind.executors.inline.InlineExecutor`: in the calling process (tests,
  debugging);
- :mod:`~tradewind.executors.workload`: the messages (what to run, how it went).

Nothing is imported here, so ``import tradewind.executors.base`` stays light.
"""
