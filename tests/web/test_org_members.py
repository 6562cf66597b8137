"""Removing a member with upcoming team bookings through the organization page (the confirmation step and its
choice), and the organization's settings (name, brand colour, logo) with the logo served at /org-logo/<id>;
who may do each (an outsider gets a 404, a MEMBER a 403)."""
from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from app.models import Booking, EventType, Membership, Organization
from tests import factories
from tests.conftest import login
from tests.web.conftest import data

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _next_tuesday_noon() -> datetime:
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    days = (1 - today.weekday()) % 7 or 7
    return today + timedelta(days=days + 7)        # 8 to 14 days ahead: inside the booking window


@pytest.fixture
def acme(app, make_user):
    """Acme: Olga owns it; Adam and Mia are members hosting a round-robin event type; Otto is an outsider.
    One upcoming booking, assigned to Adam or Mia."""
    people = {name: make_user(name, email=f"{name}@example.com") for name in ("olga", "adam", "mia", "otto")}
    with data(app):
        team = factories.team(people["olga"], [people["adam"], people["mia"]])
        demo = factories.team_event_type(people["olga"], team, [people["adam"], people["mia"]], name="Demo")
        booking = factories.booking(EventType.get_by_id(demo.id), _next_tuesday_noon())
    return {"org": team.organization_id, "booking": booking.id, "host": booking.user_id, **people}


def _client(app, user):
    client = app.test_client()
    login(client, user)
    return client


def _is_member(app, org_id, user_id):
    with data(app):
        return Membership.select().where((Membership.organization == org_id) & (Membership.user == user_id)).exists()


def _booking(app, booking_id):
    with data(app):
        return Booking.get_by_id(booking_id)


def test_removing_a_host_of_upcoming_bookings_asks_first_then_cancels_with_the_reason(app, acme):
    owner = _client(app, acme["olga"])
    base = f"/dashboard/organizations/{acme['org']}/members/{acme['host']}"
    asked = owner.post(f"{base}/remove")
    assert asked.status_code == 200
    assert b"1 upcoming team booking" in asked.data and b"Reassign to other hosts" in asked.data
    assert b"Cancel and tell the invitees" in asked.data and b"Demo with Ivan Invitee" in asked.data
    assert _is_member(app, acme["org"], acme["host"])           # nothing removed yet
    partial = owner.post(f"{base}/remove", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and b'id="org-panel"' in partial.data and b"<html" not in partial.data
    assert b'action="' + f"{base}/remove-with-bookings".encode() + b'"' in partial.data
    assert owner.get(f"{base}/remove").status_code == 200

    refused = owner.post(f"{base}/remove-with-bookings", data={"bookings": "later"})
    assert refused.status_code == 422 and b"Choose whether to reassign or cancel" in refused.data
    assert _is_member(app, acme["org"], acme["host"])

    done = owner.post(f"{base}/remove-with-bookings", data={"bookings": "cancel", "reason": "Our team changed."})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/dashboard/organizations/{acme['org']}")
    assert not _is_member(app, acme["org"], acme["host"])
    booking = _booking(app, acme["booking"])
    assert (booking.status, booking.cancelled_by, booking.cancel_reason) == ("CANCELLED", "host",
                                                                             "Our team changed.")
    assert b"1 booking cancelled, the invitees told" in owner.get(done.headers["Location"]).data


def test_reassigning_gives_the_booking_to_the_other_host(app, acme):
    other = acme["mia"].id if acme["host"] == acme["adam"].id else acme["adam"].id
    done = _client(app, acme["olga"]).post(
        f"/dashboard/organizations/{acme['org']}/members/{acme['host']}/remove-with-bookings",
        data={"bookings": "reassign"})
    assert done.status_code == 302 and not _is_member(app, acme["org"], acme["host"])
    booking = _booking(app, acme["booking"])
    assert booking.status == "CONFIRMED" and booking.user_id == other


def test_a_member_without_team_bookings_is_removed_at_once(app, acme):
    other = acme["mia"].id if acme["host"] == acme["adam"].id else acme["adam"].id
    answer = _client(app, acme["olga"]).post(f"/dashboard/organizations/{acme['org']}/members/{other}/remove")
    assert answer.status_code == 302 and not _is_member(app, acme["org"], other)
    assert _booking(app, acme["booking"]).status == "CONFIRMED"


@pytest.mark.parametrize("method,path", [
    ("get", "/dashboard/organizations/{org}/members/{host}/remove"),
    ("post", "/dashboard/organizations/{org}/members/{host}/remove-with-bookings"),
    ("get", "/dashboard/organizations/{org}/settings"),
    ("post", "/dashboard/organizations/{org}/settings"),
])
def test_an_outsider_gets_not_found_and_a_member_is_refused(app, acme, method, path):
    url = path.format(org=acme["org"], host=acme["host"])
    form = {"bookings": "cancel", "name": "Mine", "brand_color": "#000000"}
    assert getattr(_client(app, acme["otto"]), method)(url, data=form).status_code == 404
    member = acme["mia"] if acme["host"] != acme["mia"].id else acme["adam"]
    refused = getattr(_client(app, member), method)(url, data=form)
    assert refused.status_code == 403 and b"Only an owner or an admin" in refused.data
    assert _is_member(app, acme["org"], acme["host"])
    assert _booking(app, acme["booking"]).status == "CONFIRMED"
    with data(app):
        assert Organization.get_by_id(acme["org"]).name == "Acme"


def test_settings_save_name_colour_and_logo_and_show_errors_inline(app, acme):
    owner = _client(app, acme["olga"])
    url = f"/dashboard/organizations/{acme['org']}/settings"
    assert b'href="' + url.encode() + b'"' in owner.get(f"/dashboard/organizations/{acme['org']}").data
    page = owner.get(url)
    assert page.status_code == 200 and b'value="Acme"' in page.data and b'value="#2563eb"' in page.data

    bad = owner.post(url, data={"name": "", "brand_color": "red"})
    assert bad.status_code == 422
    assert b'id="e-name"' in bad.data and b"Give a name" in bad.data
    assert b'id="e-brand_color"' in bad.data and b"Use a colour like #2563eb." in bad.data
    not_image = owner.post(url, data={"name": "Acme", "brand_color": "#112233",
                                      "logo": (io.BytesIO(b"<svg/>"), "logo.png", "image/png")},
                           content_type="multipart/form-data")
    assert not_image.status_code == 422 and b"Upload a PNG, JPEG, GIF or WebP image." in not_image.data
    too_big = owner.post(url, data={"name": "Acme", "brand_color": "#112233",
                                    "logo": (io.BytesIO(PNG + b"\x00" * 512 * 1024), "logo.png", "image/png")},
                         content_type="multipart/form-data")
    assert too_big.status_code == 422 and b"at most 512 KB" in too_big.data
    with data(app):
        org = Organization.get_by_id(acme["org"])
        assert (org.name, org.brand_color) == ("Acme", "#2563eb")
    assert app.test_client().get(f"/org-logo/{acme['org']}").status_code == 404

    saved = owner.post(url, data={"name": "Acme Sales", "brand_color": "#AA3300",
                                  "logo": (io.BytesIO(PNG), "logo.png", "image/png")},
                       content_type="multipart/form-data")
    assert saved.status_code == 302
    with data(app):
        org = Organization.get_by_id(acme["org"])
        assert (org.name, org.brand_color) == ("Acme Sales", "#aa3300")
    served = app.test_client().get(f"/org-logo/{acme['org']}")      # signed out: the public pages use it
    assert served.status_code == 200 and served.mimetype == "image/png" and served.data == PNG
    again = app.test_client().get(f"/org-logo/{acme['org']}", headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304
    assert b"The current logo of Acme Sales" in owner.get(url).data

    partial = owner.post(url, data={"name": "Acme Sales", "brand_color": "#aa3300", "remove_logo": "1"},
                         headers={"HX-Request": "true"})
    assert partial.status_code == 200 and b"Organization settings saved." in partial.data
    assert b"<html" not in partial.data
    assert app.test_client().get(f"/org-logo/{acme['org']}").status_code == 404


def test_the_forms_carry_a_csrf_token_and_a_post_without_it_is_refused(app_factory, acme):
    import re

    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"email": "olga@example.com", "password": factories.PASSWORD, "csrf_token": token})
    base = f"/dashboard/organizations/{acme['org']}"
    step = client.get(f"{base}/members/{acme['host']}/remove").get_data(as_text=True)
    token = re.search(r'id="remove-form".*?name="csrf_token" value="([^"]+)"', step, re.DOTALL).group(1)
    remove = f"{base}/members/{acme['host']}/remove-with-bookings"
    assert client.post(remove, data={"bookings": "cancel"}).status_code == 400
    assert _is_member(app, acme["org"], acme["host"])
    settings = client.get(f"{base}/settings").get_data(as_text=True)
    assert re.search(r'id="org-settings-form".*?name="csrf_token"', settings, re.DOTALL)
    assert client.post(f"{base}/settings", data={"name": "X", "brand_color": "#000000"}).status_code == 400
    assert client.post(remove, data={"bookings": "cancel", "csrf_token": token}).status_code == 302
    assert not _is_member(app, acme["org"], acme["host"])
