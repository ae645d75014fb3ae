"""The declarative base, with a naming convention so migrations name constraints stably."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "idx_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Longest id (dag_id, task_id, run_id, keys) anywhere; ids are checked against it on input.
ID_LENGTH = 250


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
