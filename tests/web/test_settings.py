"""Profile settings: name, username, time zone, brand colour, logo; inline errors; audit entries."""
from __future__ import annotations

import io
import json
import struct
import zlib

import pytest

from tests.conftest import login

HTMX = {"HX-Request": "true"}
PROFILE = {"name": "Alice Liddell", "username": "alice", "timezone": "Europe/Berlin", "brand_color": "#2563eb"}


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A real (valid) RGB PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def alice(make_user):
    return make_user("alice", name="Alice Liddell")


@pytest.fixture
def signed_in(app, alice):
    client = app.test_client()
    login(client, alice)
    return client


def _reload(app, user):
    from app.db import db
    from app.models import User
    with app.app_context(), db.connection_context():
        return User.get_by_id(user.id)


def _changes(app, user):
    from app.db import db
    from app.models import AuditLog
    with app.app_context(), db.connection_context():
        entries = AuditLog.select().where((AuditLog.action == "settings.updated") & (AuditLog.user_id == user.id))
        return sorted((json.loads(e.details) for e in entries), key=lambda d: d["field"])


def test_profile_page_shows_current_values(signed_in):
    page = signed_in.get("/settings/profile")
    assert page.status_code == 200
    assert b'value="Alice Liddell"' in page.data and b'value="alice"' in page.data
    assert b'<option value="Europe/Berlin" selected>' in page.data


def test_profile_requires_sign_in(client):
    response = client.get("/settings/profile")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_profile_update_saves_every_field_and_records_each_change(app, signed_in, alice):
    response = signed_in.post("/settings/profile", data={"name": "Alice Pleasance", "username": "alice-p",
                                                         "timezone": "America/Chicago", "brand_color": "#FF8800"})
    assert response.status_code == 302 and response.headers["Location"] == "/settings/profile"
    user = _reload(app, alice)
    assert (user.name, user.username, user.timezone, user.brand_color) == (
        "Alice Pleasance", "alice-p", "America/Chicago", "#ff8800")
    assert _changes(app, alice) == [
        {"field": "brand_color", "oldValue": "#2563eb", "newValue": "#ff8800"},
        {"field": "name", "oldValue": "Alice Liddell", "newValue": "Alice Pleasance"},
        {"field": "timezone", "oldValue": "Europe/Berlin", "newValue": "America/Chicago"},
        {"field": "username", "oldValue": "alice", "newValue": "alice-p"},
    ]
    assert b"Profile saved." in signed_in.get("/settings/profile").data


def test_saving_unchanged_values_records_nothing(app, signed_in, alice):
    assert signed_in.post("/settings/profile", data=PROFILE).status_code == 302
    assert _changes(app, alice) == []


@pytest.mark.parametrize("field,value,message", [
    ("name", "", b"Enter your name."),
    ("name", "x" * 101, b"Use at most 100 characters."),
    ("username", "Bad Name", b"Use 3\xe2\x80\x9330 characters"),
    ("username", "settings", b"This username is reserved."),
    ("username", "-alice", b"cannot start or end with a hyphen"),
    ("timezone", "Mars/Olympus", b"Choose a time zone from the list."),
    ("brand_color", "red", b"Use a colour like #2563eb."),
    ("brand_color", "#12345", b"Use a colour like #2563eb."),
])
def test_bad_profile_value_shows_an_inline_error_and_changes_nothing(app, signed_in, alice, field, value, message):
    response = signed_in.post("/settings/profile", data={**PROFILE, "name": "Changed Name", field: value})
    assert response.status_code == 422
    assert message in response.data
    assert b'class="error"' in response.data
    user = _reload(app, alice)
    assert (user.name, user.username, user.timezone, user.brand_color) == (
        "Alice Liddell", "alice", "Europe/Berlin", "#2563eb")
    assert _changes(app, alice) == []


def test_username_of_another_account_is_refused(app, signed_in, alice, make_user):
    make_user("bob")
    response = signed_in.post("/settings/profile", data={**PROFILE, "username": "bob"})
    assert response.status_code == 422 and b"This username is taken." in response.data
    assert _reload(app, alice).username == "alice"


def test_htmx_profile_post_gets_only_the_form_with_errors_or_the_saved_message(signed_in):
    bad = signed_in.post("/settings/profile", data={**PROFILE, "brand_color": "blue"}, headers=HTMX)
    html = bad.get_data(as_text=True).strip()
    assert bad.status_code == 422 and html.startswith('<form id="profile-form"') and "<html" not in html
    assert "Use a colour like #2563eb." in html
    good = signed_in.post("/settings/profile", data={**PROFILE, "name": "Alice L."}, headers=HTMX)
    html = good.get_data(as_text=True).strip()
    assert good.status_code == 200 and html.startswith('<form id="profile-form"') and "Profile saved." in html
    assert 'value="Alice L."' in html


@pytest.mark.parametrize("username,expected", [
    ("bob", b"This username is taken."),
    ("free-name", "\u201cfree-name\u201d is available.".encode()),
    ("FREE-NAME", "\u201cfree-name\u201d is available.".encode()),
    ("admin", b"This username is reserved."),
    ("no", b"Use 3\xe2\x80\x9330 characters"),
])
def test_username_check_says_whether_a_name_is_available(signed_in, make_user, username, expected):
    make_user("bob")
    response = signed_in.get(f"/settings/profile/username-check?username={username}", headers=HTMX)
    assert response.status_code == 200
    assert expected in response.data
    assert b"<html" not in response.data


def test_username_check_of_ones_own_name_is_not_an_error(signed_in):
    response = signed_in.get("/settings/profile/username-check?username=alice")
    assert response.status_code == 200 and b"error" not in response.data and b"taken" not in response.data


def test_username_check_requires_sign_in(client):
    assert client.get("/settings/profile/username-check?username=bob").status_code == 302


def _upload(client, data: bytes, filename: str, content_type: str, **extra):
    return client.post("/settings/profile", content_type="multipart/form-data",
                       data={**PROFILE, **extra, "logo": (io.BytesIO(data), filename, content_type)})


def test_png_logo_is_accepted_and_served(signed_in, alice, client):
    image = png_bytes()
    response = _upload(signed_in, image, "logo.png", "image/png")
    assert response.status_code == 302
    served = client.get(f"/logo/{alice.id}")  # public: booking pages show it to visitors
    assert served.status_code == 200 and served.data == image
    assert served.mimetype == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    again = client.get(f"/logo/{alice.id}", headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304
    assert b"Your current logo" in signed_in.get("/settings/profile").data


def test_new_logo_replaces_the_old_one_and_remove_deletes_it(signed_in, alice, client):
    _upload(signed_in, png_bytes(1, 1), "a.png", "image/png")
    second = png_bytes(3, 3)
    _upload(signed_in, second, "b.png", "image/png")
    assert client.get(f"/logo/{alice.id}").data == second
    assert signed_in.post("/settings/profile", data={**PROFILE, "remove_logo": "1"}).status_code == 302
    assert client.get(f"/logo/{alice.id}").status_code == 404


@pytest.mark.parametrize("data,filename,content_type", [
    (b"just some text, not an image", "logo.png", "image/png"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "logo.svg", "image/svg+xml"),
    (b"<html><script>alert(1)</script></html>", "logo.html", "text/html"),
    (png_bytes(), "logo.png", "application/octet-stream"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * (512 * 1024), "huge.png", "image/png"),
])
def test_non_image_or_oversized_logo_is_refused(signed_in, alice, client, data, filename, content_type):
    response = _upload(signed_in, data, filename, content_type)
    assert response.status_code == 422
    assert b"Upload a PNG, JPEG, GIF or WebP image." in response.data or b"at most 512 KB" in response.data
    assert client.get(f"/logo/{alice.id}").status_code == 404


def test_logo_of_unknown_user_is_not_found(client):
    assert client.get("/logo/nobody").status_code == 404


def test_time_format_is_saved_shown_and_audited(app, signed_in, alice):
    assert b'<option value="24" selected>' in signed_in.get("/settings/profile").data   # 24 h until chosen
    assert signed_in.post("/settings/profile", data={**PROFILE, "time_format": "12"}).status_code == 302
    assert _reload(app, alice).hour12 is True
    assert b'<option value="12" selected>' in signed_in.get("/settings/profile").data
    assert _changes(app, alice) == [{"field": "hour12", "oldValue": False, "newValue": True}]
    # a form without the field (an older page) leaves the choice alone
    assert signed_in.post("/settings/profile", data=PROFILE).status_code == 302
    assert _reload(app, alice).hour12 is True


def test_unknown_time_format_is_refused_inline(app, signed_in, alice):
    response = signed_in.post("/settings/profile", data={**PROFILE, "name": "Changed", "time_format": "13"})
    assert response.status_code == 422 and b"Choose 24-hour or 12-hour." in response.data
    user = _reload(app, alice)
    assert (user.hour12, user.name) == (False, "Alice Liddell")
