"""Errors users catch are in one hierarchy, importable from where they used to be."""

from __future__ import annotations

from tradewind import exceptions


def test_dag_run_already_exists_is_a_tradewind_error_with_its_old_import_paths() -> None:
    from tradewind.execution.client import DagRunAlreadyExists as from_client
    from tradewind.executors.base import DagRunAlreadyExists as from_executors

    assert issubclass(exceptions.DagRunAlreadyExists, exceptions.TradewindException)
    assert from_executors is exceptions.DagRunAlreadyExists
    assert from_client is exceptions.DagRunAlreadyExists


def test_timetable_errors_are_dag_definition_errors() -> None:
    assert issubclass(exceptions.TimetableNotRegistered, exceptions.TimetableUnavailable)
    assert issubclass(exceptions.TimetableUnavailable, exceptions.DagDefinitionError)
    assert issubclass(exceptions.TimetableUnavailable, ValueError)  # as Airflow's is
