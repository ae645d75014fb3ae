"""What each role may do, and what a DAG's access_control grants custom roles."""

from __future__ import annotations

import pytest

from tradewind.api.auth.principal import Principal
from tradewind.api.auth.roles import Action, Resource
from tradewind.api.errors import ApiError


class _Index:
    def __init__(self, by_dag: dict[str, dict[str, dict[str, list[str]]]]) -> None:
        self.by_dag = by_dag

    def current(self) -> dict[str, dict[str, dict[str, list[str]]]]:
        return self.by_dag


@pytest.mark.parametrize(
    ("role", "action", "resource", "allowed"),
    [
        ("Viewer", Action.READ, Resource.DAG_RUN, True),
        ("Viewer", Action.READ, Resource.TASK_LOG, True),
        ("Viewer", Action.READ, Resource.POOL, True),
        ("Viewer", Action.CREATE, Resource.DAG_RUN, False),
        ("Viewer", Action.READ, Resource.VARIABLE, False),
        ("Viewer", Action.READ, Resource.CONNECTION, False),
        ("User", Action.CREATE, Resource.DAG_RUN, True),
        ("User", Action.EDIT, Resource.TASK_INSTANCE, True),
        ("User", Action.EDIT, Resource.DAG, True),
        ("User", Action.CREATE, Resource.VARIABLE, False),
        ("User", Action.EDIT, Resource.POOL, False),
        ("Op", Action.CREATE, Resource.VARIABLE, True),
        ("Op", Action.DELETE, Resource.CONNECTION, True),
        ("Op", Action.EDIT, Resource.POOL, True),
        ("Op", Action.READ, Resource.CONFIG, True),
        ("Op", Action.CREATE, Resource.USER, False),
        ("Admin", Action.CREATE, Resource.USER, True),
        ("Public", Action.READ, Resource.DAG, False),
    ],
)
def test_builtin_roles_nest_as_in_airflow(
    role: str, action: Action, resource: Resource, allowed: bool
) -> None:
    assert Principal("someone", [role]).can(action, resource, "any_dag") is allowed


def test_a_custom_role_reads_only_the_dags_that_grant_it() -> None:
    index = _Index({"team_dag": {"team_a": {"DAGs": ["can_read"]}}})
    who = Principal("ann", ["team_a"], index)  # type: ignore[arg-type]
    assert who.can(Action.READ, Resource.DAG_RUN, "team_dag")
    assert who.can(Action.READ, Resource.TASK_LOG, "team_dag")
    assert not who.can(Action.CREATE, Resource.DAG_RUN, "team_dag")
    assert not who.can(Action.READ, Resource.DAG_RUN, "other_dag")
    assert not who.can(Action.READ, Resource.DAG_RUN)  # "every DAG" is not granted
    assert who.dag_ids_with(Action.READ, Resource.DAG) == {"team_dag"}
    with pytest.raises(ApiError) as err:
        who.require(Action.READ, Resource.DAG, "other_dag")
    assert err.value.status == 403 and "other_dag" in err.value.detail


def test_can_edit_lets_a_custom_role_trigger_and_clear_that_dag() -> None:
    index = _Index({"d": {"ops": {"DAGs": ["can_edit", "can_read"]}}})
    who = Principal("bo", ["ops"], index)  # type: ignore[arg-type]
    assert who.can(Action.CREATE, Resource.DAG_RUN, "d")
    assert who.can(Action.EDIT, Resource.TASK_INSTANCE, "d")
    assert not who.can(Action.DELETE, Resource.DAG, "d")
    # DAG-scoped grants never reach global resources.
    assert not who.can(Action.READ, Resource.VARIABLE, "d")


def test_per_resource_grants_and_builtin_roles_combine() -> None:
    index = _Index({"d": {"runners": {"DAG Runs": ["can_create"]}}})
    who = Principal("cy", ["Viewer", "runners"], index)  # type: ignore[arg-type]
    assert who.can(Action.READ, Resource.DAG, "elsewhere")  # from Viewer
    assert who.can(Action.CREATE, Resource.DAG_RUN, "d")  # from access_control
    assert not who.can(Action.CREATE, Resource.DAG_RUN, "elsewhere")
    assert who.dag_ids_with(Action.READ, Resource.DAG) is None
