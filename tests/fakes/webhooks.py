"""Webhook test helpers: a real receiver on loopback, the receivers' verification, an outbox driven by hand.

The receiver records every request and answers as scripted.

``receiver.script(status, headers=None, body=b"", delay=0, hold=None)`` queues the answers of the next requests
(then the default 200 "ok"); ``delay`` holds the answer back (a slow endpoint, for timeouts); ``hold`` (a
``threading.Event``) holds it until the test sets the event (at most a minute). ``received`` lists every
request as it arrived (the arrival is recorded before any delay).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    arrived_at: float = field(default_factory=time.time)


class WebhookReceiver:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.received: list[Received] = []
        self._answers: deque = deque()
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._cond:
                    receiver.received.append(Received("POST", self.path, dict(self.headers.items()), body))
                    answer = receiver._answers.popleft() if receiver._answers else (200, {}, b"ok", 0.0, None)
                    receiver._cond.notify_all()
                status, headers, payload, delay, hold = answer
                if delay:
                    time.sleep(delay)
                if hold is not None:
                    hold.wait(60)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout)

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def script(self, status: int, headers: dict | None = None, body: bytes = b"", delay: float = 0.0,
               times: int = 1, hold: threading.Event | None = None) -> None:
        with self._cond:
            for _ in range(times):
                self._answers.append((status, headers or {}, body, delay, hold))

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- verification as a receiver does it ------------------------------------------------------------------
def verify_webhook(payload: bytes, signature: str, secret: str) -> bool:
    """The Python verification code of spec page 16, verbatim."""
    import hashlib
    import hmac
    expected = 'sha256=' + hmac.new(
        secret.encode(), payload, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(signature, expected)


def verify_both(request: Received, secret: str) -> dict:
    """Check a delivery with the spec's code and with the ``standardwebhooks`` library; returns the payload."""
    import json

    from standardwebhooks import Webhook

    assert verify_webhook(request.body, request.headers["X-LinkTime-Signature"], secret), "spec signature"
    payload = Webhook(secret).verify(request.body, request.headers)   # raises on a bad signature
    assert payload == json.loads(request.body)
    return payload


# --- the outbox driven by hand, with the clock the test chooses -------------------------------------------
class ManualQueue:
    """Outbox rows are not run on commit (the queue is switched off); ``run_due(now)`` runs what is due then."""

    def __init__(self, monkeypatch) -> None:
        from app.services import outbox

        self.enqueued: list[tuple[str, int | None]] = []
        monkeypatch.setattr(outbox, "_enqueue", lambda message_id, delay=None, **_kw: self.enqueued.append(
            (message_id, delay)))

    @staticmethod
    def pending(kind: str | None = None) -> list:
        from app.models import OutboxMessage

        query = OutboxMessage.select().where(OutboxMessage.done_at.is_null() & OutboxMessage.failed_at.is_null())
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return list(query.order_by(OutboxMessage.created_at))

    @staticmethod
    def process(message_id: str, now) -> str:
        from app.services import outbox
        return outbox.process(message_id, max_attempts=9, retry_delay=60, now=now)

    def run_due(self, now, kinds=("event", "webhook")) -> list[str]:
        """Run every pending row of ``kinds`` (events first, so their webhook rows run in the same call)."""
        results = []
        for kind in kinds:
            for message in self.pending(kind):
                results.append(self.process(message.id, now))
        return results


class HangingReceiver:
    """A TCP server that accepts every connection, reads what is sent and never answers (until closed)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        import socket

        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(256)
        self.port = self._sock.getsockname()[1]
        self.connections: list = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def url(self, path: str = "/hang") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections.append(conn)

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self.connections)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closed.set()
        self._sock.close()
        with self._lock:
            for conn in self.connections:
                conn.close()
