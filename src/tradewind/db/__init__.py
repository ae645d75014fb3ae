"""The metadata database: models, sessions, migrations, and the queries over them.

The database is the only source of truth (see DESIGN.md). Only the scheduler, the DAG
processor, the API and the CLI use this package; task code never does.
"""
