"""Secrets at rest: Fernet keys from config, key rotation, and the key file of ``standalone``.

``core.fernet_key`` (``TRADEWIND__CORE__FERNET_KEY``) holds one key or several,
comma-separated: the first encrypts and every one decrypts (``MultiFernet``). To rotate, put
a new key first, run ``tradewind connections rotate-fernet-key``, then drop the old key.

With no key set, ``$TRADEWIND_HOME/fernet.key`` is used if it exists; ``tradewind
standalone`` creates it with :func:`ensure_fernet_key`. With neither there is no
:class:`Encryptor`, and whatever would store a secret refuses (:func:`require_encryptor`)
rather than store it in clear. A value that no configured key opens is an error
(:class:`DecryptionError`), never garbage.

Stored values are Fernet tokens as text, as in Airflow, so a database moved over from
Airflow reads the same with the same key.

>>> enc = Encryptor([generate_key()])
>>> token = enc.encrypt("s3cret")
>>> token != "s3cret" and enc.decrypt(token)
's3cret'
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from tradewind.exceptions import TradewindException

KEY_FILE = "fernet.key"

HOW_TO_SET_A_KEY = (
    "set TRADEWIND__CORE__FERNET_KEY (or fernet_key in the [core] section of "
    "$TRADEWIND_HOME/tradewind.toml) to a key made with "
    '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`'
    ", or run 'tradewind standalone' once, which writes one to $TRADEWIND_HOME/fernet.key"
)


class SecretsError(TradewindException):
    """A secret could not be stored or read."""


class NoFernetKeyError(SecretsError):
    """No Fernet key is configured, so secrets can be neither stored nor read."""


class InvalidFernetKeyError(SecretsError):
    """A configured key is not a Fernet key."""


class DecryptionError(SecretsError):
    """A stored value does not open with any configured key (other key, or altered)."""


def generate_key() -> str:
    """A new random Fernet key (32 bytes, url-safe base64)."""
    return Fernet.generate_key().decode("ascii")


def key_file(home: Path | None = None) -> Path:
    from tradewind import config

    return (home or config.home()) / KEY_FILE


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def configured_keys(home: Path | None = None) -> tuple[list[str], str]:
    """The keys in effect, first one encrypting, and where they come from.

    ``core.fernet_key`` if set (source ``"core.fernet_key"``), else the key file if it exists
    (source: its path), else ``([], "")``.
    """
    from tradewind import config

    setting = config.get("core", "fernet_key")
    if setting is not None and str(setting).strip():
        return _split(str(setting)), "core.fernet_key"
    path = key_file(home)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return [], ""
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidFernetKeyError(f"cannot read the Fernet key file {path}: {err}") from None
    return _split(text), str(path)


def ensure_fernet_key(home: Path | None = None) -> str:
    """The Fernet key setting in effect, creating ``home/fernet.key`` (mode 0600) if there is
    none. For ``tradewind standalone``: a first start gets a key, later starts the same one.

    Safe when two processes start at once: the file appears whole, and both get its key.
    """
    from tradewind import config

    setting = config.get("core", "fernet_key")
    if setting is not None and str(setting).strip():
        return str(setting)
    path = key_file(home)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{KEY_FILE}.", dir=path.parent)  # mode 0600
        tmp = Path(name)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(generate_key() + "\n")
        try:
            os.link(tmp, path)  # fails if another process got there first: keep theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    keys, source = configured_keys(home)
    if not keys:
        raise InvalidFernetKeyError(f"the Fernet key file {path} is empty")
    Encryptor(keys, source)  # a malformed file is an error now, not at the first secret
    return ",".join(keys)


class Encryptor:
    """Encrypts with the first key; decrypts with any of them."""

    def __init__(self, keys: Sequence[str], source: str = "core.fernet_key") -> None:
        if not keys:
            raise NoFernetKeyError(f"no Fernet key is configured: {HOW_TO_SET_A_KEY}")
        fernets = []
        for number, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, TypeError, UnicodeEncodeError):
                which = f"key {number} of {len(keys)}" if len(keys) > 1 else "the key"
                raise InvalidFernetKeyError(
                    f"{which} in {source} is not a Fernet key (it must be 32 url-safe "
                    f"base64-encoded bytes): {HOW_TO_SET_A_KEY}"
                ) from None
        self._fernet = MultiFernet(fernets)
        self.key_count = len(fernets)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, what: str = "a stored value") -> str:
        """``token`` opened, or :class:`DecryptionError` naming ``what``."""
        try:
            return self._fernet.decrypt(token.encode("utf-8")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise DecryptionError(self._cannot_open(what)) from None

    def rotate(self, token: str, what: str = "a stored value") -> str:
        """``token`` re-encrypted with the first key."""
        try:
            return self._fernet.rotate(token.encode("utf-8")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise DecryptionError(self._cannot_open(what)) from None

    def _cannot_open(self, what: str) -> str:
        keys = "the configured Fernet key" if self.key_count == 1 else "any configured Fernet key"
        return (
            f"cannot decrypt {what} with {keys}: it was encrypted with another key, or the "
            "stored value was altered. When rotating keys, keep the old key after the new "
            "one in core.fernet_key until 'tradewind connections rotate-fernet-key' has run"
        )


def load_encryptor(home: Path | None = None) -> Encryptor | None:
    """The configured :class:`Encryptor`, or None when no key is configured."""
    keys, source = configured_keys(home)
    return Encryptor(keys, source) if keys else None


def require_encryptor(purpose: str = "store secrets", home: Path | None = None) -> Encryptor:
    """The configured :class:`Encryptor`; :class:`NoFernetKeyError` (saying how to set a key)
    when there is none, as secrets are never stored in clear."""
    encryptor = load_encryptor(home)
    if encryptor is None:
        raise NoFernetKeyError(f"cannot {purpose}: no Fernet key is configured; {HOW_TO_SET_A_KEY}")
    return encryptor


def open_value(
    value: str | None, is_encrypted: bool, encryptor: Encryptor | None, what: str
) -> str | None:
    """A stored value in clear: decrypted when ``is_encrypted``, else as stored."""
    if value is None or not is_encrypted:
        return value
    if encryptor is None:
        raise NoFernetKeyError(
            f"{what} is encrypted, but no Fernet key is configured; {HOW_TO_SET_A_KEY}"
        )
    return encryptor.decrypt(value, what)
