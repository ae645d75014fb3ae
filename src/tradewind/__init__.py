"""Tradewind: a workflow orchestrator that speaks Airflow's language.

Authoring lives in :mod:`tradewind.sdk`; operators in :mod:`tradewind.operators`.
Nothing heavy is imported here so that the CLI starts fast.
"""

__version__ = "0.1.0"
