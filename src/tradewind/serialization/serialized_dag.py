"""The read side of a serialized DAG: :class:`SerializedDAG` and its tasks and groups.

Read-only objects built from the JSON in :mod:`tradewind.serialization.schema`, with the
same attribute names as the SDK's ``DAG``, operators and ``TaskGroup``, so the scheduler's
pure functions take either. Building one imports no user code: the timetable comes back from
its data, params from their defaults and schemas (so ``dag_run.conf`` can be validated by
the service), and a mapped task's length from :mod:`.expand`. A custom timetable class is
imported only if ``core.timetable_classes`` trusts it; one that cannot be rebuilt reads as
an :class:`~tradewind.timetables.UnavailableTimetable` (never scheduled, an error logged), so
one such DAG cannot stop a scheduler or an API server that reads it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tradewind.sdk.graph import TaskGraph
from tradewind.sdk.trigger_rule import TriggerRule, WeightRule
from tradewind.serialization.schema import FORMAT_VERSION, JsonDict, SerializationError

if TYPE_CHECKING:
    from tradewind.sdk.params import ParamsDict
    from tradewind.sdk.xcom_arg import LengthLookup
    from tradewind.serialization.expand import SerializedExpandInput
    from tradewind.timetables.base import Timetable

log = logging.getLogger("tradewind.serialization")


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _td(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def params_from_list(items: Sequence[Sequence[Any]]) -> ParamsDict:
    """Rebuild a ``ParamsDict`` (defaults and schemas) from its serialized form."""
    from tradewind.sdk.params import Param, ParamsDict

    params = ParamsDict()
    for name, spec in items:
        kwargs: dict[str, Any] = {"description": spec.get("description")}
        if "default" in spec:
            kwargs["default"] = spec["default"]
        params[name] = Param(**kwargs, schema=dict(spec.get("schema") or {}))
    return params


class SerializedTask:
    """One task of a :class:`SerializedDAG` (plain or mapped), read-only."""

    dag: SerializedDAG
    task_group: SerializedTaskGroup | None

    def __init__(self, data: JsonDict) -> None:
        self.data = data
        self.task_id: str = data["task_id"]
        self.operator_name: str = data["operator_name"]
        self.operator_module: str = data["operator_module"]
        self.custom_operator_name: str | None = data["custom_operator_name"]
        self.trigger_rule = TriggerRule(data["trigger_rule"])
        self.retries: int = data["retries"]
        self.retry_delay: timedelta = timedelta(seconds=data["retry_delay"])
        self.retry_exponential_backoff: bool | float = data["retry_exponential_backoff"]
        self.max_retry_delay = _td(data["max_retry_delay"])
        self.execution_timeout = _td(data["execution_timeout"])
        self.pool: str = data["pool"]
        self.pool_slots: int = data["pool_slots"]
        self.priority_weight: int = data["priority_weight"]
        self.weight_rule = WeightRule(data["weight_rule"])
        self.queue: str = data["queue"]
        self.depends_on_past: bool = data["depends_on_past"]
        self.wait_for_downstream: bool = data["wait_for_downstream"]
        self.ignore_first_depends_on_past: bool = data["ignore_first_depends_on_past"]
        self.max_active_tis_per_dag: int | None = data["max_active_tis_per_dag"]
        self.max_active_tis_per_dagrun: int | None = data["max_active_tis_per_dagrun"]
        self.is_setup: bool = data["is_setup"]
        self.is_teardown: bool = data["is_teardown"]
        self.on_failure_fail_dagrun: bool = data["on_failure_fail_dagrun"]
        self.is_branching: bool = data["is_branching"]
        self.do_xcom_push: bool = data["do_xcom_push"]
        self.multiple_outputs: bool = data["multiple_outputs"]
        self.upstream_task_ids: frozenset[str] = frozenset(data["upstream_task_ids"])
        self.downstream_task_ids: frozenset[str] = frozenset(data["downstream_task_ids"])
        self.template_fields: tuple[str, ...] = tuple(data["template_fields"])
        self.template_ext: tuple[str, ...] = tuple(data["template_ext"])
        self.doc_md: str | None = data["doc_md"]
        self.owner: str = data["owner"]
        self.task_display_name: str | None = data["task_display_name"]
        self.executor: str | None = data["executor"]
        self.executor_config: dict[str, Any] = data["executor_config"]
        #: What the task waits for before its first worker try (start_from_trigger), or
        #: None (see tradewind.serialization.start_trigger).
        self.start_trigger: dict[str, Any] | None = data.get("start_from_trigger")
        self.ui_color: str = data["ui_color"]
        self.ui_fgcolor: str = data["ui_fgcolor"]
        self.start_date = _dt(data["start_date"])
        self.end_date = _dt(data["end_date"])
        self.map_index_template: str | None = data["map_index_template"]
        self.task_group = None
        self._params = data["params"]
        self.expand_input: SerializedExpandInput | None = None
        if data["is_mapped"]:
            from tradewind.serialization.expand import SerializedExpandInput

            self.expand_input = SerializedExpandInput(data["expand_input"])
        self.mapping_feeders: frozenset[str] = frozenset(data.get("mapping_feeders", ()))

    @property
    def is_mapped(self) -> bool:
        return self.expand_input is not None

    def get_map_length(self, lengths: LengthLookup) -> int | None:
        """How many copies a mapped task makes, or ``None`` while an input is unknown."""
        if self.expand_input is None:
            raise TypeError(f"task {self.task_id!r} is not mapped")
        return self.expand_input.get_length(lengths)

    def has_callback(self, hook: str) -> bool:
        """Whether the task defines ``on_<hook>_callback`` (execute, success, failure...)."""
        return bool(self.data.get(f"has_on_{hook}_callback"))

    @property
    def params(self) -> ParamsDict:
        return params_from_list(self._params)

    @property
    def label(self) -> str:
        """The task id without its task-group prefix."""
        group = self.task_group
        if group is not None and group.group_id and group.prefix_group_id:
            prefix = f"{group.group_id}."
            if self.task_id.startswith(prefix):
                return self.task_id[len(prefix) :]
        return self.task_id

    @property
    def upstream_list(self) -> list[SerializedTask]:
        return [self.dag.task_dict[t] for t in sorted(self.upstream_task_ids)]

    @property
    def downstream_list(self) -> list[SerializedTask]:
        return [self.dag.task_dict[t] for t in sorted(self.downstream_task_ids)]

    def get_flat_relative_ids(self, upstream: bool = False) -> set[str]:
        """Every task id reachable downstream (or upstream) of this task."""
        seen: set[str] = set()
        stack = [self.task_id]
        while stack:
            current = self.dag.task_dict[stack.pop()]
            for tid in current.upstream_task_ids if upstream else current.downstream_task_ids:
                if tid not in seen:
                    seen.add(tid)
                    stack.append(tid)
        return seen

    def __repr__(self) -> str:
        kind = "Mapped" if self.is_mapped else "Task"
        return f"<Serialized{kind}({self.operator_name}): {self.task_id}>"


class SerializedTaskGroup:
    """A task group: its id, tooltip, colours and children (tasks and groups), read-only."""

    def __init__(
        self,
        data: JsonDict,
        tasks: Mapping[str, SerializedTask],
        parent: SerializedTaskGroup | None = None,
    ) -> None:
        self.group_id: str | None = data["group_id"]
        self.label: str | None = data["label"]
        self.prefix_group_id: bool = data["prefix_group_id"]
        self.tooltip: str = data["tooltip"]
        self.ui_color: str = data["ui_color"]
        self.ui_fgcolor: str = data["ui_fgcolor"]
        self.parent_group = parent
        self.expand_input: SerializedExpandInput | None = None
        if "expand_input" in data:
            from tradewind.serialization.expand import SerializedExpandInput

            self.expand_input = SerializedExpandInput(data["expand_input"])
        self.mapping_feeders: frozenset[str] = frozenset(data.get("mapping_feeders", ()))
        self.children: dict[str, SerializedTask | SerializedTaskGroup] = {}
        for child in data["children"]:
            if "task" in child:
                task = tasks[child["task"]]
                task.task_group = self
                self.children[task.task_id] = task
            else:
                group = SerializedTaskGroup(child["group"], tasks, self)
                assert group.group_id is not None
                self.children[group.group_id] = group

    @property
    def is_root(self) -> bool:
        return self.group_id is None

    @property
    def is_mapped(self) -> bool:
        """Whether the group is mapped (each task inside gets a copy per element)."""
        return self.expand_input is not None

    def get_map_length(self, lengths: LengthLookup) -> int | None:
        """How many copies a mapped group makes, or ``None`` while an input is unknown."""
        if self.expand_input is None:
            raise TypeError(f"task group {self.group_id!r} is not mapped")
        return self.expand_input.get_length(lengths)

    def iter_tasks(self) -> list[SerializedTask]:
        out: list[SerializedTask] = []
        for child in self.children.values():
            out.extend(child.iter_tasks() if isinstance(child, SerializedTaskGroup) else [child])
        return out

    def iter_groups(self) -> list[SerializedTaskGroup]:
        """This group and every group inside it, depth first."""
        out: list[SerializedTaskGroup] = [self]
        for child in self.children.values():
            if isinstance(child, SerializedTaskGroup):
                out.extend(child.iter_groups())
        return out

    @property
    def roots(self) -> list[SerializedTask]:
        """Tasks of the group with no upstream inside it."""
        tasks = self.iter_tasks()
        ids = {t.task_id for t in tasks}
        return [t for t in tasks if not (t.upstream_task_ids & ids)]

    def __repr__(self) -> str:
        return f"<SerializedTaskGroup: {self.group_id}>"


class SerializedDAG(TaskGraph[SerializedTask]):
    """A DAG read back from its serialized JSON; build one with :meth:`from_dict`."""

    def __init__(self, data: JsonDict) -> None:
        version = data.get("__version") if isinstance(data, dict) else None
        if version != FORMAT_VERSION:
            raise SerializationError(
                f"unsupported serialized DAG version {version!r} (this code reads "
                f"{FORMAT_VERSION}); re-parse the DAG files"
            )
        self.data = data
        body: JsonDict = data["dag"]
        self.dag_id: str = body["dag_id"]
        self.fileloc: str | None = body["fileloc"]
        self.description: str | None = body["description"]
        self.doc_md: str | None = body["doc_md"]
        self.dag_display_name: str = body["dag_display_name"]
        self.tags: list[str] = list(body["tags"])
        #: ``{role: {resource: [action, ...]}}`` (versions stored before it had none).
        self.access_control: dict[str, dict[str, list[str]]] = body.get("access_control") or {}
        self.owner_links: dict[str, str] = dict(body["owner_links"])
        self.template_searchpath: list[str] = list(body["template_searchpath"])
        self.timetable: Timetable = _timetable(body["timetable"], self.dag_id)
        self.start_date = _dt(body["start_date"])
        self.end_date = _dt(body["end_date"])
        self.catchup: bool = body["catchup"]
        self.max_active_runs: int = body["max_active_runs"]
        self.max_active_tasks: int = body["max_active_tasks"]
        self.max_consecutive_failed_dag_runs: int = body["max_consecutive_failed_dag_runs"]
        self.dagrun_timeout = _td(body["dagrun_timeout"])
        self.fail_fast: bool = body["fail_fast"]
        self.is_paused_upon_creation: bool | None = body["is_paused_upon_creation"]
        self.render_template_as_native_obj: bool = body["render_template_as_native_obj"]
        self.has_on_success_callback: bool = body["has_on_success_callback"]
        self.has_on_failure_callback: bool = body["has_on_failure_callback"]
        self.params: ParamsDict = params_from_list(body["params"])
        self.edge_info: dict[tuple[str, str], dict[str, str]] = {
            (up, down): dict(info)
            for up, downs in body["edge_info"].items()
            for down, info in downs.items()
        }
        self.task_dict: dict[str, SerializedTask] = {}
        for task_data in body["tasks"]:
            task = SerializedTask(task_data)
            task.dag = self
            self.task_dict[task.task_id] = task
        self.task_group = SerializedTaskGroup(body["task_group"], self.task_dict)
        for task in self.task_dict.values():
            if task.task_group is None:
                task.task_group = self.task_group

    @classmethod
    def from_dict(cls, data: JsonDict) -> SerializedDAG:
        """Read a serialized DAG; :class:`SerializationError` if it is not one."""
        try:
            return cls(data)
        except SerializationError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            dag_id = data.get("dag", {}).get("dag_id") if isinstance(data, dict) else None
            raise SerializationError(
                f"serialized DAG {dag_id!r} is malformed: {type(err).__name__}: {err}"
            ) from None

    # -- the SDK DAG's reading API -------------------------------------------------------------
    def _cycle_error(self) -> Exception:
        return SerializationError(f"serialized DAG {self.dag_id!r} has a cycle")

    @property
    def task_group_dict(self) -> dict[str, SerializedTaskGroup]:
        """Every task group but the root, by full group id."""
        return {g.group_id: g for g in self.task_group.iter_groups() if g.group_id is not None}

    # -- what the service reads besides --------------------------------------------------------
    @property
    def owners(self) -> list[str]:
        """The distinct owners of the DAG's tasks, sorted (Airflow's ``DAG.owner``)."""
        return sorted({t.owner for t in self.task_dict.values()})

    @property
    def has_task_concurrency_limits(self) -> bool:
        return any(
            t.max_active_tis_per_dag is not None or t.max_active_tis_per_dagrun is not None
            for t in self.task_dict.values()
        )

    @property
    def folder(self) -> str | None:
        import os

        return os.path.dirname(self.fileloc) if self.fileloc else None

    def __repr__(self) -> str:
        return f"<SerializedDAG: {self.dag_id}>"


def _timetable(data: JsonDict, dag_id: str) -> Timetable:
    from tradewind.exceptions import TimetableUnavailable
    from tradewind.timetables import UnavailableTimetable, timetable_from_dict

    try:
        return timetable_from_dict(data)
    except TimetableUnavailable as err:
        log.error("DAG %s will not be scheduled: %s", dag_id, err)
        return UnavailableTimetable(data, err)
