"""DAG files that failed to import: Airflow 3's ``ImportErrorResponse`` and Airflow 2's
``ImportError`` (the same fields but ``bundle_name``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ImportErrorResponse(BaseModel):
    import_error_id: int
    timestamp: datetime
    filename: str
    bundle_name: str | None
    stack_trace: str


class ImportErrorCollectionResponse(BaseModel):
    import_errors: list[ImportErrorResponse]
    total_entries: int


class ImportErrorV1(BaseModel):
    import_error_id: int
    timestamp: datetime
    filename: str
    stack_trace: str


class ImportErrorCollectionV1(BaseModel):
    import_errors: list[ImportErrorV1]
    total_entries: int
