"""A provider fake's HTTP server: a Flask app served on a free loopback port from a background thread.

A fake subclasses ``FlaskFake``, builds ``self.app`` (its routes) in ``__init__`` and is used as a context manager
(``with SlackFake() as fake``) or with ``start()`` / ``stop()``; ``url`` is its base URL once started."""
from __future__ import annotations

import threading
from typing import Self

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class FlaskFake:
    app: Flask

    def _init_server(self, name: str) -> None:
        self._server = None
        self._thread: threading.Thread | None = None
        self._name = name
        self.url = ""
        self.app = Flask(name)

    def start(self) -> Self:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self._name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
