"""The outbound HTTP seam that CalDAV, ICS feeds and webhooks share, against real servers on loopback.

Cookies never outlive a request, host names that cannot be looked up are refused (never a crash), a server that
trickles its answer is cut off at the request's time limit, and the address guard judges a NAT64 address by the
IPv4 address inside it.
"""
from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.integrations import ical, ics_feed
from app.services import webhook_delivery as delivery

FEED = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//T//EN\r\nBEGIN:VEVENT\r\nUID:one\r\nDTSTAMP:20300101T000000Z\r\n"
        b"DTSTART:20300107T090000Z\r\nDTEND:20300107T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
DEV = delivery.Policy(allow_private=True, timeout=5)


# --- a server whose every answer the test writes ------------------------------------------------------------
@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class Loopback:
    """A threaded HTTP/1.1 server on 127.0.0.1 (TLS with ``context``); ``answer(handler)`` writes each answer."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler], None], context: ssl.SSLContext | None = None):
        self.seen: list[Seen] = []
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.seen.append(Seen(self.command, self.path, dict(self.headers.items())))
                try:
                    answer(self)
                except OSError:
                    pass   # the client hung up

            do_GET = do_POST = do_PROPFIND = do_REPORT = do_PUT = _any

            def log_message(self, *_args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.stopping = self.stopping      # trickling answers end when the test does
        if context is not None:
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.scheme = "https" if context else "http"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers: list[Loopback] = []

    def start(answer, context=None) -> Loopback:
        servers.append(Loopback(answer, context))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def reply(handler, status=200, body=b"", headers=()) -> None:
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


# --- 1. cookies -------------------------------------------------------------------------------------------
def test_a_cookie_one_calendar_server_sets_is_never_sent_with_a_later_request(serve):
    server = serve(lambda h: reply(h, body=FEED, headers=[("Set-Cookie", "sid=alice-session; Path=/"),
                                                           ("Content-Type", "text/calendar")]))
    ics_feed.fetch(server.url("/alice.ics"), timeout=5, allow_private=True, max_bytes=100_000)   # Alice's feed
    ics_feed.fetch(server.url("/bob.ics"), timeout=5, allow_private=True, max_bytes=100_000)     # then Bob's
    assert [s.path for s in server.seen] == ["/alice.ics", "/bob.ics"]
    assert "Cookie" not in server.seen[1].headers
    assert len(delivery.session(True).cookies) == 0


def test_a_cookie_a_webhook_receiver_sets_is_not_sent_with_the_next_delivery_or_calendar_read(serve):
    server = serve(lambda h: reply(h, body=b"ok", headers=[("Set-Cookie", "track=1; Path=/")]))
    first = delivery.post(server.url("/hook"), b"{}", {"Content-Type": "application/json"}, DEV, dt.datetime.now(dt.UTC))
    second = delivery.post(server.url("/hook"), b"{}", {"Content-Type": "application/json"}, DEV, dt.datetime.now(dt.UTC))
    assert first.ok and second.ok
    ical.http("GET", server.url("/feed"), timeout=5, allow_private=True, max_bytes=1000, what="Reading")
    assert [("Cookie" in s.headers) for s in server.seen] == [False, False, False]


# --- 2. host names that cannot be looked up ---------------------------------------------------------------
BAD_HOSTS = ["a..example.com", "x" * 64 + ".example.com", ".example.com"]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_a_host_name_with_an_empty_or_overlong_label_is_an_invalid_host_name(host):
    assert not delivery.host_name_ok(host)
    with pytest.raises(delivery.InvalidHostName):           # a socket.gaierror: callers treat it as unresolvable
        delivery.resolve(host, 443, allow_private=True)
    with pytest.raises(socket.gaierror):
        delivery.resolve(host, 443, allow_private=False)


def test_the_resolvers_own_encoding_error_is_an_invalid_host_name_too(monkeypatch):
    def refuses(*_args):
        return "a..b".encode("idna")            # what getaddrinfo does first: raises UnicodeError

    monkeypatch.setattr(delivery, "_getaddrinfo", refuses)
    with pytest.raises(delivery.InvalidHostName):
        delivery.resolve("looks-fine.example.com", 443, allow_private=True)


@pytest.mark.parametrize("host", ["example.com", "example.com.", "xn--bcher-kva.example", "bücher.example",
                                  "127.0.0.1", "[::1]", "a" * 63 + ".example"])
def test_ordinary_host_names_are_valid(host):
    assert delivery.host_name_ok(host)


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_a_webhook_to_such_a_host_fails_permanently_without_raising(host):
    for policy in (DEV, delivery.Policy(allow_private=False, timeout=5)):
        outcome = delivery.post(f"https://{host}/hook", b"{}", {}, policy, dt.datetime.now(dt.UTC))
        assert not outcome.ok and not outcome.retryable
        assert outcome.error.startswith("Refused") and "not a valid host name" in outcome.error


# --- 5. the time limit of a whole answer ------------------------------------------------------------------
def trickle_headers(handler) -> None:
    """The status line, then a header one byte every 0.2 s (never finished)."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    handler.wfile.flush()
    for _ in range(1000):
        if handler.server.stopping.is_set():
            return
        handler.wfile.write(b"z")
        handler.wfile.flush()
        time.sleep(0.2)


def test_a_webhook_receiver_that_trickles_its_headers_times_out_and_is_retried(serve):
    server = serve(trickle_headers)
    started = time.monotonic()
    outcome = delivery.post(server.url("/hook"), b"{}", {}, delivery.Policy(allow_private=True, timeout=1),
                            dt.datetime.now(dt.UTC))
    assert time.monotonic() - started < 10
    assert not outcome.ok and outcome.retryable and outcome.error.startswith("Timeout")


def test_a_prompt_answer_inside_the_time_limit_is_read_whole(serve):
    server = serve(lambda h: reply(h, body=FEED))
    calendar = ics_feed.fetch(server.url("/ok.ics"), timeout=1, allow_private=True, max_bytes=100_000)
    assert [str(e["UID"]) for e in calendar.walk("VEVENT")] == ["one"]
    assert delivery.remaining() is None          # the limit ends with the request


# --- 8. NAT64 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("address, allowed", [
    ("64:ff9b::a9fe:a9fe", False),        # 169.254.169.254, the cloud metadata service
    ("64:ff9b::7f00:1", False),           # 127.0.0.1
    ("64:ff9b::a00:1", False),            # 10.0.0.1
    ("64:ff9b::c0a8:101", False),         # 192.168.1.1
    ("64:ff9b::6440:1", False),           # 100.64.0.1 (CGNAT)
    ("64:ff9b::808:808", True),           # 8.8.8.8: a public address through the gateway
    ("64:ff9b:1::a9fe:a9fe", False),      # the local-use prefix is never allowed
    ("64:ff9b:1::808:808", False),
    ("64:ff9b:1:ffff::808:808", False),
])
def test_a_nat64_address_is_judged_by_the_ipv4_address_it_embeds(address, allowed):
    assert delivery.address_allowed(address) is allowed


def test_a_host_name_resolving_to_nat64_of_a_private_address_is_refused(monkeypatch):
    def nat64(host, port, *args):
        return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("64:ff9b::a9fe:a9fe", port, 0, 0))]

    monkeypatch.setattr(delivery, "_getaddrinfo", nat64)
    with pytest.raises(delivery.AddressNotAllowed):
        delivery.resolve("metadata.example.com", 443, allow_private=False)
    outcome = delivery.post("https://metadata.example.com/hook", b"{}", {}, delivery.Policy(False, 5),
                            dt.datetime.now(dt.UTC))
    assert not outcome.retryable and outcome.error.startswith("Refused") and "64:ff9b::a9fe:a9fe" in outcome.error
