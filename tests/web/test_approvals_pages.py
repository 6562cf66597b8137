"""Requires confirmation (issue 23 point 2) over HTTP: the editor's section, the invitee's "awaiting confirmation"
page, the emailed Confirm / Decline links (GET shows, POST acts; forged 404, expired 410, answered says so), the
dashboard's buttons (htmx and plain, another host's booking 404, CSRF), the API's fields and the OpenAPI document."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from app.models import Booking, EventType, OutboxMessage
from app.models.accounts import bump_pages_version
from app.services import mailer
from app.services.booking import approvals
from app.services.developer import api_keys
from tests import factories
from tests.conftest import login
from tests.payment_fixtures import next_tuesday
from tests.web.test_paid_booking_pages import editor_form, html, open_form

BASE = "/dashboard/event-types"
HX = {"HX-Request": "true"}


@pytest.fixture
def web_app(app_factory):
    app = app_factory(BASE_URL="http://localhost")
    with app.app_context():
        yield app


@pytest.fixture
def client(web_app):
    return web_app.test_client()


@pytest.fixture
def hana(web_app):
    return factories.user("hana", name="Hana Host", timezone="Europe/Berlin", plan="PRO")


@pytest.fixture
def gated(hana) -> EventType:
    et = EventType.get((EventType.user == hana.id) & (EventType.slug == "30-min"))
    EventType.update(requires_confirmation=True).where(EventType.id == et.id).execute()
    bump_pages_version(hana.id)
    return EventType.get_by_id(et.id)


def emails():
    return [mailer.unseal(json.loads(m.payload))
            for m in OutboxMessage.select().where(OutboxMessage.kind == "email").order_by(OutboxMessage.created_at)]


def form(**changes) -> dict:
    """The editor's fields (no payment section: no payment provider is configured here)."""
    return editor_form(payment_section=None, **changes)


def link(kind: str) -> str:
    """The path of the Confirm or Decline link in the host's request email."""
    [mail] = [m for m in emails() if m["subject"].startswith("Please confirm")]
    url = next(line.split(": ", 1)[1] for line in mail["text"].splitlines() if line.startswith(f"{kind}: "))
    return url.removeprefix("http://localhost")


def request_through_the_page(client, start=None) -> Booking:
    _, fields = open_form(client, start or next_tuesday())
    response = client.post("/hana/30-min", data=fields)
    assert response.status_code == 302, html(response)[:1500]
    page = html(client.get(response.headers["Location"]))
    assert "Awaiting confirmation" in page and "You are scheduled" not in page
    assert "Add to your calendar" not in page and "Withdraw the request" in page
    return Booking.get()


# --- the editor ------------------------------------------------------------------------------------------------
def test_the_editor_saves_the_option_and_shows_errors_inline(client, hana):
    login(client, hana)
    page = html(client.get(f"{BASE}/new"))
    assert 'id="s-approvals"' in page and 'name="requires_confirmation"' in page
    bad = client.post(f"{BASE}/new", data=form(approval_section="1", requires_confirmation="1",
                                                      confirmation_threshold_hours="0"))
    assert bad.status_code == 422 and "must be between 1 and 8760" in html(bad)
    saved = client.post(f"{BASE}/new", data=form(approval_section="1", requires_confirmation="1",
                                                        confirmation_threshold_hours="48"))
    assert saved.status_code == 302, html(saved)[:2000]
    et = EventType.get(EventType.slug == "coaching")
    assert (et.requires_confirmation, et.confirmation_threshold_hours) == (True, 48)
    edit = html(client.get(f"{BASE}/{et.id}/edit"))
    assert re.search(r'name="requires_confirmation" value="1"\s+checked', edit) and 'value="48"' in edit
    off = client.post(f"{BASE}/{et.id}/edit", data=form(approval_section="1", confirmation_threshold_hours=""))
    assert off.status_code == 302
    assert EventType.get_by_id(et.id).requires_confirmation is False


def test_the_editor_refuses_it_on_a_repeating_event_type(client, hana):
    login(client, hana)
    response = client.post(f"{BASE}/new", data=form(approval_section="1", requires_confirmation="1",
                                                           recurrence="weekly"))
    assert response.status_code == 422 and "A repeating event type cannot require confirmation" in html(response)


# --- the emailed links ---------------------------------------------------------------------------------------
def test_the_confirm_link_shows_a_form_and_its_post_confirms(client, hana, gated):
    booking = request_through_the_page(client)
    path = link("Confirm")
    page = client.get(path)
    assert page.status_code == 200 and "Confirm this booking?" in html(page) and 'id="approval-form"' in html(page)
    assert Booking.get_by_id(booking.id).status == "PENDING"             # opening the link changes nothing
    done = client.post(path)
    assert done.status_code == 200 and "Booking confirmed" in html(done)
    assert Booking.get_by_id(booking.id).status == "CONFIRMED"
    again = client.post(path)
    assert again.status_code == 200 and "already confirmed" in html(again)
    view = html(client.get(f"/booking/{Booking.get_by_id(booking.id).uid}"))   # no HMAC: not the invitee's link
    assert "Awaiting confirmation" not in view


def test_the_decline_link_asks_an_optional_reason_and_frees_the_slot(client, hana, gated):
    start = next_tuesday()
    booking = request_through_the_page(client, start)
    path = link("Decline")
    assert 'name="reason"' in html(client.get(path))
    done = client.post(path, data={"reason": "Travelling that week"})
    assert done.status_code == 200 and "Request declined" in html(done)
    stored = Booking.get_by_id(booking.id)
    assert (stored.status, stored.cancel_reason, stored.approval) == ("CANCELLED", "Travelling that week", "declined")
    _, fields = open_form(client, start)                                   # offered again
    assert fields.get("start")


def test_forged_and_expired_links(client, hana, gated):
    booking = request_through_the_page(client)
    path = link("Confirm")
    assert client.get(path[:-3] + "xyz").status_code == 404
    assert client.post(path[:-3] + "xyz").status_code == 404
    assert client.get("/approvals/not-a-token").status_code == 404
    past = factories.booking_row(gated, datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1),
                                 status="PENDING", approval="pending")
    expired = "/approvals/" + approvals.action_token(past, "confirm")
    answer = client.get(expired)
    assert answer.status_code == 410 and "expired" in html(answer)
    assert client.post(expired).status_code == 410
    assert Booking.get_by_id(past.id).status == "PENDING" and Booking.get_by_id(booking.id).status == "PENDING"


def test_a_link_post_needs_the_csrf_token_of_its_page(app_factory):
    app = app_factory(BASE_URL="http://localhost", WTF_CSRF_ENABLED=True)
    with app.app_context():
        hana = factories.user("hana", timezone="Europe/Berlin")
        et = EventType.get((EventType.user == hana.id) & (EventType.slug == "30-min"))
        booking = factories.booking_row(et, next_tuesday(), status="PENDING", approval="pending")
        path = "/approvals/" + approvals.action_token(booking, "confirm")
        client = app.test_client()
        assert client.post(path).status_code == 400
        token = re.search(r'name="csrf_token" value="([^"]+)"', html(client.get(path))).group(1)
        assert client.post(path, data={"csrf_token": token}).status_code == 200
        assert Booking.get_by_id(booking.id).status == "CONFIRMED"


# --- the dashboard -------------------------------------------------------------------------------------------
def test_the_dashboard_lists_the_request_and_confirms_it_with_htmx(client, hana, gated):
    booking = request_through_the_page(client)
    login(client, hana)
    listing = html(client.get("/dashboard/bookings"))
    assert "Awaiting your confirmation" in listing and f'id="confirm-{booking.id}"' in listing
    detail = html(client.get(f"/dashboard/bookings/{booking.id}"))
    assert 'id="request-card"' in detail and 'id="decline-form"' in detail and "Change this booking" not in detail
    response = client.post(f"/dashboard/bookings/{booking.id}/confirm", headers=HX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"/dashboard/bookings/{booking.id}"
    assert Booking.get_by_id(booking.id).status == "CONFIRMED"
    again = client.post(f"/dashboard/bookings/{booking.id}/confirm")
    assert again.status_code == 302
    assert "already confirmed" in html(client.get(again.headers["Location"]))


def test_the_dashboard_declines_with_a_reason_as_a_plain_form(client, hana, gated):
    booking = request_through_the_page(client)
    login(client, hana)
    response = client.post(f"/dashboard/bookings/{booking.id}/decline", data={"reason": "Not my topic"})
    assert response.status_code == 302
    assert "Declined" in html(client.get(response.headers["Location"]))
    stored = Booking.get_by_id(booking.id)
    assert (stored.status, stored.cancelled_by, stored.cancel_reason) == ("CANCELLED", "host", "Not my topic")
    [declined] = [m for m in emails() if m["subject"].startswith("Declined")]
    assert declined["to"] == ["ivan@example.com"] and "Reason: Not my topic" in declined["text"]


def test_another_hosts_request_is_404(client, hana, gated):
    booking = request_through_the_page(client)
    otto = factories.user("otto")
    login(client, otto)
    assert client.post(f"/dashboard/bookings/{booking.id}/confirm").status_code == 404
    assert client.post(f"/dashboard/bookings/{booking.id}/decline", data={"reason": "x"}).status_code == 404
    assert client.get(f"/dashboard/bookings/{booking.id}").status_code == 404
    assert Booking.get_by_id(booking.id).status == "PENDING"


def test_the_dashboard_needs_sign_in(client, hana, gated):
    booking = request_through_the_page(client)
    response = client.post(f"/dashboard/bookings/{booking.id}/confirm")
    assert response.status_code in (302, 401) and Booking.get_by_id(booking.id).status == "PENDING"


# --- the API and its document ---------------------------------------------------------------------------------
def test_the_api_shows_pending_bookings_and_the_event_type_fields(client, hana, gated):
    booking = request_through_the_page(client)
    key = api_keys.create_api_key(hana, "test")[1]
    auth = {"Authorization": f"Bearer {key}"}
    listed = client.get("/api/v1/bookings?status=PENDING", headers=auth)
    assert listed.status_code == 200, listed.get_data(True)
    [item] = listed.json["data"]
    assert item["id"] == booking.id and item["status"] == "PENDING" and item["approval"] == "pending"
    detail = client.get(f"/api/v1/bookings/{booking.id}", headers=auth).json
    assert detail["status"] == "PENDING" and detail["approval"] == "pending"
    assert client.get("/api/v1/bookings?status=CONFIRMED", headers=auth).json["data"] == []
    types = client.get("/api/v1/event-types", headers=auth).json["data"]
    thirty = next(t for t in types if t["slug"] == "30-min")
    assert thirty["requiresConfirmation"] is True and thirty["confirmationThresholdHours"] is None


def test_the_openapi_document_and_webhook_settings_know_pending_and_booking_requested(client, hana):
    doc = client.get("/api/v1/openapi.json").json
    assert "PENDING" in doc["components"]["schemas"]["Booking"]["properties"]["status"]["enum"]
    assert "booking.requested" in doc["components"]["schemas"]["WebhookEnvelope"]["properties"]["event"]["enum"]
    assert "requiresConfirmation" in json.dumps(doc)
    login(client, hana)
    page = html(client.get("/settings/webhooks/new"))
    assert 'value="booking.requested"' in page


def test_a_booking_made_through_the_api_is_a_request_too(client, hana, gated):
    key = api_keys.create_api_key(hana, "test")[1]
    start = next_tuesday(11)
    response = client.post("/api/v1/bookings", headers={"Authorization": f"Bearer {key}"}, json={
        "eventTypeSlug": "30-min", "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "inviteeName": "Sarah Chen",
        "inviteeEmail": "sarah@example.com", "inviteeTimezone": "America/New_York"})
    assert response.status_code == 201, response.get_data(True)
    booking = Booking.get_by_id(response.json["bookingId"])
    assert booking.status == "PENDING" and booking.source == "api"
    assert [m["subject"] for m in emails() if m["subject"].startswith("Please confirm")]


def test_the_invitee_withdraws_a_request_through_their_link(client, hana, gated):
    from app.services.booking.notifications import link_token

    booking = request_through_the_page(client)
    token = link_token(booking)
    assert "Cancel" in html(client.get(f"/booking/{token}/cancel"))
    response = client.post(f"/booking/{token}/cancel", data={"reason": "Found another time"})
    assert response.status_code == 302
    stored = Booking.get_by_id(booking.id)
    assert (stored.status, stored.cancelled_by) == ("CANCELLED", "invitee")
    assert client.get(link("Confirm")).status_code == 200          # the host's link now says it is answered
    assert "already declined or cancelled" in html(client.post(link("Confirm")))
