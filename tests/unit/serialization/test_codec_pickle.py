"""Pickle for XCom values: only where ``xcom.allow_pickle = true``, never by default."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tradewind.exceptions import XComError
from tradewind.serialization.codec import TAG, UnsupportedValueError, decode, encode


class Opaque:
    """A type the typed codec does not know."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.n == self.n

    def __hash__(self) -> int:
        return self.n


@pytest.fixture
def allow_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__ALLOW_PICKLE", "true")


def test_pickle_is_off_by_default_and_the_error_says_how_to_allow_it() -> None:
    with pytest.raises(UnsupportedValueError) as err:
        encode({"thing": Opaque(1)})
    message = str(err.value)
    assert f"value['thing'] of type {__name__}.Opaque" in message
    assert "xcom.allow_pickle" in message


@pytest.mark.usefixtures("allow_pickle")
def test_with_pickle_allowed_only_the_unknown_part_is_pickled() -> None:
    value = {"rows": [1, 2], "thing": Opaque(7), "pair": (1, Opaque(8))}
    text = encode(value)
    stored = json.loads(text)
    assert stored["rows"] == [1, 2]  # the rest stays readable JSON
    assert stored["thing"][TAG] == "pickle"
    assert decode(text) == value


def test_a_pickled_value_is_not_read_where_pickle_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__ALLOW_PICKLE", "true")
    text = encode([Opaque(1)])
    monkeypatch.delenv("TRADEWIND__XCOM__ALLOW_PICKLE")
    with pytest.raises(XComError, match=r"was pickled, .* set xcom\.allow_pickle = true"):
        decode(text)


def test_a_forged_pickle_is_never_unpickled_by_default() -> None:
    # What someone able to write XCom rows would store: a pickle that runs a command when
    # read (here a harmless ``os.system("true")``).
    payload = "gASVHwAAAAAAAACMBXBvc2l4lIwGc3lzdGVtlJOUjAR0cnVllIWUUpQu"
    forged = json.dumps({TAG: "pickle", "v": payload})
    with pytest.raises(XComError, match="reading pickles is off"):
        decode(forged)


def test_the_setting_is_read_from_the_config_file() -> None:
    home = Path(os.environ["TRADEWIND_HOME"])
    (home / "tradewind.toml").write_text("[xcom]\nallow_pickle = true\n")
    assert decode(encode(Opaque(3))) == Opaque(3)


@pytest.mark.parametrize("raw", ["maybe", "2"])
def test_a_bad_setting_fails_naming_it(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__ALLOW_PICKLE", raw)
    with pytest.raises(XComError, match=f"xcom.allow_pickle must be true or false, not '{raw}'"):
        encode(Opaque(1))


@pytest.mark.parametrize("raw", ["false", "0", "off", ""])
def test_false_spellings_keep_pickle_off(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("TRADEWIND__XCOM__ALLOW_PICKLE", raw)
    with pytest.raises(UnsupportedValueError):
        encode(Opaque(1))


@pytest.mark.usefixtures("allow_pickle")
def test_what_pickle_cannot_store_still_fails_naming_the_type() -> None:
    with pytest.raises(UnsupportedValueError) as err:
        encode({"f": lambda: 1})
    message = str(err.value)
    assert "value['f'] of type builtins.function" in message
    assert "pickle cannot store it either" in message


@pytest.mark.usefixtures("allow_pickle")
def test_supported_types_are_never_pickled_even_when_allowed() -> None:
    from datetime import date

    assert "pickle" not in encode({"d": date(2024, 1, 1), "t": (1,), "s": {2}})


def test_the_setting_is_read_only_when_a_value_needs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # A broken setting does not break pushes that never need pickle.
    monkeypatch.setenv("TRADEWIND__XCOM__ALLOW_PICKLE", "maybe")
    assert decode(encode({"a": (1, 2)})) == {"a": (1, 2)}
