"""Outlook calendars and Teams meetings through MicrosoftClient, against the local Microsoft fake."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from app.integrations.errors import (
    GrantRevoked,
    NotFound,
    PermanentError,
    TransientError,
    Unauthorized,
)
from app.integrations.microsoft import MicrosoftClient, _instant
from app.integrations.oauth import Attendee, needs_refresh, parse_instant
from tests.fakes.oauth_server import REDIRECT_URI

from .conftest import connect

T9 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
HALF = timedelta(minutes=30)
TEAMS_SCOPES = ("offline_access", "User.Read", "OnlineMeetings.ReadWrite")


def ts(value: datetime) -> int:
    return int(value.timestamp())


@pytest.fixture
def graph(microsoft_fake):
    client = MicrosoftClient(microsoft_fake.client_config())
    return client, connect(client)


@pytest.fixture
def teams(microsoft_fake):
    """The Microsoft client as the Teams connection uses it: granted OnlineMeetings.ReadWrite, not calendars."""
    client = MicrosoftClient(microsoft_fake.client_config(scopes=TEAMS_SCOPES))
    return client, connect(client)


def _book(client, token, calendar_id="AAMkCal1", **kwargs):
    args = {"subject": "Intro call with Bo", "start": T9, "end": T9 + timedelta(minutes=30),
            "attendees": [Attendee("bo@example.org", "Bo")], "body": "Booked with LinkTime",
            "location": "Microsoft Teams", **kwargs}
    return client.create_event(token.access_token, calendar_id, **args)


def test_connect_asks_for_offline_access_and_reads_the_mailbox(microsoft_fake):
    client = MicrosoftClient(microsoft_fake.client_config())
    query = parse_qs(urlsplit(client.authorization_request(REDIRECT_URI).url).query)
    # Teams meetings are the separate "teams" connection: the calendar one does not ask for them
    assert set(query["scope"][0].split()) == {"offline_access", "User.Read", "Calendars.ReadWrite"}
    assert query["response_mode"] == ["query"]
    token = connect(client)
    assert token.refresh_token and token.expires_at > datetime.now(UTC) + timedelta(minutes=55)
    assert client.get_email(token.access_token) == "grace@contoso.com"


def test_without_offline_access_there_is_nothing_to_refresh_with(microsoft_fake):
    client = MicrosoftClient(microsoft_fake.client_config(scopes=("User.Read", "Calendars.ReadWrite")))
    token = connect(client)
    assert token.refresh_token is None
    with pytest.raises(GrantRevoked):
        client.refresh(token)


def test_refresh_sends_the_scopes_and_takes_the_new_refresh_token(graph, microsoft_fake):
    client, token = graph
    assert needs_refresh(token, token.expires_at - timedelta(minutes=5))
    renewed = client.refresh(token)
    form = microsoft_fake.calls("POST", microsoft_fake.token_path)[-1].form
    assert form["grant_type"] == "refresh_token" and "Calendars.ReadWrite" in form["scope"].split()
    assert renewed.refresh_token and renewed.refresh_token != token.refresh_token
    assert client.list_calendars(renewed.access_token)


def test_revoked_consent_is_grant_revoked(graph, microsoft_fake):
    client, token = graph
    microsoft_fake.revoke_grants()
    with pytest.raises(GrantRevoked) as caught:
        client.refresh(token)
    assert "AADSTS70000" in str(caught.value)
    assert client.revoke(token.refresh_token) is False        # Microsoft has no per-grant revocation


def test_list_calendars_follows_next_links(graph, microsoft_fake):
    client, token = graph
    microsoft_fake.max_page_size = 1
    calendars = client.list_calendars(token.access_token)
    assert [(c.id, c.primary, c.writable) for c in calendars] == [("AAMkCal1", True, True),
                                                                  ("AAMkCal2", False, False)]
    assert len(microsoft_fake.calls("GET", "/v1.0/me/calendars")) == 2


def test_busy_times_from_calendar_view_skip_free_and_cancelled(graph, microsoft_fake):
    client, token = graph
    microsoft_fake.add_event("AAMkCal1", T9, T9 + HOUR)
    microsoft_fake.add_event("AAMkCal1", T9 + HOUR, T9 + 2 * HOUR, showAs="tentative")
    microsoft_fake.add_event("AAMkCal1", T9 + 2 * HOUR, T9 + 3 * HOUR, showAs="free")
    microsoft_fake.add_event("AAMkCal1", T9 + 3 * HOUR, T9 + 4 * HOUR, showAs="workingElsewhere")
    microsoft_fake.add_event("AAMkCal1", T9 + 4 * HOUR, T9 + 5 * HOUR, isCancelled=True)
    microsoft_fake.add_event("AAMkCal2", T9 + 5 * HOUR, T9 + 6 * HOUR, showAs="oof")
    microsoft_fake.add_event("AAMkCal2", T9 + 40 * HOUR, T9 + 41 * HOUR)
    microsoft_fake.max_page_size = 2                            # forces @odata.nextLink paging
    busy = client.busy_times(token.access_token, ["AAMkCal1", "AAMkCal2", "AAMkGone"], T9, T9 + 12 * HOUR)
    assert busy.intervals == [(ts(T9), ts(T9 + HOUR)), (ts(T9 + HOUR), ts(T9 + 2 * HOUR)),
                              (ts(T9 + 5 * HOUR), ts(T9 + 6 * HOUR))]
    assert busy.errors == {"AAMkGone": "ErrorItemNotFound"}
    views = microsoft_fake.calls("GET", "/v1.0/me/calendars/AAMkCal1/calendarView")
    assert len(views) == 3
    assert views[0].args["startDateTime"] == "2026-03-10T09:00:00Z"
    assert views[0].headers["Prefer"] == 'outlook.timezone="UTC"'


def test_all_day_events_block_the_hosts_local_day(graph, microsoft_fake):
    client, token = graph
    day = datetime(2026, 3, 11, tzinfo=UTC)
    microsoft_fake.add_event("AAMkCal1", day, day + timedelta(days=1), isAllDay=True)
    window = (T9, T9 + timedelta(days=3))
    assert client.busy_times(token.access_token, ["AAMkCal1"], *window).intervals == \
        [(ts(day), ts(day + timedelta(days=1)))]
    berlin = client.busy_times(token.access_token, ["AAMkCal1"], *window, all_day_tz=ZoneInfo("Europe/Berlin"))
    assert berlin.intervals == [(ts(day - HOUR), ts(day + timedelta(days=1) - HOUR))]


def test_graph_times_in_a_named_zone_are_read_as_that_zone():
    berlin = _instant({"dateTime": "2026-03-10T10:00:00.0000000", "timeZone": "Europe/Berlin"})
    assert berlin == ts(T9)
    with pytest.raises(PermanentError):
        _instant({"dateTime": "2026-03-10T10:00:00.0000000", "timeZone": "Mars/Olympus"})


def test_get_schedule_reads_busy_items_and_reports_unknown_mailboxes(graph, microsoft_fake):
    client, token = graph
    microsoft_fake.add_event("AAMkCal1", T9, T9 + HOUR)
    microsoft_fake.add_event("AAMkCal1", T9 + HOUR, T9 + 2 * HOUR, showAs="free")
    busy = client.get_schedule(token.access_token, ["grace@contoso.com", "nobody@contoso.com"], T9 - HOUR,
                               T9 + 8 * HOUR)
    assert busy.intervals == [(ts(T9), ts(T9 + HOUR))]
    assert busy.errors == {"nobody@contoso.com": "ErrorMailboxNotConnected"}
    sent = microsoft_fake.calls("POST", "/v1.0/me/calendar/getSchedule")[0].json
    assert sent["startTime"] == {"dateTime": "2026-03-10T08:00:00", "timeZone": "UTC"}
    assert sent["availabilityViewInterval"] == 30


def test_teams_event_asks_for_an_online_meeting_and_reads_the_join_url(graph, microsoft_fake):
    client, token = graph
    event = _book(client, token, teams=True, transaction_id="booking-1")
    sent = microsoft_fake.calls("POST", "/v1.0/me/calendars/AAMkCal1/events")[0].json
    assert sent["isOnlineMeeting"] is True and sent["onlineMeetingProvider"] == "teamsForBusiness"
    assert sent["start"] == {"dateTime": "2026-03-10T09:00:00", "timeZone": "UTC"}
    assert sent["attendees"] == [{"emailAddress": {"address": "bo@example.org", "name": "Bo"}, "type": "required"}]
    assert sent["body"] == {"contentType": "text", "content": "Booked with LinkTime"}
    assert sent["location"] == {"displayName": "Microsoft Teams"} and sent["transactionId"] == "booking-1"
    assert event.meeting_url.startswith("https://teams.microsoft.com/l/meetup-join/")
    assert event.html_link and microsoft_fake.events[event.id]["_calendar"] == "AAMkCal1"


def test_teams_link_not_yet_in_the_answer_is_read_again(graph, microsoft_fake):
    client, token = graph
    microsoft_fake.teams_delayed = True
    event = _book(client, token, teams=True)
    assert event.meeting_url.startswith("https://teams.microsoft.com/")
    assert len(microsoft_fake.calls("GET", f"/v1.0/me/events/{event.id}")) == 1


def test_account_without_teams_gets_the_event_without_a_link(graph, microsoft_fake):
    client, token = graph
    microsoft_fake.teams_available = False
    event = _book(client, token, teams=True)
    assert event.meeting_url is None and event.id in microsoft_fake.events


def test_default_calendar_and_transaction_id_make_a_retry_harmless(graph, microsoft_fake):
    client, token = graph
    first = _book(client, token, calendar_id=None, transaction_id="booking-7")
    again = _book(client, token, calendar_id=None, transaction_id="booking-7")
    assert first.id == again.id and len(microsoft_fake.events) == 1
    assert microsoft_fake.calls("POST", "/v1.0/me/events")


def test_reschedule_patches_and_cancel_deletes(graph, microsoft_fake):
    client, token = graph
    event = _book(client, token, teams=True)
    moved = client.update_event(token.access_token, event.id, start=T9 + HOUR, end=T9 + HOUR + timedelta(minutes=30))
    assert set(microsoft_fake.calls("PATCH")[-1].json) == {"start", "end"}
    assert moved.meeting_url == event.meeting_url
    busy = client.busy_times(token.access_token, ["AAMkCal1"], T9, T9 + 3 * HOUR)
    assert busy.intervals == [(ts(T9 + HOUR), ts(T9 + HOUR + timedelta(minutes=30)))]
    assert client.delete_event(token.access_token, event.id) is True
    assert client.delete_event(token.access_token, event.id) is False
    with pytest.raises(NotFound):
        client.get_event(token.access_token, event.id)


def test_errors_are_classified(graph, microsoft_fake):
    client, token = graph
    microsoft_fake.fail(503, path="/v1.0/me/calendars")
    with pytest.raises(TransientError):
        client.list_calendars(token.access_token)
    microsoft_fake.fail(429, path="/v1.0/me/calendars", headers={"Retry-After": "3"})
    with pytest.raises(TransientError) as caught:
        client.list_calendars(token.access_token)
    assert caught.value.retry_after == 3 and caught.value.code == "TooManyRequests"
    slow = MicrosoftClient(microsoft_fake.client_config(timeout=0.3))
    microsoft_fake.slow(1.5, path="/v1.0/me/events")
    with pytest.raises(TransientError):
        _book(slow, token, calendar_id=None)
    microsoft_fake.expire_access_tokens()
    with pytest.raises(Unauthorized) as caught:
        client.get_email(token.access_token)
    assert caught.value.code == "InvalidAuthenticationToken"


def test_fake_refuses_unknown_properties_missing_windows_and_wrong_methods(graph, microsoft_fake):
    _, token = graph
    api = microsoft_fake.url + "/v1.0"
    auth = {"Authorization": f"Bearer {token.access_token}"}
    event = {"subject": "x", "start": {"dateTime": "2026-03-10T09:00:00", "timeZone": "UTC"},
             "end": {"dateTime": "2026-03-10T10:00:00", "timeZone": "UTC"}, "teams": True}
    answer = requests.post(api + "/me/events", headers=auth, json=event, timeout=5)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "RequestBodyRead"
    del event["teams"], event["end"]["timeZone"]
    assert requests.post(api + "/me/events", headers=auth, json=event, timeout=5).status_code == 400
    assert requests.get(api + "/me/calendars/AAMkCal1/calendarView", headers=auth, timeout=5).status_code == 400
    assert requests.delete(api + "/me/calendars", headers=auth, timeout=5).status_code == 405
    assert requests.get(api + "/me/calendar/getSchedule", headers=auth, timeout=5).status_code == 405
    assert requests.get(api + "/me", timeout=5).status_code == 401
    refresh = {"grant_type": "refresh_token", "refresh_token": token.refresh_token,
               "client_id": microsoft_fake.client_id, "client_secret": microsoft_fake.client_secret}
    answer = requests.post(microsoft_fake.url + microsoft_fake.token_path, data=refresh, timeout=5)
    assert answer.status_code == 400 and "scope" in answer.json()["error_description"]


# --- standalone Teams meetings (onlineMeetings) ------------------------------------------------------------------
def _meet(client, token, **kwargs):
    args = {"subject": "Intro call with Bo", "start": T9, "end": T9 + HALF, **kwargs}
    return client.create_online_meeting(token.access_token, **args)


def test_online_meeting_is_created_with_utc_times_and_a_join_link(teams, microsoft_fake):
    client, token = teams
    meeting = _meet(client, token)
    sent = microsoft_fake.calls("POST", "/v1.0/me/onlineMeetings")
    assert len(sent) == 1 and not microsoft_fake.calls("POST", "/v1.0/me/onlineMeetings/createOrGet")
    assert sent[0].json == {"subject": "Intro call with Bo", "startDateTime": "2026-03-10T09:00:00Z",
                            "endDateTime": "2026-03-10T09:30:00Z"}
    assert meeting.join_url.startswith("https://teams.microsoft.com/l/meetup-join/")
    assert meeting.password is None and meeting.raw["subject"] == "Intro call with Bo"
    stored = microsoft_fake.online_meetings[meeting.id]
    assert stored["joinWebUrl"] == meeting.join_url and "externalId" not in stored
    assert parse_instant(stored["startDateTime"]) == T9 and parse_instant(stored["endDateTime"]) == T9 + HALF


def test_create_or_get_with_an_external_id_makes_a_retry_return_the_same_meeting(teams, microsoft_fake):
    client, token = teams
    berlin = T9.astimezone(ZoneInfo("Europe/Berlin"))
    first = _meet(client, token, start=berlin, end=berlin + HALF, external_id="booking-42")
    again = _meet(client, token, external_id="booking-42")
    other = _meet(client, token, external_id="booking-43")
    assert first.id == again.id and first.join_url == again.join_url and other.id != first.id
    assert len(microsoft_fake.online_meetings) == 2
    sent = microsoft_fake.calls("POST", "/v1.0/me/onlineMeetings/createOrGet")
    assert len(sent) == 3 and not microsoft_fake.calls("POST", "/v1.0/me/onlineMeetings")
    assert sent[0].json == {"subject": "Intro call with Bo", "startDateTime": "2026-03-10T09:00:00Z",
                            "endDateTime": "2026-03-10T09:30:00Z", "externalId": "booking-42"}
    assert first.raw["externalId"] == "booking-42"


def test_a_failed_create_or_get_is_safe_to_retry(teams, microsoft_fake):
    client, token = teams
    microsoft_fake.fail(503, path="/v1.0/me/onlineMeetings")
    with pytest.raises(TransientError):
        _meet(client, token, external_id="booking-9")
    assert microsoft_fake.online_meetings == {}
    meeting = _meet(client, token, external_id="booking-9")
    assert list(microsoft_fake.online_meetings) == [meeting.id]


def test_online_meeting_update_moves_the_times_and_keeps_the_link(teams, microsoft_fake):
    client, token = teams
    meeting = _meet(client, token)
    moved = client.update_online_meeting(token.access_token, meeting.id, start=T9 + HOUR, end=T9 + HOUR + HALF)
    patch = microsoft_fake.calls("PATCH")[-1]
    assert patch.path == f"/v1.0/me/onlineMeetings/{meeting.id}"
    assert patch.json == {"startDateTime": "2026-03-10T10:00:00Z", "endDateTime": "2026-03-10T10:30:00Z"}
    assert moved.id == meeting.id and moved.join_url == meeting.join_url
    assert parse_instant(moved.raw["startDateTime"]) == T9 + HOUR
    assert parse_instant(microsoft_fake.online_meetings[meeting.id]["endDateTime"]) == T9 + HOUR + HALF
    renamed = client.update_online_meeting(token.access_token, meeting.id, subject="Intro call (moved)")
    assert microsoft_fake.calls("PATCH")[-1].json == {"subject": "Intro call (moved)"}
    assert renamed.raw["subject"] == "Intro call (moved)" and parse_instant(renamed.raw["startDateTime"]) == T9 + HOUR
    with pytest.raises(ValueError):                 # Graph moves a meeting only with both times
        client.update_online_meeting(token.access_token, meeting.id, start=T9)


def test_online_meeting_delete_then_delete_again_is_false(teams, microsoft_fake):
    client, token = teams
    meeting = _meet(client, token)
    assert client.delete_online_meeting(token.access_token, meeting.id) is True
    assert microsoft_fake.online_meetings == {}
    assert client.delete_online_meeting(token.access_token, meeting.id) is False
    with pytest.raises(NotFound):
        client.update_online_meeting(token.access_token, meeting.id, subject="gone")


def test_online_meetings_need_the_online_meetings_scope(microsoft_fake):
    client = MicrosoftClient(microsoft_fake.client_config(scopes=("offline_access", "User.Read",
                                                                  "Calendars.ReadWrite")))
    token = connect(client)                         # a calendar grant without OnlineMeetings.ReadWrite
    with pytest.raises(PermanentError) as caught:
        _meet(client, token, external_id="booking-1")
    assert caught.value.status == 403
    assert microsoft_fake.online_meetings == {}
    auth = {"Authorization": f"Bearer {token.access_token}"}
    answer = requests.post(microsoft_fake.url + "/v1.0/me/onlineMeetings", headers=auth, timeout=5,
                           json={"subject": "x", "startDateTime": "2026-03-10T09:00:00Z",
                                 "endDateTime": "2026-03-10T10:00:00Z"})
    assert answer.status_code == 403 and set(answer.json()["error"]) == {"code", "message", "innerError"}


def test_account_without_teams_cannot_create_online_meetings(teams, microsoft_fake):
    client, token = teams
    microsoft_fake.teams_available = False
    for external_id in (None, "booking-5"):
        with pytest.raises(PermanentError) as caught:
            _meet(client, token, external_id=external_id)
        assert caught.value.status == 403 and caught.value.code == "Forbidden"
    assert microsoft_fake.online_meetings == {}


def test_online_meeting_answer_without_a_join_link_is_refused(teams, microsoft_fake):
    client, token = teams
    microsoft_fake.fail(201, path="/v1.0/me/onlineMeetings", body={"id": "MSoxKjAqKjE5"})
    with pytest.raises(PermanentError):
        _meet(client, token)
    legacy = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_legacy%40thread.v2/0"
    microsoft_fake.fail(201, path="/v1.0/me/onlineMeetings", body={"id": "MSoxKjAqKjE5", "joinUrl": legacy})
    assert _meet(client, token).join_url == legacy


def test_fake_refuses_malformed_online_meeting_requests(teams, microsoft_fake):
    _, token = teams
    api = microsoft_fake.url + "/v1.0/me/onlineMeetings"
    auth = {"Authorization": f"Bearer {token.access_token}"}
    good = {"subject": "x", "startDateTime": "2026-03-10T09:00:00Z", "endDateTime": "2026-03-10T10:00:00Z"}

    def post(path="", **body):
        return requests.post(api + path, headers=auth, json=body, timeout=5)

    answer = post(**good, isBroadcast=True)
    assert answer.status_code == 400 and "isBroadcast" in answer.json()["error"]["message"]
    assert set(answer.json()["error"]) == {"code", "message", "innerError"}
    assert post(**good, externalId="e-1").status_code == 400          # externalId only with createOrGet
    assert post(subject="x", startDateTime="2026-03-10T09:00:00Z").status_code == 400
    assert post(subject="x", endDateTime="2026-03-10T10:00:00Z").status_code == 400
    assert post(**{**good, "endDateTime": good["startDateTime"]}).status_code == 400
    assert post(**{**good, "endDateTime": "2026-03-10T08:00:00Z"}).status_code == 400
    assert post(**{**good, "subject": 7}).status_code == 400
    assert post(**{**good, "startDateTime": 1773133200}).status_code == 400
    assert post(**{**good, "startDateTime": "tomorrow"}).status_code == 400
    assert post(**{**good, "startDateTime": "2026-03-10T09:00:00"}).status_code == 400   # no offset
    assert requests.post(api, headers=auth, data="subject=x", timeout=5).status_code == 400
    assert post("/createOrGet", **good).status_code == 400                               # no externalId
    assert post("/createOrGet", **good, externalId=42).status_code == 400
    assert requests.post(api, json=good, timeout=5).status_code == 401
    assert microsoft_fake.online_meetings == {}

    created = post("/createOrGet", **good, externalId="e-1")
    assert created.status_code == 201
    meeting = created.json()
    assert {"id", "joinWebUrl", "subject", "startDateTime", "endDateTime", "externalId",
            "creationDateTime"} <= set(meeting)
    assert post("/createOrGet", **good, externalId="e-1").json()["id"] == meeting["id"]
    assert post("/createOrGet", **good, externalId="e-1").status_code == 200
    assert post(**good).status_code == 201 and len(microsoft_fake.online_meetings) == 2

    url = f"{api}/{meeting['id']}"
    assert requests.get(url, headers=auth, timeout=5).json()["joinWebUrl"] == meeting["joinWebUrl"]
    for body in ({"startDateTime": "2026-03-10T11:00:00Z"}, {"externalId": "e-2"}, {"subject": None, "x": 1},
                 {"startDateTime": "2026-03-10T11:00:00Z", "endDateTime": "2026-03-10T10:00:00Z"}):
        assert requests.patch(url, headers=auth, json=body, timeout=5).status_code == 400, body
    assert requests.put(url, headers=auth, json=good, timeout=5).status_code == 405
    assert requests.patch(f"{api}/MSpub25l", headers=auth, json={"subject": "y"}, timeout=5).status_code == 404
    assert microsoft_fake.online_meetings[meeting["id"]]["startDateTime"] == "2026-03-10T09:00:00.0000000Z"
