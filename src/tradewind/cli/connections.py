"""``tradewind connections add | get | delete | list | rotate-fernet-key``.

Passwords and extras are encrypted at rest. ``get`` and ``list --show-values`` mask the
password, the password in the URI and sensitive keys of the extra unless ``--show-secrets``.
``rotate-fernet-key`` (also top-level, as in Airflow) re-encrypts every stored secret, variables
included, with the first configured key, in one transaction.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from tradewind.cli.metadb import EPILOG, Failed, handles_errors, output_arg, session

if TYPE_CHECKING:
    from tradewind.db.queries.connections import ConnectionRecord
    from tradewind.sdk.connection import Connection

HANDLERS = "tradewind.cli.connections"
ID_HELP = "connection id: 1-250 letters, digits, '_', '-' or '.'"

FIELDS = [
    "id",
    "conn_id",
    "conn_type",
    "description",
    "host",
    "schema",
    "login",
    "password",
    "port",
    "is_encrypted",
    "is_extra_encrypted",
    "extra_dejson",
    "get_uri",
]

ROTATE_HELP = "re-encrypt every stored secret with the first key in core.fernet_key"
ROTATE_DESCRIPTION = (
    "Re-encrypt every connection password and extra and every variable with the first key "
    "in core.fernet_key (values stored in clear get encrypted too), in one transaction. "
    "To rotate: set core.fernet_key to NEW_KEY,OLD_KEY, run this, then drop OLD_KEY."
)


def add_parsers(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``connections`` command group, and Airflow's top-level ``rotate-fernet-key``."""
    group = groups.add_parser(
        "connections",
        help="add, get, delete and list connections",
        description="Connections: how to reach external systems; passwords and extras are "
        "encrypted in the metadata database.",
        epilog=EPILOG,
    )
    cmds = group.add_subparsers(dest="command", metavar="COMMAND")

    add = cmds.add_parser(
        "add",
        help="add a connection",
        description="Add a connection from --conn-uri, from --conn-json, or from "
        "--conn-type and the other --conn-* fields. Fails if CONN_ID exists.",
    )
    add.add_argument("conn_id", metavar="CONN_ID", help=ID_HELP)
    add.add_argument("--conn-uri", metavar="URI", help="the connection as a URI")
    add.add_argument("--conn-json", metavar="JSON", help="the connection as a JSON object")
    add.add_argument("--conn-type", metavar="TYPE", help="connection type (without a URI)")
    add.add_argument("--conn-host", metavar="HOST", help="host name or address")
    add.add_argument("--conn-login", metavar="LOGIN", help="user name")
    add.add_argument(
        "--conn-password", metavar="PASSWORD", help="password (encrypted; needs a Fernet key)"
    )
    add.add_argument("--conn-schema", metavar="SCHEMA", help="schema or database name")
    add.add_argument("--conn-port", metavar="PORT", type=int, help="port number")
    add.add_argument(
        "--conn-extra", metavar="JSON", help="extra fields as a JSON object (encrypted)"
    )
    add.add_argument("--conn-description", metavar="TEXT", help="what the connection is for")
    add.set_defaults(handler=f"{HANDLERS}:add")

    get = cmds.add_parser("get", help="show a connection (secrets masked)")
    get.add_argument("conn_id", metavar="CONN_ID", help="connection id")
    output_arg(get)
    _show_secrets_arg(get)
    get.set_defaults(handler=f"{HANDLERS}:get")

    delete = cmds.add_parser("delete", help="delete a connection")
    delete.add_argument("conn_id", metavar="CONN_ID", help="connection id")
    delete.set_defaults(handler=f"{HANDLERS}:delete")

    list_ = cmds.add_parser("list", help="list connections (ids and types unless --show-values)")
    output_arg(list_)
    list_.add_argument(
        "--show-values", action="store_true", help="show every field, secrets masked"
    )
    list_.add_argument(
        "--hide-sensitive",
        action="store_true",
        help="with --show-values, mask secrets (the default; for Airflow's scripts)",
    )
    _show_secrets_arg(list_)
    list_.set_defaults(handler=f"{HANDLERS}:list_")

    cmds.add_parser(
        "rotate-fernet-key", help=ROTATE_HELP, description=ROTATE_DESCRIPTION
    ).set_defaults(handler=f"{HANDLERS}:rotate_fernet_key")
    groups.add_parser(
        "rotate-fernet-key", help=ROTATE_HELP, description=ROTATE_DESCRIPTION
    ).set_defaults(handler=f"{HANDLERS}:rotate_fernet_key")


def _show_secrets_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--show-secrets",
        action="store_true",
        help="show the password and sensitive extra fields in clear",
    )


def _from_args(args: argparse.Namespace) -> Connection:
    """The connection described by ``add``'s arguments; CommandError for a bad mix."""
    from tradewind.cli.common import CommandError
    from tradewind.sdk.connection import Connection

    fields = ["conn_type", "conn_host", "conn_login", "conn_password", "conn_schema", "conn_port"]
    given = [f"--{f.replace('_', '-')}" for f in fields if getattr(args, f) is not None]
    if args.conn_uri is not None and args.conn_json is not None:
        raise CommandError("give one of --conn-uri and --conn-json")
    try:
        if args.conn_uri is not None:
            if given:
                raise CommandError(f"--conn-uri cannot be combined with {', '.join(given)}")
            conn = Connection.from_uri(args.conn_id, args.conn_uri)
        elif args.conn_json is not None:
            if given or args.conn_extra is not None:
                extra = ["--conn-extra"] if args.conn_extra is not None else []
                raise CommandError(
                    f"--conn-json cannot be combined with {', '.join([*given, *extra])}"
                )
            conn = Connection.from_json(args.conn_id, args.conn_json)
        elif args.conn_type is not None:
            conn = Connection(
                conn_id=args.conn_id,
                conn_type=args.conn_type,
                host=args.conn_host,
                login=args.conn_login,
                password=args.conn_password,
                schema=args.conn_schema,
                port=args.conn_port,
            )
        else:
            raise CommandError("give --conn-uri, --conn-json, or --conn-type (with other fields)")
    except (ValueError, TypeError) as err:
        raise CommandError(str(err)) from None
    if args.conn_extra is not None:
        conn.extra = args.conn_extra
    if args.conn_description is not None:
        conn.description = args.conn_description
    return conn


@handles_errors
def add(args: argparse.Namespace) -> int:
    import json

    from tradewind.cli.output import print_rows
    from tradewind.db.queries.connections import add_connection, check_connection
    from tradewind.secrets.encryption import load_encryptor
    from tradewind.secrets.masking import redact

    conn = _from_args(args)
    check_connection(conn)  # bad input is reported before the database is opened
    with session() as s:
        record = add_connection(s, conn, load_encryptor())
    print(f"Successfully added `conn_id`={record.conn_id}")
    extra = redact(record.to_connection().extra_dejson)
    row = {
        "conn_id": record.conn_id,
        "conn_type": record.conn_type,
        "host": record.host,
        "login": record.login,
        "port": record.port,
        "extra": json.dumps(extra) if extra else None,
    }
    print_rows([row], ["conn_id", "conn_type", "host", "login", "port", "extra"])
    return 0


def display(record: ConnectionRecord, show_secrets: bool, fmt: str) -> dict[str, Any]:
    """A connection as ``get`` shows it, with Airflow's field names."""
    import json

    from tradewind.secrets.masking import PLACEHOLDER, mask_uri, redact

    conn = record.to_connection()
    extra: Any = conn.extra_dejson
    uri = conn.get_uri()
    password = record.password
    if not show_secrets:
        extra = redact(extra)
        uri = mask_uri(uri)
        password = PLACEHOLDER if password else password
    if fmt != "json":  # one JSON text in a cell, not Python's repr
        extra = json.dumps(extra)
    return {
        "id": record.id,
        "conn_id": record.conn_id,
        "conn_type": record.conn_type,
        "description": record.description,
        "host": record.host,
        "schema": record.schema,
        "login": record.login,
        "password": password,
        "port": record.port,
        "is_encrypted": record.is_encrypted,
        "is_extra_encrypted": record.is_extra_encrypted,
        "extra_dejson": extra,
        "get_uri": uri,
    }


@handles_errors
def get(args: argparse.Namespace) -> int:
    from tradewind.cli.output import print_rows
    from tradewind.db.queries.connections import get_connection
    from tradewind.secrets.encryption import load_encryptor

    with session() as s:
        record = get_connection(s, args.conn_id, load_encryptor())
    if record is None:
        raise Failed(f"Connection {args.conn_id} not found")
    print_rows([display(record, args.show_secrets, args.output)], FIELDS, args.output)
    return 0


@handles_errors
def delete(args: argparse.Namespace) -> int:
    from tradewind.db.queries.connections import delete_connection

    with session() as s:
        deleted = delete_connection(s, args.conn_id)
    if not deleted:
        raise Failed(f"Did not find a connection with `conn_id`={args.conn_id}")
    print(f"Successfully deleted connection with `conn_id`={args.conn_id}")
    return 0


@handles_errors
def list_(args: argparse.Namespace) -> int:
    from tradewind.cli.metadb import check_value_flags
    from tradewind.cli.output import print_rows

    check_value_flags(args)
    if not args.show_values:
        from tradewind.db.queries.connections import list_connection_types

        with session() as s:
            pairs = list_connection_types(s)
        rows = [{"conn_id": i, "conn_type": t} for i, t in pairs]
        print_rows(rows, ["conn_id", "conn_type"], args.output)
        return 0
    from tradewind.db.queries.connections import list_connections
    from tradewind.secrets.encryption import load_encryptor

    with session() as s:
        records = list_connections(s, load_encryptor())
    rows = [display(r, args.show_secrets, args.output) for r in records]
    print_rows(rows, FIELDS, args.output)
    return 0


@handles_errors
def rotate_fernet_key(args: argparse.Namespace) -> int:
    from tradewind.db.queries.connections import rotate_connections
    from tradewind.db.queries.variables import rotate_variables
    from tradewind.secrets.encryption import require_encryptor

    encryptor = require_encryptor("rotate the Fernet key")
    with session() as s:
        conns, conns_new = rotate_connections(s, encryptor)
        variables, variables_new = rotate_variables(s, encryptor)
    print(
        f"Re-encrypted {conns} connection(s) and {variables} variable(s) with the first "
        "key in core.fernet_key"
    )
    if conns_new or variables_new:
        print(
            f"Encrypted {conns_new} connection(s) and {variables_new} variable(s) that were "
            "stored in clear"
        )
    return 0
