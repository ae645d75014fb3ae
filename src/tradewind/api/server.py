"""Serving the API with uvicorn: ``tradewind api-server`` in the foreground, or a thread of
``standalone``'s process (which costs less memory than another interpreter)."""

from __future__ import annotations

import socket
import threading
from typing import Any

from sqlalchemy import Engine

from tradewind.api.settings import ApiSettings


def _uvicorn_config(app: Any, access_log: bool) -> Any:
    import importlib.util

    import uvicorn

    has = importlib.util.find_spec
    return uvicorn.Config(
        app,
        loop="uvloop" if has("uvloop") else "asyncio",
        http="httptools" if has("httptools") else "h11",
        access_log=access_log,
        log_level="info",
        server_header=False,
        # Ctrl-C must stop a standalone stack promptly, even with clients connected.
        timeout_graceful_shutdown=5,
    )


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now so a taken port is reported before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class ApiServer:
    """A uvicorn server for one app on an already bound socket."""

    def __init__(
        self, engine: Engine, sock: socket.socket, settings: ApiSettings, access_log: bool
    ) -> None:
        import uvicorn

        from tradewind.api.app import create_app

        self.sock = sock
        self.server = uvicorn.Server(_uvicorn_config(create_app(engine, settings), access_log))

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def run(self) -> None:
        """Serve until :meth:`stop` (or, on the main thread, Ctrl-C / SIGTERM)."""
        self.server.run(sockets=[self.sock])

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="api-server", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.server.should_exit = True
