#!/usr/bin/env bash
# Re-resolve dependencies into constraints.txt (run after changing pyproject.toml).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d)"
python3 -m venv "$TMP/venv"
"$TMP/venv/bin/pip" install -q --upgrade pip
"$TMP/venv/bin/pip" install -q -e "$ROOT[dev]"
{
    echo "# Exact versions of every Python package Tradewind and its tests install."
    echo "# Used as: pip install -c constraints.txt -e '.[dev]'. Regenerate with scripts/lock.sh."
    "$TMP/venv/bin/pip" freeze --exclude-editable | grep -v '^-e'
} > "$ROOT/constraints.txt"
rm -rf "$TMP"
