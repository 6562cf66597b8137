"""The outbound HTTP seam that CalDAV, ICS feeds and webhooks share, against real servers on loopback.

Cookies never outlive a request, host names that cannot be looked up are refused (never a crash), a server that
trickles its answer is cut off at the request's time limit, credentials go only to the server's own site, and the
address guard judges a NAT64 address by the IPv4 address inside it.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app import net
from app.integrations import caldav, ical, ics_feed
from app.services.developer import webhook_delivery as delivery

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
    assert len(net.session(True).cookies) == 0


def test_a_cookie_a_webhook_receiver_sets_is_not_sent_with_the_next_delivery_or_calendar_read(serve):
    server = serve(lambda h: reply(h, body=b"ok", headers=[("Set-Cookie", "track=1; Path=/")]))
    json_type = {"Content-Type": "application/json"}
    first = delivery.post(server.url("/hook"), b"{}", json_type, DEV, dt.datetime.now(dt.UTC))
    second = delivery.post(server.url("/hook"), b"{}", json_type, DEV, dt.datetime.now(dt.UTC))
    assert first.ok and second.ok
    ical.http("GET", server.url("/feed"), timeout=5, allow_private=True, max_bytes=1000, what="Reading")
    assert [("Cookie" in s.headers) for s in server.seen] == [False, False, False]


# --- 2. host names that cannot be looked up ---------------------------------------------------------------
BAD_HOSTS = ["a..example.com", "x" * 64 + ".example.com", ".example.com"]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_a_host_name_with_an_empty_or_overlong_label_is_an_invalid_host_name(host):
    assert not net.host_name_ok(host)
    with pytest.raises(net.InvalidHostName):           # a socket.gaierror: callers treat it as unresolvable
        net.resolve(host, 443, allow_private=True)
    with pytest.raises(socket.gaierror):
        net.resolve(host, 443, allow_private=False)


def test_the_resolvers_own_encoding_error_is_an_invalid_host_name_too(monkeypatch):
    def refuses(*_args):
        return "a..b".encode("idna")            # what getaddrinfo does first: raises UnicodeError

    monkeypatch.setattr(net, "_getaddrinfo", refuses)
    with pytest.raises(net.InvalidHostName):
        net.resolve("looks-fine.example.com", 443, allow_private=True)


@pytest.mark.parametrize("host", ["example.com", "example.com.", "xn--bcher-kva.example", "bücher.example",
                                  "127.0.0.1", "[::1]", "a" * 63 + ".example"])
def test_ordinary_host_names_are_valid(host):
    assert net.host_name_ok(host)


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_a_calendar_request_to_such_a_host_is_a_permanent_calendar_error(host):
    with pytest.raises(ical.PermanentError) as caught:
        ics_feed.fetch(f"https://{host}/x.ics", timeout=5, allow_private=True, max_bytes=1000)
    assert "not a valid host name" in str(caught.value)
    with pytest.raises(ical.PermanentError):
        caldav.CalDAVClient(f"https://{host}/", "alice", "pw", timeout=5, allow_private=False).discover()


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_a_webhook_to_such_a_host_fails_permanently_without_raising(host):
    for policy in (DEV, delivery.Policy(allow_private=False, timeout=5)):
        outcome = delivery.post(f"https://{host}/hook", b"{}", {}, policy, dt.datetime.now(dt.UTC))
        assert not outcome.ok and not outcome.retryable
        assert outcome.error.startswith("Refused") and "not a valid host name" in outcome.error


# --- 5. the time limit of a whole answer ------------------------------------------------------------------
def _drip(handler, byte: bytes) -> None:
    """Send ``byte`` every 0.2 s, 1000 times, unless the server is stopping."""
    for _ in range(1000):
        if handler.server.stopping.is_set():
            return
        handler.wfile.write(byte)
        handler.wfile.flush()
        time.sleep(0.2)


def trickle_body(handler) -> None:
    """Headers at once, then one byte of a 1000-byte body every 0.2 s."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/calendar")
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    handler.wfile.flush()
    _drip(handler, b" ")


def trickle_headers(handler) -> None:
    """The status line, then a header one byte every 0.2 s (never finished)."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    handler.wfile.flush()
    _drip(handler, b"z")


def trickle_without_length(handler) -> None:
    """An answer whose end is the end of the connection, trickled."""
    handler.close_connection = True
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nConnection: close\r\n\r\n")
    handler.wfile.flush()
    _drip(handler, b" ")


@pytest.mark.parametrize("answer", [trickle_body, trickle_headers, trickle_without_length])
def test_a_feed_that_trickles_its_answer_fails_as_transient_at_the_time_limit(serve, answer):
    server = serve(answer)
    started = time.monotonic()
    with pytest.raises(ical.TransientError) as caught:
        ics_feed.fetch(server.url("/slow.ics"), timeout=1, allow_private=True, max_bytes=100_000)
    assert time.monotonic() - started < 10
    assert "within 1 seconds" in str(caught.value)


def test_a_caldav_server_that_trickles_its_answer_fails_as_transient(serve):
    server = serve(trickle_body)
    client = caldav.CalDAVClient(server.url("/"), "alice", "pw", timeout=1, allow_private=True)
    started = time.monotonic()
    with pytest.raises(ical.TransientError):
        client.discover()
    assert time.monotonic() - started < 10


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
    assert net.remaining() is None          # the limit ends with the request


# --- 7. credentials stay on the server's own site ---------------------------------------------------------
@pytest.mark.parametrize("owner, target, allowed", [
    ("https://caldav.icloud.com/", "https://p42-caldav.icloud.com/123/principal/", True),
    ("https://caldav.example.com/", "https://caldav.example.com:8443/dav/", True),
    ("https://dav.example.co.uk/", "https://cal.example.co.uk/", True),
    ("https://dav.example.co.uk/", "https://evil.co.uk/", False),
    ("https://caldav.icloud.com/", "https://attacker.example/", False),
    ("https://caldav.icloud.com/", "http://p42-caldav.icloud.com/", False),       # never over plain http
    ("http://127.0.0.1:5232/", "http://127.0.0.1:5232/alice/", True),               # the same origin
    ("http://127.0.0.1:5232/", "http://localhost:5232/alice/", False),
    ("https://10.0.0.1/", "https://10.0.0.2/", False),
])
def test_credentials_are_allowed_only_for_the_same_site(owner, target, allowed):
    assert ical.credentials_allowed(owner, target) is allowed


def multistatus(principal: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><d:multistatus xmlns:d="DAV:"><d:response><d:href>/</d:href>'
            '<d:propstat><d:prop><d:current-user-principal><d:href>' + principal + '</d:href>'
            '</d:current-user-principal></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>'
            '</d:multistatus>').encode()


def test_a_principal_on_another_host_gets_no_password(serve):
    elsewhere = serve(lambda h: reply(h, 401, headers=[("WWW-Authenticate", 'Basic realm="x"')]))
    server = serve(lambda h: reply(h, 207, multistatus(elsewhere.url("/principal/", host="localhost")),
                                   headers=[("Content-Type", "application/xml")]))
    client = caldav.CalDAVClient(server.url("/"), "alice", "app-pass-1234", timeout=5, allow_private=True)
    with pytest.raises(ical.PermanentError) as caught:
        client.discover()
    assert "Authorization" in server.seen[0].headers                # the server the user named gets it
    assert elsewhere.seen and all("Authorization" not in s.headers for s in elsewhere.seen)
    assert "only sent to 127.0.0.1" in str(caught.value)


# TLS for the redirect cases: a certificate for the loopback names, trusted by this thread's session only.
NAMES = ["localhost", "caldav.cloud.test", "p42-caldav.cloud.test", "attacker.test"]


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "LinkTime test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([*(x509.DNSName(n) for n in NAMES),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context, str(folder / "cert.pem")


@pytest.fixture
def trusted(tls, monkeypatch):
    """The session of this thread trusts the test certificate; the test names resolve to loopback."""
    session = net.session(True)
    monkeypatch.setattr(session, "verify", tls[1])
    real = net._getaddrinfo

    def loopback_names(host, port, *args):
        if host.endswith(".test"):
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]
        return real(host, port, *args)

    monkeypatch.setattr(net, "_getaddrinfo", loopback_names)
    return tls[0]


def redirecting_to(target: Loopback, host: str):
    return lambda h: reply(h, 307, headers=[("Location", target.url("/dav/", host=host))])


def answers_if_authorized(h) -> None:
    if "Authorization" in h.headers:
        reply(h, 207, multistatus("/principal/"), headers=[("Content-Type", "application/xml")])
    else:
        reply(h, 401, headers=[("WWW-Authenticate", 'Basic realm="x"')])


@pytest.mark.parametrize("to_host", ["localhost", "attacker.test"])
def test_an_https_redirect_to_another_site_does_not_carry_the_password(serve, trusted, to_host):
    elsewhere = serve(answers_if_authorized, trusted)
    server = serve(redirecting_to(elsewhere, to_host), trusted)
    with pytest.raises(ical.PermanentError) as caught:
        ical.http("PROPFIND", server.url("/", host="caldav.cloud.test"), timeout=5, allow_private=True,
                  max_bytes=100_000, what="Connecting", auth=("alice", "app-pass-1234"))
    assert "Authorization" in server.seen[0].headers
    assert [("Authorization" in s.headers) for s in elsewhere.seen] == [False]
    assert "asks for the password" in str(caught.value)


def test_an_https_redirect_within_the_same_parent_domain_keeps_the_password(serve, trusted):
    sibling = serve(answers_if_authorized, trusted)
    server = serve(redirecting_to(sibling, "p42-caldav.cloud.test"), trusted)
    response, _body = ical.http("PROPFIND", server.url("/", host="caldav.cloud.test"), timeout=5, allow_private=True,
                                max_bytes=100_000, what="Connecting", auth=("alice", "app-pass-1234"))
    assert response.status_code == 207
    assert [("Authorization" in s.headers) for s in sibling.seen] == [True]


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
    assert net.address_allowed(address) is allowed


def test_a_host_name_resolving_to_nat64_of_a_private_address_is_refused(monkeypatch):
    def nat64(host, port, *args):
        return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("64:ff9b::a9fe:a9fe", port, 0, 0))]

    monkeypatch.setattr(net, "_getaddrinfo", nat64)
    with pytest.raises(net.AddressNotAllowed):
        net.resolve("metadata.example.com", 443, allow_private=False)
    outcome = delivery.post("https://metadata.example.com/hook", b"{}", {}, delivery.Policy(False, 5),
                            dt.datetime.now(dt.UTC))
    assert not outcome.retryable and outcome.error.startswith("Refused") and "64:ff9b::a9fe:a9fe" in outcome.error
