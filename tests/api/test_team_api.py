"""Team event types through the JSON API (issue 15): listed, read and booked by the members of their team, a 404
for anyone else; team bookings in the list and detail of every attending host; the public endpoint books them by
id; the booking.created webhook names the hosts."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.models import Booking, BookingHost, EventType
from tests import factories
from tests.api.conftest import bearer, event_type_of, future_slots, in_db, new_key


@pytest.fixture
def crew(app, make_user):
    """Olga owns the Acme organization; Adam and Mia are in its Sales team; Zed runs another organization."""
    olga, adam, mia, zed = (make_user(name, plan="PRO", email=f"{name}@example.com")
                            for name in ("olga", "adam", "mia", "zed"))
    team = in_db(app, factories.team, olga, [adam, mia])
    collective = in_db(app, factories.team_event_type, olga, team, [olga, adam, mia], kind="collective",
                       name="Panel")
    rr = in_db(app, factories.team_event_type, olga, team, [adam, mia], name="Demo")
    theirs = in_db(app, factories.team, zed, [], org_slug="zeta", slug="zeta-sales", name="Zeta sales")
    foreign = in_db(app, factories.team_event_type, zed, theirs, [zed], name="Secret demo")
    return {"olga": olga, "adam": adam, "mia": mia, "zed": zed, "team": team, "collective": collective,
            "rr": rr, "foreign": foreign}


def get(client, user_key, path, **kwargs):
    return client.get(path, headers=bearer(user_key), **kwargs)


def test_the_list_has_personal_event_types_unchanged_then_the_teams_ones_with_team_and_hosts(app, client, crew):
    key = new_key(app, crew["adam"])
    answer = get(client, key, "/api/v1/event-types")
    assert answer.status_code == 200
    data = answer.get_json()["data"]
    assert [et["slug"] for et in data] == ["30-min", "panel", "demo"]
    assert answer.get_json()["pagination"]["total"] == 3
    personal = data[0]
    assert not {"team", "schedulingType", "hosts"} & set(personal)
    assert personal["bookingUrl"].endswith("/adam/30-min")
    panel, demo = data[1], data[2]
    assert panel["team"] == {"id": crew["team"].id, "name": "Sales", "slug": "sales"}
    assert panel["schedulingType"] == "COLLECTIVE" and demo["schedulingType"] == "ROUND_ROBIN"
    assert [h["name"] for h in panel["hosts"]] == ["Adam", "Mia", "Olga"]
    assert demo["hosts"] == [{"id": crew["adam"].id, "name": "Adam"}, {"id": crew["mia"].id, "name": "Mia"}]
    assert demo["bookingUrl"].endswith("/team/sales/demo")
    # pages cut across the personal and the team event types
    pages = [get(client, key, f"/api/v1/event-types?limit=2&page={n}").get_json() for n in (1, 2, 3)]
    assert [[et["slug"] for et in p["data"]] for p in pages] == [["30-min", "panel"], ["demo"], []]
    # another organization's team event type is not listed, and Olga's own list has no drafts of the team
    assert "secret-demo" not in {et["slug"] for et in data}
    zed_slugs = [et["slug"] for et in get(client, new_key(app, crew["zed"]), "/api/v1/event-types").get_json()["data"]]
    assert zed_slugs == ["30-min", "secret-demo"]


def test_detail_and_availability_for_members_and_404_for_another_organization(app, client, crew):
    key = new_key(app, crew["mia"])
    rr, foreign = crew["rr"], crew["foreign"]
    detail = get(client, key, f"/api/v1/event-types/{rr.id}")
    assert detail.status_code == 200 and detail.get_json()["schedulingType"] == "ROUND_ROBIN"
    assert detail.get_json()["team"]["slug"] == "sales"
    assert get(client, key, f"/api/v1/event-types/{foreign.id}").status_code == 404
    slots = get(client, key, f"/api/v1/availability/{rr.id}", query_string={"timezone": "Europe/Berlin"})
    assert slots.status_code == 200, slots.get_json()
    body = slots.get_json()
    assert body["data"] and body["eventType"]["id"] == rr.id and body["eventType"]["team"]["slug"] == "sales"
    assert get(client, key, f"/api/v1/availability/{foreign.id}",
               query_string={"timezone": "Europe/Berlin"}).status_code == 404
    # the personal slug lookup still finds only the user's own event type
    own = get(client, key, "/api/v1/availability/30-min", query_string={"timezone": "Europe/Berlin"})
    assert own.status_code == 200 and own.get_json()["eventType"]["id"] == event_type_of(app, crew["mia"]).id


def test_a_member_books_a_collective_event_type_by_id_and_every_host_sees_it(app, client, crew):
    olga_key, mia_key = new_key(app, crew["olga"]), new_key(app, crew["mia"])
    collective = crew["collective"]
    start = future_slots(app, collective, 1)[0]
    body = {"eventTypeId": collective.id, "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "inviteeName": "Ivan", "inviteeEmail": "ivan@example.com", "inviteeTimezone": "Europe/Berlin"}
    made = client.post("/api/v1/bookings", json=body, headers=bearer(mia_key))
    assert made.status_code == 201, made.get_json()
    booking_id = made.get_json()["bookingId"]
    hosts = in_db(app, lambda: sorted(r.user_id for r in BookingHost.select().where(BookingHost.booking == booking_id)))
    assert hosts == sorted(crew[n].id for n in ("olga", "adam", "mia"))
    assert in_db(app, Booking.get_by_id, booking_id).user_id == crew["olga"].id     # filed under the creator
    # Mia attends but does not organize: the booking is in her list and detail with Olga as host
    [listed] = get(client, mia_key, "/api/v1/bookings").get_json()["data"]
    assert listed["id"] == booking_id and listed["host"]["id"] == crew["olga"].id
    assert listed["schedulingType"] == "COLLECTIVE" and listed["team"]["slug"] == "sales"
    assert {h["id"] for h in listed["hosts"]} == set(hosts) and listed["hosts"][0]["id"] == crew["olga"].id
    mia_contact = listed["contactId"]
    assert mia_contact and get(client, mia_key, f"/api/v1/contacts/{mia_contact}").status_code == 200
    detail = get(client, mia_key, f"/api/v1/bookings/{booking_id}").get_json()
    assert detail["eventType"]["team"]["slug"] == "sales" and detail["contact"]["id"] == mia_contact
    assert get(client, mia_key, "/api/v1/bookings?status=CANCELLED").get_json()["pagination"]["total"] == 0
    # only the organizer cancels through the API
    assert client.post(f"/api/v1/bookings/{booking_id}/cancel", headers=bearer(mia_key)).status_code == 404
    olga_list = get(client, olga_key, "/api/v1/bookings").get_json()
    assert [b["id"] for b in olga_list["data"]] == [booking_id] and olga_list["pagination"]["total"] == 1
    # the same time again: every host is busy
    again = client.post("/api/v1/bookings", json={**body, "inviteeEmail": "other@example.com"},
                        headers=bearer(mia_key))
    assert again.status_code == 409 and again.get_json()["error"]
    # another organization's team event type cannot be booked, not even by id
    foreign = client.post("/api/v1/bookings", json={**body, "eventTypeId": crew["foreign"].id},
                          headers=bearer(mia_key))
    assert foreign.status_code == 404


def test_the_list_merges_own_and_attended_bookings_newest_first_with_the_right_total(app, client, crew):
    adam_key = new_key(app, crew["adam"])
    personal = event_type_of(app, crew["adam"])
    own_starts = future_slots(app, personal, 3)
    for n, start in enumerate(own_starts):
        in_db(app, lambda s=start, i=n: factories.booking(EventType.get_by_id(personal.id), s, email=f"p{i}@x.org"))
    panel_start = future_slots(app, crew["collective"], 1)[0]
    panel = in_db(app, lambda: factories.booking(EventType.get_by_id(crew["collective"].id), panel_start,
                                                 email="team@x.org"))
    assert panel.user_id == crew["olga"].id
    everything = get(client, adam_key, "/api/v1/bookings?limit=100").get_json()
    expected = sorted([*own_starts, panel_start], reverse=True)
    assert [b["startTime"][:16] for b in everything["data"]] == [s.strftime("%Y-%m-%dT%H:%M") for s in expected]
    assert everything["pagination"]["total"] == 4
    pages = [get(client, adam_key, f"/api/v1/bookings?limit=3&page={n}").get_json()["data"] for n in (1, 2)]
    assert [b["id"] for p in pages for b in p] == [b["id"] for b in everything["data"]]
    window = get(client, adam_key, "/api/v1/bookings", query_string={
        "from": panel_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": panel_start.strftime("%Y-%m-%dT%H:%M:%SZ")}).get_json()
    assert [b["id"] for b in window["data"]] == [panel.id] and window["pagination"]["total"] == 1


def test_the_public_endpoint_books_a_team_event_type_by_id_and_names_the_hosts(app, client, crew):
    rr = crew["rr"]
    start = future_slots(app, rr, 1)[0]
    body = {"eventTypeId": rr.id, "inviteeName": "Ivan", "inviteeEmail": "ivan@example.com",
            "inviteeTimezone": "Europe/Berlin", "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ")}
    answer = client.post("/api/bookings", json=body)
    assert answer.status_code == 201, answer.get_json()
    booking = answer.get_json()["booking"]
    assert booking["team"] == {"name": "Sales", "slug": "sales"} and booking["schedulingType"] == "ROUND_ROBIN"
    assert [h["name"] for h in booking["hosts"]] == [booking["host"]["name"]]
    assert booking["host"]["name"] in {"Adam", "Mia"} and "email" not in booking["hosts"][0]
    repeat = client.post("/api/bookings", json=body)
    assert repeat.status_code == 200 and repeat.get_json()["bookingId"] == answer.get_json()["bookingId"]
    second = client.post("/api/bookings", json={**body, "inviteeEmail": "second@example.com"})
    assert second.status_code == 201 and second.get_json()["booking"]["host"]["name"] != booking["host"]["name"]
    third = client.post("/api/bookings", json={**body, "inviteeEmail": "third@example.com"})
    assert third.status_code == 409 and third.get_json()["error"]


def test_a_draft_team_event_type_is_not_bookable_or_listed(app, client, crew):
    draft = in_db(app, factories.team_event_type, crew["olga"], crew["team"], [crew["adam"]], name="Later",
                  status="draft")
    key = new_key(app, crew["adam"])
    assert "later" not in {et["slug"] for et in get(client, key, "/api/v1/event-types").get_json()["data"]}
    assert get(client, key, f"/api/v1/event-types/{draft.id}").get_json()["status"] == "DRAFT"
    start = future_slots(app, crew["rr"], 1)[0].strftime("%Y-%m-%dT%H:%M:%SZ")
    answer = client.post("/api/bookings", json={"eventTypeId": draft.id, "inviteeName": "I", "startTime": start,
                                                "inviteeEmail": "i@example.com", "inviteeTimezone": "UTC"})
    assert answer.status_code == 404


def test_the_booking_created_webhook_of_a_team_booking_names_its_hosts(app, crew, receiver):
    from app.services.developer import webhooks
    from tests.fakes.webhooks import verify_both

    collective = crew["collective"]
    _webhook, secret = in_db(app, webhooks.create_webhook, crew["olga"], receiver.url(), ["booking.created"])
    start = future_slots(app, collective, 1)[0]
    booking = in_db(app, lambda: factories.booking(EventType.get_by_id(collective.id), start))
    [request] = receiver.wait_for(1)
    payload = verify_both(request, secret)
    assert payload["event"] == "booking.created"
    data = payload["data"]
    assert data["id"] == booking.id and data["host"]["id"] == crew["olga"].id
    assert data["team"] == {"id": crew["team"].id, "name": "Sales", "slug": "sales"}
    assert data["schedulingType"] == "COLLECTIVE" and data["assignmentReason"] is None
    assert [h["email"] for h in data["hosts"]][0] == "olga@example.com"
    assert {h["email"] for h in data["hosts"]} == {"olga@example.com", "adam@example.com", "mia@example.com"}
    assert all(set(h) == {"id", "name", "email", "fixed"} for h in data["hosts"])
    assert start + timedelta(minutes=30) == booking.end_at
