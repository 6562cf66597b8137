"""Compressed responses (app/web/compression.py): brotli or gzip as the client accepts, the same page once decoded,
nothing for tiny, binary or streamed bodies, none for pages that hold the session's CSRF token (BREACH), and the
page cache's shared pages compressed from its uncompressed copy."""
from __future__ import annotations

import gzip
import json

import brotli
import pytest
from flask import Response, stream_with_context

from app.web import page_cache
from tests.conftest import login

DECODE = {"br": brotli.decompress, "gzip": gzip.decompress}
BROWSER = "gzip, deflate, br, zstd"


@pytest.fixture
def app(app_factory):
    page_cache.clear()
    application = app_factory(PUBLIC_PAGE_CACHE_SECONDS=30)

    @application.get("/_test/stream")
    def _stream():
        return Response(stream_with_context(iter(["x" * 4000, "y" * 4000])), mimetype="text/plain")

    @application.get("/_test/png")
    def _png():
        return Response(b"\x89PNG" + b"\x00" * 4000, mimetype="image/png")

    @application.get("/_test/json")
    def _json():
        response = Response(json.dumps({"items": ["same value"] * 200}), mimetype="application/json")
        response.set_etag("v1")
        return response

    yield application
    page_cache.clear()


@pytest.fixture
def host(make_user):
    return make_user("hana")


def compressor(app):
    from app.web.compression import _Compress
    return next(f.__self__ for f in app.after_request_funcs[None] if isinstance(getattr(f, "__self__", None),
                                                                                  _Compress))


@pytest.mark.parametrize("coding", ["br", "gzip"])
def test_booking_page_decodes_to_the_same_page(client, host, coding):
    plain = client.get("/hana/30-min")
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    packed = client.get("/hana/30-min", headers={"Accept-Encoding": coding})
    assert packed.status_code == 200 and packed.headers["Content-Encoding"] == coding
    assert DECODE[coding](packed.data) == plain.data
    assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data) / 4
    vary = {part.strip() for part in packed.headers["Vary"].split(",")}
    assert {"Accept-Encoding", "HX-Request"} <= vary
    assert "Accept-Encoding" in plain.headers["Vary"]          # a cache must not give the plain copy to a browser


def test_a_browser_gets_brotli_and_a_refused_coding_is_never_used(client, host):
    assert client.get("/hana/30-min", headers={"Accept-Encoding": BROWSER}).headers["Content-Encoding"] == "br"
    assert client.get("/hana/30-min", headers={"Accept-Encoding": "br;q=0, gzip"}).headers["Content-Encoding"] == "gzip"
    for refused in ("gzip;q=0", "br;q=0, gzip;q=0", "identity", "deflate"):
        response = client.get("/hana/30-min", headers={"Accept-Encoding": refused})
        assert response.status_code == 200 and "Content-Encoding" not in response.headers, refused
        assert "Accept-Encoding" in response.headers["Vary"]
    response = client.get("/hana/30-min", headers={"Accept-Encoding": "br;q=0, *"})
    assert response.headers["Content-Encoding"] == "gzip"


def test_htmx_partials_and_json_are_compressed(client, host):
    partial = client.get("/hana/30-min/calendar", headers={"HX-Request": "true", "Accept-Encoding": "gzip"})
    assert partial.status_code == 200 and partial.headers["Content-Encoding"] == "gzip"
    assert b"<html" not in gzip.decompress(partial.data)
    spec = client.get("/api/v1/openapi.json", headers={"Accept-Encoding": "br"})
    assert spec.headers["Content-Encoding"] == "br" and json.loads(brotli.decompress(spec.data))["openapi"]


def test_page_cache_hits_are_compressed_once_from_the_plain_copy(app, client, host):
    first = client.get("/hana/30-min", headers={"Accept-Encoding": "br"})
    assert page_cache.stats()[0] == 1
    stored = next(iter(page_cache._entries.values())).body
    assert stored.lstrip().startswith(b"<!doctype html>")      # the page cache holds the page, not brotli
    assert compressor(app).cache.stats()[0] == 1
    hit = client.get("/hana/30-min", headers={"Accept-Encoding": "br"})
    assert hit.data == first.data and brotli.decompress(hit.data) == stored
    assert compressor(app).cache.stats()[0] == 1                # served from the compressed copy
    gz = client.get("/hana/30-min", headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(gz.data) == stored and compressor(app).cache.stats()[0] == 2
    assert client.get("/hana/30-min").data == stored


def test_compressed_pages_are_kept_by_content_within_their_budget():
    from app.web.compression import CompressedPages

    pages = CompressedPages(budget=800)
    pages.set("br;", b"x" * 10)                                 # not a shared page: never kept
    assert pages.get("br;") is None and pages.stats() == (0, 0)
    for n in range(8):
        pages.set(f"br;{n}", bytes([n]) * 100)
    assert pages.stats() == (8, 800) and pages.get("br;0") == bytes([0]) * 100     # 0 is now the most recent
    pages.set("gzip;8", b"\x08" * 100)
    assert pages.get("br;1") is None                            # the least recently used went first
    assert pages.get("br;0") and pages.get("gzip;8") and pages.stats() == (8, 800)
    pages.set("br;big", b"z" * 101)                             # over an eighth of the budget
    assert pages.get("br;big") is None


def test_embed_pages_keep_their_framing_headers_when_compressed(client, host):
    response = client.get("/hana/30-min?embed=true", headers={"Accept-Encoding": "br"})
    assert response.headers["Content-Encoding"] == "br"
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers
    plain = client.get("/hana/30-min", headers={"Accept-Encoding": "br"})
    assert plain.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in plain.headers["Content-Security-Policy"]


def test_pages_holding_the_session_csrf_token_are_not_compressed(client, host):
    public = client.get("/hana/30-min", headers={"Accept-Encoding": BROWSER})
    assert public.headers["Content-Encoding"] == "br" and b"csrf" not in brotli.decompress(public.data)
    signin = client.get("/login", headers={"Accept-Encoding": BROWSER})
    assert signin.status_code == 200 and b'name="csrf-token"' in signin.data
    assert "Content-Encoding" not in signin.headers
    login(client, host)
    dashboard = client.get("/dashboard", headers={"Accept-Encoding": BROWSER})  # the header's sign-out form
    assert dashboard.status_code == 200 and b"csrf_token" in dashboard.data
    assert "Content-Encoding" not in dashboard.headers
    # public pages carry the host's branding only, no product header: no token there, even when signed in
    signed_in_public = client.get("/hana/30-min", headers={"Accept-Encoding": BROWSER})
    assert b"csrf" not in brotli.decompress(signed_in_public.data)


def test_tiny_binary_streamed_and_error_answers_are_sent_as_they_are(client, host):
    headers = {"Accept-Encoding": BROWSER}
    tiny = client.get("/healthz", headers=headers)
    assert tiny.status_code == 200 and len(tiny.data) < 500 and "Content-Encoding" not in tiny.headers
    png = client.get("/_test/png", headers=headers)
    assert "Content-Encoding" not in png.headers and png.data.startswith(b"\x89PNG")
    stream = client.get("/_test/stream", headers=headers)
    assert "Content-Encoding" not in stream.headers and stream.data == b"x" * 4000 + b"y" * 4000
    missing = client.get("/hana/no-such-type", headers=headers)
    assert missing.status_code == 404 and "Content-Encoding" not in missing.headers
    assert client.get("/_test/json", headers=headers).headers["Content-Encoding"] == "br"   # a large text body is


def test_strong_etags_name_the_encoding_and_revalidate(client):
    plain = client.get("/_test/json")
    assert plain.headers["ETag"] == '"v1"'
    packed = client.get("/_test/json", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["ETag"] == '"v1:gzip"' and json.loads(gzip.decompress(packed.data))
    again = client.get("/_test/json", headers={"Accept-Encoding": "gzip", "If-None-Match": '"v1:gzip"'})
    assert again.status_code == 304 and again.data == b""
    other = client.get("/_test/json", headers={"Accept-Encoding": "br", "If-None-Match": '"v1:gzip"'})
    assert other.status_code == 200 and other.headers["ETag"] == '"v1:br"'


def test_head_of_a_compressed_page_has_its_headers_and_no_body(client, host):
    get = client.get("/hana/30-min", headers={"Accept-Encoding": "br"})
    head = client.head("/hana/30-min", headers={"Accept-Encoding": "br"})
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Encoding"] == "br" and head.headers["Content-Length"] == get.headers["Content-Length"]
