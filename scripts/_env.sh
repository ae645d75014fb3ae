# Shared by the scripts: make .venv with every pinned dependency installed (idempotent).
# Sourced, not run. Needs python3 >= 3.11 and network access to PyPI.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Tradewind needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
    exit 2
fi
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    echo "installing python3-venv (needs root)" >&2
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.tradewind-installed"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ] || [ "$ROOT/constraints.txt" -nt "$STAMP" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip>=24"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        -c "$ROOT/constraints.txt" -e "$ROOT[dev]"
    touch "$STAMP"
fi
# Byte-compile our sources as a wheel install would (the editable install leaves them to the
# first import): every CLI command is a fresh interpreter, and without .pyc files (or with
# PYTHONDONTWRITEBYTECODE set) each run compiles every module it imports again. Only changed
# files are recompiled. A file that does not compile is the tests' to report, not this step's.
"$VENV/bin/python" -m compileall -q "$ROOT/src" >/dev/null || true
export PATH="$VENV/bin:$PATH"
