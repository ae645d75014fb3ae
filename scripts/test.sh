#!/usr/bin/env bash
# Install everything, then lint and run the whole test suite. CI runs exactly this.
source "$(dirname "$0")/_env.sh"
cd "$ROOT"
ruff check src tests examples bench
ruff format --check src tests examples bench
mypy
pytest -q -n 2 "$@"
