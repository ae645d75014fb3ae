"""Filters an API list accepts as free text: Airflow's ``*_pattern`` searches, and the check
that a caller's text can be sent to the database at all.

A pattern is Airflow's: a case-insensitive substring match (``ILIKE '%text%'``) where ``%``
and ``_`` keep their ``LIKE`` meaning, ``~`` alone means everything, and ``a | b`` matches
either term. A backslash is an ordinary character (PostgreSQL would otherwise take it as the
escape character and fail on a trailing one).

>>> from sqlalchemy import column
>>> print(search_clause(column("key"), "db | api"))
lower(key) LIKE lower(:key_1) ESCAPE '\\' OR lower(key) LIKE lower(:key_2) ESCAPE '\\'
>>> search_clause(column("key"), "~") is None
True
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_

#: The escape character of every pattern: escaped in the text, so it is literal.
_ESCAPE = "\\"


def storable(text: str) -> bool:
    """Whether ``text`` can be compared or stored: PostgreSQL refuses NUL characters, and
    a lone surrogate cannot be encoded. Text failing this matches nothing that exists.

    >>> storable("a\\x00b"), storable("plain")
    (False, True)
    """
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def search_clause(column: Any, pattern: str | None) -> Any:
    """The condition ``pattern`` puts on ``column``; ``None`` when it filters nothing."""
    if pattern is None or pattern in ("", "~"):
        return None
    terms = [pattern]
    if "|" in pattern:
        split = [term.strip() for term in pattern.split("|") if term.strip()]
        if len(split) > 1:
            terms = split
    clauses = [
        column.ilike(f"%{term.replace(_ESCAPE, _ESCAPE * 2)}%", escape=_ESCAPE) for term in terms
    ]
    return clauses[0] if len(clauses) == 1 else or_(*clauses)
