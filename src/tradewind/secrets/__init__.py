"""Secrets: encryption at rest (:mod:`.encryption`), which names are sensitive and how their
values are masked (:mod:`.masking`), and reading variables and connections from the metadata
DB (:mod:`.metastore`).

``encryption`` and ``masking`` are pure (no database), so the task runner may use them;
``metastore`` is for the service side (API, execution API).
"""
