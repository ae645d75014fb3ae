"""The audit log ("event log"): who did what, to which DAG, run or task, and when."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from tradewind.db.models import Log


def record(
    session: Session,
    event: str,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    map_index: int | None = None,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Add one audit row (in the caller's transaction, so it commits with the change)."""
    try:
        who = owner or getpass.getuser()
    except Exception:
        who = "unknown"
    session.add(
        Log(
            dttm=datetime.now(UTC),
            event=event,
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            map_index=map_index,
            owner=who,
            extra=json.dumps(extra, default=str) if extra else None,
        )
    )
