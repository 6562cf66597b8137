"""Booking emails: confirmation, cancellation, reschedule and reminders, each with an iCalendar part.

The booking lifecycle's READY event (``app.services.booking.lifecycle``, after the video link when there is one) queues
one email per recipient through the outbox; times are shown on each recipient's own clock (zone and 12/24 h,
``app.datetimes``). The ``.ics`` keeps one UID per booking and raises SEQUENCE on every change, so calendar programs
update the same event; beside it, the emails of a booking that stands carry add-to-calendar links
(``app.calendar_links``). The host's emails list the invitee's answers to the event type's questions; only the
rescheduled emails show the previous time.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from flask import current_app
from icalendar import Calendar, Event, vCalAddress, vText

from app.calendar_links import TARGETS, calendar_links
from app.datetimes import Clock, host_clock, invitee_clock
from app.models import Booking, Reminder, User
from app.models.base import utcnow
from app.services import events
from app.services.booking import lifecycle
from app.services.booking.bookings import add_activity, location_label
from app.services.mailer import queue_email

PRODID = "-//LinkTime//Scheduling//EN"


# --- invitee links: unguessable uid plus an HMAC so a link cannot be forged from a leaked id ----------------
def _sig(uid: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"booking-link:{uid}".encode(), hashlib.sha256).hexdigest()[:20]


def link_token(booking: Booking) -> str:
    return f"{booking.uid}.{_sig(booking.uid)}"


def booking_for_token(token: str) -> Booking | None:
    uid, _, sig = (token or "").rpartition(".")
    if not uid or not hmac.compare_digest(sig, _sig(uid)):
        return None
    return Booking.get_or_none(Booking.uid == uid)


def invitee_links(booking: Booking) -> dict[str, str]:
    base = current_app.config["BASE_URL"]
    token = link_token(booking)
    return {"view": f"{base}/booking/{token}", "cancel": f"{base}/booking/{token}/cancel",
            "reschedule": f"{base}/booking/{token}/reschedule"}


# --- iCalendar ---------------------------------------------------------------------------------------------
def ics_uid(booking: Booking) -> str:
    return f"{booking.id}@linktime"


def build_ics(booking: Booking, host: User, method: str) -> bytes:
    """METHOD:REQUEST for new and moved bookings, METHOD:CANCEL for cancelled ones."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    event = Event()
    event.add("uid", ics_uid(booking))
    event.add("sequence", booking.sequence)
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", booking.start_at)
    event.add("dtend", booking.end_at)
    event.add("summary", f"{booking.event_name} between {host.name} and {booking.invitee_name}")
    organizer = vCalAddress(f"mailto:{host.email}")
    organizer.params["cn"] = vText(host.name)
    event.add("organizer", organizer)
    attendee = vCalAddress(f"mailto:{booking.invitee_email}")
    attendee.params["cn"] = vText(booking.invitee_name)
    attendee.params["role"] = vText("REQ-PARTICIPANT")
    attendee.params["partstat"] = vText("ACCEPTED")
    attendee.params["rsvp"] = vText("FALSE")
    event.add("attendee", attendee)
    where = booking.meeting_link or location_label(booking)
    if where:
        event.add("location", where)
    if booking.meeting_link:
        event.add("url", booking.meeting_link)
    description = []
    if booking.notes:
        description.append(f"Notes: {booking.notes}")
    if method != "CANCEL":
        description.append(f"Reschedule or cancel: {invitee_links(booking)['view']}")
    elif booking.cancel_reason:
        description.append(f"Reason: {booking.cancel_reason}")
    if description:
        event.add("description", "\n".join(description))
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    cal.add_component(event)
    return cal.to_ical()


def booking_answers(booking: Booking) -> list[tuple[str, str]]:
    """The invitee's answers as ``(question label, answer)`` in the event type's question order (answers to
    questions since removed last, labelled with their id); a yes/no as "Yes"/"No", several choices joined with
    commas, empty answers left out."""
    questions = [q for q in (booking.event_type.questions if booking.event_type else None) or [] if q.get("id")]
    answers = dict(booking.answers or {})
    ordered = [(q["label"], answers.pop(q["id"])) for q in questions if q["id"] in answers]
    out = []
    for label, value in ordered + list(answers.items()):
        if isinstance(value, bool):
            value = "Yes" if value else "No"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if value not in ("", None, []):
            out.append((str(label), str(value)))
    return out


def _add_links(booking: Booking, host: User, for_host: bool, dashboard_link: str) -> list[tuple[str, str]]:
    """Add-to-calendar links as ``(label, url)``, titled and described for the recipient."""
    title = f"{booking.event_name} with {booking.invitee_name if for_host else host.name}"
    details = [f"Join: {booking.meeting_link}"] if booking.meeting_link else []
    details.append(f"Details: {dashboard_link}" if for_host else
                   f"Reschedule or cancel: {invitee_links(booking)['view']}")
    urls = calendar_links(booking.start_at, booking.end_at, title, "\n".join(details),
                          booking.meeting_link or location_label(booking))
    return [(label, urls[key]) for key, label in TARGETS]


def _context(booking: Booking, host: User, clock: Clock, *, kind: str = "reminder", for_host: bool = False) -> dict:
    """What a booking email shows; its times are on the recipient's ``clock`` (``|timerange`` and ``|datetime``
    in the templates): the invitee's (``invitee_clock``) or the host's (``host_clock``). ``previous``: the time
    a rescheduled booking had (rescheduled emails only); ``answers``: for the host; ``add_links``: while the
    booking stands."""
    dashboard_link = f"{current_app.config['BASE_URL']}/dashboard/bookings/{booking.id}"
    moved = kind == "rescheduled" and booking.previous_start_at is not None
    return {
        "booking": booking, "host": host, "clock": clock,
        "location": location_label(booking), "links": invitee_links(booking),
        "dashboard_link": dashboard_link,
        "minutes": int((booking.end_at - booking.start_at).total_seconds() // 60),
        "previous": (booking.previous_start_at, booking.previous_end_at) if moved else None,
        "answers": booking_answers(booking) if for_host else [],
        "add_links": [] if kind == "cancelled" else _add_links(booking, host, for_host, dashboard_link),
    }


def _send_pair(booking: Booking, kind: str, method: str, invitee_subject: str, host_subject: str) -> None:
    host = booking.user
    ics = build_ics(booking, host, method)
    attachment = [{"filename": "invite.ics" if method == "REQUEST" else "cancel.ics",
                   "content_type": f"text/calendar; method={method}", "data": ics}]
    queue_email(booking.invitee_email, invitee_subject, f"booking_{kind}_invitee", user_id=host.id,
                attachments=attachment, reply_to=host.email, booking_id=booking.id,
                **_context(booking, host, invitee_clock(booking), kind=kind))
    queue_email(host.email, host_subject, f"booking_{kind}_host", user_id=host.id, attachments=attachment,
                reply_to=booking.invitee_email, booking_id=booking.id,
                **_context(booking, host, host_clock(host), kind=kind, for_host=True))
    what = "Meeting link" if kind == "link_added" else kind.title()
    add_activity(booking.id, "email", f"{what} emails queued to {booking.invitee_email} and {host.email}")


@events.subscribe(lifecycle.READY, lifecycle.UPDATED)
def _on_lifecycle(_message_id: str, payload: dict) -> None:
    """The booking's change is ready (its video link is known, or could not be made) or a fact changed later."""
    booking = lifecycle.booking_of(payload)
    if booking is None:
        return
    if payload["event"] == lifecycle.UPDATED:
        if payload["what"] in (lifecycle.LINK_ADDED, lifecycle.LINK_REPLACED) and booking.status == "CONFIRMED":
            send_link_added(booking)
        return
    {"booking.created": _on_created, "booking.cancelled": _on_cancelled,
     "booking.rescheduled": _on_rescheduled}[payload["change"]](booking)


def _on_created(booking: Booking) -> None:
    if booking.status != "CONFIRMED":
        return  # cancelled before the confirmation went out: the cancellation email says it all
    send_confirmation(booking)


def send_confirmation(booking: Booking) -> None:
    _send_pair(booking, "confirmed", "REQUEST", f"Confirmed: {booking.event_name} with {booking.user.name}",
               f"New booking: {booking.event_name} with {booking.invitee_name}")


def send_link_added(booking: Booking) -> None:
    """The video link that could not be created with the confirmation exists now: tell both sides."""
    label = location_label(booking) or "meeting"
    _send_pair(booking, "link_added", "REQUEST", f"{label} link: {booking.event_name} with {booking.user.name}",
               f"{label} link created: {booking.event_name} with {booking.invitee_name}")


def _on_cancelled(booking: Booking) -> None:
    _send_pair(booking, "cancelled", "CANCEL", f"Cancelled: {booking.event_name} with {booking.user.name}",
               f"Cancelled: {booking.event_name} with {booking.invitee_name}")


def _on_rescheduled(booking: Booking) -> None:
    if booking.status != "CONFIRMED":
        return
    _send_pair(booking, "rescheduled", "REQUEST", f"Rescheduled: {booking.event_name} with {booking.user.name}",
               f"Rescheduled: {booking.event_name} with {booking.invitee_name}")


def send_due_reminders(now: datetime | None = None, limit: int = 500) -> int:
    """Queue reminder emails whose time has come (a periodic task calls this every minute)."""
    now = now or utcnow()
    from app.db import transaction

    sent = 0
    due = (Reminder.select(Reminder, Booking).join(Booking)
           .where(Reminder.sent_at.is_null() & (Reminder.send_at <= now)).limit(limit))
    for reminder in due:
        with transaction():
            claimed = (Reminder.update(sent_at=now)
                       .where((Reminder.id == reminder.id) & Reminder.sent_at.is_null()).execute())
            booking = reminder.booking
            if not claimed or booking.status != "CONFIRMED" or booking.start_at <= now:
                continue
            host = booking.user
            queue_email(booking.invitee_email, f"Reminder: {booking.event_name} with {host.name}",
                        "booking_reminder", user_id=host.id, booking_id=booking.id,
                        **_context(booking, booking.user, invitee_clock(booking)))
            add_activity(booking.id, "email", f"Reminder queued to {booking.invitee_email}")
            sent += 1
    return sent
