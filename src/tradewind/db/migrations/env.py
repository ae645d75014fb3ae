"""Alembic environment: run migrations on the connection Tradewind hands over."""

from __future__ import annotations

from alembic import context

from tradewind.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        user_module_prefix="tradewind.db.types.",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
