"""``tradewind dag-processor``: parse the DAGs folder into the metadata DB and keep it current.

Without ``--once`` it runs until interrupted (Ctrl-C or SIGTERM), following file changes;
with ``--once`` it does one full pass, prints what it found and exits (exit 0; import
errors are reported on stderr and recorded for the API and UI).
"""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from sqlalchemy.orm import sessionmaker

    from tradewind.cli.common import dags_folder
    from tradewind.dag_processing.manager import DagProcessor
    from tradewind.dag_processing.parser import warm_up
    from tradewind.db import schema_version
    from tradewind.db.session import get_engine

    folder = dags_folder(args)
    engine = get_engine()
    if not schema_version.is_current(engine):
        print(
            "error: the metadata database is not at the current schema; "
            "run 'tradewind db migrate' first",
            file=sys.stderr,
        )
        return 2
    processor = DagProcessor(folder, sessionmaker(bind=engine, expire_on_commit=False))
    if args.once:
        if not folder.exists():
            print(f"error: DAGs folder {folder} does not exist", file=sys.stderr)
            return 2
        warm_up()
        stats = processor.process_once()
        print(
            f"{folder}: {stats.files} file(s), {stats.dags} DAG(s) "
            f"({stats.new_dags} new, {stats.new_versions} new version(s)), "
            f"{stats.stale} stale, {stats.import_errors} import error(s) "
            f"in {stats.duration:.2f}s"
        )
        if stats.import_errors:
            print(
                "warning: some files failed to import; see 'tradewind dags list-import-errors'",
                file=sys.stderr,
            )
        return 0

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not folder.exists():
        logging.getLogger("tradewind.dag_processor").warning(
            "DAGs folder %s does not exist yet; waiting for it", folder
        )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    processor.run_forever(stop)
    return 0
