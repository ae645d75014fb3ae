"""``tradewind xcom purge | rotate-key | generate-key``: XCom storage upkeep."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

from tradewind.cli.metadb import EPILOG, handles_errors, service_secrets_reader, session

HANDLERS = "tradewind.cli.xcom"
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def add_parsers(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``xcom`` command group to the CLI."""
    group = groups.add_parser(
        "xcom",
        help="purge old XCom values, rotate their encryption key",
        description="Upkeep of XCom storage: the metadata DB and xcom.objectstorage_path.",
        epilog=EPILOG,
    )
    cmds = group.add_subparsers(dest="command", metavar="COMMAND")

    purge = cmds.add_parser(
        "purge",
        help="delete XCom values older than a date, with their stored data",
        description="Delete XCom rows older than --older-than and what they refer to in "
        "object storage, and stored objects that old which no row refers to (left by tasks "
        "killed while pushing).",
    )
    purge.add_argument(
        "--older-than",
        required=True,
        metavar="WHEN",
        help="an ISO 8601 date or datetime, or an age such as 30d, 12h, 90m, 2w",
    )
    purge.add_argument("--dag-id", "-d", help="only this DAG's values")
    purge.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    purge.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    purge.set_defaults(handler=f"{HANDLERS}:purge")

    rotate = cmds.add_parser(
        "rotate-key",
        help="seal every stored XCom value with the first key of xcom.encryption_keys",
        description="Put the new key first in xcom.encryption_keys (keep the old one after "
        "it), run this, then remove the old key. Also encrypts values stored in clear.",
    )
    rotate.set_defaults(handler=f"{HANDLERS}:rotate_key")

    generate = cmds.add_parser("generate-key", help="print a new entry for xcom.encryption_keys")
    generate.add_argument("key_id", metavar="KEY_ID", help="a name for the key, e.g. k2")
    generate.set_defaults(handler=f"{HANDLERS}:generate_key")


def cutoff_of(text: str, now: datetime | None = None) -> datetime:
    """``--older-than``: an age (``30d``) before ``now``, or a date.

    >>> cutoff_of("2d", datetime(2024, 1, 3, tzinfo=UTC))
    datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    from tradewind.cli.common import CommandError, parse_date

    found = _DURATION.match(text)
    if found:
        amount, unit = int(found.group(1)), _UNITS[found.group(2)]
        return (now or datetime.now(UTC)) - timedelta(**{unit: amount})
    try:
        value = parse_date(text)
    except CommandError:
        value = None
    if value is None:
        raise CommandError(
            f"--older-than {text!r} is neither an ISO 8601 date nor an age like 30d, 12h, 2w"
        )
    return value.astimezone(UTC)


@handles_errors
def purge(args: argparse.Namespace) -> int:
    from tradewind.cli.runs import _confirm
    from tradewind.db.queries.xcom_purge import purge_older_than
    from tradewind.xcom.backend import get_backend

    cutoff = cutoff_of(args.older_than)
    backend = get_backend()
    what = f"of DAG {args.dag_id!r} " if args.dag_id else ""
    if not args.dry_run and not _confirm(
        f"Delete XCom values {what}older than {cutoff.isoformat()} and their stored data?",
        args.yes,
    ):
        print("cancelled; nothing changed")
        return 1
    with service_secrets_reader(), session() as s:
        report = purge_older_than(
            s, cutoff, dag_id=args.dag_id, dry_run=args.dry_run, backend=backend
        )
    verb = "Would delete" if args.dry_run else "Deleted"
    print(
        f"{verb} {report.rows} XCom value(s) {what}older than {cutoff.isoformat()} and "
        f"{report.orphans} stored object(s) no value refers to"
    )
    return 0


@handles_errors
def rotate_key(args: argparse.Namespace) -> int:
    from tradewind.cli.common import CommandError
    from tradewind.db.queries.xcom_rotation import rotate_keys
    from tradewind.xcom.backend import get_backend
    from tradewind.xcom.object_storage_xcom import ObjectStorageXCom

    backend = get_backend()
    if not isinstance(backend, ObjectStorageXCom):
        raise CommandError(
            f"xcom.backend is {type(backend).__module__}.{type(backend).__qualname__}: "
            "encryption and key rotation belong to the built-in backend"
        )
    with service_secrets_reader(), session() as s:
        report = rotate_keys(s, backend)
    primary = backend.keyring.primary_id if backend.keyring else "?"
    print(
        f"Sealed with key {primary!r}: {report.in_db} value(s) in the DB, "
        f"{report.in_storage} in object storage; {report.unchanged} already were"
    )
    return 0


@handles_errors
def generate_key(args: argparse.Namespace) -> int:
    from tradewind.xcom.encryption import generate_key_entry

    print(generate_key_entry(args.key_id))
    return 0
