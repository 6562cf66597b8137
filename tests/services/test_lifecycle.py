"""The booking lifecycle (steps first, then one READY per change) and the video provider registry."""
from __future__ import annotations

import ast
import inspect
import json
from datetime import UTC, datetime

import pytest

from app.db import transaction
from app.integrations import oauth
from app.integrations.errors import PermanentError
from app.integrations.oauth import CalendarEvent, Meeting
from app.integrations.video import VIDEO_PROVIDERS, MeetingDetails
from app.models import Booking, EventType, OutboxMessage
from app.services import events
from app.services.booking import bookings, lifecycle
from app.services.developer import webhooks
from app.services.integrations import meetings
from tests.fakes.webhooks import ManualQueue

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
URL = "https://hooks.example.com/linktime"


@pytest.fixture
def host(make_user, db_conn):
    return make_user("lena", plan="PRO")


@pytest.fixture
def queue(monkeypatch):
    return ManualQueue(monkeypatch)


@pytest.fixture
def consumer(monkeypatch):
    """A new READY / UPDATED consumer, subscribed the way a module would (one ``events.subscribe`` line)."""
    calls: list[dict] = []
    monkeypatch.setattr(events, "SUBSCRIBERS", {name: list(fns) for name, fns in events.SUBSCRIBERS.items()})
    events.subscribe(lifecycle.READY, lifecycle.UPDATED)(lambda _message_id, payload: calls.append(payload))
    return calls


def book(host, start=SLOT):
    event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
    return bookings.create_booking(event_type, bookings.BookingRequest(
        start=start, invitee_name="Ivan Invitee", invitee_email="ivan@example.com", invitee_timezone="Europe/Berlin"),
        now=NOW).booking


def rows(kind):
    return [json.loads(m.payload) for m in OutboxMessage.select().where(OutboxMessage.kind == kind)
            .order_by(OutboxMessage.created_at)]


def event_row(name):
    return next(m for m in OutboxMessage.select().where(OutboxMessage.kind == "event")
                if json.loads(m.payload)["event"] == name)


def test_without_a_step_ready_runs_in_the_event_fan_out_and_webhooks_get_only_public_events(host, queue, consumer):
    webhook, _ = webhooks.create_webhook(host, URL, list(events.EVENT_NAMES))
    booking = book(host)
    queue.run_due(datetime.now(UTC), kinds=("event",))
    created = event_row("booking.created")
    assert [(c["event"], c["change"], c["eventId"], c["bookingId"]) for c in consumer] == [
        (lifecycle.READY, "booking.created", created.id, booking.id)]
    assert consumer[0]["envelope"] == json.loads(created.payload)
    assert rows("lifecycle") == []          # no extra row when nothing had to be waited for
    assert len(rows("email")) == 2          # the confirmation pair, in the same fan-out
    delivered = rows("webhook")
    assert sorted(r["envelope"]["event"] for r in delivered) == ["booking.created", "contact.created"]
    assert all(r["webhookId"] == webhook.id for r in delivered)
    assert next(r for r in delivered if r["envelope"]["event"] == "booking.created") == {
        "webhookId": webhook.id, "eventId": created.id, "envelope": json.loads(created.payload)}


def test_a_held_change_is_ready_once_the_step_is_done_with_its_facts(host, queue, consumer, monkeypatch):
    held: list[tuple[str, str]] = []

    def video(event_id, envelope, booking):
        held.append((event_id, envelope["event"]))
        return envelope["event"] == "booking.created"

    monkeypatch.setattr(lifecycle, "STEPS", [("video", video)])
    webhook, _ = webhooks.create_webhook(host, URL, ["booking.created"])
    booking = book(host)
    queue.run_due(datetime.now(UTC), kinds=("event",))
    created = event_row("booking.created")
    assert held == [(created.id, "booking.created")]
    assert (consumer, rows("email"), rows("webhook"), rows("lifecycle")) == ([], [], [], [])

    envelope = json.loads(created.payload)
    with_link = {**envelope, "data": {**envelope["data"], "meetingLink": "https://video.example.com/j/1"}}
    with transaction():
        lifecycle.step_done("video", Booking.get_by_id(booking.id), "booking.created", created.id, with_link,
                            calendarEventMade=True)
    assert consumer == []                   # an outbox row, fanned out by the queue
    assert queue.run_due(datetime.now(UTC), kinds=("lifecycle",)) == ["done"]
    assert [(c["change"], c["facts"], c["envelope"]) for c in consumer] == [
        ("booking.created", {"calendarEventMade": True}, with_link)]
    assert rows("webhook") == [{"webhookId": webhook.id, "eventId": created.id, "envelope": with_link}]
    assert len(rows("email")) == 2
    assert {m.kind for m in OutboxMessage.select()} == {"event", "lifecycle", "email", "webhook"}


def test_steps_run_in_order_and_ready_waits_for_the_last(host, queue, consumer, monkeypatch):
    order: list[str] = []

    def step(name):
        def run(event_id, envelope, booking):
            order.append(name)
            return True
        return run

    monkeypatch.setattr(lifecycle, "STEPS", [("payment", step("payment")), ("video", step("video"))])
    booking = book(host)
    queue.run_due(datetime.now(UTC), kinds=("event",))
    assert order == ["payment"]
    created = event_row("booking.created")
    envelope = json.loads(created.payload)
    with transaction():
        lifecycle.step_done("payment", Booking.get_by_id(booking.id), "booking.created", created.id, envelope)
    assert order == ["payment", "video"] and rows("lifecycle") == []
    with transaction():
        lifecycle.step_done("video", Booking.get_by_id(booking.id), "booking.created", created.id, envelope)
    queue.run_due(datetime.now(UTC), kinds=("lifecycle",))
    assert [c["change"] for c in consumer] == ["booking.created"]


def test_updates_after_ready_reach_consumers_but_never_webhooks(host, queue, consumer):
    webhooks.create_webhook(host, URL, list(events.EVENT_NAMES))
    booking = book(host)
    queue.run_due(datetime.now(UTC), kinds=("event", "webhook"))
    before = len(rows("webhook"))
    with transaction():
        lifecycle.updated(Booking.get_by_id(booking.id), lifecycle.LINK_ADDED)
    queue.run_due(datetime.now(UTC), kinds=("lifecycle",))
    assert [(c["event"], c["what"]) for c in consumer[-1:]] == [(lifecycle.UPDATED, lifecycle.LINK_ADDED)]
    assert len(rows("webhook")) == before
    assert len(rows("email")) == 4          # the confirmation pair, then the "link" pair
    assert not any(r["envelope"]["event"].startswith("lifecycle") for r in rows("webhook"))


# --- the video provider registry ---------------------------------------------------------------------------
def test_registry_keeps_the_locations_and_names_and_matches_the_oauth_providers():
    assert meetings.VIDEO_LOCATIONS == {"google_meet": "google", "zoom": "zoom", "teams": "teams", "webex": "webex"}
    assert meetings.LOCATION_NAMES == {"google_meet": "Google Meet", "zoom": "Zoom", "teams": "Microsoft Teams",
                                       "webex": "Webex"}
    for location, adapter in VIDEO_PROVIDERS.items():
        assert adapter.location == location
        assert location in oauth.PROVIDERS[adapter.connection].video_locations
        if adapter.in_calendar_event:
            assert adapter.calendar_name and adapter.no_calendar and adapter.not_in_calendar


def test_meetings_service_never_branches_on_a_provider_name():
    names = set(VIDEO_PROVIDERS) | {adapter.connection for adapter in VIDEO_PROVIDERS.values()}
    tree = ast.parse(inspect.getsource(meetings))
    literals = [node.value for node in ast.walk(tree)
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names]
    assert literals == []


class Recorder:
    """A provider client that records calls and answers what the test gives it."""

    def __init__(self, **answers):
        self.calls: list[tuple[str, tuple, dict]] = []
        self.answers = answers

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            answer = self.answers.get(name)
            return answer.pop(0) if isinstance(answer, list) else answer
        return call


DETAILS = MeetingDetails(key="bk1", topic="Intro with Ivan", start=SLOT, end=SLOT.replace(minute=45),
                         timezone="Europe/Berlin")


def test_adapters_turn_plain_details_into_their_clients_calls():
    meeting = Meeting(id="m1", join_url="https://video.example.com/j/1")
    zoom = Recorder(create_meeting=meeting)
    assert VIDEO_PROVIDERS["zoom"].create_meeting(zoom, "tok", DETAILS) == ("m1", "https://video.example.com/j/1")
    assert zoom.calls == [("create_meeting", ("tok",), {"topic": "Intro with Ivan", "start": SLOT,
                                                        "timezone": "Europe/Berlin", "duration_minutes": 45})]
    assert VIDEO_PROVIDERS["zoom"].update_meeting(zoom, "tok", "m1", DETAILS) is None
    teams = Recorder(create_online_meeting=meeting, update_online_meeting=meeting)
    VIDEO_PROVIDERS["teams"].create_meeting(teams, "tok", DETAILS)
    assert teams.calls[0][2]["external_id"] == "bk1"          # a repeated create answers the same meeting
    assert VIDEO_PROVIDERS["teams"].update_meeting(teams, "tok", "m1", DETAILS) == meeting.join_url
    webex = Recorder(delete_meeting=True)
    VIDEO_PROVIDERS["webex"].delete_meeting(webex, "tok", "m1")
    assert webex.calls == [("delete_meeting", ("tok", "m1"), {})]


def test_meet_adapter_asks_for_a_conference_only_when_the_event_has_none():
    meet = VIDEO_PROVIDERS["google_meet"]
    details = MeetingDetails(**{**DETAILS.__dict__, "calendar_id": "cal", "event_id": "ev"})
    bare = CalendarEvent(id="ev", calendar_id="cal", html_link=None, meeting_url=None)
    linked = CalendarEvent(id="ev", calendar_id="cal", html_link=None, meeting_url="https://meet.google.com/a-b-c")
    google = Recorder(get_event=[bare], add_meet=[linked])
    assert meet.create_meeting(google, "tok", details) == ("ev", "https://meet.google.com/a-b-c")
    assert [name for name, _, _ in google.calls] == ["get_event", "add_meet"]
    google = Recorder(get_event=[bare], add_meet=[bare])
    with pytest.raises(PermanentError, match="without a Meet link"):
        meet.create_meeting(google, "tok", details)
    untouched = Recorder()
    assert meet.update_meeting(untouched, "tok", "ev", details) is None
    meet.delete_meeting(untouched, "tok", "ev")
    assert untouched.calls == []            # the event carries the Meet: calendar_sync moves and deletes it


def test_a_fresh_app_process_subscribes_every_booking_consumer(tmp_path):
    """The consumers register on import: a new process (the web server, the queue consumer) that only builds the
    app must have all of them, not only those some other import happened to load (the calendar event did not)."""
    import subprocess
    import sys
    from pathlib import Path

    script = ("from app import create_app\n"
              "from app.services import events\n"
              "from app.services.booking import lifecycle\n"
              f"create_app({{'TESTING': True, 'INSTANCE_DIR': {str(tmp_path)!r}, "
              f"'DATABASE_URL': 'sqlite:///{tmp_path}/x.db'}})\n"
              "print(sorted(f.__module__ for f in events.SUBSCRIBERS.get(lifecycle.READY, [])))\n")
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                           cwd=str(Path(__file__).resolve().parents[2]))
    assert found.returncode == 0, found.stderr[-2000:]
    modules = set(ast.literal_eval(found.stdout.strip().splitlines()[-1]))
    assert {"app.services.booking.notifications", "app.services.developer.webhooks",
            "app.services.integrations.calendar_sync"} <= modules
