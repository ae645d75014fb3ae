"""Request parts shared by variables, pools and connections: Airflow 3's bulk bodies
(``PATCH /variables``, ``/pools``, ``/connections``), ``update_mask``, and :data:`DbText`,
text a database can store.

A bulk body is a list of actions, each ``create``, ``update`` or ``delete`` with its entities
and what to do when an entity exists (``action_on_existence``: fail, skip, overwrite) or does
not (``action_on_non_existence``: fail, skip). The answer lists, per kind of action, the keys
done and the errors met; an action that fails changes nothing, and the others still apply.

>>> split_mask(["value,description", " slots "])
['value', 'description', 'slots']
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, Field

from tradewind.api.schemas import StrictModel
from tradewind.db.queries.search import storable

T = TypeVar("T")


def _storable(value: str) -> str:
    if not storable(value):
        raise ValueError("text must not contain NUL characters or lone surrogates")
    return value


#: The largest integer an INTEGER column holds (map indexes, slots): bigger is a 422.
INT_MAX = 2**31 - 1

#: A request's text field stored as it is: PostgreSQL refuses NUL characters, and a lone
#: surrogate cannot be encoded, so such text is a 422 rather than a failed write.
DbText = Annotated[str, AfterValidator(_storable)]


class BulkAction(StrEnum):
    CREATE = "create"
    DELETE = "delete"
    UPDATE = "update"


class BulkActionOnExistence(StrEnum):
    FAIL = "fail"
    SKIP = "skip"
    OVERWRITE = "overwrite"


class BulkActionNotOnExistence(StrEnum):
    FAIL = "fail"
    SKIP = "skip"


class BulkCreateAction(StrictModel, Generic[T]):
    action: Literal[BulkAction.CREATE]
    entities: list[T] = Field(description="The entities to create.")
    action_on_existence: BulkActionOnExistence = BulkActionOnExistence.FAIL


class BulkUpdateAction(StrictModel, Generic[T]):
    action: Literal[BulkAction.UPDATE]
    entities: list[T] = Field(description="The entities to update.")
    update_mask: list[str] | None = Field(
        default=None, description="Only these fields of each entity are applied."
    )
    action_on_non_existence: BulkActionNotOnExistence = BulkActionNotOnExistence.FAIL


class BulkDeleteAction(StrictModel):
    action: Literal[BulkAction.DELETE]
    entities: list[str] = Field(description="The ids (keys, names) of the entities to delete.")
    action_on_non_existence: BulkActionNotOnExistence = BulkActionNotOnExistence.FAIL


class BulkBody(StrictModel, Generic[T]):
    actions: list[
        Annotated[
            BulkCreateAction[T] | BulkUpdateAction[T] | BulkDeleteAction,
            Field(discriminator="action"),
        ]
    ]


class BulkActionResponse(BaseModel):
    success: list[str] = Field(default_factory=list, description="Ids done.")
    errors: list[dict[str, Any]] = Field(
        default_factory=list, description="What failed: ``error`` and ``status_code``."
    )


class BulkResponse(BaseModel):
    create: BulkActionResponse | None = None
    update: BulkActionResponse | None = None
    delete: BulkActionResponse | None = None


class ActionError(Exception):
    """A request (or one action of a bulk request) is refused: the route answers ``status``
    with ``error``; in a bulk request it is recorded in the answer, and that action does
    nothing."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def results_for(response: BulkResponse, action: BulkAction) -> BulkActionResponse:
    """The answer's part for ``action``, made on first use (absent kinds stay null)."""
    current: BulkActionResponse | None = getattr(response, action.value)
    if current is None:
        current = BulkActionResponse()
        setattr(response, action.value, current)
    return current


def duplicates(ids: list[str]) -> list[str]:
    """Ids named more than once in one action (sorted)."""
    return sorted(i for i, n in Counter(ids).items() if n > 1)


def update_fields(
    sent: set[str], mask: list[str] | None, *, allowed: set[str], immutable: set[str]
) -> set[str]:
    """The fields a PATCH changes, by Airflow 3's rule: those the body sends, narrowed to
    ``update_mask`` when there is one. Naming an immutable field in the mask, or one that
    does not exist, is refused (400).

    >>> sorted(update_fields({"key", "value"}, None, allowed={"value"}, immutable={"key"}))
    ['value']
    >>> try:
    ...     update_fields({"key"}, ["key"], allowed={"value"}, immutable={"key"})
    ... except ActionError as err:
    ...     print(err.status)
    400
    """
    if mask is None:
        return sent & allowed
    fixed = set(mask) & immutable
    if fixed:
        raise ActionError(
            400,
            "Update not allowed: the following fields are immutable and cannot be modified: "
            f"{fixed}",
        )
    unknown = sorted(set(mask) - allowed)
    if unknown:
        raise ActionError(
            400,
            f"Invalid field(s) in update_mask: {', '.join(unknown)} "
            f"(fields that can be updated: {', '.join(sorted(allowed))})",
        )
    return sent & set(mask)


def split_mask(update_mask: list[str] | None) -> list[str] | None:
    """``update_mask`` as field names: repeated (``?update_mask=a&update_mask=b``, Airflow 3)
    or comma-separated (``?update_mask=a,b``, Airflow 2); ``None`` when not given."""
    if not update_mask:
        return None
    fields = [part.strip() for item in update_mask for part in item.split(",")]
    return [f for f in fields if f] or None
