"""The effective configuration, read-only: ``GET /config`` and one option, ``/api/v2`` and
``/api/v1``, in JSON or as text (``Accept: text/plain``).

Op and Admin only, and only while ``api.expose_config`` is true (403 otherwise, as Airflow).
Secrets are always masked, exactly as ``tradewind config list`` masks them: the Fernet key,
passwords in URLs (``database.url``), and any setting named like a secret (``*_key``,
``*_keys``, ``*_kwargs``, Airflow's sensitive names).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import PlainTextResponse

from tradewind.api.auth.roles import Action, Resource
from tradewind.api.deps import PrincipalDep
from tradewind.api.errors import ApiError, ProblemDetail
from tradewind.api.schemas.config import Config, ConfigOption, ConfigSection

router = APIRouter(tags=["Config"])
v1_router = APIRouter(tags=["Config"])

HIDDEN = (
    "Your Tradewind administrator chose not to expose the configuration, most likely for "
    "security reasons."
)
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
    406: {"model": ProblemDetail, "description": "Only application/json or text/plain"},
    503: {"model": ProblemDetail, "description": "The configuration file cannot be read"},
}
AcceptHeader = Annotated[
    str,
    Header(json_schema_extra={"enum": ["application/json", "text/plain", "*/*"]}),
]


def _wants_text(accept: str) -> bool:
    """Airflow's rule: ``*/*`` or JSON gets JSON, ``text/plain`` text, anything else 406."""
    if accept.startswith(("*/*", "application/json")):
        return False
    if accept.startswith("text/plain"):
        return True
    raise ApiError(406, "Only application/json or text/plain is supported")


def _check(request: Request, principal: PrincipalDep, accept: str) -> bool:
    principal.require(Action.READ, Resource.CONFIG)
    if not request.app.state.settings.expose_config:
        raise ApiError(403, HIDDEN)
    return _wants_text(accept)


def _text(value: Any) -> str:
    """A setting's value as text (Airflow answers strings).

    >>> _text(None), _text(True), _text(2.5), _text(["a", "b"])
    ('', 'True', '2.5', '["a", "b"]')
    """
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _settings() -> tuple[dict[str, Any], set[tuple[str, str]]]:
    from tradewind import config
    from tradewind.cli.config_cmd import known_settings

    try:
        file = config._file_settings()
    except ValueError as err:  # the TOML file is broken
        raise ApiError(503, str(err)) from None
    return file, known_settings(file)


def _option(section: str, key: str, file: dict[str, Any]) -> ConfigOption:
    from tradewind.cli.config_cmd import _effective, mask

    value, _ = _effective(section, key, file)
    return ConfigOption(key=key, value=_text(mask(key, value)))


def _answer(config: Config, text: bool) -> Config | PlainTextResponse:
    return PlainTextResponse(config.text_format()) if text else config


@router.get("/config", response_model=Config, responses=ANSWERS)
def get_config(
    request: Request,
    principal: PrincipalDep,
    section: str | None = None,
    accept: AcceptHeader = "*/*",
) -> Config | PlainTextResponse:
    """Every setting (or one ``section``'s) with its effective value, secrets masked."""
    text = _check(request, principal, accept)
    file, known = _settings()
    names = sorted({s for s, _ in known})
    if section is not None and section not in names:
        raise ApiError(404, f"Section {section} not found.")
    sections = [
        ConfigSection(
            name=name,
            options=[_option(name, key, file) for s, key in sorted(known) if s == name],
        )
        for name in names
        if section is None or name == section
    ]
    return _answer(Config(sections=sections), text)


@router.get("/config/section/{section}/option/{option}", response_model=Config, responses=ANSWERS)
def get_config_value(
    section: str,
    option: str,
    request: Request,
    principal: PrincipalDep,
    accept: AcceptHeader = "*/*",
) -> Config | PlainTextResponse:
    """One setting's effective value, masked if it is a secret."""
    text = _check(request, principal, accept)
    file, known = _settings()
    if (section, option) not in known:
        raise ApiError(404, f"Option [{section}/{option}] not found.")
    config = Config(
        sections=[ConfigSection(name=section, options=[_option(section, option, file)])]
    )
    return _answer(config, text)


@v1_router.get("/config", response_model=Config, responses=ANSWERS)
def get_config_v1(
    request: Request,
    principal: PrincipalDep,
    section: str | None = None,
    accept: AcceptHeader = "*/*",
) -> Config | PlainTextResponse:
    return get_config(request, principal, section, accept)


@v1_router.get(
    "/config/section/{section}/option/{option}", response_model=Config, responses=ANSWERS
)
def get_value_v1(
    section: str,
    option: str,
    request: Request,
    principal: PrincipalDep,
    accept: AcceptHeader = "*/*",
) -> Config | PlainTextResponse:
    return get_config_value(section, option, request, principal, accept)
