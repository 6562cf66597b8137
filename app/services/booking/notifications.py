"""Booking emails: confirmation, cancellation, reschedule and reminders, each with an iCalendar part.

The booking lifecycle's READY event (``app.services.booking.lifecycle``, after the video link when there is one) queues
one email per recipient through the outbox; times are shown on each recipient's own clock (zone and 12/24 h,
``app.datetimes``). The ``.ics`` keeps one UID per booking and raises SEQUENCE on every change, so calendar programs
update the same event; beside it, the emails of a booking that stands carry add-to-calendar links
(``app.calendar_links``). The host's emails list the invitee's answers to the event type's questions; only the
rescheduled emails show the previous time.

A team booking (issue 15) belongs to every host attending it (``team_bookings.hosts_of_booking``): each of them gets
the host's email on their own clock, and the invitee's email and ``.ics`` name them all (the organizer,
``Booking.user``, as ORGANIZER, the other hosts as ATTENDEEs). A personal booking has its one host.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import UTC, datetime

from flask import current_app
from icalendar import Calendar, Event, vCalAddress, vText

from app import money
from app.calendar_links import TARGETS, calendar_links
from app.datetimes import Clock, host_clock, invitee_clock
from app.models import Booking, Refund, Reminder, User
from app.models.base import utcnow
from app.services import events
from app.services.booking import lifecycle, payments
from app.services.booking.bookings import add_activity, location_label
from app.services.booking.guests import guest_emails
from app.services.booking.payment_providers import PAYMENT_PROVIDERS
from app.services.booking.team_bookings import hosts_of_booking
from app.services.mailer import queue_email

log = logging.getLogger(__name__)

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


def _attendee(user: User | None, email: str | None = None) -> vCalAddress:
    """A host of a team booking other than its organizer, or a guest (``email``, issue 23)."""
    address = vCalAddress(f"mailto:{user.email if user else email}")
    if user is not None:
        address.params["cn"] = vText(user.name)
    address.params["role"] = vText("REQ-PARTICIPANT")
    address.params["partstat"] = vText("ACCEPTED")
    address.params["rsvp"] = vText("FALSE")
    return address


def build_ics(booking: Booking, host: User, method: str, hosts: list[User] | None = None, *,
              for_guest: bool = False) -> bytes:
    """METHOD:REQUEST for new and moved bookings, METHOD:CANCEL for cancelled ones. ``host``: the organizer;
    ``hosts``: every attending host (read from the booking when not given), the others are ATTENDEEs, and so are
    the booking's guests. ``for_guest``: a guest's copy, without the invitee's link to change the booking."""
    hosts = hosts_of_booking(booking) if hosts is None else hosts
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
    names = ", ".join(user.name for user in [host, *_others(host, hosts)])
    event.add("summary", f"{booking.event_name} between {names} and {booking.invitee_name}")
    organizer = vCalAddress(f"mailto:{host.email}")
    organizer.params["cn"] = vText(host.name)
    event.add("organizer", organizer)
    attendee = vCalAddress(f"mailto:{booking.invitee_email}")
    attendee.params["cn"] = vText(booking.invitee_name)
    attendee.params["role"] = vText("REQ-PARTICIPANT")
    attendee.params["partstat"] = vText("ACCEPTED")
    attendee.params["rsvp"] = vText("FALSE")
    event.add("attendee", attendee)
    for other in _others(host, hosts):
        event.add("attendee", _attendee(other))
    for email in guest_emails(booking):
        event.add("attendee", _attendee(None, email))
    where = booking.meeting_link or location_label(booking)
    if where:
        event.add("location", where)
    if booking.meeting_link:
        event.add("url", booking.meeting_link)
    description = []
    if booking.notes:
        description.append(f"Notes: {booking.notes}")
    if method != "CANCEL":
        if not for_guest:
            description.append(f"Reschedule or cancel: {invitee_links(booking)['view']}")
    elif booking.cancel_reason:
        description.append(f"Reason: {booking.cancel_reason}")
    if description:
        event.add("description", "\n".join(description))
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    cal.add_component(event)
    return cal.to_ical()


def _others(host: User, hosts: list[User]) -> list[User]:
    return [user for user in hosts if user.id != host.id]


def _names(hosts: list[User]) -> str:
    """"Olga", "Olga and Adam", "Olga, Adam and Mia"."""
    names = [user.name for user in hosts]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


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


def _add_links(booking: Booking, host: User, for_host: bool, dashboard_link: str,
               for_guest: bool = False) -> list[tuple[str, str]]:
    """Add-to-calendar links as ``(label, url)``, titled and described for the recipient (a guest's without the
    invitee's link to change the booking)."""
    title = f"{booking.event_name} with {booking.invitee_name if for_host else host.name}"
    details = [f"Join: {booking.meeting_link}"] if booking.meeting_link else []
    if not for_guest:
        details.append(f"Details: {dashboard_link}" if for_host else
                       f"Reschedule or cancel: {invitee_links(booking)['view']}")
    urls = calendar_links(booking.start_at, booking.end_at, title, "\n".join(details),
                          booking.meeting_link or location_label(booking))
    return [(label, urls[key]) for key, label in TARGETS]


def payment_context(booking: Booking) -> dict | None:
    """What a paid booking's emails say of its payment: ``amount`` ("50.00 USD"), ``via`` ("card (Stripe)",
    "PayPal") and ``refund``: the amount its cancellation refunds ("50.00 USD"), None when it refunds nothing.
    None when nothing was paid."""
    payment = payments.payment_of(booking)
    if payment is None or payment.paid_at is None:
        return None
    provider = PAYMENT_PROVIDERS[payment.provider]
    method = (payment.payment_method or provider.default_method).replace("_", " ")
    via = provider.label if method == provider.name else f"{method} ({provider.name.title()})"
    refunded = sum(row.amount for row in Refund.select(Refund.amount).where(
        (Refund.payment == payment.id) & Refund.reason.in_(("host_cancel", "invitee_cancel"))
        & (Refund.status != "failed")))
    return {"amount": money.format_amount(payment.amount, payment.currency), "via": via,
            "refund": money.format_amount(refunded, payment.currency) if refunded else None}


def _context(booking: Booking, host: User, clock: Clock, *, kind: str = "reminder", for_host: bool = False,
             hosts: list[User] | None = None, for_guest: bool = False) -> dict:
    """What a booking email shows; its times are on the recipient's ``clock`` (``|timerange`` and ``|datetime``
    in the templates): the invitee's (``invitee_clock``) or the host's (``host_clock``). ``host``: the organizer
    in the invitee's emails, the recipient in a host's; ``host_names``: every attending host. ``previous``: the
    time a rescheduled booking had (rescheduled emails only); ``answers``: for the host; ``add_links``: while the
    booking stands; ``payment``: what was paid and refunded (``payment_context``), None for a free booking;
    ``guests``: the guests' addresses; ``for_guest``: a guest's copy (no invitee links, no payment)."""
    hosts = hosts or [host]
    dashboard_link = f"{current_app.config['BASE_URL']}/dashboard/bookings/{booking.id}"
    moved = kind == "rescheduled" and booking.previous_start_at is not None
    return {
        "booking": booking, "host": host, "clock": clock, "host_names": ", ".join(user.name for user in hosts),
        "location": location_label(booking), "links": {} if for_guest else invitee_links(booking),
        "dashboard_link": dashboard_link,
        "minutes": int((booking.end_at - booking.start_at).total_seconds() // 60),
        "previous": (booking.previous_start_at, booking.previous_end_at) if moved else None,
        "answers": booking_answers(booking) if for_host else [],
        "add_links": [] if kind == "cancelled" else _add_links(booking, host, for_host, dashboard_link, for_guest),
        "payment": None if for_guest else payment_context(booking),
        "guests": guest_emails(booking), "kind": kind,
    }


def _send_pair(booking: Booking, kind: str, method: str, invitee_subject: str, host_subject: str,
               hosts: list[User]) -> None:
    """The invitee's email and one to every attending host (``hosts``, the organizer first), each host's on
    their own clock."""
    host = booking.user
    ics = build_ics(booking, host, method, hosts)
    attachment = [{"filename": "invite.ics" if method == "REQUEST" else "cancel.ics",
                   "content_type": f"text/calendar; method={method}", "data": ics}]
    queue_email(booking.invitee_email, invitee_subject, f"booking_{kind}_invitee", user_id=host.id,
                attachments=attachment, reply_to=host.email, booking_id=booking.id,
                **_context(booking, host, invitee_clock(booking), kind=kind, hosts=hosts))
    for recipient in hosts:
        queue_email(recipient.email, host_subject, f"booking_{kind}_host", user_id=recipient.id,
                    attachments=attachment, reply_to=booking.invitee_email, booking_id=booking.id,
                    **_context(booking, recipient, host_clock(recipient), kind=kind, for_host=True, hosts=hosts))
    guests = _send_guests(booking, kind, method, hosts)
    what = "Meeting link" if kind == "link_added" else kind.title()
    add_activity(booking.id, "email", f"{what} emails queued to {booking.invitee_email} and "
                                      f"{', '.join([recipient.email for recipient in hosts] + guests)}")


GUEST_SUBJECTS = {"confirmed": "Invitation", "rescheduled": "Rescheduled", "cancelled": "Cancelled"}


def _send_guests(booking: Booking, kind: str, method: str, hosts: list[User]) -> list[str]:
    """Each guest's own copy of the invitee's email (issue 23): on the invitee's clock, with an ``.ics`` that has
    no link to change the booking (only the invitee may). Returns the guests' addresses."""
    guests = guest_emails(booking)
    if not guests:
        return []
    host = booking.user
    ics = build_ics(booking, host, method, hosts, for_guest=True)
    attachment = [{"filename": "invite.ics" if method == "REQUEST" else "cancel.ics",
                   "content_type": f"text/calendar; method={method}", "data": ics}]
    what = GUEST_SUBJECTS.get(kind) or f"{location_label(booking) or 'Meeting'} link"
    subject = f"{what}: {booking.event_name} with {_names(hosts)} and {booking.invitee_name}"
    for email in guests:
        queue_email(email, subject, "booking_guest", user_id=host.id, attachments=attachment,
                    reply_to=booking.invitee_email, booking_id=booking.id,
                    **_context(booking, host, invitee_clock(booking), kind=kind, hosts=hosts, for_guest=True))
    return guests


@events.subscribe(lifecycle.READY, lifecycle.UPDATED)
def _on_lifecycle(_message_id: str, payload: dict) -> None:
    """The booking's change is ready (its video link is known, or could not be made) or a fact changed later."""
    booking = lifecycle.booking_of(payload)
    if booking is None:
        return
    if payload["event"] == lifecycle.UPDATED:
        if payload["what"] in (lifecycle.LINK_ADDED, lifecycle.LINK_REPLACED) and booking.status == "CONFIRMED":
            send_link_added(booking)
        elif payload["what"] == lifecycle.HOSTS_CHANGED and booking.status == "CONFIRMED":
            send_hosts_changed(booking, payload.get("added") or [], payload.get("removed") or [])
        return
    {"booking.created": _on_created, "booking.cancelled": _on_cancelled,
     "booking.rescheduled": _on_rescheduled}[payload["change"]](booking)


def _on_created(booking: Booking) -> None:
    if booking.status != "CONFIRMED":
        return  # cancelled before the confirmation went out: the cancellation email says it all
    send_confirmation(booking)


def send_confirmation(booking: Booking) -> None:
    hosts = hosts_of_booking(booking)
    _send_pair(booking, "confirmed", "REQUEST", f"Confirmed: {booking.event_name} with {_names(hosts)}",
               f"New booking: {booking.event_name} with {booking.invitee_name}", hosts)


def send_link_added(booking: Booking) -> None:
    """The video link that could not be created with the confirmation exists now: tell both sides."""
    label = location_label(booking) or "meeting"
    hosts = hosts_of_booking(booking)
    _send_pair(booking, "link_added", "REQUEST", f"{label} link: {booking.event_name} with {_names(hosts)}",
               f"{label} link created: {booking.event_name} with {booking.invitee_name}", hosts)


def send_hosts_changed(booking: Booking, added: list[str], removed: list[str]) -> None:
    """A team booking changed hands without moving: each new host gets it as a new booking, each host who no longer
    attends a cancellation of their copy (the invitee's meeting stands: they get nothing)."""
    hosts = hosts_of_booking(booking)
    for user_ids, kind, method, subject in (
            (added, "confirmed", "REQUEST", f"New booking: {booking.event_name} with {booking.invitee_name}"),
            (removed, "cancelled", "CANCEL", f"No longer yours: {booking.event_name} with {booking.invitee_name}")):
        recipients = list(User.select().where(User.id.in_(user_ids))) if user_ids else []
        for recipient in recipients:
            ics = build_ics(booking, booking.user, method, hosts)
            attachment = [{"filename": "invite.ics" if method == "REQUEST" else "cancel.ics",
                           "content_type": f"text/calendar; method={method}", "data": ics}]
            queue_email(recipient.email, subject, f"booking_{kind}_host", user_id=recipient.id,
                        attachments=attachment, reply_to=booking.invitee_email, booking_id=booking.id,
                        **_context(booking, recipient, host_clock(recipient), kind=kind, for_host=True, hosts=hosts))
        if recipients:
            add_activity(booking.id, "email", f"{subject} emailed to "
                                              f"{', '.join(recipient.email for recipient in recipients)}")


def _on_cancelled(booking: Booking) -> None:
    if booking.approval in ("declined", "expired"):
        return  # a request never confirmed: app.services.booking.approvals told the invitee (its own email)
    hosts = hosts_of_booking(booking)
    _send_pair(booking, "cancelled", "CANCEL", f"Cancelled: {booking.event_name} with {_names(hosts)}",
               f"Cancelled: {booking.event_name} with {booking.invitee_name}", hosts)


def _on_rescheduled(booking: Booking) -> None:
    if booking.status != "CONFIRMED":
        return
    hosts = hosts_of_booking(booking)
    _send_pair(booking, "rescheduled", "REQUEST", f"Rescheduled: {booking.event_name} with {_names(hosts)}",
               f"Rescheduled: {booking.event_name} with {booking.invitee_name}", hosts)


# Called with the id of each booking just reminded by email (after its transaction): other channels register here
# (the WhatsApp reminder of app/services/messaging/notices.py), so this module imports none of them.
REMINDER_HOOKS: list = []


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
            host, hosts = booking.user, hosts_of_booking(booking)
            queue_email(booking.invitee_email, f"Reminder: {booking.event_name} with {_names(hosts)}",
                        "booking_reminder", user_id=host.id, booking_id=booking.id,
                        **_context(booking, booking.user, invitee_clock(booking), hosts=hosts))
            add_activity(booking.id, "email", f"Reminder queued to {booking.invitee_email}")
            sent += 1
        for hook in REMINDER_HOOKS:
            try:
                hook(booking.id)
            except Exception:                      # noqa: BLE001 (another channel never stops the email reminders)
                log.exception("a reminder hook failed for booking %s", booking.id)
    return sent
