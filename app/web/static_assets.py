"""Static files under content-hashed names with a year-long cache, compressed once per process.

``url_for('static', filename='css/app.css')`` (every template uses it) gives ``/static/css/app.<hash>.css``: the
first ten hex digits of the file's SHA-256 go before its last extension. Such a URL names one content, so it is
served with ``Cache-Control: public, max-age=31536000, immutable`` and a repeat visit asks for nothing.

- The plain name (``/static/css/app.css``) still works with a short cache (``SHORT``): old pages and other sites
  may link to it. The stable ``/embed.js`` that customers' sites load is app.web.public's own route (an hour).
- A hash that is not the file's current one (HTML cached before a deploy, or a process of the previous release
  answering during a rolling deploy) is served the current file with ``no-cache`` rather than a 404: the page
  still gets its styles, and no cache keeps this content under a name that promises another.
- Files are read, hashed and (for text types, on first request) compressed with brotli and gzip at their
  highest levels once per process: the files change only on deploy. In debug and testing a file whose mtime or
  size changed is read again. Responses carry a strong ETag per encoding and ``Vary: Accept-Encoding``;
  ``If-None-Match`` and ``If-Modified-Since`` are answered 304 (werkzeug's ``make_conditional``).

The dynamic responses are compressed by app.web.compression, which leaves these (``AssetResponse``) alone.
"""
from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import re
import threading
from dataclasses import dataclass, field

import brotli
from flask import Flask, Response, abort, current_app, request
from werkzeug.security import safe_join

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"       # a plain name: may change with the next deploy
STALE = "no-cache"                  # a hash of other content: revalidate (the ETag is the content's) every time
HASH_LENGTH = 10
_HASHED = re.compile(rf"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{{{HASH_LENGTH}}})(?P<ext>\.[^./]+)?$")
COMPRESSIBLE = frozenset({"text/css", "text/javascript", "text/plain", "text/html", "text/xml", "application/json",
                          "application/xml", "application/manifest+json", "image/svg+xml"})
MIN_COMPRESS_BYTES = 500            # below this the encoded form saves less than a packet
ENCODINGS = ("br", "gzip")          # the server's preference when the client accepts both equally
_EXTENSION = "linktime_static_assets"


def hashed_name(filename: str, digest: str) -> str:
    """``css/app.css`` → ``css/app.<digest>.css`` (a name without extension gets ``.<digest>`` appended)."""
    head, dot, ext = filename.rpartition(".")
    if not dot or "/" in ext:
        return f"{filename}.{digest}"
    return f"{head}.{digest}.{ext}"


def _mimetype(filename: str) -> str:
    guessed = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return "text/javascript" if guessed == "application/javascript" else guessed  # RFC 9239


@dataclass
class Asset:
    """One static file as read from disk."""
    filename: str
    body: bytes
    mtime_ns: int
    size: int
    mimetype: str
    digest: str = field(init=False)        # HASH_LENGTH hex digits, the URL's
    etag: str = field(init=False)          # a longer piece of the same SHA-256
    _encoded: dict[str, bytes | None] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        full = hashlib.sha256(self.body).hexdigest()
        self.digest = full[:HASH_LENGTH]
        self.etag = full[:32]

    @property
    def compressible(self) -> bool:
        return self.mimetype in COMPRESSIBLE and len(self.body) >= MIN_COMPRESS_BYTES

    def encoded(self, coding: str) -> bytes | None:
        """The body in ``coding`` (made once), or None when that is not smaller."""
        if coding not in self._encoded:
            data = brotli.compress(self.body, quality=11) if coding == "br" else gzip.compress(self.body, 9, mtime=0)
            self._encoded[coding] = data if len(data) < len(self.body) else None
        return self._encoded[coding]


class StaticAssets:
    """The static folder's files by name, read once (again after a change when ``watch``)."""

    def __init__(self, folder: str, watch: bool) -> None:
        self.folder = folder
        self.watch = watch
        self._assets: dict[str, Asset] = {}
        self._lock = threading.Lock()

    def get(self, filename: str) -> Asset | None:
        asset = self._assets.get(filename)
        if asset is not None and not self.watch:
            return asset
        path = safe_join(self.folder, filename)
        if path is None or not os.path.isfile(path):
            return None
        stat = os.stat(path)
        if asset is not None and asset.mtime_ns == stat.st_mtime_ns and asset.size == stat.st_size:
            return asset
        with open(path, "rb") as handle:
            body = handle.read()
        asset = Asset(filename, body, stat.st_mtime_ns, stat.st_size, _mimetype(filename))
        with self._lock:
            self._assets[filename] = asset
        return asset

    def url_name(self, filename: str) -> str:
        """The hashed name of an existing file; any other name unchanged."""
        asset = self.get(filename)
        return hashed_name(filename, asset.digest) if asset is not None else filename

    def resolve(self, filename: str) -> tuple[Asset, str] | None:
        """The file a requested name serves, and its Cache-Control; None: no such file."""
        asset = self.get(filename)
        if asset is not None:
            return asset, SHORT
        match = _HASHED.match(filename)
        if match is None:
            return None
        asset = self.get(match["stem"] + (match["ext"] or ""))
        if asset is None:
            return None
        return asset, (IMMUTABLE if match["digest"] == asset.digest else STALE)


class AssetResponse(Response):
    """A static file's answer: already in its final encoding (app.web.compression leaves it alone)."""


def respond(asset: Asset, cache_control: str) -> Response:
    """``asset`` in the best encoding the client accepts, with validators; a 304 when the client's copy is current."""
    coding = None
    body = asset.body
    if asset.compressible:
        coding = request.accept_encodings.best_match(ENCODINGS)
        encoded = asset.encoded(coding) if coding else None
        if encoded is None:
            coding = None
        else:
            body = encoded
    response = AssetResponse(body, mimetype=asset.mimetype)
    response.headers["Cache-Control"] = cache_control
    if asset.compressible:
        response.vary.add("Accept-Encoding")
    if coding:
        response.headers["Content-Encoding"] = coding
    response.set_etag(f"{asset.etag}-{coding}" if coding else asset.etag)
    response.last_modified = asset.mtime_ns // 1_000_000_000
    return response.make_conditional(request)


def assets() -> StaticAssets:
    return current_app.extensions[_EXTENSION]


def send_asset(filename: str, cache_control: str) -> Response:
    """A static file under a fixed URL of another route (e.g. ``/embed.js``), compressed like the others."""
    asset = assets().get(filename)
    if asset is None:
        abort(404)
    return respond(asset, cache_control)


def _static(filename: str) -> Response:
    found = assets().resolve(filename)
    if found is None:
        abort(404)
    return respond(*found)


def init_static_assets(app: Flask) -> None:
    """Hashed URLs from ``url_for('static', ...)`` and the view that serves them (in place of Flask's)."""
    if not app.has_static_folder:
        return
    app.extensions[_EXTENSION] = StaticAssets(app.static_folder, watch=app.debug or app.testing)
    app.view_functions["static"] = _static

    @app.url_defaults
    def _hashed_static_url(endpoint: str, values: dict) -> None:
        if endpoint == "static" and values.get("filename"):
            values["filename"] = app.extensions[_EXTENSION].url_name(values["filename"])
