"""``tradewind db migrate | check | reset``: manage the metadata DB schema."""

from __future__ import annotations

import argparse
import sys


def _engine_and_label() -> tuple[object, str]:
    from sqlalchemy.engine import make_url

    from tradewind.db.session import database_url, get_engine

    url = database_url()
    return get_engine(url), make_url(url).render_as_string(hide_password=True)


def _ensure_default_pool(engine: object) -> None:
    from sqlalchemy.orm import Session

    from tradewind.db.queries.pools import ensure_default_pool

    with Session(engine) as session, session.begin():  # type: ignore[arg-type]
        ensure_default_pool(session)


def migrate(args: argparse.Namespace) -> int:
    from tradewind.db import migrate as m

    engine, label = _engine_and_label()
    before = m.current_revision(engine)  # type: ignore[arg-type]
    m.upgrade(engine)  # type: ignore[arg-type]
    _ensure_default_pool(engine)
    after = m.current_revision(engine)  # type: ignore[arg-type]
    if before == after:
        print(f"{label}: already at revision {after}")
    else:
        print(f"{label}: migrated from {before or 'an empty database'} to revision {after}")
    return 0


def check(args: argparse.Namespace) -> int:
    from tradewind.db import migrate as m

    engine, label = _engine_and_label()
    current = m.current_revision(engine)  # type: ignore[arg-type]
    head = m.head_revision()
    if current != head:
        print(
            f"{label}: at revision {current or 'none'}, expected {head}; "
            "run 'tradewind db migrate'",
            file=sys.stderr,
        )
        return 1
    diff = m.pending_changes(engine)  # type: ignore[arg-type]
    if diff:
        print(f"{label}: schema differs from the models:", file=sys.stderr)
        for item in diff:
            print(f"  {item}", file=sys.stderr)
        return 1
    print(f"{label}: schema is current (revision {head})")
    return 0


def reset(args: argparse.Namespace) -> int:
    from tradewind.db import migrate as m

    engine, label = _engine_and_label()
    if not args.yes:
        if not sys.stdin.isatty():
            print("error: 'db reset' deletes everything; pass --yes to confirm", file=sys.stderr)
            return 2
        answer = input(f"Delete every table and all data in {label}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("cancelled; nothing changed")
            return 1
    m.reset(engine)  # type: ignore[arg-type]
    _ensure_default_pool(engine)
    print(f"{label}: reset to an empty schema at revision {m.head_revision()}")
    return 0
