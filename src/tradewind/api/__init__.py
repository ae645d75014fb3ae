"""The REST API: Airflow 3's stable API under ``/api/v2`` and Airflow 2's most used resources
under ``/api/v1``, served by ``tradewind api-server`` (and ``standalone``).

Layers: ``schemas/`` (pydantic bodies with Airflow's field names), ``db/queries`` (SQL), and
``routes/`` (a router per resource, thin: check access, call queries, map errors). Routes
never import user code: DAGs are read in their serialized form.
"""
