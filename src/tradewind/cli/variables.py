"""``tradewind variables get | set | delete | list | import | export``.

Every value is encrypted at rest, so writing needs a Fernet key (see
:mod:`tradewind.secrets.encryption`). ``list`` shows keys only unless asked for values, and
then hides the values of sensitive keys unless ``--show-secrets``. An import is checked
whole before anything is written, then written in one transaction.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from tradewind.cli.metadb import EPILOG, Failed, handles_errors, output_arg, session

HANDLERS = "tradewind.cli.variables"


def add_parsers(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``variables`` command group to the CLI."""
    group = groups.add_parser(
        "variables",
        help="get, set, list, import and export variables",
        description="Variables: key-value settings for DAGs, encrypted in the metadata database.",
        epilog=EPILOG,
    )
    cmds = group.add_subparsers(dest="command", metavar="COMMAND")

    get = cmds.add_parser("get", help="print a variable's value")
    get.add_argument("key", metavar="KEY", help="variable key")
    get.add_argument("-d", "--default", metavar="VAL", help="print VAL if there is no KEY")
    get.add_argument("-j", "--json", action="store_true", help="print the value parsed as JSON")
    get.set_defaults(handler=f"{HANDLERS}:get")

    set_ = cmds.add_parser("set", help="create or update a variable")
    set_.add_argument(
        "key", metavar="KEY", help="variable key: 1-250 letters, digits, '_', '-' or '.'"
    )
    set_.add_argument("value", metavar="VALUE", help="the value (stored encrypted)")
    set_.add_argument(
        "--description", help="what the variable is for (kept on update when not given)"
    )
    set_.add_argument(
        "-j", "--json", action="store_true", help="VALUE is JSON: check it and store it normalised"
    )
    set_.set_defaults(handler=f"{HANDLERS}:set_")

    delete = cmds.add_parser("delete", help="delete a variable")
    delete.add_argument("key", metavar="KEY", help="variable key")
    delete.set_defaults(handler=f"{HANDLERS}:delete")

    list_ = cmds.add_parser("list", help="list variables (keys only unless --show-values)")
    output_arg(list_)
    list_.add_argument(
        "--show-values",
        action="store_true",
        help="show values and descriptions; values of sensitive keys are masked",
    )
    list_.add_argument(
        "--hide-sensitive", action="store_true", help="with --show-values, mask every value"
    )
    list_.add_argument(
        "--show-secrets",
        action="store_true",
        help="with --show-values, show the values of sensitive keys too",
    )
    list_.set_defaults(handler=f"{HANDLERS}:list_")

    import_ = cmds.add_parser(
        "import",
        help="create or update variables from a JSON file, all or nothing",
        description='Import a JSON object of KEY: VALUE or KEY: {"value": VALUE, '
        '"description": TEXT}; a VALUE that is not a string is stored as JSON. The whole file '
        "is checked first; if any entry is invalid nothing is imported.",
    )
    import_.add_argument("file", metavar="FILE", help="JSON file ('-' for standard input)")
    import_.add_argument(
        "-a",
        "--action-on-existing-key",
        choices=["overwrite", "fail", "skip"],
        default="overwrite",
        help="what to do with keys that already exist (default: overwrite)",
    )
    import_.set_defaults(handler=f"{HANDLERS}:import_")

    export = cmds.add_parser(
        "export",
        help="write every variable, decrypted, to a JSON file (mode 0600)",
        description="Write every variable, decrypted, as JSON that 'variables import' reads.",
    )
    export.add_argument("file", metavar="FILE", help="JSON file ('-' for standard output)")
    export.set_defaults(handler=f"{HANDLERS}:export")


@handles_errors
def get(args: argparse.Namespace) -> int:
    from tradewind.db.queries.variables import get_variable
    from tradewind.secrets.encryption import load_encryptor

    with session() as s:
        record = get_variable(s, args.key, load_encryptor())
    if record is None:
        if args.default is None:
            raise Failed(f"Variable {args.key} does not exist")
        print(args.default)
        return 0
    value = record.val or ""
    if args.json:
        try:
            parsed = json.loads(value)
        except ValueError as err:
            raise Failed(f"Variable {args.key} is not valid JSON: {err}") from None
        print(json.dumps(parsed, indent=2))
    else:
        print(value)
    return 0


@handles_errors
def set_(args: argparse.Namespace) -> int:
    from tradewind.cli.common import CommandError
    from tradewind.db.queries.variables import set_variable
    from tradewind.sdk.abstractoperator import validate_id
    from tradewind.secrets.encryption import require_encryptor

    validate_id(args.key, "variable key")
    value = args.value
    if args.json:
        try:
            value = json.dumps(json.loads(value), indent=2)
        except ValueError as err:
            raise CommandError(f"VALUE is not valid JSON (--json): {err}") from None
    encryptor = require_encryptor(f"set variable {args.key!r}")
    with session() as s:
        created = set_variable(s, args.key, value, encryptor, args.description)
    print(f"Variable {args.key} {'created' if created else 'updated'}")
    return 0


@handles_errors
def delete(args: argparse.Namespace) -> int:
    from tradewind.db.queries.variables import delete_variable

    with session() as s:
        deleted = delete_variable(s, args.key)
    if not deleted:
        raise Failed(f"Variable {args.key} does not exist")
    print(f"Variable {args.key} deleted")
    return 0


@handles_errors
def list_(args: argparse.Namespace) -> int:
    from tradewind.cli.metadb import check_value_flags
    from tradewind.cli.output import print_rows

    check_value_flags(args)
    if not args.show_values:
        from tradewind.db.queries.variables import list_keys

        with session() as s:
            keys = list_keys(s)
        print_rows([{"key": k} for k in keys], ["key"], args.output)
        return 0
    from tradewind.db.queries.variables import list_variables
    from tradewind.secrets.encryption import load_encryptor
    from tradewind.secrets.masking import PLACEHOLDER, mask_variable, sensitive_names

    with session() as s:
        records = list_variables(s, load_encryptor())
    names = sensitive_names()
    rows = []
    for r in records:
        val = r.val
        if args.hide_sensitive:
            val = PLACEHOLDER
        elif not args.show_secrets:
            val = mask_variable(r.key, r.val, names)
        rows.append({"key": r.key, "val": val, "description": r.description})
    print_rows(rows, ["key", "val", "description"], args.output)
    return 0


def parse_import(data: Any) -> tuple[dict[str, tuple[str, str | None]], list[str]]:
    """The entries of an import file's JSON and the problems found in it.

    >>> parse_import({"a": "x", "b": 2, "c": {"value": [1], "description": "d"}})
    ({'a': ('x', None), 'b': ('2', None), 'c': ('[1]', 'd')}, [])
    >>> parse_import({"bad key": "x"})[1]
    ["'bad key': not a valid key: use 1-250 letters, digits, '_', '-' or '.'"]
    """
    from tradewind.sdk.abstractoperator import ID_PATTERN

    if not isinstance(data, dict):
        return {}, [f"the file must hold a JSON object of key: value, not {type(data).__name__}"]
    entries: dict[str, tuple[str, str | None]] = {}
    problems: list[str] = []
    for key, raw in data.items():
        if not ID_PATTERN.match(key):
            problems.append(f"{key!r}: not a valid key: use 1-250 letters, digits, '_', '-' or '.'")
            continue
        value, description = raw, None
        if isinstance(raw, dict) and "value" in raw:
            unknown = sorted(set(raw) - {"value", "description"})
            if unknown:
                problems.append(
                    f'{key!r}: an entry with "value" may only have "value" and '
                    f'"description", not {", ".join(unknown)}'
                )
                continue
            value, description = raw["value"], raw.get("description")
            if description is not None and not isinstance(description, str):
                problems.append(f"{key!r}: description must be a string")
                continue
        entries[key] = (value if isinstance(value, str) else json.dumps(value), description)
    return entries, problems


def _read_json(file: str, what: str) -> Any:
    from tradewind.cli.common import CommandError

    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandError(f"{what} file {file} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CommandError(f"cannot read {what} file {file}: {err}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise CommandError(
            f"{what} file {file} is not valid JSON: {err.msg} (line {err.lineno}, "
            f"column {err.colno}); nothing was imported"
        ) from None


@handles_errors
def import_(args: argparse.Namespace) -> int:
    from tradewind.cli.common import CommandError
    from tradewind.db.queries.variables import import_variables
    from tradewind.secrets.encryption import require_encryptor

    entries, problems = parse_import(_read_json(args.file, "variables"))
    if problems:
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        raise CommandError(
            f"{len(problems)} invalid entr{'y' if len(problems) == 1 else 'ies'} "
            f"in {args.file}; nothing was imported"
        )
    encryptor = require_encryptor("import variables")
    with session() as s:
        result = import_variables(s, entries, encryptor, args.action_on_existing_key)
    done = len(result.created) + len(result.updated)
    print(
        f"{done} of {len(entries)} variables imported: {len(result.created)} created, "
        f"{len(result.updated)} updated"
    )
    if result.skipped:
        print(f"{len(result.skipped)} skipped as they already exist: {', '.join(result.skipped)}")
    return 0


def export_form(records: list[Any]) -> dict[str, Any]:
    """Variables as an import file holds them: a JSON value where the stored text is JSON
    that is not a string, the text otherwise; ``{value, description}`` with a description."""
    out: dict[str, Any] = {}
    for r in records:
        value: Any = r.val
        try:
            parsed = json.loads(r.val) if r.val is not None else None
        except ValueError:
            parsed = r.val
        if not isinstance(parsed, str):
            value = parsed
        wrapped = isinstance(value, dict) and "value" in value
        out[r.key] = (
            {"value": value, "description": r.description} if (r.description or wrapped) else value
        )
    return out


@handles_errors
def export(args: argparse.Namespace) -> int:
    from tradewind.cli.common import CommandError
    from tradewind.db.queries.variables import list_variables
    from tradewind.secrets.encryption import load_encryptor

    with session() as s:
        records = list_variables(s, load_encryptor())
    text = json.dumps(export_form(records), sort_keys=True, indent=4) + "\n"
    if args.file == "-":
        sys.stdout.write(text)
        print(f"{len(records)} variables exported to standard output", file=sys.stderr)
        return 0
    path = Path(args.file)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.chmod(path, 0o600)  # the values are in clear
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as err:
        raise CommandError(f"cannot write {path}: {err}") from None
    print(f"{len(records)} variables exported to {path}")
    return 0
