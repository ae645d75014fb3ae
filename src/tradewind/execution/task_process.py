"""The task process: forked from a warm worker to run one try, then gone.

It runs the task runner in its main thread (so ``execution_timeout`` interrupts even a
blocking call with ``SIGALRM``), talks to its worker only over its socket (XCom, variables
and connections through :class:`~tradewind.execution.worker_client.PipeClient`), writes its
log straight to the try's log file (its stdout and stderr too, so output of C code and of
subprocesses lands there), sends its
:class:`~tradewind.executors.workload.TaskOutcomeEvent` and exits without running any
cleanup it inherited from the worker.

It lives in its own process group (so its supervisor can kill all it started at once, and a
terminal's Ctrl-C does not reach it) and asks the kernel to kill it if the worker dies, so no
try outlives its supervisor.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import socket
import sys
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tradewind.execution.comms import send_frame
from tradewind.execution.runner import Resume, TryOutcome, run_task_try
from tradewind.execution.runtime import DagRunInfo
from tradewind.execution.task_log import format_line
from tradewind.execution.worker_client import PipeClient
from tradewind.executors.workload import (
    RESCHEDULE_METHOD,
    ExecuteTask,
    TaskOutcomeEvent,
    TaskStartedEvent,
)
from tradewind.task_logs.writer import TryLogWriter

if TYPE_CHECKING:
    from tradewind.sdk.abstractoperator import AbstractOperator

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15


@dataclass
class TryPlan:
    """Everything the child needs, prepared by the worker before it forks."""

    workload: ExecuteTask
    task: AbstractOperator
    mapped_ids: frozenset[str]
    log: TryLogWriter
    hostname: str


@functools.cache
def _libc() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def prctl(option: int, arg: int | bytes) -> None:
    """Linux ``prctl``; a no-op where there is none (the worker still kills its child)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "prctl"):
        libc.prctl(option, arg, 0, 0, 0)


def set_process_name(name: str) -> None:
    """What ``ps -o comm`` and ``top`` show (15 bytes at most)."""
    prctl(PR_SET_NAME, name.encode()[:15])


def child_main(
    plan: TryPlan, sock: socket.socket, executor_fd: int, parent: int, done_fd: int | None = None
) -> None:
    """The forked task process: run the try, send its outcome, exit. Never returns.

    Its exit code also goes to ``done_fd`` just before it exits: the kernel takes a while
    to tear a process down, and its worker need not wait for that to take the next try.
    """
    code = 1
    try:
        os.setpgid(0, 0)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        set_process_name("tradewind-task")
        if os.getppid() != parent:  # the worker died before the line above took effect
            os._exit(1)
        os.close(executor_fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        if plan.log.fd is not None:  # C-level and subprocess output land in the log too
            os.dup2(plan.log.fd, 1)
            os.dup2(plan.log.fd, 2)
        code = _run_try(plan, sock)
    except BaseException:
        with contextlib.suppress(BaseException):
            plan.log.write_line(format_line("ERROR", traceback.format_exc().rstrip()))
    finally:
        if done_fd is not None:
            with contextlib.suppress(OSError):
                os.write(done_fd, bytes([code]))
        os._exit(code)


def dag_run_info(w: ExecuteTask) -> DagRunInfo:
    """The workload's run as the task runner's plain data."""
    return DagRunInfo(
        dag_id=w.dag_id,
        run_id=w.run_id,
        logical_date=w.run.logical_date,
        data_interval_start=w.run.data_interval_start,
        data_interval_end=w.run.data_interval_end,
        run_after=w.run.run_after,
        start_date=w.run.start_date,
        run_type=w.run.run_type,
        conf=dict(w.run.conf),
        triggered_by=w.run.triggered_by,
    )


def resume_of(w: ExecuteTask) -> Resume | None:
    """How the workload's try continues a deferred one (``None``: from the start)."""
    if w.next_method is None or w.next_method == RESCHEDULE_METHOD:
        return None
    from tradewind.serialization import codec

    kwargs = codec.decode(w.next_kwargs) if w.next_kwargs else {}
    return Resume(w.next_method, dict(kwargs or {}))


def outcome_event(w: ExecuteTask, outcome: TryOutcome, pid: int, hostname: str) -> TaskOutcomeEvent:
    """The event reporting how the runner ended a try."""
    return TaskOutcomeEvent(
        ti_id=w.ti_id,
        try_number=w.try_number,
        dag_id=w.dag_id,
        run_id=w.run_id,
        task_id=w.task_id,
        map_index=w.map_index,
        state=outcome.state,
        start_date=outcome.start_date,
        end_date=outcome.end_date,
        error=outcome.error,
        next_retry_at=outcome.next_retry_at,
        skip_downstream=outcome.skip_downstream,
        xcom_lengths=outcome.xcom_lengths,
        pushed_keys=outcome.pushed_keys,
        rendered_map_index=outcome.rendered_map_index,
        pid=pid,
        hostname=hostname,
        reschedule_date=outcome.reschedule_date,
        deferral=outcome.deferral,
    )


def _run_try(plan: TryPlan, sock: socket.socket) -> int:
    w = plan.workload
    # First on the channel, so the executor always hears of the start before the outcome.
    started = TaskStartedEvent(
        ti_id=w.ti_id,
        try_number=w.try_number,
        start_date=datetime.now(UTC),
        pid=os.getpid(),
        hostname=plan.hostname,
    )
    send_frame(sock, started)
    prefetched = {(x.task_id, x.map_index, x.key): bytes(x.value) for x in w.xcom_prefetch}
    client = PipeClient(sock, run=(w.dag_id, w.run_id), prefetched=prefetched)
    # A sensor's reschedule and a deferral go back to the scheduler (the triggerer runs the
    # trigger); this workload says how long a sensor has waited, or where a deferred try
    # resumes.
    outcome = run_task_try(
        plan.task,
        dag_run_info(w),
        client=client,
        map_index=w.map_index,
        try_number=w.try_number,
        log_sink=plan.log.write_line,
        mapped_upstreams=plan.mapped_ids,
        max_tries=w.max_tries,
        clear_xcom=not w.xcom_cleared,
        resume=resume_of(w),
        first_reschedule_date=w.first_reschedule_date,
        reschedule_count=w.reschedule_count,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    send_frame(sock, outcome_event(w, outcome, os.getpid(), plan.hostname))
    return 0
