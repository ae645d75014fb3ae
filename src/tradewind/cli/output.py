"""Printing rows as a table, JSON, YAML or plain text (``-o/--output``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))


def print_rows(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    fmt: str = "table",
    out: TextIO | None = None,
) -> None:
    """Print ``rows`` (dicts) with ``columns`` in ``fmt``: table, json, yaml or plain."""
    out = out or sys.stdout
    if fmt == "json":
        json.dump([{c: r.get(c) for c in columns} for r in rows], out, default=str)
        out.write("\n")
        return
    if fmt == "yaml":
        if not rows:
            out.write("[]\n")
        for r in rows:
            for i, c in enumerate(columns):
                value = r.get(c)
                if isinstance(value, (list, tuple)):
                    text = "[" + ", ".join(_yaml_scalar(v) for v in value) + "]"
                else:
                    text = _yaml_scalar(value)
                out.write(f"{'- ' if i == 0 else '  '}{c}: {text}\n")
        return
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    if fmt == "plain":
        for row in cells:
            out.write("\t".join(row) + "\n")
        return
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    out.write(" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    out.write("=+=".join("=" * w for w in widths) + "\n")
    for row in cells:
        out.write(" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")
