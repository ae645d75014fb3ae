"""``tradewind config list | get-value``: the effective settings and where each comes from.

Precedence: defaults < ``$TRADEWIND_HOME/tradewind.toml`` < ``TRADEWIND__SECTION__KEY``.
``list`` masks secrets: the Fernet key, passwords in URLs (``database.url``), and any setting
named like a secret (Airflow's sensitive names, ``*_key``, ``*_kwargs``). ``get-value``
prints one value as is, for scripts.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from tradewind.cli.metadb import EPILOG, Failed, handles_errors, output_arg

HANDLERS = "tradewind.cli.config_cmd"
ENV_PREFIX = "TRADEWIND__"


def add_parsers(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``config`` command group to the CLI."""
    group = groups.add_parser(
        "config",
        help="show the effective settings",
        description="Settings come from defaults, then $TRADEWIND_HOME/tradewind.toml, then "
        "TRADEWIND__SECTION__KEY environment variables, the last one winning.",
        epilog=EPILOG,
    )
    cmds = group.add_subparsers(dest="command", metavar="COMMAND")
    list_ = cmds.add_parser(
        "list", help="list every effective setting and its source, secrets masked"
    )
    list_.add_argument("--section", metavar="SECTION", help="only this section")
    output_arg(list_)
    list_.set_defaults(handler=f"{HANDLERS}:list_")

    get_value = cmds.add_parser("get-value", help="print one setting's value (unmasked)")
    get_value.add_argument("section", metavar="SECTION", help="section name, e.g. core")
    get_value.add_argument("key", metavar="KEY", help="setting name, e.g. dags_folder")
    get_value.set_defaults(handler=f"{HANDLERS}:get_value")


def _file_settings() -> dict[str, Any]:
    from tradewind import config
    from tradewind.cli.common import CommandError

    try:
        return config._file_settings()
    except ValueError as err:
        raise CommandError(str(err)) from None


def _env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section.upper()}__{key.upper()}"


def known_settings(file: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (section, key) with a default, in the file, or in the environment."""
    import os

    from tradewind import config

    found = {(s, k) for s, keys in config.DEFAULTS.items() for k in keys}
    for section, table in file.items():
        if isinstance(table, dict):
            found.update((section, key) for key in table)
    for name in os.environ:
        if name.startswith(ENV_PREFIX) and name == name.upper():
            section, sep, key = name[len(ENV_PREFIX) :].partition("__")
            if sep and section and key:
                found.add((section.lower(), key.lower()))
    return found


def _dags_folder() -> str:
    from tradewind import config

    return str(config.dags_folder())


def _database_url() -> str:
    from tradewind.db.session import database_url

    return database_url()


def _xcom_storage() -> str:
    from tradewind import config

    return f"file://{config.home() / 'xcom'}"


#: Settings whose default is worked out when used; shown as that effective value.
_DERIVED: dict[tuple[str, str], Callable[[], str]] = {
    ("core", "dags_folder"): _dags_folder,
    ("database", "url"): _database_url,
    ("xcom", "objectstorage_path"): _xcom_storage,
}


def _effective(section: str, key: str, file: dict[str, Any]) -> tuple[Any, str]:
    """A setting's value and its source (env variable name, the TOML file, or default)."""
    import os

    from tradewind import config

    env = _env_name(section, key)
    table = file.get(section)
    if env in os.environ:
        source = env
    elif isinstance(table, dict) and table.get(key) is not None:
        source = str(config.home() / "tradewind.toml")
    else:
        source = "default"
    value = config.get(section, key)
    if value is None and (section, key) in _DERIVED:
        return _DERIVED[(section, key)](), source
    if (section, key) == ("core", "fernet_key") and not value:
        from tradewind.secrets.encryption import configured_keys

        keys, where = configured_keys()
        if keys:
            return ",".join(keys), where
    return value, source


def mask(key: str, value: Any) -> Any:
    """``value`` as ``config list`` shows it."""
    from tradewind.secrets.masking import PLACEHOLDER, is_sensitive, mask_uri

    if value is None or value == "":
        return value
    lowered = key.lower()
    if is_sensitive(lowered) or lowered.endswith(("key", "keys", "kwargs")):
        return PLACEHOLDER
    if isinstance(value, str) and "://" in value:
        return mask_uri(value)
    return value


@handles_errors
def list_(args: argparse.Namespace) -> int:
    from tradewind.cli.common import CommandError
    from tradewind.cli.output import print_rows

    file = _file_settings()
    settings = sorted(known_settings(file))
    if args.section:
        sections = sorted({s for s, _ in settings})
        if args.section not in sections:
            raise CommandError(
                f"no section {args.section!r}; sections: {', '.join(sections) or 'none'}"
            )
        settings = [(s, k) for s, k in settings if s == args.section]
    rows = []
    for section, key in settings:
        value, source = _effective(section, key, file)
        rows.append({"section": section, "key": key, "value": mask(key, value), "source": source})
    print_rows(rows, ["section", "key", "value", "source"], args.output)
    return 0


@handles_errors
def get_value(args: argparse.Namespace) -> int:
    file = _file_settings()
    if (args.section, args.key) not in known_settings(file):
        raise Failed(f"there is no setting {args.key!r} in section {args.section!r}")
    value, _ = _effective(args.section, args.key, file)
    print("" if value is None else value)
    return 0
