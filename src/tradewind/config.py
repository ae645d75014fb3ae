"""Settings: defaults < ``$TRADEWIND_HOME/tradewind.toml`` < ``TRADEWIND__SECTION__KEY``.

Read on every call (never at import), so tests and commands can change the environment.

>>> import os
>>> os.environ["TRADEWIND__CORE__DAGS_FOLDER"] = "/tmp/my-dags"
>>> get("core", "dags_folder")
'/tmp/my-dags'
>>> del os.environ["TRADEWIND__CORE__DAGS_FOLDER"]
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, dict[str, Any]] = {
    "core": {
        "dags_folder": None,
        "dagbag_import_timeout": 30.0,
        "default_timezone": "utc",
        # Fernet key(s) for secrets at rest, comma-separated: the first encrypts, all decrypt.
        # Unset: $TRADEWIND_HOME/fernet.key if it exists (``standalone`` creates it).
        "fernet_key": None,
        # Extra names (comma-separated) whose values are masked, beyond the built-in list.
        "sensitive_var_conn_names": "",
        # New DAGs start paused unless the DAG says otherwise (Airflow's default).
        "dags_are_paused_at_creation": True,
        # Most tasks running at once on this scheduler's executor.
        "parallelism": 32,
        # Custom timetable classes DAGs may use, by dotted path ("pkg.module.Class"),
        # comma-separated (or a TOML list). Only these are imported to rebuild a DAG's
        # schedule (what Airflow's plugins register); their modules must be importable where
        # DAGs are parsed, scheduled and tested.
        "timetable_classes": "",
    },
    "dag_processor": {
        "parsing_processes": 2,
        # Seconds between full rescans of the DAGs folder (file events are followed at once).
        "refresh_interval": 300,
        "heartbeat_interval": 5,
    },
    "local_executor": {
        # Warm worker processes (default: one per CPU, at least 2, at most core.parallelism).
        "workers": None,
        # Seconds a task past its execution_timeout gets to stop before it is killed.
        "kill_grace": 5,
        "heartbeat_interval": 5,
    },
    "logging": {
        # Per-try task logs; unset means $TRADEWIND_HOME/logs.
        "base_log_folder": None,
    },
    "scheduler": {
        # true: cron and timedelta schedules use Airflow 2's data-interval meaning.
        "create_cron_data_intervals": False,
        # Seconds without a heartbeat after which a scheduler is dead and its tasks recovered
        # (and a running task's own heartbeat, which its scheduler renews, is stale).
        "scheduler_health_check_threshold": 30,
        # Seconds between two looks of a running scheduler for tasks a dead one left queued or
        # running (Airflow's name; its default is 300): a survivor takes them over within
        # about scheduler_health_check_threshold + this.
        "orphaned_tasks_check_interval": 30,
    },
    "triggerer": {
        # Most triggers one triggerer runs at once (Airflow's default_capacity).
        "capacity": 1000,
        # Seconds between looks for new triggers (a trigger that fires is handled at once).
        "poll_seconds": 0.5,
        # A triggerer whose heartbeat is older than this many seconds is taken for dead, and
        # its triggers are claimed by another.
        "health_check_threshold": 30,
    },
    "api": {
        # Where ``tradewind api-server`` (and ``standalone``) listens. 127.0.0.1 keeps the API
        # on this machine; 0.0.0.0 serves every interface.
        "host": "127.0.0.1",
        "port": 8080,
        # Key that signs API tokens (HS256). Unset: a random key kept in the metadata DB,
        # shared by every API server and replaced by ``tradewind users revoke-tokens``.
        "secret_key": None,
        # Seconds an API token from POST /auth/token is valid.
        "access_token_expiration": 3600,
        # Largest request body accepted, in bytes (bigger gets 413).
        "max_body_bytes": 1024 * 1024,
        # Page sizes: the default ``limit``, and the most a request may ask for.
        "fallback_page_limit": 50,
        "maximum_page_limit": 100,
        # Failed logins (token or Basic) from one client or for one user name within
        # ``failed_login_window`` seconds before further tries get 429 until it passes.
        "failed_login_limit": 5,
        "failed_login_window": 60,
        # GET /api/v2/config: true (secrets masked) or false (403).
        "expose_config": True,
        # POST /api/v2/connections/test: Disabled (403, Airflow's default) or Enabled (checks
        # that the connection's host accepts a TCP connection on its port).
        "test_connection": "Disabled",
        # Log each request (uvicorn's access log).
        "access_log": False,
    },
    "database": {
        # SQLAlchemy URL; unset means SQLite at $TRADEWIND_HOME/tradewind.db.
        "url": None,
    },
    "xcom": {
        # true: a value part the typed codec cannot store is pickled, and pickled values are
        # read. Reading a pickle runs code the data names, so turn it on only where everything
        # that writes XCom is trusted, on the pushing and the pulling side alike.
        "allow_pickle": False,
        # The XCom backend, a class path (a subclass of tradewind.xcom.BaseXCom).
        "backend": "tradewind.xcom.object_storage_xcom.ObjectStorageXCom",
        # The largest value (encoded) a row of the metadata DB may hold.
        "max_db_bytes": 48 * 1024,
        # Where bigger values go: any URL fsspec speaks (file:///..., s3://bucket/prefix,
        # gs://bucket/prefix). Unset: file://$TRADEWIND_HOME/xcom. Empty: nowhere (a value
        # over max_db_bytes fails at push time).
        "objectstorage_path": None,
        # Values over this many bytes go to object storage (unset: max_db_bytes).
        "objectstorage_threshold": None,
        # A Tradewind connection with the storage's credentials (unset: the standard cloud
        # environment variables).
        "objectstorage_conn_id": None,
        # none | gzip | zstd | lz4, for values in object storage.
        "compression": "none",
        # "id:key,id2:key2": AES-256-GCM keys for XCom values (first one encrypts; the others
        # only decrypt, until `tradewind xcom rotate-key`). Unset: not encrypted.
        "encryption_keys": None,
        # Read cache for values in object storage: empty (none), "disk", or a redis:// URL.
        "cache": None,
    },
}


def home() -> Path:
    """``$TRADEWIND_HOME``, default ``~/tradewind``."""
    return Path(os.environ.get("TRADEWIND_HOME") or Path.home() / "tradewind").expanduser()


def _file_settings() -> dict[str, Any]:
    path = home() / "tradewind.toml"
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        try:
            return tomllib.load(fh)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path} is not valid TOML: {err}") from None


def get(section: str, key: str, default: Any = None) -> Any:
    """The effective value of ``section.key``."""
    env = os.environ.get(f"TRADEWIND__{section.upper()}__{key.upper()}")
    if env is not None:
        return env
    value = _file_settings().get(section, {}).get(key)
    if value is not None:
        return value
    return DEFAULTS.get(section, {}).get(key, default)


def dags_folder() -> Path:
    """Where DAG files are: the setting, else ``$TRADEWIND_HOME/dags``, else ``./dags``."""
    configured = get("core", "dags_folder")
    if configured:
        return Path(configured).expanduser()
    in_home = home() / "dags"
    if in_home.is_dir():
        return in_home
    return Path.cwd() / "dags"
