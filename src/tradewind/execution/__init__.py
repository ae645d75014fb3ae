"""The task runner: runs one try of one task instance, wherever it is called from.

It never touches the metadata DB: XCom, variables and connections come through an
:class:`~tradewind.execution.client.ExecutionClient` (in process for ``dags test``, over the
wire for workers), and the outcome is returned as a :class:`~tradewind.execution.runner.TryOutcome`.
"""
