"""The booking's video link in the host's calendar event, for every video service and every kind of destination
calendar (Google Calendar, Outlook Calendar, a Radicale CalDAV calendar), and a Google Meet link in everything
the booking sends out (the emails' .ics, the booking.created webhook, the reminder, the invitee's booking page)."""
from __future__ import annotations

import base64
import json
from contextlib import ExitStack
from datetime import timedelta
from types import SimpleNamespace

import pytest
from icalendar import Calendar

from app.models import (
    Booking,
    BookingCalendarEvent,
    BookingMeeting,
    OutboxMessage,
    Webhook,
)
from app.services import outbox
from app.services.booking import bookings as svc
from app.services.booking import notifications
from app.services.integrations import calendars, meetings
from tests.fakes.google import GoogleFake
from tests.fakes.microsoft import MicrosoftFake
from tests.web import test_google_calendar as g
from tests.web import test_outlook_calendar as o
from tests.web import test_video_meetings as v
from tests.web.conftest import data

NOW, SLOT = v.NOW, v.SLOT
APP_PASSWORD = "app-pass-1234"                 # the Radicale fixture's user "alice"
VIDEOS = ("zoom", "teams", "webex")
DESTINATIONS = ("google", "outlook", "caldav")
JOIN_URL = {"zoom": "join_url", "webex": "webLink", "teams": "joinWebUrl"}


@pytest.fixture(params=[(video, dest) for video in VIDEOS for dest in DESTINATIONS], ids=lambda c: "-to-".join(c))
def combo(request) -> tuple[str, str]:
    """(video location, destination calendar); the Meet tests below parametrize it themselves."""
    return request.param


@pytest.fixture
def servers(request, combo):
    video, destination = combo
    with ExitStack() as stack:
        found = SimpleNamespace(video=None, calendar=None, work=None)
        microsoft = None
        if video == "teams" or destination == "outlook":     # one Microsoft account serves Teams and Outlook
            microsoft = stack.enter_context(MicrosoftFake(email=o.EMAIL, redirect_uris=(v.callback("teams"),
                                                                                         o.CALLBACK)))
        google = None
        if video == "google_meet" or destination == "google":
            google = stack.enter_context(GoogleFake(email=g.EMAIL, redirect_uris=(g.CALLBACK,)))
        if video == "teams":
            found.video = microsoft
        elif video == "google_meet":
            found.video = google
        else:
            found.video = stack.enter_context(v.FAKES[video](redirect_uris=(v.callback(video),)))
        if destination == "google":
            found.calendar = google
        elif destination == "outlook":
            found.calendar = microsoft
        else:
            found.calendar = request.getfixturevalue("radicale")
            found.work = found.calendar.make_calendar("Work")
        yield found


@pytest.fixture
def app(app_factory, combo, servers):
    video, destination = combo
    settings = {} if video == "google_meet" else v.settings_for(video, servers.video)
    if destination == "google":
        settings.update(g._settings(servers.calendar))
    elif destination == "outlook":
        settings.update(o._settings(servers.calendar))
    return app_factory(BASE_URL=v.BASE, **settings)


def connect(host, combo, servers) -> None:
    """The destination calendar first (it receives the bookings), then the video service."""
    video, destination = combo
    if destination == "google":
        g.connect_service(host)
    elif destination == "outlook":
        o.connect_service(host)
    else:
        calendars.connect_caldav(host, server_url=servers.calendar.url, username="alice", password=APP_PASSWORD)
    if video != "google_meet":
        v.connect_service(host, video)
    assert video in meetings.available_locations(host)


def calendar_event(destination: str, servers) -> dict:
    """The one event in the destination calendar as {location, description, url}."""
    if destination == "google":
        [event] = servers.calendar.events[g.EMAIL].values()
        return {"location": event.get("location"), "description": event.get("description", ""), "url": None,
                "raw": event}
    if destination == "outlook":
        [event] = servers.calendar.events.values()
        assert event["_calendar"] == o.DEFAULT
        assert event["body"]["contentType"] == "text"
        return {"location": event["location"]["displayName"], "description": event["body"]["content"], "url": None,
                "raw": event}
    found = servers.calendar.events(servers.work)
    assert len(found) == 1, found
    [vevent] = Calendar.from_ical(next(iter(found.values()))).walk("VEVENT")
    return {"location": str(vevent.get("LOCATION", "")), "description": str(vevent.get("DESCRIPTION", "")),
            "url": str(vevent["URL"]) if "URL" in vevent else None, "raw": vevent}


def event_writes(destination: str, servers) -> tuple[int, int]:
    """(creates, updates) of the booking's event the calendar API received (Google and Outlook)."""
    fake = servers.calendar
    if destination == "google":
        return (len([c for c in fake.calls("POST") if c.path.endswith("/events")]),
                len([c for c in fake.calls("PATCH") if "/events/" in c.path]))
    return (len([c for c in fake.calls("POST") if c.path.endswith("/events")]),
            len([c for c in fake.calls("PATCH") if c.path.startswith("/v1.0/me/events/")]))


def assert_carries(event: dict, link: str, destination: str) -> None:
    assert event["location"] == link
    assert f"Join: {link}" in event["description"].splitlines()
    if destination == "caldav":
        assert event["url"] == link


# --- 4. the video link in the host's calendar event ---------------------------------------------------------
def test_calendar_event_waits_for_the_video_link_and_carries_it(app, host, combo, servers):
    video, destination = combo
    with data(app):
        connect(host, combo, servers)
        booking = svc.create_booking(v.video_event_type(host, video), v.request(), now=NOW).booking
        link = Booking.get_by_id(booking.id).meeting_link
        [meeting] = v.remote_meetings(video, servers.video).values()
        assert link and link == meeting[JOIN_URL[video]]
        assert_carries(calendar_event(destination, servers), link, destination)
        assert BookingCalendarEvent.get(BookingCalendarEvent.booking == booking)
        if destination != "caldav":
            assert event_writes(destination, servers) == (1, 0)      # written once, already with the link


def test_link_made_by_a_retry_is_written_into_the_calendar_event(app, host, combo, servers):
    video, destination = combo
    with data(app):
        connect(host, combo, servers)
        servers.video.fail(500, path=v.CREATE_PATH[video])
        booking = svc.create_booking(v.video_event_type(host, video), v.request(), now=NOW).booking
        assert Booking.get_by_id(booking.id).meeting_link is None
        before = calendar_event(destination, servers)                  # the event went out without a link
        assert before["location"] == v.NAMES[video] and "Join:" not in before["description"]

        [message] = v.meeting_rows()
        later = message.next_attempt_at + timedelta(seconds=1)
        assert outbox.process(message.id, max_attempts=8, retry_delay=60, now=later) == "done"
        link = Booking.get_by_id(booking.id).meeting_link
        assert link and BookingMeeting.get(BookingMeeting.booking == booking).status == "created"
        assert_carries(calendar_event(destination, servers), link, destination)
        if destination != "caldav":
            assert event_writes(destination, servers) == (1, 1)      # the same event, updated


# --- 5. a Google Meet link goes everywhere ------------------------------------------------------------------
@pytest.mark.parametrize("pending", [False, True], ids=["meet-ready", "meet-pending-on-insert"])
@pytest.mark.parametrize("combo", [("google_meet", "google")], indirect=True, ids=["google_meet"])
def test_google_meet_link_goes_into_the_ics_the_webhook_the_reminder_and_the_booking_page(
        app, client, host, combo, servers, pending):
    google = servers.video
    google.meet_pending = pending                # Google may report the conference as pending on insert
    with data(app):
        connect(host, combo, servers)
        Webhook.create(user=host, url="http://127.0.0.1:9/hook", events=["booking.created"],
                       secret=app.extensions["linktime_encryptor"].encrypt("whsec_test"))
        booking = svc.create_booking(v.video_event_type(host, "google_meet"), v.request(), now=NOW).booking
        booking = Booking.get_by_id(booking.id)
        link = booking.meeting_link
        [event] = google.events[g.EMAIL].values()
        assert link and link == event["hangoutLink"] and link.startswith("https://meet.google.com/")
        assert BookingMeeting.get(BookingMeeting.booking == booking).status == "created"
        reads = [c for c in google.calls("GET") if c.path.endswith(f"/events/{event['id']}")]
        assert len(reads) == (1 if pending else 0)          # a pending conference is read back once

        # both confirmations carry the link, in the text, the HTML and the .ics (URL and LOCATION)
        confirmations = [m for m in v.emails() if m["subject"].startswith(("Confirmed:", "New booking:"))]
        assert len(confirmations) == 2
        for mail in confirmations:
            assert link in mail["text"] and link in mail["html"]
            [ics] = [a for a in mail["attachments"] if a["filename"] == "invite.ics"]
            [vevent] = Calendar.from_ical(base64.b64decode(ics["data_b64"])).walk("VEVENT")
            assert str(vevent["URL"]) == link and str(vevent["LOCATION"]) == link

        # the booking.created webhook waited for the link
        [delivery] = [json.loads(m.payload) for m in OutboxMessage.select().where(OutboxMessage.kind == "webhook")]
        assert delivery["envelope"]["event"] == "booking.created"
        assert delivery["envelope"]["data"]["id"] == booking.id
        assert delivery["envelope"]["data"]["meetingLink"] == link
        token = notifications.link_token(booking)

    page = client.get(f"/booking/{token}").get_data(as_text=True)
    assert link in page

    with data(app):                              # the reminder a day before carries it too
        assert notifications.send_due_reminders(now=SLOT - timedelta(hours=23)) == 1
        [reminder] = [m for m in v.emails() if m["subject"].startswith("Reminder:")]
        assert link in reminder["text"] and link in reminder["html"]
