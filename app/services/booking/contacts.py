"""The host's contacts: list and search, detail with meetings, manual create / update / delete.

Shared by the dashboard and the REST API (spec page 23): functions take values, return models or raise
``ValidationFailed`` (field -> message), ``Conflict`` (duplicate email) or ``NotFound``. Emails are
stored lower-case, as the booking service stores them, so uniqueness per host ignores case.

A contact's meetings are the host's bookings linked to it *or* made with its email address (a booking
keeps its invitee email even when its contact was deleted and created again). Cancelled bookings are not
meetings: ``upcoming``, ``past`` and ``meeting_count`` count confirmed bookings only.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import peewee

from app.db import transaction
from app.models import Booking, Contact, User
from app.models.base import utcnow
from app.services import events
from app.services.booking.bookings import PHONE_RE, contact_payload
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.validation import (
    NAME_CONTROL,
    TEXT_CONTROL,
    has_control,
    has_text_control,
    is_email,
)

FIELDS = ("name", "email", "phone", "company", "notes")
MAX_LENGTHS = {"name": 200, "email": 254, "phone": 40, "company": 200, "notes": 5000}
SOURCES = ("manual", "api")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_MEETINGS_LISTED = 100
DUPLICATE_EMAIL = "A contact with this email already exists."


@dataclass
class ContactDetail:
    contact: Contact
    upcoming: list[Booking]       # soonest first
    past: list[Booking]           # most recent first
    meeting_count: int


# --- validation --------------------------------------------------------------------------------------
def _clean(changes: Mapping[str, Any], *, creating: bool) -> dict[str, str | None]:
    """Validate the given fields (on create: all of them). Empty optional fields become None."""
    errors: dict[str, str] = {}
    cleaned: dict[str, str | None] = {}
    for name in FIELDS:
        if name not in changes and not creating:
            continue
        raw = changes.get(name)
        if raw is not None and not isinstance(raw, str):
            errors[name] = "Give this field as text."
            continue
        value = (raw or "").strip()
        if name == "email":
            value = value.lower()
        if len(value) > MAX_LENGTHS[name]:
            errors[name] = f"Use at most {MAX_LENGTHS[name]} characters."
        elif name == "name" and not value:
            errors[name] = "Enter a name."
        elif name == "email" and not is_email(value):
            errors[name] = "Enter a valid email address."
        elif name in ("name", "company") and has_control(value):
            errors[name] = NAME_CONTROL
        elif has_text_control(value):
            errors[name] = TEXT_CONTROL
        elif name == "phone" and value and not PHONE_RE.match(value):
            errors[name] = "Enter a valid phone number."
        cleaned[name] = value or None
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _email_taken(host_id: str, email: str, exclude_id: str | None = None) -> bool:
    query = Contact.select(Contact.id).where((Contact.user == host_id) & (Contact.email == email))
    if exclude_id:
        query = query.where(Contact.id != exclude_id)
    return query.exists()


# --- writing -----------------------------------------------------------------------------------------
def create_contact(host: User, data: Mapping[str, Any], *, source: str = "manual") -> Contact:
    """Create a contact from ``name``, ``email`` and optional ``phone``, ``company``, ``notes``.

    Fires ``contact.created`` in the same transaction. Raises ValidationFailed or Conflict (email taken).
    """
    if source not in SOURCES:
        raise ValueError(f"unknown contact source {source!r}")
    cleaned = _clean(data, creating=True)
    try:
        with transaction():
            if _email_taken(host.id, cleaned["email"]):
                raise Conflict(DUPLICATE_EMAIL)
            contact = Contact.create(user=host, source=source, **cleaned)
            events.emit("contact.created", contact_payload(contact), user_id=host.id)
    except peewee.IntegrityError as exc:   # a concurrent create with the same email won
        raise Conflict(DUPLICATE_EMAIL) from exc
    return contact


def update_contact(contact: Contact, changes: Mapping[str, Any]) -> Contact:
    """Change only the fields present in ``changes`` (keys other than the contact fields are ignored).

    Raises ValidationFailed, or Conflict when the new email belongs to another contact of the host.
    """
    cleaned = _clean(changes, creating=False)
    if not cleaned:
        return contact
    before = {name: getattr(contact, name) for name in (*cleaned, "updated_at")}
    try:
        with transaction():
            if "email" in cleaned and _email_taken(contact.user_id, cleaned["email"], exclude_id=contact.id):
                raise Conflict(DUPLICATE_EMAIL)
            for name, value in cleaned.items():
                setattr(contact, name, value)
            contact.updated_at = utcnow()
            contact.save()
    except Exception as exc:
        for name, value in before.items():     # the caller's object stays as stored
            setattr(contact, name, value)
        if isinstance(exc, peewee.IntegrityError):
            raise Conflict(DUPLICATE_EMAIL) from exc
        raise
    return contact


def delete_contact(contact: Contact) -> None:
    """Delete the contact for good; its bookings stay (their link to it is cleared)."""
    with transaction():
        Booking.update(contact=None).where(Booking.contact == contact.id).execute()
        contact.delete_instance()


# --- reading -----------------------------------------------------------------------------------------
def get_contact(host: User, contact_id: str) -> Contact:
    contact = Contact.get_or_none((Contact.id == contact_id) & (Contact.user == host))
    if contact is None:
        raise NotFound("Contact not found")
    return contact


def _meetings_of(contact: Contact):
    return Booking.select().where((Booking.user == contact.user_id) & (Booking.status == "CONFIRMED")
                                  & ((Booking.contact == contact.id) | (Booking.invitee_email == contact.email)))


def _meeting_counts(host_id: str, contacts: list[Contact]) -> dict[str, int]:
    """Confirmed meetings per contact of one page, in one query."""
    if not contacts:
        return {}
    ids = [c.id for c in contacts]
    emails = {c.email: c.id for c in contacts}
    rows = (Booking.select(Booking.id, Booking.contact, Booking.invitee_email)
            .where((Booking.user == host_id) & (Booking.status == "CONFIRMED")
                   & (Booking.contact.in_(ids) | Booking.invitee_email.in_(list(emails))))
            .tuples())
    seen: dict[str, set[str]] = {cid: set() for cid in ids}
    for booking_id, contact_id, email in rows:
        for cid in {contact_id, emails.get(email)}:
            if cid in seen:
                seen[cid].add(booking_id)
    return {cid: len(found) for cid, found in seen.items()}


def list_contacts(host: User, search: str | None = None, page: int = 1,
                  limit: int = DEFAULT_LIMIT) -> tuple[list[Contact], int]:
    """One page of the host's contacts by name, and the total matching ``search`` (name, email, company).

    ``page`` starts at 1; ``limit`` is kept between 1 and 100. Every row carries ``meeting_count``.
    """
    page = max(1, int(page or 1))
    limit = min(max(1, int(limit or DEFAULT_LIMIT)), MAX_LIMIT)
    query = Contact.select().where(Contact.user == host)
    term = (search or "").strip()
    if term:
        query = query.where(Contact.name.contains(term) | Contact.email.contains(term)
                            | Contact.company.contains(term))
    total = query.count()
    rows = list(query.order_by(peewee.fn.LOWER(Contact.name), Contact.email).paginate(page, limit))
    counts = _meeting_counts(host.id, rows)
    for row in rows:
        row.meeting_count = counts.get(row.id, 0)
    return rows, total


def contact_detail(contact: Contact, *, now: datetime | None = None) -> ContactDetail:
    """The contact with its upcoming (not yet ended) and past meetings and how many there are in all."""
    now = now or datetime.now(UTC)
    meetings = _meetings_of(contact)
    upcoming = list(meetings.where(Booking.end_at > now).order_by(Booking.start_at).limit(MAX_MEETINGS_LISTED))
    past = list(_meetings_of(contact).where(Booking.end_at <= now).order_by(Booking.start_at.desc())
                .limit(MAX_MEETINGS_LISTED))
    return ContactDetail(contact=contact, upcoming=upcoming, past=past, meeting_count=_meetings_of(contact).count())
