"""``tradewind api-server``: serve the REST API (``/api/v2``, ``/api/v1``, ``/docs``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parsers(groups: Any) -> None:
    api = groups.add_parser(
        "api-server",
        help="serve the REST API until interrupted",
        description="Serve the Airflow-compatible REST API (/api/v2, /api/v1; OpenAPI at "
        "/openapi.json, interactive docs at /docs) with uvicorn until Ctrl-C or SIGTERM. "
        "Create users with 'tradewind users create'.",
    )
    api.add_argument("--port", "-p", type=int, help="port (default: api.port, 8080)")
    api.add_argument("--host", "-H", help="address to listen on (default: api.host, 127.0.0.1)")
    api.set_defaults(handler="tradewind.cli.api_server:run")


def listen_address(args: argparse.Namespace) -> tuple[str, int]:
    from tradewind import config

    host = args.host or str(config.get("api", "host"))
    port = args.port if args.port is not None else int(config.get("api", "port"))
    return host, port


def open_server(host: str, port: int, engine: Any) -> Any:
    """An :class:`~tradewind.api.server.ApiServer` on ``host:port``; a clear error when the
    port is taken."""
    from tradewind import config
    from tradewind.api.server import ApiServer, bind
    from tradewind.api.settings import ApiSettings
    from tradewind.cli.common import CommandError

    try:
        sock = bind(host, port)
    except OSError as err:
        raise CommandError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    access_log = str(config.get("api", "access_log")).lower() in ("1", "true", "yes", "on")
    return ApiServer(engine, sock, ApiSettings.from_config(), access_log)


def run(args: argparse.Namespace) -> int:
    from tradewind.cli.common import CommandError, report
    from tradewind.cli.services import _check_schema
    from tradewind.secrets.encryption import SecretsError, require_encryptor

    try:
        engine = _check_schema()
        require_encryptor("start the API server (it stores connections and variables)")
        host, port = listen_address(args)
        server = open_server(host, port, engine)
    except CommandError as err:
        return report(err)
    except SecretsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Tradewind API on http://{host}:{server.port} (docs at /docs)", flush=True)
    server.run()
    return 0
