"""Roles and permissions, with Airflow's meanings.

A permission is an (action, resource) pair with Airflow's names (``can_read`` on ``DAG Runs``).
The built-in roles nest: Viewer reads; User also triggers, clears, marks and deletes runs and
task instances and pauses DAGs; Op also manages variables, connections, pools and XCom and
reads the configuration; Admin also manages users. Public is what an anonymous caller has:
nothing but the health and token endpoints, which need no credentials at all.

Any other role name is a custom role: it grants only what DAGs give it in ``access_control``
(``{"team_a": {"can_read", "can_edit"}}``, or per resource ``{"team_a": {"DAG Runs":
{"can_create"}}}``), on those DAGs only. ``can_read`` on ``DAGs`` reads everything of the DAG
(runs, task instances, logs, XCom, code, versions); ``can_edit`` also allows what User may do
to it; ``can_delete`` allows deleting it and its runs.

>>> Action.READ in permissions_of(["Viewer"])[Resource.DAG_RUN]
True
>>> Action.CREATE in permissions_of(["Viewer"]).get(Resource.DAG_RUN, set())
False
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    READ = "can_read"
    CREATE = "can_create"
    EDIT = "can_edit"
    DELETE = "can_delete"


class Resource(StrEnum):
    DAG = "DAGs"
    DAG_RUN = "DAG Runs"
    TASK_INSTANCE = "Task Instances"
    TASK_LOG = "Task Logs"
    XCOM = "XComs"
    DAG_CODE = "DAG Code"
    DAG_VERSION = "DAG Versions"
    BACKFILL = "Backfills"
    AUDIT_LOG = "Audit Logs"
    IMPORT_ERROR = "ImportError"
    POOL = "Pools"
    VARIABLE = "Variables"
    CONNECTION = "Connections"
    CONFIG = "Configurations"
    JOB = "Jobs"
    USER = "Users"


#: Resources that belong to one DAG: access to them may come from the DAG's access_control.
DAG_SCOPED = frozenset(
    {
        Resource.DAG,
        Resource.DAG_RUN,
        Resource.TASK_INSTANCE,
        Resource.TASK_LOG,
        Resource.XCOM,
        Resource.DAG_CODE,
        Resource.DAG_VERSION,
        Resource.BACKFILL,
    }
)

BUILTIN_ROLES = ("Admin", "Op", "User", "Viewer", "Public")

Permissions = dict[Resource, set[Action]]

_ALL = set(Action)
_VIEWER_READS = DAG_SCOPED | {
    Resource.AUDIT_LOG,
    Resource.IMPORT_ERROR,
    Resource.POOL,
    Resource.JOB,
}
_USER_WRITES = (Resource.DAG, Resource.DAG_RUN, Resource.TASK_INSTANCE, Resource.BACKFILL)
_OP_MANAGES = (Resource.POOL, Resource.VARIABLE, Resource.CONNECTION, Resource.XCOM)


def _role_permissions() -> dict[str, Permissions]:
    viewer: Permissions = {res: {Action.READ} for res in _VIEWER_READS}
    user = {res: set(acts) for res, acts in viewer.items()}
    for res in _USER_WRITES:
        user[res] = set(_ALL)
    op = {res: set(acts) for res, acts in user.items()}
    for res in _OP_MANAGES:
        op[res] = set(_ALL)
    op[Resource.CONFIG] = {Action.READ}
    admin: Permissions = {res: set(_ALL) for res in Resource}
    return {"Admin": admin, "Op": op, "User": user, "Viewer": viewer, "Public": {}}


ROLE_PERMISSIONS = _role_permissions()


def permissions_of(roles: list[str]) -> Permissions:
    """What the built-in roles among ``roles`` grant everywhere (custom roles grant nothing
    here: see :func:`dag_grants`)."""
    merged: Permissions = {}
    for role in roles:
        for res, acts in ROLE_PERMISSIONS.get(role, {}).items():
            merged.setdefault(res, set()).update(acts)
    return merged


def dag_grants(
    access_control: dict[str, dict[str, list[str]]] | None, roles: list[str]
) -> Permissions:
    """What a DAG's ``access_control`` grants ``roles`` on that DAG.

    >>> grants = dag_grants({"team": {"DAGs": ["can_read"]}}, ["team"])
    >>> sorted(a.value for a in grants[Resource.TASK_LOG])
    ['can_read']
    >>> dag_grants({"team": {"DAGs": ["can_read"]}}, ["other"])
    {}
    """
    granted: Permissions = {}
    if not access_control:
        return granted
    for role in roles:
        for res_name, actions in (access_control.get(role) or {}).items():
            acts = {Action(a) for a in actions if a in Action._value2member_map_}
            if res_name == Resource.DAG.value:
                # DAG-level actions cover everything of the DAG.
                if Action.READ in acts:
                    for res in DAG_SCOPED:
                        granted.setdefault(res, set()).add(Action.READ)
                for act in acts - {Action.READ}:
                    for res in _USER_WRITES:
                        granted.setdefault(res, set()).add(act)
                    if act is Action.EDIT:
                        for res in _USER_WRITES:
                            granted[res].add(Action.CREATE)
            elif res_name in Resource._value2member_map_:
                res = Resource(res_name)
                if res in DAG_SCOPED:
                    granted.setdefault(res, set()).update(acts)
    return granted
