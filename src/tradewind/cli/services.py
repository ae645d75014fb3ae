"""``tradewind scheduler``, ``triggerer`` and ``standalone``: the long-running service
commands.

``standalone`` is the embedded default on one machine: it makes ``$TRADEWIND_HOME`` (SQLite,
a Fernet key, logs), migrates the database, and runs the scheduler with the local executor
in this process, with the DAG processor, a triggerer and the REST API in threads of it, until
Ctrl-C or SIGTERM. Only DAG files are parsed in a process of their own (a small parse server
that imports no database code), and tasks in the executor's workers.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def add_parsers(groups: Any, dags_folder_arg: Any) -> None:
    sched = groups.add_parser(
        "scheduler",
        help="run the scheduler with its executor until interrupted",
        description="Create runs on schedule, start queued runs, decide which tasks are ready "
        "and run them on the local executor's warm workers, until Ctrl-C or SIGTERM.",
    )
    dags_folder_arg(sched)
    sched.add_argument("--workers", type=int, help="local executor workers (default: config)")
    sched.set_defaults(handler="tradewind.cli.services:scheduler")

    triggerer = groups.add_parser(
        "triggerer",
        help="run the triggers deferred tasks wait for, until interrupted",
        description="Claim triggers of deferred tasks (up to triggerer.capacity), run them on "
        "one asyncio loop, and send each task back to the scheduler when its trigger fires, "
        "until Ctrl-C or SIGTERM. Several triggerers share the triggers.",
    )
    triggerer.add_argument(
        "--capacity", type=int, help="most triggers to run at once (default: triggerer.capacity)"
    )
    triggerer.set_defaults(handler="tradewind.cli.services:triggerer")

    standalone = groups.add_parser(
        "standalone",
        help="run everything on this machine: database, DAG processor, scheduler, workers",
        description="Set up $TRADEWIND_HOME on first start (SQLite database, Fernet key, logs, "
        "an admin user whose password is printed once), migrate the database, then run the "
        "DAG processor, the scheduler with local workers, a triggerer and the REST API until "
        "Ctrl-C or SIGTERM.",
    )
    dags_folder_arg(standalone)
    standalone.add_argument("--workers", type=int, help="local executor workers (default: config)")
    standalone.add_argument(
        "--port", "-p", type=int, help="REST API port (default: api.port, 8080)"
    )
    standalone.add_argument(
        "--host", "-H", help="REST API address to listen on (default: api.host, 127.0.0.1)"
    )
    standalone.set_defaults(handler="tradewind.cli.services:standalone")


def _stop_on_signals(stop: threading.Event, on_stop: Any = None) -> None:
    def handle(signum: int, frame: Any) -> None:
        stop.set()
        if on_stop is not None:
            on_stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _check_schema() -> Any:
    from tradewind.cli.common import CommandError
    from tradewind.db import schema_version
    from tradewind.db.session import database_url, get_engine

    engine = get_engine(database_url())
    if not schema_version.is_current(engine):
        raise CommandError(
            "the metadata database schema is not current: run 'tradewind db migrate'"
        )
    return engine


def _run_scheduler(engine: Any, folder: Path, workers: int | None) -> int:
    from tradewind.exceptions import SchedulerDeclaredDead
    from tradewind.executors.local import LocalExecutor
    from tradewind.scheduler.loop import Scheduler
    from tradewind.scheduler.wakeup import WakeupListener
    from tradewind.scheduler.worker_services import DatabaseWorkerServices, service_secrets
    from tradewind.secrets.encryption import require_encryptor

    require_encryptor("start the scheduler (workers read connections and variables)")
    services = DatabaseWorkerServices(engine, service_secrets(engine))
    executor = LocalExecutor(services, workers=workers)
    scheduler = Scheduler(engine, executor, dags_folder=str(folder))
    stop = threading.Event()
    _stop_on_signals(stop, executor.wake)
    listener = WakeupListener(executor.wake)
    listener.start()
    try:
        scheduler.run(stop)
    except SchedulerDeclaredDead as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        listener.stop()
    return 0


def scheduler(args: argparse.Namespace) -> int:
    from tradewind.cli.common import CommandError, dags_folder, report

    try:
        engine = _check_schema()
        return _run_scheduler(engine, dags_folder(args), args.workers)
    except CommandError as err:
        return report(err)
    except Exception as err:
        from tradewind.secrets.encryption import SecretsError

        if isinstance(err, SecretsError):
            print(f"error: {err}", file=sys.stderr)
            return 2
        raise


def triggerer(args: argparse.Namespace) -> int:
    from tradewind.cli.common import CommandError, report
    from tradewind.triggerer.service import TriggererService

    try:
        engine = _check_schema()
    except CommandError as err:
        return report(err)
    stop = threading.Event()
    service = TriggererService(engine, capacity=args.capacity)
    _stop_on_signals(stop, service.wake)
    service.run(stop)
    return 0


def _start_triggerer(engine: Any) -> tuple[threading.Event, threading.Thread]:
    """A triggerer in a thread of this process (``standalone``): it shares the
    interpreter, so it costs little memory; its triggers run on their own event loop."""
    from tradewind.triggerer.service import TriggererService

    stop = threading.Event()
    service = TriggererService(engine)
    thread = threading.Thread(target=service.run, args=(stop,), name="triggerer", daemon=True)
    thread.start()
    return stop, thread


def _start_dag_processor(engine: Any, folder: Path) -> tuple[threading.Event, threading.Thread]:
    """The DAG processor in a thread of this process (``standalone``): it shares the
    database code already loaded here; files are parsed by a :class:`ParseServer`."""
    import logging

    from sqlalchemy.orm import sessionmaker

    from tradewind.dag_processing.manager import DagProcessor
    from tradewind.dag_processing.parse_server import ParseServer

    # What it finds (new versions, import errors) is shown as a separate processor showed it.
    processor_log = logging.getLogger("tradewind.dag_processor")
    if not processor_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        processor_log.addHandler(handler)
        processor_log.setLevel(logging.INFO)
        processor_log.propagate = False
    server = ParseServer()
    processor = DagProcessor(
        folder, sessionmaker(bind=engine, expire_on_commit=False), parse=server.parse_files
    )
    stop = threading.Event()

    def run() -> None:
        try:
            processor.run_forever(stop)
        except Exception:
            processor_log.exception("the DAG processor stopped; DAG files are no longer read")
        finally:
            server.close()

    thread = threading.Thread(target=run, name="dag-processor", daemon=True)
    thread.start()
    return stop, thread


def _ensure_admin(engine: Any) -> str | None:
    """With no API user at all, make ``admin`` with a random password; that password (shown
    once), else ``None``."""
    import secrets

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from tradewind.api.auth.passwords import hash_password
    from tradewind.db.models import User
    from tradewind.db.queries.users import create_user

    with Session(engine) as session, session.begin():
        if session.scalar(select(User.id).limit(1)) is not None:
            return None
        password = secrets.token_urlsafe(16)
        create_user(session, "admin", hash_password(password), ["Admin"])
    return password


def standalone(args: argparse.Namespace) -> int:
    from sqlalchemy.orm import Session

    from tradewind import config
    from tradewind.cli.common import dags_folder
    from tradewind.db import schema_version
    from tradewind.db.queries.pools import ensure_default_pool
    from tradewind.db.session import database_url, get_engine
    from tradewind.secrets.encryption import ensure_fernet_key
    from tradewind.task_logs.paths import logs_folder

    home = config.home()
    home.mkdir(parents=True, exist_ok=True)
    ensure_fernet_key(home)
    url = database_url()
    engine = get_engine(url)
    if not schema_version.is_current(engine):
        # Alembic is imported only when there is something to do: it would stay loaded, at
        # about 10 MB, for the life of the service.
        from tradewind.db import migrate

        migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        ensure_default_pool(session)
    folder = dags_folder(args)
    folder.mkdir(parents=True, exist_ok=True)
    from sqlalchemy.engine import make_url

    from tradewind.cli.api_server import listen_address, open_server
    from tradewind.cli.common import CommandError, report

    host, port = listen_address(args)
    try:
        api = open_server(host, port, engine)
    except CommandError as err:
        return report(err)
    admin_password = _ensure_admin(engine)

    print("Tradewind standalone")
    print(f"  home:        {home}")
    print(f"  database:    {make_url(url).render_as_string(hide_password=True)}")
    print(f"  DAGs folder: {folder}")
    print(f"  task logs:   {logs_folder()}")
    print(f"  REST API:    http://{host}:{api.port}/api/v2 (docs at /docs)")
    if admin_password is not None:
        print(f"  API user 'admin' created, password: {admin_password}")
        print("  (shown only now; more users: 'tradewind users create')")
    print("  New DAGs start paused: 'tradewind dags unpause DAG_ID', then")
    print("  'tradewind dags trigger DAG_ID' (in another terminal). Ctrl-C stops everything.")
    sys.stdout.flush()
    stop_processor, processor_thread = _start_dag_processor(engine, folder)
    stop_triggerer, triggerer_thread = _start_triggerer(engine)
    api_thread = api.start_thread()
    try:
        return _run_scheduler(engine, folder, args.workers)
    finally:
        api.stop()
        stop_triggerer.set()
        stop_processor.set()
        triggerer_thread.join(timeout=10)
        api_thread.join(timeout=10)
        processor_thread.join(timeout=10)
