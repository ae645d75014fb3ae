"""Secrets at rest: keys from config or the key file, rotation, and clear errors."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.fernet import Fernet

from tradewind.secrets.encryption import (
    DecryptionError,
    Encryptor,
    InvalidFernetKeyError,
    NoFernetKeyError,
    configured_keys,
    ensure_fernet_key,
    generate_key,
    load_encryptor,
    open_value,
    require_encryptor,
)

OLD, NEW = generate_key(), generate_key()


def test_a_value_round_trips_and_is_not_stored_in_clear() -> None:
    enc = Encryptor([OLD])
    token = enc.encrypt("pässword")
    assert "pässword" not in token
    assert enc.decrypt(token) == "pässword"
    assert enc.encrypt("x") != enc.encrypt("x")  # random IV: equal values do not show


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    old_token = Encryptor([OLD]).encrypt("v")
    both = Encryptor([NEW, OLD])
    assert both.decrypt(old_token) == "v"
    new_token = both.encrypt("v")
    assert Encryptor([NEW]).decrypt(new_token) == "v"
    with pytest.raises(DecryptionError):
        Encryptor([OLD]).decrypt(new_token)


def test_rotate_re_encrypts_with_the_first_key() -> None:
    old_token = Encryptor([OLD]).encrypt("v")
    rotated = Encryptor([NEW, OLD]).rotate(old_token, "variable 'k'")
    assert Encryptor([NEW]).decrypt(rotated) == "v"


def test_a_wrong_key_is_a_clear_error_never_garbage() -> None:
    token = Encryptor([OLD]).encrypt("v")
    with pytest.raises(DecryptionError, match=r"cannot decrypt variable 'k'.*another key"):
        Encryptor([NEW]).decrypt(token, "variable 'k'")
    with pytest.raises(DecryptionError):
        Encryptor([NEW]).rotate(token)


def test_a_tampered_value_is_refused() -> None:
    enc = Encryptor([OLD])
    token = enc.encrypt("amount=10")
    raw = bytearray(token.encode())
    raw[30] = ord("A") if raw[30] != ord("A") else ord("B")
    with pytest.raises(DecryptionError, match="altered"):
        enc.decrypt(raw.decode())
    for junk in ["not a token", "", "é"]:
        with pytest.raises(DecryptionError):
            enc.decrypt(junk)


def test_a_malformed_key_names_which_one_and_never_echoes_it() -> None:
    with pytest.raises(InvalidFernetKeyError, match="key 2 of 2") as err:
        Encryptor([OLD, "short-secret-text"])
    assert "short-secret-text" not in str(err.value)
    with pytest.raises(NoFernetKeyError):
        Encryptor([])


def test_keys_come_from_the_setting_comma_separated(monkeypatch) -> None:
    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", f" {NEW} , {OLD},")
    assert configured_keys() == ([NEW, OLD], "core.fernet_key")
    enc = load_encryptor()
    assert enc is not None and enc.key_count == 2


def test_without_a_key_nothing_is_stored_and_the_error_says_how(monkeypatch) -> None:
    assert configured_keys() == ([], "")
    assert load_encryptor() is None
    with pytest.raises(NoFernetKeyError, match=r"TRADEWIND__CORE__FERNET_KEY.*standalone"):
        require_encryptor("set variable 'k'")
    assert open_value("clear", False, None, "variable 'k'") == "clear"
    with pytest.raises(NoFernetKeyError, match="variable 'k' is encrypted"):
        open_value("gAAAA", True, None, "variable 'k'")


def test_ensure_fernet_key_creates_a_private_key_file_once(tmp_path) -> None:
    home = tmp_path / "home"
    key = ensure_fernet_key(home)
    path = home / "fernet.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    Fernet(key.encode())  # a real key
    assert ensure_fernet_key(home) == key
    assert configured_keys(home) == ([key], str(path))
    assert [p.name for p in home.iterdir()] == ["fernet.key"]  # no temporary file left


def test_the_key_file_is_used_when_no_key_is_set(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TRADEWIND_HOME", str(tmp_path))
    key = ensure_fernet_key()
    enc = require_encryptor()
    assert Encryptor([key]).decrypt(enc.encrypt("v")) == "v"


def test_a_configured_key_wins_and_no_file_is_written(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", NEW)
    assert ensure_fernet_key(tmp_path) == NEW
    assert not (tmp_path / "fernet.key").exists()


def test_a_bad_key_file_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "fernet.key").write_text("nonsense\n")
    with pytest.raises(InvalidFernetKeyError, match=r"fernet\.key is not a Fernet key"):
        load_encryptor(tmp_path)
    (tmp_path / "fernet.key").write_text("\n")
    assert load_encryptor(tmp_path) is None
    with pytest.raises(InvalidFernetKeyError, match="empty"):
        ensure_fernet_key(tmp_path)


def test_concurrent_starts_share_one_key(tmp_path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        keys = set(pool.map(lambda _: ensure_fernet_key(tmp_path), range(8)))
    assert len(keys) == 1
    assert os.listdir(tmp_path) == ["fernet.key"]


def test_ensure_fernet_key_refuses_a_malformed_key_file(tmp_path) -> None:
    (tmp_path / "fernet.key").write_text("nonsense\n")
    with pytest.raises(InvalidFernetKeyError):
        ensure_fernet_key(tmp_path)
