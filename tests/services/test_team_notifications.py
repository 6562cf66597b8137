"""A team booking belongs to every host attending it (issue 15): each gets the host's emails on their own clock
(read from real emails, an aiosmtpd server), the invitee's email and .ics name them all, and each host with a
CalDAV destination calendar (a real Radicale server, one account per host) gets the event, moved on a reschedule,
removed on a cancel, moved from the old host to the new one when a round-robin reschedule reassigns it, and never
written twice by a retried sync."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from app.models import Booking, BookingCalendarEvent, EventType, Integration, IntegrationCalendar, OutboxMessage, User
from app.services.booking import bookings as svc
from app.services.integrations import calendar_sync, calendars
from tests import factories

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)           # a Monday
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)          # Tuesday 16:00 Berlin = 10:00 New York
PASSWORDS = {"olga": "olga-pass-1234", "adam": "adam-pass-1234", "mia": "mia-pass-1234"}


def book(event_type, start=SLOT, **extra):
    request = factories.booking_request(start, timezone="Asia/Tokyo", invitee_hour12=True, **extra)
    return svc.create_booking(EventType.get_by_id(event_type.id), request, now=NOW).booking


def bodies(msg) -> tuple[str, str]:
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    return text, msg.get_body(("html",)).get_content().replace("\r\n", "\n")


def ics_of(msg):
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    return Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")[0]


def attendees(event) -> list[str]:
    found = event.get("ATTENDEE")
    return sorted(str(a) for a in (found if isinstance(found, list) else [found]))


# --- emails ------------------------------------------------------------------------------------------------------
@pytest.fixture
def mail_app(app_factory, smtp_server):
    from app.db import db
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    with app.app_context(), db.connection_context():
        yield app


@pytest.fixture
def panel(mail_app, make_user):
    olga = make_user("olga", timezone="Europe/Berlin")
    adam = make_user("adam", timezone="America/New_York")
    User.update(hour12=True).where(User.id == adam.id).execute()
    team = factories.team(olga, [adam])
    return olga, adam, factories.team_event_type(olga, team, [olga, adam], kind="collective", name="Panel")


def take(smtp_server, seen: int, count: int) -> dict:
    """The next ``count`` emails after the ``seen`` first, by recipient."""
    messages = smtp_server.wait_for(seen + count)[seen:seen + count]
    assert len(messages) == count, [m["To"] for m in messages]
    return {m["To"]: m for m in messages}


def test_every_host_gets_the_emails_on_their_own_clock_and_the_invitee_sees_them_all(panel, smtp_server):
    olga, adam, panel_type = panel
    booking = book(panel_type)
    assert booking.user_id == olga.id
    mails = take(smtp_server, 0, 3)
    assert set(mails) == {"ivan@example.com", "olga@example.com", "adam@example.com"}
    olga_text, _ = bodies(mails["olga@example.com"])
    adam_text, adam_html = bodies(mails["adam@example.com"])
    assert olga_text.startswith("Hello Olga,") and adam_text.startswith("Hello Adam,")
    assert "Tuesday, 2 June 2026 · 16:00 – 16:30 (Berlin time / Europe/Berlin)" in olga_text
    assert "Tuesday, 2 June 2026 · 10:00am – 10:30am (New York time / America/New York)" in adam_text
    assert "Who: Olga, Adam and Ivan Invitee <ivan@example.com>" in adam_text
    assert "Olga, Adam and Ivan Invitee" in adam_html
    assert mails["adam@example.com"]["Subject"] == "New booking: Panel with Ivan Invitee"
    assert mails["adam@example.com"]["Reply-To"] == "ivan@example.com"

    invitee = mails["ivan@example.com"]
    assert invitee["Subject"] == "Confirmed: Panel with Olga and Adam"
    text, _ = bodies(invitee)
    assert "Who: Olga, Adam and Ivan Invitee" in text
    assert "Tuesday, 2 June 2026 · 11:00pm – 11:30pm (Tokyo time / Asia/Tokyo)" in text
    event = ics_of(invitee)
    assert str(event["ORGANIZER"]) == "mailto:olga@example.com"
    assert attendees(event) == ["mailto:adam@example.com", "mailto:ivan@example.com"]
    assert str(event["UID"]) == f"{booking.id}@linktime"

    moved = svc.reschedule_booking(booking, SLOT + timedelta(minutes=30), reason=None, by="invitee", now=NOW)
    mails = take(smtp_server, 3, 3)
    assert set(mails) == {"ivan@example.com", "olga@example.com", "adam@example.com"}
    assert "10:30am – 11:00am (New York time" in bodies(mails["adam@example.com"])[0]
    assert "16:30 – 17:00 (Berlin time" in bodies(mails["olga@example.com"])[0]
    assert int(ics_of(mails["ivan@example.com"])["SEQUENCE"]) == 1

    svc.cancel_booking(moved, reason="ill", by="invitee")
    mails = take(smtp_server, 6, 3)
    assert {to: m["Subject"] for to, m in mails.items()} == {
        "ivan@example.com": "Cancelled: Panel with Olga and Adam",
        "olga@example.com": "Cancelled: Panel with Ivan Invitee",
        "adam@example.com": "Cancelled: Panel with Ivan Invitee"}
    cancel = ics_of(mails["ivan@example.com"])
    assert str(cancel["STATUS"]) == "CANCELLED"
    assert attendees(cancel) == ["mailto:adam@example.com", "mailto:ivan@example.com"]


def test_round_robin_emails_the_fixed_host_and_the_assigned_one_only(mail_app, make_user, smtp_server):
    olga = make_user("olga", timezone="Europe/Berlin")
    adam = make_user("adam", timezone="Europe/Berlin")
    mia = make_user("mia", timezone="Europe/Berlin")
    team = factories.team(olga, [adam, mia])
    demo = factories.team_event_type(olga, team, [adam, mia], fixed=[mia], name="Demo")
    booking = book(demo)
    assigned = Booking.get_by_id(booking.id).user
    assert assigned.id == adam.id
    mails = take(smtp_server, 0, 3)
    assert set(mails) == {"ivan@example.com", "adam@example.com", "mia@example.com"}
    assert "olga@example.com" not in [m["To"] for m in smtp_server.messages]
    assert str(ics_of(mails["ivan@example.com"])["ORGANIZER"]) == "mailto:adam@example.com"


def test_a_personal_booking_still_emails_its_one_host(mail_app, make_user, smtp_server):
    hana = make_user("hana", timezone="Europe/Berlin")
    book(factories.event_type(hana))
    mails = take(smtp_server, 0, 2)
    assert set(mails) == {"ivan@example.com", "hana@example.com"}
    assert mails["ivan@example.com"]["Subject"].endswith(" with Hana")
    assert "Who: Hana and Ivan Invitee" in bodies(mails["hana@example.com"])[0]
    assert attendees(ics_of(mails["ivan@example.com"])) == ["mailto:ivan@example.com"]


# --- calendars ---------------------------------------------------------------------------------------------------
@pytest.fixture
def radicale_hosts(tmp_path):
    """A Radicale server with one account per host."""
    from tests.fakes.radicale_server import RadicaleServer

    server = RadicaleServer(tmp_path / "radicale", users=dict(PASSWORDS)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hosts(make_user, db_conn, radicale_hosts):
    """Olga, Adam and Mia in Berlin, each with a CalDAV account whose "Work" calendar is the destination."""
    people, work = {}, {}
    for name in PASSWORDS:
        people[name] = make_user(name, timezone="Europe/Berlin")
        work[name] = radicale_hosts.make_calendar("Work", user=name)
        calendars.connect_caldav(people[name], server_url=radicale_hosts.url, username=name,
                                 password=PASSWORDS[name])
        assert IntegrationCalendar.get((IntegrationCalendar.user == people[name].id)
                                       & IntegrationCalendar.is_destination).remote_id == work[name]
    return people, work


def events_of(radicale, calendar_url, user) -> list:
    return [Calendar.from_ical(text).walk("VEVENT")[0] for text in radicale.events(calendar_url, user=user).values()]


def one_event(radicale, calendar_url, user):
    found = events_of(radicale, calendar_url, user)
    assert len(found) == 1, found
    return found[0]


def mappings(booking) -> dict[str, BookingCalendarEvent]:
    rows = BookingCalendarEvent.select(BookingCalendarEvent, Integration).join(Integration).where(
        BookingCalendarEvent.booking == booking.id)
    return {row.integration.user_id: row for row in rows}


def test_each_host_gets_the_event_reschedule_moves_both_and_cancel_removes_both(hosts, radicale_hosts):
    people, work = hosts
    olga, adam = people["olga"], people["adam"]
    team = factories.team(olga, [adam])
    panel_type = factories.team_event_type(olga, team, [olga, adam], kind="collective", name="Panel",
                                           location_type="custom_link",
                                           location_detail="https://meet.example.com/panel")
    booking = book(panel_type)
    for name in ("olga", "adam"):
        event = one_event(radicale_hosts, work[name], name)
        assert event["DTSTART"].dt == SLOT and str(event["UID"]) == f"{booking.id}@linktime"
        assert str(event["ORGANIZER"]) == "mailto:olga@example.com"
        assert attendees(event) == ["mailto:adam@example.com", "mailto:ivan@example.com"]
        assert str(event["LOCATION"]) == "https://meet.example.com/panel"     # the same place for every host
        assert "Hosts: Olga, Adam" in str(event["DESCRIPTION"])
    assert radicale_hosts.events(work["mia"], user="mia") == {}           # not a host of this booking
    assert set(mappings(booking)) == {olga.id, adam.id}

    moved = svc.reschedule_booking(booking, SLOT + timedelta(minutes=30), reason=None, by="host", now=NOW)
    for name in ("olga", "adam"):
        event = one_event(radicale_hosts, work[name], name)
        assert event["DTSTART"].dt == SLOT + timedelta(minutes=30) and int(event["SEQUENCE"]) == 1

    svc.cancel_booking(moved, reason=None, by="host")
    assert radicale_hosts.events(work["olga"], user="olga") == {}
    assert radicale_hosts.events(work["adam"], user="adam") == {}
    assert BookingCalendarEvent.select().count() == 0


def test_a_retried_sync_never_writes_a_second_event(hosts, radicale_hosts):
    people, work = hosts
    olga, adam = people["olga"], people["adam"]
    team = factories.team(olga, [adam])
    booking = book(factories.team_event_type(olga, team, [olga, adam], kind="collective", name="Panel"))
    rows = OutboxMessage.select().where(OutboxMessage.kind == "calendar_sync")
    assert sorted(row.user_id for row in rows) == sorted([olga.id, adam.id])     # one row per host
    before = mappings(booking)

    # the same rows run again (a retry after a lost acknowledgement)
    calendar_sync.sync_booking({"booking_id": booking.id, "user_id": adam.id})
    calendar_sync.sync_booking({"booking_id": booking.id})          # a row from before team bookings: every host
    # a retry after the event was written but before it was recorded: the same event is found, not a second one
    before[adam.id].delete_instance()
    calendar_sync.sync_booking({"booking_id": booking.id, "user_id": adam.id})
    # two attempts recording the same event at once: one row stays
    integration = Integration.get(Integration.user == adam.id)
    calendar = IntegrationCalendar.get((IntegrationCalendar.user == adam.id) & IntegrationCalendar.is_destination)
    calendar_sync.create_remote_event(Booking.get_by_id(booking.id), integration, calendar, host=adam)

    for name in ("olga", "adam"):
        assert one_event(radicale_hosts, work[name], name)["DTSTART"].dt == SLOT
    after = mappings(booking)
    assert set(after) == {olga.id, adam.id} and BookingCalendarEvent.select().count() == 2
    assert after[olga.id].id == before[olga.id].id
    assert after[adam.id].href == before[adam.id].href


def test_round_robin_reassignment_moves_the_event_to_the_new_hosts_calendar(hosts, radicale_hosts):
    people, work = hosts
    olga, adam, mia = people["olga"], people["adam"], people["mia"]
    team = factories.team(olga, [adam, mia])
    demo = factories.team_event_type(olga, team, [adam, mia], name="Demo")
    booking = book(demo)
    first = booking.user_id
    first_name, other_name = ("adam", "mia") if first == adam.id else ("mia", "adam")
    assert one_event(radicale_hosts, work[first_name], first_name)["DTSTART"].dt == SLOT
    assert radicale_hosts.events(work[other_name], user=other_name) == {}

    later = SLOT - timedelta(hours=2)                   # 14:00 Berlin
    factories.booking(factories.event_type(people[first_name]), later, now=NOW)   # the host is busy then
    moved = svc.reschedule_booking(booking, later, reason=None, by="invitee", now=NOW)
    assert moved.user_id == people[other_name].id
    left = events_of(radicale_hosts, work[first_name], first_name)       # only the host's own booking then
    assert [str(e["UID"]) for e in left] != [] and f"{booking.id}@linktime" not in [str(e["UID"]) for e in left]
    assert one_event(radicale_hosts, work[other_name], other_name)["DTSTART"].dt == later
    assert set(mappings(booking)) == {people[other_name].id}


def test_one_meeting_link_from_the_organizers_connection_reaches_every_hosts_event(hosts, radicale_hosts,
                                                                                   monkeypatch):
    from app.models import BookingMeeting
    from app.services.integrations import meetings

    people, work = hosts
    olga, adam = people["olga"], people["adam"]
    team = factories.team(olga, [adam])
    panel_type = factories.team_event_type(olga, team, [olga, adam], kind="collective", name="Panel")
    EventType.update(location_type="zoom").where(EventType.id == panel_type.id).execute()
    zooms = {person.id: factories.connection(person, provider="zoom", label="Zoom", credentials={"token": "t"})
             for person in (olga, adam)}
    asked: list[str] = []

    def connection(user_id, location):
        asked.append(user_id)
        return zooms[user_id]

    link = "https://video.example.com/j/42"
    monkeypatch.setattr(meetings, "connection", connection)
    monkeypatch.setattr(meetings, "_client", lambda provider: None)
    monkeypatch.setattr(meetings, "_call", lambda integration, fn: ("m42", link))
    booking = book(panel_type)
    assert asked == [olga.id]                                        # one meeting, the organizer's
    assert Booking.get_by_id(booking.id).meeting_link == link
    assert BookingMeeting.get(BookingMeeting.booking == booking.id).integration_id == zooms[olga.id].id
    for name in ("olga", "adam"):
        event = one_event(radicale_hosts, work[name], name)
        assert str(event["LOCATION"]) == link and f"Join: {link}" in str(event["DESCRIPTION"])


def test_a_meet_made_in_the_organizers_event_leaves_the_other_hosts_events_to_calendar_sync(hosts, radicale_hosts):
    from app.services.booking import lifecycle

    people, work = hosts
    olga, adam = people["olga"], people["adam"]
    team = factories.team(olga, [adam])
    booking = book(factories.team_event_type(olga, team, [olga, adam], kind="collective", name="Panel"))
    before = {user_id: OutboxMessage.select().where((OutboxMessage.kind == "calendar_sync")
                                                    & (OutboxMessage.user_id == user_id)).count()
              for user_id in (olga.id, adam.id)}
    calendar_sync._queue_sync("m", {"event": lifecycle.READY, "change": "booking.created", "bookingId": booking.id,
                                    "facts": {"calendarEventMade": True}})
    after = {user_id: OutboxMessage.select().where((OutboxMessage.kind == "calendar_sync")
                                                   & (OutboxMessage.user_id == user_id)).count()
             for user_id in (olga.id, adam.id)}
    assert after == {olga.id: before[olga.id], adam.id: before[adam.id] + 1}
    assert one_event(radicale_hosts, work["adam"], "adam")["DTSTART"].dt == SLOT
