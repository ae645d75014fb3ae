"""Request and response bodies, with Airflow's field names (a module per resource)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A request body: an unknown field is a 422, not silently ignored."""

    model_config = ConfigDict(extra="forbid")
