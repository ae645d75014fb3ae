"""Which names are sensitive, and masking their values for display.

A name (a variable key, a key in a connection's extra, a setting) is sensitive when, lower-cased
with runs of non-word characters turned into ``_``, it contains one of Airflow's
:data:`DEFAULT_SENSITIVE_FIELDS` or a name listed in ``core.sensitive_var_conn_names``
(comma-separated), as in Airflow. Masked values read :data:`PLACEHOLDER`.

Pure: no database, so the task runner may use it too.

>>> is_sensitive("MY_DB_PASSWORD"), is_sensitive("region")
(True, False)
>>> redact({"region": "eu", "auth": {"api-key": "k"}})
{'region': 'eu', 'auth': {'api-key': '***'}}
>>> mask_uri("postgres://me:s3cret@db:5432/sales?sslmode=require&token=abc")
'postgres://me:***@db:5432/sales?sslmode=require&token=***'
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

PLACEHOLDER = "***"

#: Airflow 3's list of names deemed sensitive.
DEFAULT_SENSITIVE_FIELDS = frozenset(
    {
        "access_key",
        "access_token",
        "api_key",
        "apikey",
        "auth_header",
        "authorization",
        "bearer",
        "connection_string",
        "dsn",
        "passphrase",
        "passwd",
        "password",
        "private_key",
        "proxy",
        "proxy_password",
        "proxies",
        "secret",
        "service_account",
        "service_key",
        "token",
        "keyfile_dict",
        "webhook_url",
    }
)

_NON_WORD = re.compile(r"\W+")


def sensitive_names() -> frozenset[str]:
    """The built-in names plus those in ``core.sensitive_var_conn_names``."""
    from tradewind import config

    extra = config.get("core", "sensitive_var_conn_names") or ""
    if isinstance(extra, str):
        extra = extra.split(",")
    added = {_normalise(str(name)) for name in extra if str(name).strip()}
    return DEFAULT_SENSITIVE_FIELDS | added


def _normalise(name: str) -> str:
    return _NON_WORD.sub("_", name.strip().lower())


def is_sensitive(name: object, names: Collection[str] | None = None) -> bool:
    """Whether values under ``name`` should be hidden (substring match, as in Airflow)."""
    if not isinstance(name, str):
        return False
    normalised = _normalise(name)
    return any(s in normalised for s in (sensitive_names() if names is None else names))


def redact(value: Any, name: str | None = None, names: Collection[str] | None = None) -> Any:
    """``value`` with the values of sensitive keys (at any depth) replaced by the placeholder;
    all of it if ``name`` itself is sensitive."""
    names = sensitive_names() if names is None else names
    if name is not None and is_sensitive(name, names) and value not in (None, ""):
        return PLACEHOLDER
    if isinstance(value, dict):
        return {k: redact(v, k if isinstance(k, str) else None, names) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v, None, names) for v in value)
    return value


def mask_variable(key: str, value: str | None, names: Collection[str] | None = None) -> str | None:
    """A variable's value for display: hidden if the key is sensitive; if the value is JSON,
    its sensitive keys hidden."""
    names = sensitive_names() if names is None else names
    if value is None:
        return None
    if is_sensitive(key, names):
        return PLACEHOLDER
    if value[:1] in ("{", "["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        masked = redact(parsed, None, names)
        if masked != parsed:
            return json.dumps(masked)
    return value


def mask_uri(uri: str, names: Collection[str] | None = None) -> str:
    """A URI with its password, sensitive query parameters and sensitive keys of an
    ``__extra__`` JSON parameter hidden; something that is not a URI is hidden whole."""
    names = sensitive_names() if names is None else names
    try:
        parts = urlsplit(uri)
    except ValueError:
        return PLACEHOLDER
    if not parts.scheme:
        return PLACEHOLDER
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{PLACEHOLDER}@{hostport}" if colon else netloc
    query = parts.query
    if query:
        pairs, changed = [], False
        for k, v in parse_qsl(query, keep_blank_values=True):
            masked = v
            if k == "__extra__":
                try:
                    parsed = json.loads(v)
                except ValueError:
                    masked = PLACEHOLDER
                else:
                    redacted = redact(parsed, None, names)
                    masked = v if redacted == parsed else json.dumps(redacted)
            elif is_sensitive(k, names) and v:
                masked = PLACEHOLDER
            changed = changed or masked != v
            pairs.append((k, masked))
        if changed:
            query = urlencode(pairs, safe="*")
    if netloc == parts.netloc and query == parts.query:
        return uri  # as given: rebuilding can change it (``sqlite:////abs/path``)
    if not uri.startswith(f"{parts.scheme}://"):
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    rebuilt = f"{parts.scheme}://{netloc}{parts.path}"  # keeps ``sqlite:////abs``'s slashes
    rebuilt += f"?{query}" if query else ""
    return rebuilt + (f"#{parts.fragment}" if parts.fragment else "")
