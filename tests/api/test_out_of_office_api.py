"""``/api/v1/out-of-office`` (issue 23, point 8): list, add and delete the key holder's entries; 400 with ``details``
for bad input and overlapping dates, 404 for another user's entry, 401 without a key; and the days away take the
slots out of ``/api/v1/event-types/.../availability``-style reads (the engine, through the service)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.models import OutOfOffice
from app.services.scheduling import out_of_office as ooo
from tests import factories
from tests.api.conftest import in_db

URL = "/api/v1/out-of-office"
FIRST = datetime.now(UTC).date() + timedelta(days=10)
LAST = FIRST + timedelta(days=2)


def test_without_a_key_it_is_401(client):
    assert client.get(URL).status_code == 401
    assert client.post(URL, json={"startDate": FIRST.isoformat(), "endDate": LAST.isoformat()}).status_code == 401


def test_add_list_and_delete(app, api, pro_host, make_user):
    mate = make_user("mate", name="Mate Marsh")
    in_db(app, factories.team, pro_host, [mate])
    answer = api.post(URL, json={"startDate": FIRST.isoformat(), "endDate": LAST.isoformat(), "reason": "travel",
                                 "note": "Conference", "showReason": False, "redirectToUserId": mate.id})
    assert answer.status_code == 201, answer.json
    body = answer.json
    assert (body["startDate"], body["endDate"], body["reason"], body["reasonLabel"], body["showReason"]) == \
        (FIRST.isoformat(), LAST.isoformat(), "travel", "Travel", False)
    assert body["timezone"] == "America/New_York" and body["note"] == "Conference"
    assert body["redirectTo"] == {"id": mate.id, "name": "Mate Marsh", "username": "mate"}
    assert body["createdAt"].endswith("Z")
    assert api.get(URL).json == {"data": [body]}
    assert api.delete(f"{URL}/{body['id']}").json == {"success": True}
    assert api.get(URL).json == {"data": []}
    assert in_db(app, lambda: OutOfOffice.select().count()) == 0


def test_past_entries_are_listed_on_request(app, api, pro_host):
    today = datetime.now(UTC).date()
    in_db(app, lambda: OutOfOffice.create(user=pro_host.id, start_date=today - timedelta(days=30),
                                          end_date=today - timedelta(days=20), timezone="UTC"))
    assert api.get(URL).json == {"data": []}
    assert len(api.get(f"{URL}?includePast=true").json["data"]) == 1
    assert api.get(f"{URL}?includePast=maybe").status_code == 400


@pytest.mark.parametrize("body, field", [
    ({"endDate": "2030-01-02"}, "startDate"),
    ({"startDate": "2030-01-05", "endDate": "2030-01-02"}, "endDate"),
    ({"startDate": "2030-01-01", "endDate": "2030-01-02", "reason": "party"}, "reason"),
    ({"startDate": "2030-01-01", "endDate": "2030-01-02", "showReason": "yes"}, "showReason"),
    ({"startDate": "2030-01-01", "endDate": "2030-01-02", "note": "x" * 501}, "note"),
    ({"startDate": "2030-01-01", "endDate": "2030-01-02", "redirectToUserId": "nobody"}, "redirectToUserId"),
    ({"startDate": 20300101, "endDate": "2030-01-02"}, "startDate"),
])
def test_bad_input_is_400_with_the_field_named(api, body, field):
    answer = api.post(URL, json=body)
    assert answer.status_code == 400
    assert answer.json["error"] == "Invalid request data" and field in answer.json["details"]


def test_overlapping_dates_are_400_and_another_users_entry_is_404(app, api, pro_host, make_user):
    first = api.post(URL, json={"startDate": FIRST.isoformat(), "endDate": LAST.isoformat()})
    assert first.status_code == 201
    answer = api.post(URL, json={"startDate": LAST.isoformat(), "endDate": (LAST + timedelta(days=1)).isoformat()})
    assert answer.status_code == 400 and "overlap" in answer.json["details"]["startDate"]
    other = make_user("otto")
    theirs = in_db(app, ooo.add_entry, other, ooo.EntryInput(FIRST, LAST))
    answer = api.delete(f"{URL}/{theirs.id}")
    assert answer.status_code == 404 and answer.json == {"error": "Out-of-office entry not found"}
    assert api.delete(f"{URL}/not%20an%20id").status_code == 404
    assert in_db(app, lambda: OutOfOffice.select().count()) == 2


def test_the_days_added_leave_the_availability_endpoint_without_slots(api):
    monday = FIRST + timedelta(days=(7 - FIRST.weekday()) % 7)
    query = f"/api/v1/availability/30-min?timezone=America/New_York&startDate={monday}&endDate={monday}"
    before = api.get(query)
    assert before.status_code == 200, before.json
    assert before.json["data"] and {slot["date"] for slot in before.json["data"]} == {monday.isoformat()}
    assert api.post(URL, json={"startDate": monday.isoformat(), "endDate": monday.isoformat()}).status_code == 201
    assert api.get(query).json["data"] == []
