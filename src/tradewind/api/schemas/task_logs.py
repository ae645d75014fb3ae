"""Task log bodies: Airflow 3's structured messages, and Airflow 2's text."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class StructuredLogMessage(BaseModel):
    """One log message: when (not every message has a time), what, and its level."""

    model_config = ConfigDict(extra="allow")

    timestamp: datetime | None = None
    event: str


class TaskInstancesLogResponse(BaseModel):
    """A page of a try's log; ``continuation_token`` reads on from where it ended (null once
    the try has ended and everything was read)."""

    content: list[StructuredLogMessage] | list[str]
    continuation_token: str | None


class LogResponseV1(BaseModel):
    """Airflow 2's log page: the text, and a token to read on from where it ended."""

    continuation_token: str | None
    content: str
