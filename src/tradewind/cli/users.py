"""``tradewind users create | list | delete | revoke-tokens``: who may use the REST API."""

from __future__ import annotations

import argparse

from tradewind.cli.metadb import EPILOG, Failed, handles_errors, output_arg, session

HANDLERS = "tradewind.cli.users"
FIELDS = ["username", "email", "first_name", "last_name", "roles", "active", "last_login"]


def add_parsers(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``users`` command group to the CLI."""
    group = groups.add_parser(
        "users",
        help="create, list and delete REST API users",
        description="Users of the REST API and their roles: Admin, Op, User, Viewer, Public "
        "(Airflow's meanings), or a custom role that DAGs grant access to in access_control.",
        epilog=EPILOG,
    )
    cmds = group.add_subparsers(dest="command", metavar="COMMAND")

    create = cmds.add_parser("create", help="create a user")
    create.add_argument("--username", "-u", required=True, help="user name")
    create.add_argument(
        "--password",
        "-p",
        help="password (at least 8 characters); without it, asked for at the prompt",
    )
    create.add_argument(
        "--use-random-password",
        action="store_true",
        help="make a random password and print it once",
    )
    create.add_argument(
        "--role",
        "-r",
        action="append",
        required=True,
        help="role (Admin, Op, User, Viewer, Public, or a custom one); repeat for several",
    )
    create.add_argument("--email", "-e", help="e-mail address")
    create.add_argument("--firstname", "-f", help="first name")
    create.add_argument("--lastname", "-l", help="last name")
    create.set_defaults(handler=f"{HANDLERS}:create")

    list_ = cmds.add_parser("list", help="list users")
    output_arg(list_)
    list_.set_defaults(handler=f"{HANDLERS}:list_")

    delete = cmds.add_parser("delete", help="delete a user")
    delete.add_argument("--username", "-u", required=True, help="user name")
    delete.set_defaults(handler=f"{HANDLERS}:delete")

    revoke = cmds.add_parser(
        "revoke-tokens",
        help="replace the token signing key: every API token issued so far stops working",
        description="Replace the key API tokens are signed with (kept in the metadata DB), so "
        "every token issued so far is refused within seconds. With api.secret_key set, change "
        "that setting instead and restart the API servers.",
    )
    revoke.set_defaults(handler=f"{HANDLERS}:revoke_tokens")


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    import secrets

    from tradewind.cli.common import CommandError

    if args.use_random_password:
        if args.password:
            raise CommandError("give one of --password and --use-random-password")
        return secrets.token_urlsafe(16), True
    if args.password:
        return args.password, False
    import getpass

    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat the password: "):
        raise CommandError("the passwords do not match")
    return first, False


@handles_errors
def create(args: argparse.Namespace) -> int:
    from tradewind.api.auth.passwords import hash_password
    from tradewind.db.queries import users

    password, generated = _password(args)
    users.check_new_user(args.username, password, args.role)
    with session() as s:
        users.create_user(
            s,
            args.username,
            hash_password(password),
            args.role,
            email=args.email,
            first_name=args.firstname,
            last_name=args.lastname,
        )
    print(f"User {args.username} created with role(s) {', '.join(args.role)}")
    if generated:
        print(f"Password: {password}")
    return 0


@handles_errors
def list_(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from tradewind.cli.output import print_rows
    from tradewind.db.queries.users import list_users

    with session() as s:
        records = list_users(s)
    rows = []
    for record in records:
        row = asdict(record)
        row["roles"] = ", ".join(record.roles)
        rows.append(row)
    print_rows(rows, FIELDS, args.output)
    return 0


@handles_errors
def delete(args: argparse.Namespace) -> int:
    from tradewind.db.queries.users import delete_user

    with session() as s:
        if not delete_user(s, args.username):
            raise Failed(f"User {args.username} does not exist")
    print(f"User {args.username} deleted")
    return 0


@handles_errors
def revoke_tokens(args: argparse.Namespace) -> int:
    from tradewind import config
    from tradewind.api.auth.tokens import replace_key

    with session() as s:
        replace_key(s)
    print("Token signing key replaced: tokens issued before now are refused.")
    if config.get("api", "secret_key"):
        print(
            "warning: api.secret_key is set, and servers sign with it, not with the key "
            "replaced: change api.secret_key and restart the API servers to revoke tokens."
        )
    return 0
