"""What commands over the metadata DB share: a session on a checked schema, and errors turned
into one ``error: ...`` line and an exit code.

Exit codes: 0 success; 1 the thing asked for failed (not found, already exists, cannot be
decrypted, database unreachable); 2 bad input or setup (malformed JSON, invalid id, no
Fernet key, schema not migrated). Imports only the standard library at module level, so the
CLI stays light; the database is opened when a command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

Handler = Callable[[argparse.Namespace], int]

EPILOG = "Run 'tradewind COMMAND --help' for a command's options."


class Failed(Exception):
    """The command could not do what was asked: printed as ``error: ...``, exit code 1."""


def output_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=["table", "json", "yaml", "plain"],
        default="table",
        help="output format (default: table)",
    )


def database_label(url: str) -> str:
    """The URL with its password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@contextlib.contextmanager
def session() -> Iterator[Session]:
    """A session on the configured database, committed at the end of the block and rolled
    back if it raises; a schema that is missing or behind stops here with what to run."""
    from tradewind.cli.common import CommandError
    from tradewind.db.schema_version import HEAD_REVISION, current_revision
    from tradewind.db.session import database_url, session_scope

    url = database_url()
    with session_scope(url) as s:
        # Checked on the session's own connection: one checkout, and no Alembic import.
        current = current_revision(s.connection())
        if current != HEAD_REVISION:
            state = "has no schema" if current is None else f"is at schema revision {current}"
            raise CommandError(
                f"the metadata database {database_label(url)} {state}, this Tradewind needs "
                f"revision {HEAD_REVISION}: run 'tradewind db migrate'"
            )
        yield s


def _exit_code(err: Exception) -> int | None:
    from tradewind.cli.common import CommandError

    if isinstance(err, CommandError):
        return 2
    if isinstance(err, Failed):
        return 1
    from tradewind.exceptions import DagDefinitionError, TradewindException

    if isinstance(err, DagDefinitionError):  # an id that fails the strict pattern
        return 2
    if "tradewind.secrets.encryption" in sys.modules:
        from tradewind.secrets.encryption import DecryptionError, SecretsError

        if isinstance(err, DecryptionError):
            return 1
        if isinstance(err, SecretsError):  # no key, or a malformed one
            return 2
    if isinstance(err, ValueError) and isinstance(err, TradewindException):
        return 2  # invalid input found by a query function
    if isinstance(err, TradewindException):
        return 1  # a conflict: already exists, cannot delete
    if "sqlalchemy" in sys.modules:
        from sqlalchemy.exc import OperationalError

        if isinstance(err, OperationalError):
            return 1
    return None


def handles_errors(handler: Handler) -> Handler:
    """Run ``handler``; expected errors print ``error: ...`` and return their exit code."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except Exception as err:
            code = _exit_code(err)
            if code is None:
                raise
            message = str(err)
            if "sqlalchemy" in sys.modules:
                from sqlalchemy.exc import OperationalError

                if isinstance(err, OperationalError):
                    from tradewind.db.session import database_url

                    reason = str(err.orig).strip() or str(err)
                    message = (
                        f"cannot use the metadata database {database_label(database_url())}: "
                        f"{reason}"
                    )
            print(f"error: {message}", file=sys.stderr)
            return code

    return run


def check_value_flags(args: argparse.Namespace) -> None:
    """``list --show-values [--hide-sensitive | --show-secrets]`` (variables, connections)."""
    from tradewind.cli.common import CommandError

    if (args.hide_sensitive or args.show_secrets) and not args.show_values:
        raise CommandError("--hide-sensitive and --show-secrets go with --show-values")
    if args.hide_sensitive and args.show_secrets:
        raise CommandError("give one of --hide-sensitive and --show-secrets")


@contextlib.contextmanager
def service_secrets_reader() -> Iterator[None]:
    """Connections from the environment and the metadata DB while the block runs, as the
    service reads them: what the CLI does to XCom storage on the service's behalf (purging,
    re-encrypting) may use a connection kept in the DB (``xcom.objectstorage_conn_id``)."""
    from tradewind.db.session import database_url, get_engine
    from tradewind.scheduler.worker_services import service_secrets
    from tradewind.sdk.secrets_access import use_reader

    with use_reader(service_secrets(get_engine(database_url()))):
        yield
