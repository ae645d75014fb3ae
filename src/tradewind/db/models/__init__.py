"""The tables of the metadata database, a module per aggregate.

Names and columns follow Airflow's where a user or an API client can see them, so the REST
API can return Airflow's field names without translation.
"""

from tradewind.db.models.base import Base
from tradewind.db.models.dag import DagCode, DagModel, DagTag, SerializedDagModel
from tradewind.db.models.dagrun import Backfill, BackfillDagRun, DagRun
from tradewind.db.models.jobs import ImportError_, Job, Log
from tradewind.db.models.pool import Pool
from tradewind.db.models.secrets import Connection, Variable
from tradewind.db.models.taskinstance import TaskInstance, TaskInstanceHistory, TaskMap
from tradewind.db.models.trigger import TaskReschedule, Trigger
from tradewind.db.models.users import TokenSigningKey, User
from tradewind.db.models.xcom import XComRow

__all__ = [
    "Backfill",
    "BackfillDagRun",
    "Base",
    "Connection",
    "DagCode",
    "DagModel",
    "DagRun",
    "DagTag",
    "ImportError_",
    "Job",
    "Log",
    "Pool",
    "SerializedDagModel",
    "TaskInstance",
    "TaskInstanceHistory",
    "TaskMap",
    "TaskReschedule",
    "TokenSigningKey",
    "Trigger",
    "User",
    "Variable",
    "XComRow",
]
