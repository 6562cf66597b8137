"""Static files under content-hashed URLs (app/web/static_assets.py): a year's immutable cache for the hashed
name, a short one for the plain name and for a hash of other content, compressed once, revalidated with ETags."""
from __future__ import annotations

import gzip
import hashlib
import os
import re
from pathlib import Path

import brotli
import pytest
from flask import url_for

from app.config import ROOT
from app.web.static_assets import IMMUTABLE, SHORT, STALE, StaticAssets, hashed_name

STATIC = ROOT / "static"
HASHED_URL = re.compile(r"^/static/(?P<stem>.+)\.(?P<digest>[0-9a-f]{10})(?P<ext>\.[a-z0-9]+)$")


def digest_of(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]


def hashed_url(name: str) -> str:
    return "/static/" + hashed_name(name, digest_of(name))


@pytest.fixture
def host(make_user):
    return make_user("hana")


def test_every_static_url_of_a_rendered_page_names_the_content_hash(client, host):
    page = client.get("/hana/30-min?embed=true").get_data(as_text=True)
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert len(urls) >= 6          # favicon, app.css, htmx, app.js, booking.css, booking.js, embed-child.js
    for url in urls:
        match = HASHED_URL.match(url)
        assert match, url
        original = match["stem"] + match["ext"]
        assert match["digest"] == digest_of(original), url
    assert hashed_url("js/embed-child.js") in urls and hashed_url("css/booking.css") in urls


def test_url_for_hashes_existing_files_and_leaves_other_names(app):
    with app.test_request_context():
        assert url_for("static", filename="css/app.css") == hashed_url("css/app.css")
        assert url_for("static", filename="js/htmx-2.0.11.min.js") == hashed_url("js/htmx-2.0.11.min.js")
        assert url_for("static", filename="css/missing.css") == "/static/css/missing.css"


def test_hashed_url_is_cached_for_a_year_and_serves_the_file(client):
    response = client.get(hashed_url("css/app.css"))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    assert response.headers["Content-Type"] == "text/css; charset=utf-8"
    assert "Content-Encoding" not in response.headers      # the client accepted no encoding
    assert response.data == (STATIC / "css/app.css").read_bytes()
    assert "Accept-Encoding" in response.headers["Vary"]


@pytest.mark.parametrize("coding, decode", [("br", brotli.decompress), ("gzip", gzip.decompress)])
def test_hashed_url_is_sent_compressed_when_accepted(client, coding, decode):
    name = "js/htmx-2.0.11.min.js"
    response = client.get(hashed_url(name), headers={"Accept-Encoding": coding})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == coding
    assert response.headers["Cache-Control"] == IMMUTABLE
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    raw = (STATIC / name).read_bytes()
    assert decode(response.data) == raw and len(response.data) < len(raw) / 2
    assert int(response.headers["Content-Length"]) == len(response.data)
    assert "Accept-Encoding" in response.headers["Vary"]


def test_browser_accept_encoding_gets_brotli_and_refused_codings_are_not_used(client):
    url = hashed_url("css/booking.css")
    assert client.get(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"}).headers["Content-Encoding"] == "br"
    assert client.get(url, headers={"Accept-Encoding": "br;q=0, gzip"}).headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in client.get(url, headers={"Accept-Encoding": "gzip;q=0"}).headers


def test_tiny_and_binary_files_are_not_compressed(client):
    response = client.get(hashed_url("favicon.svg"), headers={"Accept-Encoding": "br, gzip"})   # 233 bytes
    assert response.status_code == 200 and "Content-Encoding" not in response.headers
    assert response.data == (STATIC / "favicon.svg").read_bytes()


def test_plain_name_still_works_with_a_short_cache(client):
    for name in ("css/app.css", "embed.js"):
        response = client.get(f"/static/{name}", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, name
        assert response.headers["Cache-Control"] == SHORT == "public, max-age=300"
        assert gzip.decompress(response.data) == (STATIC / name).read_bytes()


def test_stable_embed_script_url_keeps_its_hour_long_cache(client):
    response = client.get("/embed.js")
    assert response.status_code == 200 and "max-age=3600" in response.headers["Cache-Control"]
    assert "immutable" not in response.headers["Cache-Control"]
    assert response.data == (STATIC / "embed.js").read_bytes()


def test_a_stale_hash_serves_the_current_file_without_a_long_cache(client):
    """HTML cached before a deploy names the previous hash: it still gets the styles, and no cache keeps them
    under that name."""
    stale = "/static/css/app.0123456789.css"
    assert not stale.endswith(hashed_url("css/app.css"))
    response = client.get(stale, headers={"Accept-Encoding": "br"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == STALE == "no-cache"
    assert brotli.decompress(response.data) == (STATIC / "css/app.css").read_bytes()


@pytest.mark.parametrize("path", ["/static/css/missing.css", "/static/css/missing.0123456789.css",
                                  "/static/../app/config.py", "/static/%2e%2e/app/config.py",
                                  "/static/css/app.0123456789.js", "/static/css"])
def test_unknown_files_are_404(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("coding", ["br", "gzip", None])
def test_revalidation_answers_304_per_encoding(client, coding):
    url = hashed_url("css/scheduling.css")
    headers = {"Accept-Encoding": coding} if coding else {}
    first = client.get(url, headers=headers)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = client.get(url, headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag and again.headers["Cache-Control"] == IMMUTABLE
    since = client.get(url, headers={**headers, "If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304


def test_each_encoding_has_its_own_etag(client):
    url = hashed_url("css/scheduling.css")
    tags = {coding: client.get(url, headers={"Accept-Encoding": coding}).headers["ETag"]
            for coding in ("br", "gzip", "identity")}
    assert len(set(tags.values())) == 3
    # a brotli copy's tag does not validate a gzip answer
    response = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": tags["br"]})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"


def test_head_gives_the_headers_of_get_without_a_body(client):
    url = hashed_url("js/booking.js")
    headers = {"Accept-Encoding": "br"}
    get = client.get(url, headers=headers)
    head = client.head(url, headers=headers)
    assert head.status_code == 200 and head.data == b""
    for name in ("Content-Length", "Content-Encoding", "Content-Type", "Cache-Control", "ETag", "Vary"):
        assert head.headers[name] == get.headers[name], name


def test_security_headers_are_kept_on_static_files(client):
    response = client.get(hashed_url("js/app.js"))
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in response.headers


# --- the registry on a folder of its own ----------------------------------------------------------------
def write(path: Path, text: str, mtime: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(mtime * 10**9, mtime * 10**9))


def test_a_changed_file_gets_a_new_hash_when_watching(tmp_path):
    (tmp_path / "css").mkdir()
    target = tmp_path / "css" / "site.css"
    write(target, "body { color: red }", 1_700_000_000)
    watching, cached = StaticAssets(str(tmp_path), watch=True), StaticAssets(str(tmp_path), watch=False)
    first = watching.url_name("css/site.css")
    assert first == cached.url_name("css/site.css") == hashed_name("css/site.css", hashlib.sha256(
        b"body { color: red }").hexdigest()[:10])
    write(target, "body { color: blue }", 1_700_000_100)
    second = watching.url_name("css/site.css")
    assert second != first and watching.resolve(second)[1] == IMMUTABLE
    assert watching.resolve(first)[1] == STALE        # the old name still serves, now the new content
    assert cached.url_name("css/site.css") == first   # a deployed process hashes each file once
    assert watching.url_name("css/other.css") == "css/other.css"
    write(tmp_path / "VERSION", "1.2.3", 1_700_000_000)     # a name without extension: the hash is appended
    assert watching.resolve(watching.url_name("VERSION"))[0].body == b"1.2.3"


def test_hashed_name_goes_before_the_last_extension():
    assert hashed_name("css/app.css", "abc") == "css/app.abc.css"
    assert hashed_name("js/htmx-2.0.11.min.js", "abc") == "js/htmx-2.0.11.min.abc.js"
    assert hashed_name("LICENSE", "abc") == "LICENSE.abc"
    assert hashed_name("v1.0/README", "abc") == "v1.0/README.abc"


def test_send_asset_serves_a_file_under_a_fixed_url_compressed(app_factory):
    """For routes like /embed.js whose URL must stay stable for other sites (app.web.public could use it)."""
    from app.web.static_assets import send_asset

    application = app_factory()
    application.add_url_rule("/_test/embed.js", "_test_embed", lambda: send_asset("embed.js", "public, max-age=3600"))
    application.add_url_rule("/_test/missing.js", "_test_missing", lambda: send_asset("missing.js", SHORT))
    client = application.test_client()
    response = client.get("/_test/embed.js", headers={"Accept-Encoding": "br"})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "br"
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert brotli.decompress(response.data) == (STATIC / "embed.js").read_bytes()
    again = client.get("/_test/embed.js", headers={"Accept-Encoding": "br", "If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert client.get("/_test/missing.js").status_code == 404
