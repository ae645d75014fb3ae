"""The messages between the scheduler side and a worker: what to run, and how it went.

A workload carries ids and the DAG file, never a DB row: the worker imports the file (and keeps
the imported module, keyed by ``dag_file_hash``), builds the task's context from ``run`` and
reports through its executor. Every message is JSON with a ``type`` discriminator and a
``version``; a worker refuses a version it does not know rather than guess.

Messages are :mod:`msgspec` structs: validated when decoded (unknown fields, wrong types, an
unknown version and a datetime without a time zone are refused), and light enough that a
warm worker (which forks for every try) carries little memory for them.

>>> from datetime import datetime, timezone
>>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> w = ExecuteTask.make(
...     ti_id="0190-ab", dag_id="etl", run_id="manual__1", task_id="load", try_number=1,
...     dag_file="/dags/etl.py", dag_file_hash="ab12",
...     run=RunData(logical_date=t, data_interval_start=t, data_interval_end=t, run_after=t),
... )
>>> w.log_path
'dag_id=etl/run_id=manual__1/task_id=load/attempt=1.log'
>>> decode_message(encode_message(w), ExecuteTask) == w
True
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from tradewind.states import TaskInstanceState

#: Bumped when a message changes incompatibly; workers refuse other versions.
VERSION = 1

#: A datetime that must carry a time zone (refused when decoded without one).
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]

M = TypeVar("M")

MessageError = msgspec.ValidationError
"""Raised when a message does not decode to its type (re-exported for callers)."""


class Message(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type"
):
    """Base of every message: immutable, strict about fields, tagged with its ``type``."""


def _check_aware(owner: str, **values: datetime | None) -> None:
    for name, value in values.items():
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{owner}.{name} must carry a time zone, not {value!r}")


class RunData(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The DAG run, as much as a task's context needs (``dag_run``, dates, ``conf``)."""

    logical_date: AwareDatetime | None
    data_interval_start: AwareDatetime | None
    data_interval_end: AwareDatetime | None
    run_after: AwareDatetime
    start_date: AwareDatetime | None = None
    run_type: str = "manual"
    conf: dict[str, Any] = msgspec.field(default_factory=dict)
    triggered_by: str = "scheduler"

    def __post_init__(self) -> None:
        _check_aware(
            "RunData",
            logical_date=self.logical_date,
            data_interval_start=self.data_interval_start,
            data_interval_end=self.data_interval_end,
            run_after=self.run_after,
            start_date=self.start_date,
        )


class PrefetchedXCom(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An XCom value of the try's run that the scheduler read for it (the codec's JSON): the
    task takes it from here instead of asking (the value a mapped try expands over)."""

    task_id: str
    map_index: int = -1
    key: str
    value: msgspec.Raw


class DeferralInfo(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A deferred try's trigger (class path, keyword arguments in the XCom codec's text),
    where it resumes (``next_method`` with ``next_kwargs``, codec text) and when it gives
    up waiting (``timeout_at``)."""

    trigger_classpath: str
    trigger_kwargs: str
    next_method: str
    next_kwargs: str
    timeout_at: AwareDatetime | None = None


#: ``task_instance.next_method`` of a sensor whose next poke is due: it runs ``execute``
#: again in the same try (queueing keeps the try number when ``next_method`` is set).
RESCHEDULE_METHOD = "__reschedule__"


class ExecuteTask(Message, frozen=True, kw_only=True, tag="ExecuteTask"):
    """Run one try of one task instance."""

    version: Literal[1] = 1
    ti_id: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    try_number: int
    #: Tries after the first that may still follow (Airflow's ``max_tries``); ``None``: the
    #: task's ``retries``.
    max_tries: int | None = None
    dag_file: str
    #: Content hash of ``dag_file`` when it was parsed: the key of the worker's module cache.
    dag_file_hash: str
    #: Folder put on ``sys.path`` for the DAG file's own imports (the DAGs folder).
    dags_folder: str | None = None
    run: RunData
    #: Relative to the worker's logs folder (see :mod:`tradewind.task_logs`).
    log_path: str
    queue: str = "default"
    pool: str = "default_pool"
    priority_weight: int = 1
    #: The scheduler removed this task instance's XCom when it queued the try, so the try
    #: need not ask for that again.
    xcom_cleared: bool = False
    #: XCom values read for the try by the scheduler (see :class:`PrefetchedXCom`).
    xcom_prefetch: list[PrefetchedXCom] = msgspec.field(default_factory=list)
    #: A sensor poking again in reschedule mode: when this try first poked, and how many
    #: times it was rescheduled so far.
    first_reschedule_date: AwareDatetime | None = None
    reschedule_count: int = 0
    #: A deferred try resuming: the method to call and its keyword arguments (codec text,
    #: with the trigger's event under ``event``).
    next_method: str | None = None
    next_kwargs: str | None = None

    @property
    def key(self) -> tuple[str, int]:
        """Identifies the try: one ``(ti_id, try_number)`` runs at most once at a time."""
        return (self.ti_id, self.try_number)

    @classmethod
    def make(cls, **fields: Any) -> ExecuteTask:
        """Build a workload, filling ``log_path`` from the ids when it is not given."""
        if "log_path" not in fields:
            from tradewind.task_logs.paths import try_log_path

            fields["log_path"] = str(
                try_log_path(
                    fields["dag_id"],
                    fields["run_id"],
                    fields["task_id"],
                    fields.get("map_index", -1),
                    fields["try_number"],
                )
            )
        return cls(**fields)


class TaskStartedEvent(Message, frozen=True, kw_only=True, tag="TaskStarted"):
    """A worker started a try (the scheduler may mark it ``running``)."""

    version: Literal[1] = 1
    ti_id: str
    try_number: int
    start_date: AwareDatetime
    pid: int
    hostname: str

    def __post_init__(self) -> None:
        _check_aware("TaskStartedEvent", start_date=self.start_date)


class TaskOutcomeEvent(Message, frozen=True, kw_only=True, tag="TaskOutcome"):
    """How a try ended. A late or duplicate event must be a no-op for the scheduler
    (compare-and-set on ``ti_id``, ``try_number`` and state ``running``/``queued``).

    ``crashed`` is true when the try did not end through the task runner: its process or its
    worker died, it was killed after ``execution_timeout`` plus grace, it was cancelled, or
    the DAG file or task could not be loaded. ``state`` is then ``failed`` and the scheduler
    applies the task's retries (``up_for_retry`` while tries are left), as the runner would.
    """

    version: Literal[1] = 1
    ti_id: str
    try_number: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    state: TaskInstanceState
    start_date: AwareDatetime | None
    end_date: AwareDatetime
    error: str | None = None
    next_retry_at: AwareDatetime | None = None
    skip_downstream: list[str] = msgspec.field(default_factory=list)
    xcom_lengths: dict[str, int] = msgspec.field(default_factory=dict)
    pushed_keys: list[str] = msgspec.field(default_factory=list)
    rendered_map_index: str | None = None
    pid: int | None = None
    hostname: str | None = None
    crashed: bool = False
    #: When a sensor in reschedule mode pokes again (state ``up_for_reschedule``).
    reschedule_date: AwareDatetime | None = None
    #: What a deferred try waits for (state ``deferred``).
    deferral: DeferralInfo | None = None

    def __post_init__(self) -> None:
        _check_aware(
            "TaskOutcomeEvent",
            start_date=self.start_date,
            end_date=self.end_date,
            next_retry_at=self.next_retry_at,
            reschedule_date=self.reschedule_date,
        )

    @classmethod
    def crash(
        cls, workload: ExecuteTask, error: str, start: datetime | None, end: datetime, **extra: Any
    ) -> TaskOutcomeEvent:
        """The outcome of a try that ended without the runner deciding."""
        return cls(
            ti_id=workload.ti_id,
            try_number=workload.try_number,
            dag_id=workload.dag_id,
            run_id=workload.run_id,
            task_id=workload.task_id,
            map_index=workload.map_index,
            state=TaskInstanceState.FAILED,
            start_date=start,
            end_date=end,
            error=error,
            crashed=True,
            **extra,
        )


ExecutorEvent = TaskStartedEvent | TaskOutcomeEvent

_encoder = msgspec.json.Encoder()


def encode_message(message: msgspec.Struct) -> bytes:
    """A message as JSON bytes (with its ``type`` tag)."""
    return _encoder.encode(message)


def decode_message(data: bytes | str, kind: type[M]) -> M:
    """``data`` decoded and validated as ``kind`` (a message class or a union of them);
    :data:`MessageError` says what is wrong."""
    return msgspec.json.decode(data, type=kind)
