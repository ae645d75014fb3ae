#!/usr/bin/env bash
# Install everything, then run every example DAG once with `tradewind dags test`.
source "$(dirname "$0")/_env.sh"
cd "$ROOT"
status=0
for dag_id in $(tradewind dags list --dags-folder examples/dags -o plain | cut -f1); do
    echo "=== tradewind dags test $dag_id"
    if ! tradewind dags test "$dag_id" --dags-folder examples/dags; then
        status=1
    fi
done
exit $status
