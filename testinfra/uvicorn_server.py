"""An app built in this process, served by uvicorn as ``asgi_worker.py`` serves it, so tests read its counters."""

from __future__ import annotations

import threading

from testinfra.processes import free_port, port_open, wait_until


class Uvicorn:
    """An app built in this process, served as ``asgi_worker.py`` serves it (uvicorn, live routes on the loop)."""

    def __init__(self, app: object, threads: int = 4) -> None:
        from asgi_worker import asgi_app

        self.asgi = asgi_app(app.server, threads=threads)  # type: ignore[attr-defined]
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def answered(self) -> int:
        """``/live/version`` answers given on the event loop so far."""
        return self.asgi.answered  # type: ignore[attr-defined]

    @property
    def take_ups_answered(self) -> int:
        """Take-up GETs answered on the event loop from a kept answer (``routes.take_up.KeptTakeUps``)."""
        return self.asgi.app.answered  # type: ignore[attr-defined]

    def start(self) -> Uvicorn:
        import uvicorn

        config = uvicorn.Config(
            self.asgi, host="127.0.0.1", port=self.port, http="httptools", lifespan="off", log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_until(lambda: port_open(self.port), 10, "uvicorn")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Uvicorn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
