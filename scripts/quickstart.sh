#!/usr/bin/env bash
# Install everything, then run Tradewind on its embedded default (SQLite in $TRADEWIND_HOME,
# default ~/tradewind) with the example DAGs, until Ctrl-C.
source "$(dirname "$0")/_env.sh"
cd "$ROOT"
# The examples start unpaused here, so 'tradewind dags trigger <id>' runs one at once.
export TRADEWIND__CORE__DAGS_ARE_PAUSED_AT_CREATION="${TRADEWIND__CORE__DAGS_ARE_PAUSED_AT_CREATION:-false}"
exec tradewind standalone --dags-folder "$ROOT/examples/dags" "$@"
