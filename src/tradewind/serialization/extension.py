"""The contract between the XCom codec and the modules that store one family of types.

:mod:`tradewind.serialization.codec` walks a value and hands each object it does not know
itself to a family module (:mod:`~tradewind.serialization.classes` for dataclasses, pydantic
models and enums, :mod:`~tradewind.serialization.arrays` for numpy and pandas,
:mod:`~tradewind.serialization.pickled` for the pickle opt-in). A family's encoder gets
``recurse`` to store what the object holds through the codec (so a ``datetime`` inside a
dataclass stays a ``datetime``) and returns JSON data; its decoder gets ``rebuild``, the
codec's inverse, for the same purpose. An encoder that recognises a value it still cannot
store raises :class:`Refused` with the reason, and the codec turns that into one error that
names the value's type and where in the pushed value it sits.

>>> raise Refused("arrays of dtype object need pickle")
Traceback (most recent call last):
...
tradewind.serialization.extension.Refused: arrays of dtype object need pickle
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Stores a part of the value: ``recurse(part, label)``, where ``label`` says where the part
#: is for error messages (``"['rows']"``, ``".name"``).
Recurse = Callable[[Any, str], Any]

#: Turns stored JSON data back into the value (the codec's ``from_jsonable``).
Rebuild = Callable[[Any], Any]


class Refused(Exception):
    """A family encoder recognised the value but cannot store it; the message says why."""
