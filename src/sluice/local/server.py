"""The emulated stack as a local AWS endpoint: moto's HTTP front end on 127.0.0.1, in the emulator's process.

moto's server app dispatches to the same process-wide backends as the in-process mock, so every request from
an outside client (the AWS CLI, boto3, any SDK) gets the emulator's corrections and hooks: an upload goes
through the template's EventBridge rule, Lambda tasks run the handlers in-process, Glue runs on local Spark.
The mock stays active too: the Step Functions interpreter and the handlers keep calling the backends
directly instead of looping back over HTTP.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

HOST = "127.0.0.1"  # loopback only: the endpoint has no authentication


class PortInUseError(OSError):
    """The port is taken by another program."""


class LocalEndpoint:
    """moto's WSGI app behind werkzeug's threaded server, bound to 127.0.0.1.

    `bind()` takes the port at once (so a taken port fails before the stack is provisioned); `serve()`
    starts answering; `stop()` stops serving and frees the port. Port 0 picks a free port.
    """

    def __init__(self, port: int = 4566, request_log: Path | None = None) -> None:
        self.requested_port = port
        self.request_log = request_log
        self._socket: socket.socket | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._log_handler: logging.Handler | None = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("bind() first")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def bind(self) -> int:
        """Binds and listens on 127.0.0.1:port; connections wait in the backlog until serve()."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may follow a TIME_WAIT
        try:
            sock.bind((HOST, self.requested_port))
        except OSError as exc:
            sock.close()
            raise PortInUseError(exc.errno, f"{HOST}:{self.requested_port}: {exc.strerror}") from exc
        sock.listen(128)
        self._socket = sock
        return self.port

    def serve(self) -> None:
        """Serves requests in a background thread, one thread per request (werkzeug's threaded server)."""
        if self._socket is None:
            self.bind()
        assert self._socket is not None
        self._route_request_log()
        app = DomainDispatcherApplication(create_backend_app)
        # werkzeug adopts the listening socket through its file descriptor (it dups it).
        self._server = make_server(
            HOST, self.port, app, threaded=True, request_handler=MotoRequestHandler, fd=self._socket.fileno()
        )
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="sluice-endpoint",
            daemon=True,
        )
        self._thread.start()

    def _route_request_log(self) -> None:
        """werkzeug logs one line per request: into the request log, never onto the terminal."""
        log = logging.getLogger("werkzeug")
        log.propagate = False
        log.setLevel(logging.INFO)
        if self.request_log is not None:
            self.request_log.parent.mkdir(parents=True, exist_ok=True)
            self._log_handler = logging.FileHandler(self.request_log, encoding="utf-8")
        else:
            self._log_handler = logging.NullHandler()
        log.addHandler(self._log_handler)

    def stop(self) -> None:
        """Stops serving (requests in flight finish on their own threads) and frees the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._log_handler is not None:
            logging.getLogger("werkzeug").removeHandler(self._log_handler)
            with contextlib.suppress(Exception):
                self._log_handler.close()
            self._log_handler = None

    def __enter__(self) -> LocalEndpoint:
        self.bind()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def local_queue_url(queue_url: str, endpoint: str) -> str:
    """The queue's URL as the local endpoint names it (`<endpoint>/<account>/<queue>`)."""
    account, name = queue_url.rstrip("/").split("/")[-2:]
    return f"{endpoint}/{account}/{name}"
