"""The pickle opt-in for XCom values: ``xcom.allow_pickle``, off unless a deployment says so.

Reading a pickle runs whatever code the pickle names, so a pickled value is exactly as safe
as everything that can write XCom. That is why Tradewind never pickles by default and why
the setting is checked on both sides: with ``allow_pickle = true`` a value the typed codec
cannot store (only that part of it: the rest stays readable JSON) is pickled instead of
failing, and a pickled value is only ever unpickled where the setting is on too. This is the
only module allowed to import :mod:`pickle` (ruff bans it everywhere else).

>>> allowed()
False
"""

from __future__ import annotations

import base64
import binascii
import pickle  # noqa: TID251 -- the one module implementing the xcom.allow_pickle opt-in
from typing import Any

from tradewind.exceptions import XComError
from tradewind.serialization.extension import Refused

SETTING = "xcom.allow_pickle"
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off", ""})


def allowed() -> bool:
    """Whether ``xcom.allow_pickle`` is on (read now, from the environment and the file)."""
    from tradewind import config

    value = config.get("xcom", "allow_pickle", False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise XComError(f"{SETTING} must be true or false, not {value!r}")


def dumps(value: Any) -> str:
    """``value`` pickled, as base64 text (:class:`Refused` if pickle cannot store it)."""
    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as err:  # pickling runs the object's own __reduce__: anything goes
        raise Refused(f"{SETTING} is on, but pickle cannot store it either ({err})") from None
    return base64.b64encode(data).decode("ascii")


def loads(raw: Any) -> Any:
    """The value :func:`dumps` stored; refused unless ``xcom.allow_pickle`` is on here."""
    if not allowed():
        raise XComError(
            f"this stored value was pickled, and reading pickles is off: set {SETTING} = "
            "true (TRADEWIND__XCOM__ALLOW_PICKLE=true) where it is pulled, if everything "
            "that writes XCom is trusted"
        )
    if not isinstance(raw, str):
        raise XComError("stored pickle is malformed: expected base64 text")
    try:
        data = base64.b64decode(raw, validate=True)
    except binascii.Error as err:
        raise XComError(f"stored pickle is malformed ({err})") from None
    return pickle.loads(data)  # the deployment opted in, on this side too
