"""``POST /api/v1/bookings/{id}/no-show`` (issue 23, point 5): auth, 404 for another's booking, 409 before the start,
undo, ``noShow`` in the booking representations and the ``booking.no_show`` webhook delivered to a receiver."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.models import Booking
from tests import factories
from tests.api.conftest import bearer, event_type_of, in_db, new_key


@pytest.fixture
def past(app, pro_host):
    """A confirmed meeting that started an hour ago (the API uses the real clock)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    return in_db(app, factories.booking_row, event_type_of(app, pro_host), start)


def test_without_a_key_it_is_401(client, past):
    answer = client.post(f"/api/v1/bookings/{past.id}/no-show", json={"noShow": True})
    assert answer.status_code == 401


def test_marking_answers_the_booking_with_no_show_and_the_time(app, api, past):
    answer = api.post(f"/api/v1/bookings/{past.id}/no-show", json={"noShow": True})
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["id"] == past.id and body["noShow"] is True and body["noShowMarkedAt"].endswith("Z")
    assert in_db(app, Booking.get_by_id, past.id).no_show
    detail = api.get(f"/api/v1/bookings/{past.id}").json
    assert detail["noShow"] is True and detail["noShowMarkedAt"] == body["noShowMarkedAt"]
    [listed] = [b for b in api.get("/api/v1/bookings?status=all").json["data"] if b["id"] == past.id]
    assert listed["noShow"] is True and listed["noShowMarkedAt"] == body["noShowMarkedAt"]


def test_undo_clears_the_mark(app, api, past):
    api.post(f"/api/v1/bookings/{past.id}/no-show", json={"noShow": True})
    answer = api.post(f"/api/v1/bookings/{past.id}/no-show", json={"noShow": False})
    assert answer.status_code == 200
    assert answer.json["noShow"] is False and answer.json["noShowMarkedAt"] is None
    stored = in_db(app, Booking.get_by_id, past.id)
    assert not stored.no_show and stored.no_show_at is None
    [listed] = [b for b in api.get("/api/v1/bookings?status=all").json["data"] if b["id"] == past.id]
    assert listed["noShow"] is False


def test_before_the_start_it_is_409(app, api, pro_host):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    future = in_db(app, factories.booking_row, event_type_of(app, pro_host), start)
    answer = api.post(f"/api/v1/bookings/{future.id}/no-show", json={"noShow": True})
    assert answer.status_code == 409
    assert "not started" in answer.json["error"]
    assert not in_db(app, Booking.get_by_id, future.id).no_show


def test_a_cancelled_booking_is_409(app, api, pro_host):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    row = in_db(app, factories.booking_row, event_type_of(app, pro_host), start, status="CANCELLED")
    assert api.post(f"/api/v1/bookings/{row.id}/no-show", json={"noShow": True}).status_code == 409


def test_another_accounts_booking_and_an_unknown_id_are_404(app, client, make_user, past):
    other_key = new_key(app, make_user("otto", plan="PRO"))
    answer = client.post(f"/api/v1/bookings/{past.id}/no-show", json={"noShow": True}, headers=bearer(other_key))
    assert answer.status_code == 404 and answer.json == {"error": "Booking not found"}
    assert client.post("/api/v1/bookings/nosuchbooking/no-show", json={"noShow": True},
                       headers=bearer(other_key)).status_code == 404
    assert not in_db(app, Booking.get_by_id, past.id).no_show


@pytest.mark.parametrize("body", [{}, {"noShow": "yes"}, {"noShow": 1}, {"noShow": None}])
def test_a_body_without_a_boolean_no_show_is_400(api, past, body):
    answer = api.post(f"/api/v1/bookings/{past.id}/no-show", json=body)
    assert answer.status_code == 400
    assert answer.json["error"] == "Invalid request data" and "noShow" in answer.json["details"]


def test_an_empty_body_is_400(api, past):
    answer = api.post(f"/api/v1/bookings/{past.id}/no-show", data="", content_type="application/json")
    assert answer.status_code == 400


def test_the_booking_no_show_webhook_reaches_a_receiver_subscribed_to_it(app, api, pro_host, past, receiver):
    from app.services.developer import webhooks
    from tests.fakes.webhooks import verify_both

    _webhook, secret = in_db(app, webhooks.create_webhook, pro_host, receiver.url(), ["booking.no_show"])
    assert api.post(f"/api/v1/bookings/{past.id}/no-show", json={"noShow": True}).status_code == 200
    [request] = receiver.wait_for(1)
    payload = verify_both(request, secret)
    assert payload["event"] == "booking.no_show"
    data = payload["data"]
    assert data["id"] == past.id and data["noShow"] is True and data["noShowMarkedAt"]
    assert data["host"]["id"] == pro_host.id and data["invitee"]["email"] == "ivan@example.com"
    assert api.post(f"/api/v1/bookings/{past.id}/no-show", json={"noShow": False}).status_code == 200
    second = receiver.wait_for(2)[1]
    undone = verify_both(second, secret)
    assert undone["event"] == "booking.no_show" and undone["data"]["noShow"] is False


def test_the_event_is_offered_to_webhooks_and_zapier(app, client, pro_host, pro_key):
    from app.services.developer import webhooks

    assert "booking.no_show" in webhooks.EVENT_NAMES and "booking.no_show" in webhooks.BOOKING_EVENTS
    assert webhooks.EVENT_LABELS["booking.no_show"]
    sample = in_db(app, webhooks.sample_envelope, "booking.no_show", pro_host)
    assert sample["event"] == "booking.no_show" and sample["data"]["noShow"] is True
    answer = client.get("/api/zapier/triggers/booking.no_show", headers={"X-API-Key": pro_key})
    assert answer.status_code == 200, answer.data[:300]
