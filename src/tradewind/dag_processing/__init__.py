"""Finding and importing DAG files."""
