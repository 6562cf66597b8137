"""Google Calendar and Meet through GoogleClient, against the local Google fake."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app.integrations.errors import (
    GrantRevoked,
    NotFound,
    PermanentError,
    TransientError,
    Unauthorized,
)
from app.integrations.google import GoogleClient
from app.integrations.oauth import Attendee, needs_refresh
from tests.fakes.oauth_server import REDIRECT_URI

from .conftest import connect

T9 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def ts(value: datetime) -> int:
    return int(value.timestamp())


@pytest.fixture
def google(google_fake):
    client = GoogleClient(google_fake.client_config())
    return client, connect(client, now=datetime.now(UTC))


def _book(client, token, calendar_id, **kwargs):
    args = {"summary": "Intro call with Bo", "start": T9, "end": T9 + timedelta(minutes=30),
            "attendees": [Attendee("bo@example.org", "Bo")], "description": "Booked with LinkTime",
            "location": "Google Meet", "timezone": "Europe/Berlin", **kwargs}
    return client.create_event(token.access_token, calendar_id, **args)


def test_connect_asks_for_offline_access_and_reads_the_account_email(google_fake):
    client = GoogleClient(google_fake.client_config())
    auth = client.authorization_request(REDIRECT_URI)
    query = parse_qs(urlsplit(auth.url).query)
    assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
    assert set(query["scope"][0].split()) == {"openid", "email", "https://www.googleapis.com/auth/calendar.readonly",
                                              "https://www.googleapis.com/auth/calendar.events"}
    token = connect(client)
    assert token.refresh_token                                 # only issued for access_type=offline
    assert client.get_email(token.access_token) == "ada@example.com"
    exchange = google_fake.calls("POST", "/token")[-1].form
    assert exchange["grant_type"] == "authorization_code" and exchange["client_secret"] == google_fake.client_secret


def test_refresh_before_expiry_gives_a_working_access_token(google, google_fake):
    client, token = google
    assert not needs_refresh(token, datetime.now(UTC))
    soon = token.expires_at - timedelta(minutes=4)
    assert needs_refresh(token, soon)
    renewed = client.refresh(token, now=soon)
    assert renewed.refresh_token == token.refresh_token
    assert google_fake.calls("POST", "/token")[-1].form["grant_type"] == "refresh_token"
    assert client.list_calendars(renewed.access_token)


def test_revoked_grant_raises_grant_revoked_and_old_access_tokens_die(google, google_fake):
    client, token = google
    google_fake.revoke_grants()
    with pytest.raises(GrantRevoked):
        client.refresh(token)
    with pytest.raises(Unauthorized):
        client.list_calendars(token.access_token)


def test_disconnect_revokes_the_grant_at_google(google, google_fake):
    client, token = google
    assert client.revoke(token.refresh_token) is True
    assert google_fake.refresh_token_state(token.refresh_token) == "revoked"
    with pytest.raises(GrantRevoked):
        client.refresh(token)


def test_list_calendars_follows_pages(google, google_fake):
    client, token = google
    google_fake.add_calendar("c_holidays@group.calendar.google.com", "Holidays", access_role="reader")
    google_fake.max_page_size = 2
    calendars = client.list_calendars(token.access_token)
    assert [c.id for c in calendars] == ["ada@example.com", "team@group.calendar.google.com",
                                         "c_holidays@group.calendar.google.com"]
    assert calendars[0].primary and calendars[0].writable and calendars[0].timezone == "Europe/Berlin"
    assert not calendars[1].writable
    assert [c.args.get("pageToken") for c in google_fake.calls("GET", "/calendar/v3/users/me/calendarList")] == \
        [None, "2"]


def test_busy_times_come_from_freebusy_without_free_or_cancelled_events(google, google_fake):
    client, token = google
    google_fake.add_event("ada@example.com", T9, T9 + HOUR)
    google_fake.add_event("ada@example.com", T9 + 2 * HOUR, T9 + 3 * HOUR, transparency="transparent")
    google_fake.add_event("ada@example.com", T9 + 4 * HOUR, T9 + 5 * HOUR, status="cancelled")
    google_fake.add_event("ada@example.com", T9 + 30 * HOUR, T9 + 31 * HOUR)          # outside the window
    google_fake.add_event("team@group.calendar.google.com", T9 + 6 * HOUR, T9 + 7 * HOUR)
    busy = client.busy_times(token.access_token, ["ada@example.com", "team@group.calendar.google.com",
                                                  "gone@group.calendar.google.com"], T9 - HOUR, T9 + 12 * HOUR)
    assert busy.intervals == [(ts(T9), ts(T9 + HOUR)), (ts(T9 + 6 * HOUR), ts(T9 + 7 * HOUR))]
    assert busy.errors == {"gone@group.calendar.google.com": "notFound"}
    sent = google_fake.calls("POST", "/calendar/v3/freeBusy")[0].json
    assert sent["timeMin"] == "2026-03-10T08:00:00Z" and sent["timeMax"] == "2026-03-10T21:00:00Z"
    assert sent["items"][0] == {"id": "ada@example.com"}


def test_busy_times_ask_at_most_fifty_calendars_per_query(google, google_fake):
    client, token = google
    ids = ["ada@example.com"] + [f"c{n}@group.calendar.google.com" for n in range(60)]
    busy = client.busy_times(token.access_token, ids, T9, T9 + HOUR)
    assert [len(c.json["items"]) for c in google_fake.calls("POST", "/calendar/v3/freeBusy")] == [50, 11]
    assert len(busy.errors) == 60


def test_create_event_with_meet_sends_a_conference_request_and_reads_the_link(google, google_fake):
    client, token = google
    event = _book(client, token, "ada@example.com", with_meet=True, request_id="booking-1-attempt-1")
    call = google_fake.calls("POST", "/calendar/v3/calendars/ada@example.com/events")[0]
    assert call.args == {"conferenceDataVersion": "1", "sendUpdates": "all"}
    assert call.json["conferenceData"] == {"createRequest": {"requestId": "booking-1-attempt-1",
                                                             "conferenceSolutionKey": {"type": "hangoutsMeet"}}}
    assert call.json["start"] == {"dateTime": "2026-03-10T09:00:00Z", "timeZone": "Europe/Berlin"}
    assert call.json["attendees"] == [{"email": "bo@example.org", "displayName": "Bo"}]
    assert event.meeting_url.startswith("https://meet.google.com/")
    assert event.meeting_url == google_fake.events["ada@example.com"][event.id]["hangoutLink"]
    assert event.html_link


def test_pending_meet_conference_is_read_again(google, google_fake):
    client, token = google
    google_fake.meet_pending = True
    event = _book(client, token, "ada@example.com", with_meet=True)
    assert event.meeting_url.startswith("https://meet.google.com/")
    assert len(google_fake.calls("GET", f"/calendar/v3/calendars/ada@example.com/events/{event.id}")) == 1


def test_event_without_meet_has_no_link_and_send_updates_is_passed(google, google_fake):
    client, token = google
    event = _book(client, token, "ada@example.com", send_updates="none")
    assert event.meeting_url is None
    assert google_fake.calls("POST")[-1].args["sendUpdates"] == "none"
    with pytest.raises(ValueError):
        _book(client, token, "ada@example.com", send_updates="everyone")


def test_create_event_with_a_stable_id_is_idempotent(google, google_fake):
    client, token = google
    first = _book(client, token, "ada@example.com", with_meet=True, event_id="lt0booking0001")
    again = _book(client, token, "ada@example.com", with_meet=True, event_id="lt0booking0001")
    assert again.id == first.id == "lt0booking0001" and again.meeting_url == first.meeting_url
    assert len(google_fake.events["ada@example.com"]) == 1


def test_reschedule_patches_the_times_and_keeps_the_meet_link(google, google_fake):
    client, token = google
    event = _book(client, token, "ada@example.com", with_meet=True)
    moved = client.update_event(token.access_token, "ada@example.com", event.id, start=T9 + 2 * HOUR,
                                end=T9 + 2 * HOUR + timedelta(minutes=30))
    call = google_fake.calls("PATCH")[-1]
    assert set(call.json) == {"start", "end"} and call.args["sendUpdates"] == "all"
    assert moved.meeting_url == event.meeting_url
    stored = google_fake.events["ada@example.com"][event.id]
    assert stored["start"]["dateTime"] == "2026-03-10T11:00:00Z" and stored["summary"] == "Intro call with Bo"
    busy = client.busy_times(token.access_token, ["ada@example.com"], T9, T9 + 4 * HOUR)
    assert busy.intervals == [(ts(T9 + 2 * HOUR), ts(T9 + 2 * HOUR + timedelta(minutes=30)))]


def test_cancel_deletes_the_event_and_a_second_delete_is_harmless(google, google_fake):
    client, token = google
    event = _book(client, token, "ada@example.com")
    assert client.delete_event(token.access_token, "ada@example.com", event.id) is True
    assert event.id not in google_fake.events["ada@example.com"]
    assert client.delete_event(token.access_token, "ada@example.com", event.id) is False     # 410 Gone
    with pytest.raises(NotFound):
        client.update_event(token.access_token, "ada@example.com", "nosuchevent1", summary="x")


def test_fake_refuses_an_event_that_ends_before_it_starts(google):
    client, token = google
    with pytest.raises(PermanentError) as caught:
        _book(client, token, "ada@example.com", end=T9 - HOUR)
    assert caught.value.status == 400 and caught.value.code == "timeRangeEmpty"


def test_server_errors_rate_limits_and_timeouts_are_transient(google, google_fake):
    client, token = google
    google_fake.fail(503, path="/calendar/v3/freeBusy")
    with pytest.raises(TransientError):
        client.busy_times(token.access_token, ["ada@example.com"], T9, T9 + HOUR)
    google_fake.fail(403, path="/calendar/v3/freeBusy", body={"error": {
        "code": 403, "message": "Rate Limit Exceeded", "errors": [{"domain": "usageLimits",
                                                                   "reason": "rateLimitExceeded"}]}})
    with pytest.raises(TransientError):
        client.busy_times(token.access_token, ["ada@example.com"], T9, T9 + HOUR)
    slow = GoogleClient(google_fake.client_config(timeout=0.3))
    google_fake.slow(1.5, path="/calendar/v3/calendars")
    with pytest.raises(TransientError):
        _book(slow, token, "ada@example.com")


def test_missing_scope_is_a_permanent_403(google_fake):
    client = GoogleClient(google_fake.client_config(scopes=("openid", "email")))
    token = connect(client)
    with pytest.raises(PermanentError) as caught:
        client.busy_times(token.access_token, ["ada@example.com"], T9, T9 + HOUR)
    assert caught.value.status == 403 and not isinstance(caught.value, TransientError)


def test_fake_refuses_wrong_paths_methods_auth_and_bodies(google, google_fake):
    _, token = google
    api = google_fake.url + "/calendar/v3"
    auth = {"Authorization": f"Bearer {token.access_token}"}
    assert requests.get(api + "/freeBusy", headers=auth, timeout=5).status_code == 405
    assert requests.post(api + "/freebusy", headers=auth, json={}, timeout=5).status_code == 404
    assert requests.post(api + "/freeBusy", json={}, timeout=5).status_code == 401
    assert requests.post(api + "/freeBusy", headers={"Authorization": "Bearer nope"}, json={},
                         timeout=5).status_code == 401
    bad = {"timeMin": "2026-03-10T09:00:00", "timeMax": "2026-03-10T10:00:00Z", "items": []}
    assert requests.post(api + "/freeBusy", headers=auth, json=bad, timeout=5).status_code == 400   # no offset
    event = {"summary": 5, "start": {"dateTime": "2026-03-10T09:00:00Z"}, "end": {"dateTime": "2026-03-10T10:00:00Z"}}
    assert requests.post(api + "/calendars/ada@example.com/events", headers=auth, json=event,
                         timeout=5).status_code == 400
    event["summary"], event["colour"] = "ok", "red"
    assert requests.post(api + "/calendars/ada@example.com/events", headers=auth, json=event,
                         timeout=5).status_code == 400
