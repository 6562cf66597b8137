"""Compression of the app's text responses: brotli or gzip, whichever the client accepts (Flask-Compress).

Flask-Compress picks the encoding from ``Accept-Encoding`` (brotli first on a tie), adds
``Vary: Accept-Encoding``, marks a strong ETag with the encoding and answers ``If-None-Match`` for the encoded
form. Settled here:

- Text types only (HTML, CSS, JS, JSON, SVG, XML, plain text, CSV, iCalendar); bodies under 500 bytes, answers
  other than 2xx, answers that already carry a ``Content-Encoding``, static files (app.web.static_assets
  compresses them once per process) and streamed answers (send_file, generators) are sent as they are.
- The encoding is chosen with werkzeug's ``Accept-Encoding`` parser, which honours ``q=0`` (refused).
- No compression of a page that holds the session's CSRF token (sign-in, dashboard, booking form step, invitee
  pages): a secret next to reflected input in a compressed body is what BREACH reads from response sizes. The
  session cookie is ``SameSite=Lax``, which already keeps most cross-site requests from carrying it; this is
  defence in depth, and the public pages, which carry no such token (``shared_page``), are compressed.
- The public pages that app.web.page_cache shares between visitors are mostly served as the same bytes again:
  their compressed form is kept by content (a BLAKE2 digest of the body, so never stale) in a small LRU, and a
  page-cache hit is not compressed again (~0.1 ms to hash instead of ~1.4 ms for brotli on a 50 KB page). The page
  cache keeps the uncompressed body (it stores before this after-request hook runs), so nothing is compressed twice.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from flask import Flask, Response, current_app, g, request
from flask_compress import Compress

from app.web.static_assets import AssetResponse

MIMETYPES = ["text/html", "text/css", "text/javascript", "application/javascript", "application/json",
             "application/problem+json", "application/manifest+json", "application/xml", "text/xml", "text/plain",
             "text/csv", "text/calendar", "image/svg+xml"]
CACHE_BYTES = 4 * 1024 * 1024      # compressed shared pages kept per process
_CSRF_FIELD = "WTF_CSRF_FIELD_NAME"


class CompressedPages:
    """Compressed bodies by ``"<encoding>;<digest>"``, least recently used dropped past CACHE_BYTES. A key with
    no digest (``"br;"``: a page not shared between visitors) is neither looked up nor kept."""

    def __init__(self, budget: int = CACHE_BYTES) -> None:
        self.budget = budget
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        if key.endswith(";"):
            return None
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: bytes) -> None:
        if key.endswith(";") or len(value) * 8 > self.budget:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            self._size += len(value) - (len(old) if old is not None else 0)
            self._entries[key] = value
            while self._size > self.budget:
                _, dropped = self._entries.popitem(last=False)
                self._size -= len(dropped)

    def stats(self) -> tuple[int, int]:
        with self._lock:
            return len(self._entries), self._size


def _cache_key(_request) -> str:
    return g.pop("_compress_digest", "")


def _shared_page(response: Response) -> bool:
    from app.web.page_cache import PARAMS  # the public pages shared between visitors

    return (request.method == "GET" and request.endpoint in PARAMS and g.get("user") is None
            and not response.is_streamed)


class _Compress(Compress):
    def after_request(self, response: Response | None) -> Response:
        if response is None:
            return super().after_request(response)
        if isinstance(response, AssetResponse):
            return response     # a static file: encoded once per process by app.web.static_assets
        app = self.app or current_app
        if app.config.get(_CSRF_FIELD, "csrf_token") in g:
            return response     # BREACH: this body holds the session's CSRF token
        # Flask-Compress 1.25 reads "gzip;q=0" as acceptable (q=0 means refused): the encoding is chosen by
        # werkzeug's parser and handed to the library as the only one the client named.
        chosen = request.accept_encodings.best_match(self.enabled_algorithms)
        if chosen is None:
            if response.mimetype in self.compress_mimetypes_set:
                response.vary.add("Accept-Encoding")
            return response
        if response.mimetype in self.compress_mimetypes_set and _shared_page(response):
            g._compress_digest = hashlib.blake2b(response.get_data(), digest_size=16).hexdigest()
        environ = request.environ
        sent = environ["HTTP_ACCEPT_ENCODING"]     # present: something was chosen from it
        environ["HTTP_ACCEPT_ENCODING"] = chosen
        try:
            return super().after_request(response)
        finally:
            environ["HTTP_ACCEPT_ENCODING"] = sent


def init_compression(app: Flask) -> Compress:
    """Register compression; call it before the other after-request hooks so that it runs last (Flask runs them
    in reverse order of registration) and sees the final headers."""
    app.config.update(
        COMPRESS_MIMETYPES=MIMETYPES,
        COMPRESS_ALGORITHM=["br", "gzip"],
        COMPRESS_STREAMS=False,         # streamed answers pass through as they are
        COMPRESS_MIN_SIZE=500,
        COMPRESS_LEVEL=6,               # gzip
        COMPRESS_BR_LEVEL=4,            # brotli: ~1.4 ms for a 50 KB page, within 5 % of level 5's size
        COMPRESS_CACHE_BACKEND=CompressedPages,
        COMPRESS_CACHE_KEY=_cache_key,
    )
    return _Compress(app)
