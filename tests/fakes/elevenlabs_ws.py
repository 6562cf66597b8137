"""A fake of ElevenLabs' conversation WebSocket (``wss://api.elevenlabs.io/v1/convai/conversation``), for the
browser's voice widget.

Standard library only: the RFC 6455 opening handshake and frames (text, close, ping/pong, fragments; client
frames must be masked), over TLS with a self-signed certificate for 127.0.0.1 made at start (``wss://``, as
ElevenLabs' signed URLs are; the browser is told to accept it). ``with ElevenLabsWsFake(http_fake) as ws``; point the
HTTP fake's signed URLs at it with ``http_fake.conversation_base = ws.url``.

A connection to ``/v1/convai/conversation?agent_id=...&conversation_signature=...`` is accepted only when the
HTTP fake issued that signature for that agent (``http_fake.signatures``); otherwise the handshake answers 403.
Then, as ElevenLabs documents its protocol: the client sends ``conversation_initiation_client_data``
(``dynamic_variables``, ``conversation_config_override``); the fake answers ``conversation_initiation_metadata``
(``conversation_id``, ``agent_output_audio_format`` / ``user_input_audio_format`` ``pcm_16000``), a ``ping``
(the client must answer ``pong`` with its ``event_id``), an ``agent_response`` (``greeting``) and one ``audio``
event (``audio_base_64``: 100 ms of a 16 kHz PCM tone). Every ``{"user_audio_chunk": <base64 PCM>}`` the client
sends is decoded and kept; the first one is answered with a ``user_transcript``.

``conversations`` records each accepted connection (``Conversation``: agent_id, initiation, audio chunks, pongs,
other messages, closed); ``refused`` counts refused handshakes; ``wait_for(predicate)`` waits until a condition
on the recorded conversations holds.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import math
import os
import secrets
import socket
import socketserver
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PATH = "/v1/convai/conversation"
GREETING = "Hi! I'm Scheduling Assistant, Hana's AI scheduling assistant. How can I help you today?"
TRANSCRIPT = "I'd like to book a meeting."
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


@dataclass
class Conversation:
    conversation_id: str
    agent_id: str
    initiation: dict[str, Any] | None = None
    audio_chunks: list[bytes] = field(default_factory=list)
    pongs: list[int] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)     # everything else the client sent
    closed: bool = False
    close_code: int | None = None

    @property
    def dynamic_variables(self) -> dict[str, Any]:
        return dict((self.initiation or {}).get("dynamic_variables") or {})


class HandshakeRefused(Exception):
    def __init__(self, status: str, body: str) -> None:
        super().__init__(body)
        self.status, self.body = status, body


def tone(milliseconds: int = 100, rate: int = 16000, hz: float = 440.0) -> bytes:
    """Little-endian 16-bit PCM of a quiet sine tone."""
    count = rate * milliseconds // 1000
    return b"".join(struct.pack("<h", int(3000 * math.sin(2 * math.pi * hz * i / rate))) for i in range(count))


def _self_signed(directory: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ElevenLabsWsFake:
    def __init__(self, http_fake=None, *, tls: bool = True) -> None:
        self.http_fake = http_fake
        self.tls = tls
        self.conversations: list[Conversation] = []
        self.refused = 0
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.url = ""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._ssl: ssl.SSLContext | None = None

    # -- lifecycle
    def start(self) -> ElevenLabsWsFake:
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="fake-el-ws-")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*_self_signed(self._tmp.name))
            self._ssl = context
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                fake._serve(self.request)

        self._server = _Server(("127.0.0.1", 0), Handler)
        port = self._server.server_address[1]
        self.url = f"{'wss' if self.tls else 'ws'}://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake_elevenlabs_ws", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> ElevenLabsWsFake:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        """What the page's CSP connect-src must allow (ELEVENLABS_CONNECT_ORIGINS in tests)."""
        return self.url

    def wait_for(self, predicate: Callable[[list[Conversation]], Any], timeout: float = 20.0) -> Any:
        """Wait until ``predicate(conversations)`` is truthy (checked on every change); returns its value."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                value = predicate(self.conversations)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the WebSocket fake did not see it in {timeout} s: {self.conversations!r}")
                self.changed.wait(left)

    def _notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    # -- one connection
    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(30)
        try:
            sock = self._ssl.wrap_socket(raw, server_side=True) if self._ssl else raw
        except (ssl.SSLError, OSError):
            return
        try:
            conversation = self._handshake(sock)
        except HandshakeRefused as exc:
            with self.lock:
                self.refused += 1
            self._notify()
            body = exc.body.encode()
            sock.sendall(f"HTTP/1.1 {exc.status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                         "Connection: close\r\n\r\n".encode() + body)
            sock.close()
            return
        except (OSError, ValueError):
            sock.close()
            return
        try:
            self._converse(sock, conversation)
        except (OSError, ValueError, ConnectionError):
            pass
        finally:
            with self.lock:
                conversation.closed = True
            self._notify()
            try:
                sock.close()
            except OSError:
                pass

    def _handshake(self, sock) -> Conversation:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                raise ValueError("closed during the handshake")
            data += chunk
            if len(data) > 65536:
                raise HandshakeRefused("431 Request Header Fields Too Large", "headers too large")
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target, _version = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        url = urlsplit(target)
        if method != "GET" or url.path != PATH:
            raise HandshakeRefused("404 Not Found", "not found")
        if headers.get("upgrade", "").lower() != "websocket" or "sec-websocket-key" not in headers \
                or headers.get("sec-websocket-version") != "13":
            raise HandshakeRefused("400 Bad Request", "a WebSocket upgrade is expected")
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        agent_id, signature = query.get("agent_id", ""), query.get("conversation_signature", "")
        if not self._valid(agent_id, signature):
            raise HandshakeRefused("403 Forbidden", "invalid conversation signature")
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest()).decode()
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        conversation = Conversation(conversation_id="conv_" + secrets.token_hex(12), agent_id=agent_id)
        with self.lock:
            self.conversations.append(conversation)
        self._notify()
        return conversation

    def _valid(self, agent_id: str, signature: str) -> bool:
        if not agent_id or not signature or self.http_fake is None:
            return False
        with self.http_fake.lock:
            issued = list(self.http_fake.signatures)
        return any(item["agent_id"] == agent_id and secrets.compare_digest(item["signature"], signature)
                   for item in issued)

    def _converse(self, sock, conversation: Conversation) -> None:
        reader = _FrameReader(sock)
        greeted = transcribed = False
        while True:
            opcode, payload = reader.message()
            if opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                with self.lock:
                    conversation.close_code = code
                _send(sock, OP_CLOSE, payload[:2])
                return
            if opcode == OP_PING:
                _send(sock, OP_PONG, payload)
                continue
            if opcode != OP_TEXT:
                continue
            message = json.loads(payload.decode("utf-8"))
            if "user_audio_chunk" in message:
                chunk = base64.b64decode(message["user_audio_chunk"], validate=True)
                with self.lock:
                    conversation.audio_chunks.append(chunk)
                self._notify()
                if not transcribed and greeted:
                    transcribed = True
                    self._send_json(sock, {"type": "user_transcript",
                                           "user_transcription_event": {"user_transcript": TRANSCRIPT}})
                continue
            kind = message.get("type")
            if kind == "conversation_initiation_client_data" and conversation.initiation is None:
                with self.lock:
                    conversation.initiation = message
                self._notify()
                self._greet(sock, conversation)
                greeted = True
            elif kind == "pong":
                with self.lock:
                    conversation.pongs.append(int(message.get("event_id")))
                self._notify()
            else:
                with self.lock:
                    conversation.messages.append(message)
                self._notify()

    def _greet(self, sock, conversation: Conversation) -> None:
        self._send_json(sock, {"type": "conversation_initiation_metadata",
                               "conversation_initiation_metadata_event": {
                                   "conversation_id": conversation.conversation_id,
                                   "agent_output_audio_format": "pcm_16000",
                                   "user_input_audio_format": "pcm_16000"}})
        self._send_json(sock, {"type": "ping", "ping_event": {"event_id": 1, "ping_ms": None}})
        self._send_json(sock, {"type": "agent_response", "agent_response_event": {"agent_response": GREETING}})
        self._send_json(sock, {"type": "audio", "audio_event": {
            "audio_base_64": base64.b64encode(tone()).decode(), "event_id": 2}})

    def _send_json(self, sock, message: dict[str, Any]) -> None:
        _send(sock, OP_TEXT, json.dumps(message).encode())


def _send(sock, opcode: int, payload: bytes) -> None:
    """One unmasked frame (a server never masks)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    sock.sendall(header + payload)


class _FrameReader:
    def __init__(self, sock) -> None:
        self.sock = sock
        self.buffer = b""

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the client closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def frame(self) -> tuple[bool, int, bytes]:
        first, second = self._read(2)
        fin, opcode = bool(first & 0x80), first & 0x0F
        if not second & 0x80:
            raise ValueError("a client frame must be masked (RFC 6455 5.1)")
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        if length > 16 * 1024 * 1024:
            raise ValueError("frame too large")
        mask = self._read(4)
        data = bytearray(self._read(length))
        for i in range(length):
            data[i] ^= mask[i % 4]
        return fin, opcode, bytes(data)

    def message(self) -> tuple[int, bytes]:
        """The next whole message (fragments joined); control frames come back on their own."""
        fin, opcode, payload = self.frame()
        if opcode >= 0x8 or fin:
            return opcode, payload
        parts = [payload]
        while True:
            fin, cont, data = self.frame()
            if cont >= 0x8:           # a control frame between fragments: answer pings, ignore the rest
                if cont == OP_PING:
                    _send(self.sock, OP_PONG, data)
                continue
            parts.append(data)
            if fin:
                return opcode, b"".join(parts)
