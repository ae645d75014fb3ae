"""A warm worker process of the local executor: ``python -m tradewind.execution.worker FD``.

Started once by the executor with one end of a socket pair (``FD``). It imports Tradewind
and the operators up front, says :class:`~tradewind.execution.comms.WorkerReady`, then takes
one :class:`~tradewind.executors.workload.ExecuteTask` at a time: imports the DAG file unless
it has that file's hash cached, opens the try's log, and hands the try to a
:class:`~tradewind.execution.supervisor.TrySupervisor`, which forks the task process.

It never touches the metadata DB and holds no credentials. It exits when the executor says
:class:`~tradewind.execution.comms.Shutdown` or closes its end (so a killed scheduler leaves
no workers behind); ``kill -9`` of a worker is a supported way to stop it: the executor
reports its try as failed and starts another worker.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import sys
import traceback
from datetime import UTC, datetime

from tradewind.execution.comms import Cancel, FrameReader, Shutdown, WorkerReady, send_frame
from tradewind.execution.dag_cache import DagFileCache
from tradewind.execution.priming import prime
from tradewind.execution.supervisor import (
    ExecutorGone,
    SupervisorSettings,
    TrySupervisor,
)
from tradewind.execution.task_log import (
    capture_task_output,
    format_line,
    keep_routing_installed,
)
from tradewind.execution.task_process import TryPlan, set_process_name
from tradewind.executors.workload import VERSION, ExecuteTask, TaskOutcomeEvent
from tradewind.task_logs.paths import logs_folder, resolve_log_path
from tradewind.task_logs.writer import TryLogWriter

#: Modules a try may import lazily; importing them here means no child pays for it.
PRELOAD = (
    "jinja2.ext",
    "pprint",
    "tradewind.execution.runner",
    "tradewind.execution.templating",
    "tradewind.execution.macros",
    "tradewind.execution.worker_client",
    "tradewind.xcom.object_storage_xcom",
    # What deferring and resuming a task use. The built-in triggers (asyncio with them) and
    # jsonschema are imported once a DAG file that needs them is (``execution.priming``).
    "tradewind.triggers.serialization",
    "tradewind.sdk",
    "tradewind.sdk.params",
    "tradewind.operators",
    "tradewind.sensors",
    "tradewind.dag_processing.loader",
)


def preload() -> None:
    import importlib

    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # a missing optional part must not stop it
            importlib.import_module(name)


def warm_up() -> None:
    """Run one throwaway try here, so the lazy imports and caches a try needs (templating,
    params, logging, the XCom backend) exist before any child is forked: every child starts
    warm."""
    from tradewind.xcom.backend import get_backend

    # A bad XCom setting fails the tries that push, with the reason; not the worker.
    with contextlib.suppress(Exception):
        get_backend()
    from tradewind.execution.client import InProcessClient
    from tradewind.execution.runner import run_task_try
    from tradewind.execution.runtime import DagRunInfo
    from tradewind.sdk import DAG, task
    from tradewind.sdk.dag import DagContext
    from tradewind.xcom.memory import MemoryXComBackend

    with DAG("tradewind_worker_warm_up", schedule=None) as dag:

        @task
        def warm(day: str) -> dict[str, list[str]]:
            return {"day": [day]}

        warm("{{ ds }}")
    DagContext.collect()
    now = datetime.now(UTC)
    run = DagRunInfo(dag.dag_id, "warm_up", now, now, now, now, start_date=now)
    client = InProcessClient(MemoryXComBackend())
    run_task_try(dag.get_task("warm"), run, client=client, log_sink=lambda line: None)


class Worker:
    """The worker's loop; see the module docstring."""

    def __init__(self, sock: socket.socket, settings: SupervisorSettings, cache: DagFileCache):
        self.sock = sock
        self.reader = FrameReader(sock, accept_fds=True)
        self.settings = settings
        self.cache = cache
        self.hostname = socket.gethostname()
        self.logs = logs_folder()
        #: Task processes done with their try and still being torn down by the kernel.
        self.exiting: list[int] = []

    def serve(self) -> None:
        try:
            send_frame(self.sock, WorkerReady(pid=os.getpid()))
        except OSError:  # the executor is gone already
            return
        try:
            self._serve()
        finally:
            for pid in self.exiting:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)

    def _serve(self) -> None:
        while True:
            try:
                frame = self.reader.read_blocking()
            except (EOFError, OSError):
                return
            if isinstance(frame, Shutdown):
                return
            if isinstance(frame, ExecuteTask):
                try:
                    stop = self.run(frame)
                except (ExecutorGone, OSError):
                    return
                if stop:
                    return
            elif not isinstance(frame, Cancel):  # a cancel for a finished try is moot
                raise SystemExit(f"worker got an unexpected {type(frame).__name__} frame")

    def run(self, workload: ExecuteTask) -> bool:
        """Run one try and report it; whether the executor asked the worker to stop."""
        started = datetime.now(UTC)
        fd = self.reader.take_fd()
        if fd is None:
            self._failed(workload, started, "the workload came without its channel")
            return False
        channel = socket.socket(fileno=fd)
        try:
            try:
                log = TryLogWriter(resolve_log_path(self.logs, workload.log_path))
            except (OSError, ValueError) as err:
                self._failed(workload, started, f"cannot open the try's log: {err}")
                return False
            try:
                try:
                    plan = self._plan(workload, log)
                except (Exception, SystemExit) as err:
                    error = "".join(traceback.format_exception(err)).rstrip()
                    log.write_line(format_line("ERROR", f"Could not load the task:\n{error}"))
                    self._failed(workload, started, error)
                    return False
                supervisor = TrySupervisor(plan, self.sock, self.reader, self.settings, channel)
                try:
                    supervisor.run()
                finally:
                    # Those of earlier tries have had this whole try to exit: at most the
                    # last one is left unreaped.
                    for pid in self.exiting:
                        with contextlib.suppress(ChildProcessError):
                            os.waitpid(pid, 0)
                    self.exiting = []
                    if supervisor.exiting_pid is not None:
                        self.exiting.append(supervisor.exiting_pid)
                return supervisor.shutdown_requested
            finally:
                log.close()
        finally:
            channel.close()  # the child has its own copy

    def _plan(self, workload: ExecuteTask, log: TryLogWriter) -> TryPlan:
        if workload.version != VERSION:
            raise ValueError(f"workload version {workload.version} is not {VERSION}")
        cached = self.cache.is_cached(workload.dag_file, workload.dag_file_hash)
        if cached:
            dag = self.cache.get_dag(workload.dag_file, workload.dag_file_hash, workload.dag_id)
        else:
            # What the DAG file prints or logs at import time belongs to this try's log.
            with capture_task_output(log.write_line):
                dag = self.cache.get_dag(
                    workload.dag_file,
                    workload.dag_file_hash,
                    workload.dag_id,
                    workload.dags_folder,
                )
            prime(self.cache.dags_in(workload.dag_file, workload.dag_file_hash))
            gc.freeze()  # the imported module is shared with every child: keep GC off it
        task = dag.get_task(workload.task_id)
        return TryPlan(
            workload=workload,
            task=task,
            mapped_ids=self.cache.mapped_task_ids(dag),
            log=log,
            hostname=self.hostname,
        )

    def _failed(self, workload: ExecuteTask, started: datetime, error: str) -> None:
        end = datetime.now(UTC)
        event = TaskOutcomeEvent.crash(
            workload, error, started, end, pid=os.getpid(), hostname=self.hostname
        )
        send_frame(self.sock, event)


def _setting(key: str, default: float) -> float:
    from tradewind import config

    return float(config.get("local_executor", key, default))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m tradewind.execution.worker FD", file=sys.stderr)
        return 2
    # Ctrl-C in a terminal reaches the whole foreground group: the executor decides when
    # workers stop, not the keyboard.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=int(args[0]))
    set_process_name("tradewind-wrkr")
    preload()
    keep_routing_installed()
    with contextlib.suppress(Exception):
        warm_up()
    from tradewind import config

    settings = SupervisorSettings(
        kill_grace=_setting("kill_grace", 5.0),
        heartbeat_interval=_setting("heartbeat_interval", 5.0),
    )
    cache = DagFileCache(import_timeout=float(config.get("core", "dagbag_import_timeout", 30.0)))
    gc.freeze()
    try:
        Worker(sock, settings, cache).serve()
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
