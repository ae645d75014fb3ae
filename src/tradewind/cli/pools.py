"""``tradewind pools set | get | delete | list``, with Airflow's field names."""

from __future__ import annotations

import argparse

from tradewind.cli.metadb import EPILOG, Failed, handles_errors, output_arg, session

HANDLERS = "tradewind.cli.pools"
FIELDS = ["pool", "slots", "description", "include_deferred"]


def add_parsers(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``pools`` command group to the CLI."""
    group = groups.add_parser(
        "pools",
        help="set, get, delete and list pools",
        description="Pools: named budgets of slots that cap how many tasks run at once. "
        "default_pool (128 slots) always exists.",
        epilog=EPILOG,
    )
    cmds = group.add_subparsers(dest="command", metavar="COMMAND")

    set_ = cmds.add_parser("set", help="create or replace a pool")
    set_.add_argument("pool", metavar="NAME", help="pool name")
    set_.add_argument("slots", metavar="SLOTS", type=int, help="pool slots (-1: unlimited)")
    set_.add_argument("description", metavar="DESCRIPTION", help="pool description")
    set_.add_argument(
        "--include-deferred",
        action="store_true",
        help="count deferred tasks against the pool's slots",
    )
    set_.set_defaults(handler=f"{HANDLERS}:set_")

    get = cmds.add_parser("get", help="show a pool")
    get.add_argument("pool", metavar="NAME", help="pool name")
    output_arg(get)
    get.set_defaults(handler=f"{HANDLERS}:get")

    delete = cmds.add_parser("delete", help="delete a pool (not default_pool)")
    delete.add_argument("pool", metavar="NAME", help="pool name")
    delete.set_defaults(handler=f"{HANDLERS}:delete")

    list_ = cmds.add_parser("list", help="list pools")
    output_arg(list_)
    list_.set_defaults(handler=f"{HANDLERS}:list_")


@handles_errors
def set_(args: argparse.Namespace) -> int:
    from tradewind.db.queries.pools import set_pool

    with session() as s:
        created = set_pool(s, args.pool, args.slots, args.description, args.include_deferred)
    print(f"Pool {args.pool} {'created' if created else 'updated'}")
    return 0


@handles_errors
def get(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from tradewind.cli.output import print_rows
    from tradewind.db.queries.pools import get_pool

    with session() as s:
        record = get_pool(s, args.pool)
    if record is None:
        raise Failed(f"Pool {args.pool} does not exist")
    print_rows([asdict(record)], FIELDS, args.output)
    return 0


@handles_errors
def delete(args: argparse.Namespace) -> int:
    from tradewind.db.queries.pools import delete_pool

    with session() as s:
        deleted = delete_pool(s, args.pool)
    if not deleted:
        raise Failed(f"Pool {args.pool} does not exist")
    print(f"Pool {args.pool} deleted")
    return 0


@handles_errors
def list_(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from tradewind.cli.output import print_rows
    from tradewind.db.queries.pools import list_pools

    with session() as s:
        records = list_pools(s)
    print_rows([asdict(r) for r in records], FIELDS, args.output)
    return 0
