"""An app served over real HTTP for tests that need a live address: browsers, and providers that call back
(Twilio's status callbacks, OAuth redirects, Checkout returns)."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class LiveServer:
    url: str
    app: object

    def __str__(self) -> str:
        return self.url


@contextmanager
def serve_live(app, *, own_base_url: bool = False):
    """Serve ``app`` on a free loopback port (waitress, 8 threads) while the block runs; ``own_base_url``: the
    app's BASE_URL becomes the server's address (for providers that send the browser back to it)."""
    from waitress import wasyncore
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=8, ident="LinkTime-test")
    url = f"http://127.0.0.1:{server.effective_port}"
    if own_base_url:
        app.config["BASE_URL"] = url

    def serve():
        try:
            server.run()
        except (OSError, ValueError):  # the socket map was closed under the loop at shutdown
            pass

    thread = threading.Thread(target=serve, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=url, app=app)
    finally:
        wasyncore.close_all(server._map)
        server.task_dispatcher.shutdown()
        thread.join(timeout=10)
