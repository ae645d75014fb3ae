"""Run a whole DAG once inside this process: what ``tradewind dags test`` and ``DAG.test()``
do. No database, no service: task instances live in memory, XCom in a memory backend, and
independent tasks run side by side in threads (up to the DAG's ``max_active_tasks``).

The decisions are the scheduler's pure functions (:mod:`tradewind.scheduler.readiness`,
:mod:`tradewind.scheduler.run_state`) and every try goes through the same task runner that
workers use, so a DAG that passes here behaves the same in production.

>>> from tradewind.sdk import DAG, task
>>> with DAG("doc_inprocess") as d:
...     @task
...     def one():
...         return 1
...     @task
...     def plus(x):
...         return x + 1
...     _ = plus(one())
>>> result = run_dag(d)
>>> (result.state.value, result.task_states())
('success', {'one': 'success', 'plus': 'success'})
"""

from tradewind.inprocess.driver import run_dag
from tradewind.inprocess.records import DagRunResult
from tradewind.scheduler.run_machine import TaskInstanceRecord

__all__ = ["DagRunResult", "TaskInstanceRecord", "run_dag"]
