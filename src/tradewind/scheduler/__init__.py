"""The scheduler's decisions. ``readiness`` and ``run_state`` are pure functions over plain
data, shared by ``dags test`` and (later) the scheduler loop."""
