"""A tiny HTTP server on loopback serving an ICS feed, or misbehaving on purpose (slow, 500), for tests.

``FeedServer().start()``; set ``.body`` (bytes), ``.status`` and ``.delay`` (seconds before answering) at any
time; ``.requests`` lists (method, path) of every request. Any method and path get the same answer, so it
also stands in for a CalDAV server that times out or fails.
"""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FeedServer:
    def __init__(self, body: bytes = b"", status: int = 200, delay: float = 0.0) -> None:
        self.body, self.status, self.delay = body, status, delay
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.requests.append((self.command, self.path))
                if server.delay:
                    time.sleep(server.delay)
                try:
                    self.send_response(server.status)
                    self.send_header("Content-Type", "text/calendar; charset=utf-8")
                    self.send_header("Content-Length", str(len(server.body)))
                    self.end_headers()
                    self.wfile.write(server.body)
                except OSError:
                    pass   # the client gave up waiting

            do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = _answer

            def log_message(self, *_args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def start(self) -> FeedServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
