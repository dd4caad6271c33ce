"""A real uvicorn server in a background thread for the web tests: ``with BackgroundServer(app) as url:``.

``port=0`` picks a free port; the URL (``http://127.0.0.1:PORT``) is known once the server listens.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class BackgroundServer:
    """Run an app on uvicorn in a background thread (tests, benchmarks)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, timeout: float = 20.0) -> None:
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                                     access_log=False, server_header=False))
        self._host = host
        self._timeout = timeout
        self._thread: threading.Thread | None = None
        self.url = ""

    def __enter__(self) -> str:
        self._thread = threading.Thread(target=self._server.run, name="memfit-web", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{self._host}:{port}"
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(self._timeout)
