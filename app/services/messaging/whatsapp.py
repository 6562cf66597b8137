"""WhatsApp on a phone number (issue 22, spec page 11): sender registration at Twilio, its status, and the messages
a WhatsApp agent may send outside WhatsApp's 24-hour customer-service window.

* ``display_name_problem`` / ``clean_display_name``: Meta's display-name rules of page 11, checked before anything
  is sent to Twilio: 3-256 characters, at least one letter, none of ``~!@#$%^&*()_+:;"'{}[]|<>,/?``, no URL or web
  address, no Meta product name (WhatsApp, Facebook, Instagram, Messenger), not "Official" or "Verified", not a
  generic term alone ("Store", "Business", "Online Shop": every word generic).
* ``register(user, number_id, display_name)``: creates the sender at Twilio (``twilio_senders``) with the number's
  inbound webhook and LinkTime's sender-status webhook; the row is ``WhatsAppSender`` (one per number). A number
  with a pending or approved sender is ``Conflict`` (deregister first); a rejected or failed one is replaced (page
  11's "Try Again"). A refusal by Twilio is kept on the row (``failed``, Twilio's code and plain words; 21656 is
  page 11's admin message) and raised as ``WhatsAppFailed``.
* ``status(user, number_id, refresh=False)``: the row; ``refresh`` asks Twilio now. ``deregister(user,
  number_id)``: deletes the sender at Twilio and the row (idempotent). ``on_number_released(number)``: the same when
  a number goes on hold; never raises (a sender Twilio could not delete then is retried by ``poll_due``).
* Status (``apply_status``), exactly page 11's table: CREATING, PENDING_VERIFICATION, VERIFYING, TWILIO_REVIEW,
  DRAFT, STUBBED -> ``pending``; ONLINE, ONLINE:UPDATING -> ``approved`` (WhatsApp enabled); OFFLINE with a sender
  SID -> ``rejected``. Outside the table: OFFLINE without a sender SID and Twilio's refusals -> ``failed``; a status
  Twilio may add later -> ``pending`` (not enabled). ``twilio_status`` keeps Twilio's word. Updates come from the
  signed webhook (``handle_status_callback``) and ``poll_due`` (pending senders every 5 minutes, approved ones
  hourly, to catch a revocation). The host gets one email per change to ``approved`` or ``rejected``
  (``notified_status`` is claimed by a conditional UPDATE, so two updaters never both send it).
  ``number_enabled(number)``: the sender is approved (a WhatsApp agent may be active on the number).
* ``send_outside_window(conversation_or_agent, to, kind, variables)``: a booking ``confirmation`` or ``reminder`` on
  WhatsApp. Inside the 24-hour window (``Conversation.last_inbound_at`` newer than 24 h) a free-form message;
  outside it the approved template whose Content SID is the setting ``WHATSAPP_TEMPLATE_CONFIRMATION_SID`` /
  ``WHATSAPP_TEMPLATE_REMINDER_SID`` (set = approved at Meta; empty = pending or rejected) with ``ContentVariables``
  ``{"1": name, "2": event, "3": when}``; without an approved template, or without an approved sender, an SMS from
  the same number. A recipient who texted STOP gets nothing (``WhatsAppFailed``, code 21610).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee
from flask import current_app

from app.db import transaction
from app.integrations import twilio_senders, twilio_sms
from app.integrations.errors import IntegrationError, TransientError
from app.models import Membership, User
from app.models.base import utcnow
from app.models.messaging import Conversation, ConversationMessage, MessagingAgent, WhatsAppSender
from app.models.voice import PhoneNumber
from app.services import opt_outs
from app.services.account import organizations
from app.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.services.events import iso

log = logging.getLogger(__name__)

INBOUND_PATH = "/api/webhooks/twilio/inbound"
STATUS_PATH = "/api/webhooks/twilio/whatsapp-sender-status"
PENDING_EVERY = timedelta(minutes=5)
APPROVED_EVERY = timedelta(hours=1)
WINDOW = timedelta(hours=24)

# --- page 11's status table ------------------------------------------------------------------------------------
STATUS_MAP = {"CREATING": "pending", "PENDING_VERIFICATION": "pending", "VERIFYING": "pending",
              "TWILIO_REVIEW": "pending", "DRAFT": "pending", "STUBBED": "pending",
              "ONLINE": "approved", "ONLINE:UPDATING": "approved"}
NOTIFIED = ("approved", "rejected")


def map_status(twilio_status: str | None, sender_sid: str | None) -> str:
    """LinkTime's status for Twilio's (page 11's table; see the module docstring for what lies outside it)."""
    raw = (twilio_status or "").strip().upper()
    if raw == "OFFLINE":
        return "rejected" if sender_sid else "failed"
    return STATUS_MAP.get(raw, "pending")


def enabled(status: str | None) -> bool:
    return status == "approved"


def number_enabled(number: PhoneNumber) -> bool:
    """WhatsApp is enabled on the number (its sender is approved): a WhatsApp agent may be active on it."""
    return WhatsAppSender.select().where((WhatsAppSender.phone_number == number.id)
                                         & (WhatsAppSender.status == "approved")).exists()


# --- display-name rules ----------------------------------------------------------------------------------------
NAME_MIN, NAME_MAX = 3, 256
SPECIAL = '~!@#$%^&*()_+:;"\'{}[]|<>,/?'
WEB_ADDRESS = re.compile(r"(https?:|www\.|\b[a-z0-9-]+(\.[a-z0-9-]+)*\.(com|net|org|io|co|biz|info|app|dev|shop|"
                         r"store|online|site|xyz|me|us|uk|de|fr|es|it|nl|eu|ca|au|br|mx|jp|sg|ae|in)\b)", re.I)
META_NAMES = re.compile(r"whats\s*app|face\s*book|insta\s*gram|messenger", re.I)
OFFICIAL = re.compile(r"\b(official|verified)\b", re.I)
GENERIC = {"store", "business", "shop", "company", "services", "service", "online", "restaurant", "salon", "clinic",
           "office", "shopping", "market", "marketplace", "support", "sales", "delivery", "consulting", "agency",
           "the", "a", "an", "my", "our", "and", "&", "-", "."}
RULES = {
    "length": f"The display name must be {NAME_MIN} to {NAME_MAX} characters long.",
    "letter": "The display name must contain at least one letter.",
    "url": "The display name cannot contain a URL or web address.",
    "special": "The display name cannot contain special characters (FOUND); none of " + SPECIAL + " is allowed.",
    "meta": "The display name cannot contain Meta product names (WhatsApp, Facebook, Instagram, Messenger).",
    "official": "The display name cannot contain \"Official\" or \"Verified\".",
    "generic": "The display name cannot be a generic term alone (such as \"Store\" or \"Business\"): use your "
               "actual business name.",
}


def display_name_problem(name) -> str | None:
    """The first of page 11's rules ``name`` breaks (plain words), or None when Meta would accept it."""
    if not isinstance(name, str):
        return RULES["length"]
    text = " ".join(name.split())
    if not NAME_MIN <= len(text) <= NAME_MAX:
        return RULES["length"]
    if not any(ch.isalpha() for ch in text):
        return RULES["letter"]
    if WEB_ADDRESS.search(text):
        return RULES["url"]
    found = "".join(dict.fromkeys(ch for ch in text if ch in SPECIAL))
    if found:
        return RULES["special"].replace("FOUND", " ".join(found), 1)
    if META_NAMES.search(text):
        return RULES["meta"]
    if OFFICIAL.search(text):
        return RULES["official"]
    if all(word.lower().strip(".-") in GENERIC or not word.strip(".-") for word in text.split()):
        return RULES["generic"]
    return None


def clean_display_name(name) -> str:
    """``name`` with its spaces collapsed; ValidationFailed ({"displayName": rule}) when a rule is broken."""
    problem = display_name_problem(name)
    if problem:
        raise ValidationFailed({"displayName": problem})
    return " ".join(name.split())


# --- errors and reading ----------------------------------------------------------------------------------------
class WhatsAppFailed(Exception):
    """Twilio refused or could not be reached; ``str(e)`` says what happened, ``code`` is Twilio's (or None),
    ``transient`` whether trying again later may work."""

    def __init__(self, message: str, *, code: int | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient


def configured() -> bool:
    return twilio_senders.configured(current_app.config)


def missing_settings() -> list[str]:
    return [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN") if not current_app.config.get(name)]


def _number(user: User, number_id: str, *, manage: bool = False) -> PhoneNumber:
    """The number if ``user`` may see it (the rule of the Phone Numbers pages): NotFound otherwise; with ``manage``,
    Forbidden for an organization's number unless ``user`` is one of its OWNERs or ADMINs."""
    number = PhoneNumber.get_or_none((PhoneNumber.id == str(number_id)) & (PhoneNumber.status != "released"))
    if number is None:
        raise NotFound("Phone number not found")
    if number.organization_id is None:
        if number.user_id != user.id:
            raise NotFound("Phone number not found")
        return number
    row = Membership.get_or_none((Membership.organization == number.organization_id) & (Membership.user == user))
    if row is None:
        raise NotFound("Phone number not found")
    if manage and row.role not in organizations.MANAGERS:
        raise Forbidden(organizations.NEEDS_ADMIN)
    return number


def sender_of(number: PhoneNumber) -> WhatsAppSender | None:
    return WhatsAppSender.get_or_none(WhatsAppSender.phone_number == number.id)


def senders_for(numbers: list[PhoneNumber]) -> dict[str, WhatsAppSender]:
    """number id -> its sender, in one query (the Phone Numbers page)."""
    ids = [n.id for n in numbers]
    if not ids:
        return {}
    return {s.phone_number_id: s for s in WhatsAppSender.select().where(WhatsAppSender.phone_number.in_(ids))}


def _base_url() -> str:
    return str(current_app.config["BASE_URL"]).rstrip("/")


def _failure(exc: Exception) -> WhatsAppFailed:
    if isinstance(exc, TransientError):
        return WhatsAppFailed("Twilio could not be reached or did not answer in time; try again in a moment.",
                              transient=True)
    code = getattr(exc, "code", None)
    return WhatsAppFailed(str(exc), code=code if isinstance(code, int) else None)


# --- registration ----------------------------------------------------------------------------------------------
def register(user: User, number_id: str, display_name) -> WhatsAppSender:
    """Register the number as a WhatsApp sender named ``display_name`` (see the module docstring)."""
    number = _number(user, number_id, manage=True)
    name = clean_display_name(display_name)
    if number.status != "active":
        raise Conflict("This number is on hold: WhatsApp can only be enabled on an active number.")
    if not configured():
        raise WhatsAppFailed(twilio_senders.MISSING_SETTINGS_NOTE)
    existing = sender_of(number)
    if existing is not None and existing.status in ("pending", "approved"):
        raise Conflict(f"WhatsApp is already {existing.status} on {number.e164}: deregister it before registering "
                       "another display name.")
    if existing is not None and existing.sender_sid:
        _delete_remote(existing)
    try:
        remote = twilio_senders.create_sender(number.e164, name, callback_url=_base_url() + INBOUND_PATH,
                                              status_callback_url=_base_url() + STATUS_PATH)
    except IntegrationError as exc:
        failure = _failure(exc)
        if not failure.transient:
            _store(number, existing, display_name=name, sender_sid=None, status="failed", twilio_status=None,
                   error_code=str(failure.code) if failure.code else None, error_message=str(failure))
        raise failure from exc
    try:
        row = _store(number, existing, display_name=name, sender_sid=remote.sid,
                     status=map_status(remote.status, remote.sid), twilio_status=remote.status or None,
                     error_code=None, error_message=None)
    except peewee.IntegrityError:             # another request registered the number meanwhile
        _delete_quietly(remote.sid)
        raise Conflict(f"WhatsApp is already being registered on {number.e164}.") from None
    log.info("registered WhatsApp sender %s for phone number %s (%s)", remote.sid, number.id, remote.status)
    _notify_if_due(row)
    return row


def _store(number: PhoneNumber, existing: WhatsAppSender | None, **fields) -> WhatsAppSender:
    now = utcnow()
    values = {**fields, "notified_status": None, "last_checked_at": now, "updated_at": now}
    with transaction():
        if existing is not None and WhatsAppSender.update(**values).where(
                WhatsAppSender.id == existing.id).execute():
            return WhatsAppSender.get_by_id(existing.id)
        return WhatsAppSender.create(phone_number=number, **values)


def _delete_remote(row: WhatsAppSender) -> None:
    """Delete the row's sender at Twilio (gone already is fine); WhatsAppFailed when Twilio refuses."""
    try:
        twilio_senders.delete_sender(row.sender_sid)
    except IntegrationError as exc:
        raise _failure(exc) from exc


def _delete_quietly(sid: str) -> None:
    try:
        twilio_senders.delete_sender(sid)
    except Exception:                          # noqa: BLE001 (logged: an operator deletes it in the Console)
        log.exception("could not delete the WhatsApp sender %s at Twilio", sid)


def status(user: User, number_id: str, refresh: bool = False) -> WhatsAppSender | None:
    """The number's sender (None: WhatsApp was never enabled); ``refresh`` asks Twilio first (WhatsAppFailed when
    Twilio cannot answer)."""
    number = _number(user, number_id)
    row = sender_of(number)
    if row is not None and refresh and row.sender_sid:
        row = refresh_sender(row)
    return row


def deregister(user: User, number_id: str) -> None:
    """Deregister the number's sender at Twilio and forget it; nothing to do when there is none."""
    number = _number(user, number_id, manage=True)
    row = sender_of(number)
    if row is None:
        return
    if row.sender_sid:
        _delete_remote(row)
    WhatsAppSender.delete().where(WhatsAppSender.id == row.id).execute()
    log.info("deregistered the WhatsApp sender of phone number %s", number.id)


def on_number_released(number: PhoneNumber | str) -> None:
    """A number (or its id) went on hold: its sender is deregistered. Never raises; when Twilio refuses, the row
    stays (its error says so) and ``poll_due`` tries again."""
    if not isinstance(number, PhoneNumber):
        number = PhoneNumber.get_or_none(PhoneNumber.id == str(number))
        if number is None:
            return
    try:
        row = sender_of(number)
        if row is None:
            return
        if row.sender_sid:
            _delete_remote(row)
        WhatsAppSender.delete().where(WhatsAppSender.id == row.id).execute()
    except Exception as exc:                   # noqa: BLE001 (the release itself must go on)
        log.warning("could not deregister the WhatsApp sender of released number %s: %s", number.id, exc)
        WhatsAppSender.update(error_message=f"Deregistration pending: {exc}", updated_at=utcnow()).where(
            WhatsAppSender.phone_number == number.id).execute()


# --- status updates --------------------------------------------------------------------------------------------
def refresh_sender(row: WhatsAppSender) -> WhatsAppSender:
    """Ask Twilio for the sender's status now and apply it. A sender Twilio no longer has is ``failed``."""
    try:
        remote = twilio_senders.fetch_sender(row.sender_sid)
    except twilio_senders.SenderError as exc:
        if exc.status != 404:
            raise _failure(exc) from exc
        return apply_status(row, None, error="Twilio no longer has this WhatsApp sender; register it again.",
                            status_override="failed")
    except IntegrationError as exc:
        raise _failure(exc) from exc
    return apply_status(row, remote.status, reasons=remote.offline_reasons)


def apply_status(row: WhatsAppSender, twilio_status: str | None, *, reasons=(), error: str | None = None,
                 status_override: str | None = None) -> WhatsAppSender:
    """Store Twilio's status (raw) and LinkTime's (page 11's table); email the host when it became approved or
    rejected and they were not told yet."""
    new = status_override or map_status(twilio_status, row.sender_sid)
    now = utcnow()
    message = error
    if new == "rejected" and not message:
        message = ("Meta did not accept the display name" + (f": {'; '.join(reasons)}" if reasons else ".")
                   if row.status != "approved" else
                   "WhatsApp was turned off for this number" + (f": {'; '.join(reasons)}" if reasons else "."))
    previous = row.status
    WhatsAppSender.update(status=new, twilio_status=twilio_status or row.twilio_status, error_message=message,
                          error_code=None if new != "failed" else row.error_code, last_checked_at=now,
                          updated_at=now).where(WhatsAppSender.id == row.id).execute()
    fresh = WhatsAppSender.get_by_id(row.id)
    if previous != new:
        log.info("WhatsApp sender %s: %s -> %s (%s)", row.sender_sid, previous, new, twilio_status)
    _notify_if_due(fresh, was=previous)
    return fresh


def _notify_if_due(row: WhatsAppSender, *, was: str | None = None) -> None:
    if row.status not in NOTIFIED or row.notified_status == row.status:
        return
    claimed = WhatsAppSender.update(notified_status=row.status).where(
        (WhatsAppSender.id == row.id) & (WhatsAppSender.status == row.status)
        & (WhatsAppSender.notified_status.is_null() | (WhatsAppSender.notified_status != row.status))).execute()
    if not claimed:
        return
    row.notified_status = row.status
    from app.services.mailer import queue_email
    number = row.phone_number
    owner = number.user
    link = _base_url() + "/dashboard/phone-numbers"
    if row.status == "approved":
        subject = f"WhatsApp is ready on {number.e164}"
    elif was == "approved":
        subject = f"WhatsApp was turned off on {number.e164}"
    else:
        subject = f"Meta did not approve the WhatsApp name for {number.e164}"
    queue_email(owner.email, subject, f"whatsapp_sender_{row.status}", user_id=owner.id, user=owner,
                number=number.e164, display_name=row.display_name, reason=row.error_message,
                revoked=was == "approved", link=link)


def handle_status_callback(params: dict[str, str]) -> bool:
    """Twilio's signed sender-status callback: ``SenderSid`` (or ``Sid``) and ``Status``; without a status the
    sender is asked for. False when it names no sender of ours (a message status callback, say)."""
    sid = (params.get("SenderSid") or params.get("Sid") or "").strip()
    if not sid:
        return False
    row = WhatsAppSender.get_or_none(WhatsAppSender.sender_sid == sid)
    if row is None:
        return False
    raw = (params.get("Status") or params.get("SenderStatus") or "").strip().upper()
    if not raw:
        refresh_sender(row)
        return True
    reasons = [r.strip() for r in (params.get("OfflineReasons") or "").split(",") if r.strip()]
    apply_status(row, raw, reasons=reasons)
    return True


def poll_due(now: datetime | None = None) -> int:
    """Ask Twilio about pending senders not checked for 5 minutes and approved ones not checked for an hour; retry
    the deregistration of senders whose number was released. How many senders were asked about."""
    now = now or utcnow()
    due = (((WhatsAppSender.status == "pending") & (WhatsAppSender.last_checked_at.is_null()
                                                    | (WhatsAppSender.last_checked_at <= now - PENDING_EVERY)))
           | ((WhatsAppSender.status == "approved") & (WhatsAppSender.last_checked_at.is_null()
                                                      | (WhatsAppSender.last_checked_at <= now - APPROVED_EVERY))))
    asked = 0
    rows = list(WhatsAppSender.select(WhatsAppSender, PhoneNumber).join(PhoneNumber)
                .where(WhatsAppSender.sender_sid.is_null(False)
                       & (due | (PhoneNumber.status != "active"))).order_by(WhatsAppSender.last_checked_at))
    for row in rows:
        try:
            if row.phone_number.status != "active":
                on_number_released(row.phone_number)
                continue
            refresh_sender(row)
            asked += 1
        except Exception as exc:               # noqa: BLE001 (one sender's trouble does not stop the others)
            log.warning("could not check the WhatsApp sender %s: %s", row.sender_sid, exc)
    return asked


def sender_json(row: WhatsAppSender | None) -> dict | None:
    if row is None:
        return None
    return {
        "phoneNumberId": row.phone_number_id,
        "displayName": row.display_name,
        "status": row.status,
        "twilioStatus": row.twilio_status,
        "whatsappEnabled": enabled(row.status),
        "senderSid": row.sender_sid,
        "error": ({"code": int(row.error_code) if (row.error_code or "").isdigit() else None,
                   "message": row.error_message} if row.error_message else None),
        "lastCheckedAt": iso(row.last_checked_at),
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
    }


# --- messages outside the 24-hour window -----------------------------------------------------------------------
TEMPLATE_SETTINGS = {"confirmation": "WHATSAPP_TEMPLATE_CONFIRMATION_SID", "reminder": "WHATSAPP_TEMPLATE_REMINDER_SID"}
TEXTS = {"confirmation": "Hi {name}, your {event} is confirmed for {when}.",
         "reminder": "Hi {name}, a reminder: your {event} is on {when}."}
VARIABLES = ("name", "event", "when")           # ContentVariables "1", "2", "3"


@dataclass(frozen=True)
class Sent:
    channel: str                                # "whatsapp" or "sms"
    sid: str
    content_sid: str | None                     # the template, when one was used
    text: str


def in_window(conversation: Conversation | None, now: datetime | None = None) -> bool:
    """The customer wrote within 24 hours, so a free-form WhatsApp message may be sent."""
    last = conversation.last_inbound_at if conversation is not None else None
    return last is not None and last > (now or utcnow()) - WINDOW


def template_sid(kind: str) -> str | None:
    """The approved template's Content SID for ``kind`` (its setting); None while it is pending or rejected."""
    value = str(current_app.config.get(TEMPLATE_SETTINGS[kind]) or "").strip()
    return value if twilio_senders.CONTENT_SID.fullmatch(value) else None


def route(conversation: Conversation | None, number: PhoneNumber, kind: str,
          now: datetime | None = None) -> tuple[str, str | None]:
    """How a ``kind`` notice from ``number`` goes now: ``("whatsapp", None)`` free-form inside the window,
    ``("whatsapp", <Content SID>)`` the approved template outside it, ``("sms", None)`` without an approved
    template or sender."""
    sender = sender_of(number)
    if sender is not None and enabled(sender.status):
        if in_window(conversation, now):
            return "whatsapp", None
        content = template_sid(kind)
        if content:
            return "whatsapp", content
    return "sms", None


def send_outside_window(conversation_or_agent, to: str, kind: str, variables: dict[str, str], *,
                        now: datetime | None = None) -> Sent:
    """Send a booking ``confirmation`` or ``reminder`` to ``to`` from the agent's number (see the module
    docstring). Raises ValidationFailed (kind, variables, to) or WhatsAppFailed."""
    if kind not in TEMPLATE_SETTINGS:
        raise ValidationFailed({"kind": f"One of {', '.join(TEMPLATE_SETTINGS)}."})
    missing = [name for name in VARIABLES if not str(variables.get(name) or "").strip()]
    if missing:
        raise ValidationFailed({"variables": f"Missing: {', '.join(missing)}."})
    phone = twilio_sms.normalize_phone(str(to or "").removeprefix("whatsapp:"))
    if phone is None:
        raise ValidationFailed({"to": "Not a valid phone number."})
    conversation, agent = _conversation_and_agent(conversation_or_agent, phone)
    number = agent.phone_number if agent is not None and agent.phone_number_id else None
    if number is None or number.status != "active":
        raise WhatsAppFailed("The agent has no active phone number to send from.")
    if opt_outs.opted_out(phone):
        raise WhatsAppFailed(twilio_sms.explain(21610), code=21610)
    values = {name: str(variables[name]).strip() for name in VARIABLES}
    text = TEXTS[kind].format(**values)
    channel, content = route(conversation, number, kind, now)
    try:
        if channel == "whatsapp" and content is None:
            sent = Sent("whatsapp", _send(f"whatsapp:{number.e164}", f"whatsapp:{phone}", body=text), None, text)
        elif channel == "whatsapp":
            sid = _send(f"whatsapp:{number.e164}", f"whatsapp:{phone}", content_sid=content,
                        content_variables={str(i + 1): values[name] for i, name in enumerate(VARIABLES)})
            sent = Sent("whatsapp", sid, content, text)
        else:
            sent = Sent("sms", _send_sms(number.e164, phone, text), None, text)
    except IntegrationError as exc:
        raise _failure(exc) from exc
    if conversation is not None:
        ConversationMessage.create(conversation=conversation, direction="outbound", content=text,
                                   twilio_sid=sent.sid, status="queued")
    return sent


def _conversation_and_agent(value, phone: str) -> tuple[Conversation | None, MessagingAgent | None]:
    if isinstance(value, Conversation):
        return value, value.agent
    if isinstance(value, MessagingAgent):
        conversation = (Conversation.select().where((Conversation.agent == value) & (Conversation.channel == "whatsapp")
                                                    & (Conversation.contact_phone == phone))
                        .order_by(Conversation.last_message_at.desc()).first())
        return conversation, value
    raise ValidationFailed({"conversation": "A Conversation or a MessagingAgent."})


def _send(from_: str, to: str, **kwargs) -> str:
    return twilio_senders.send_message(from_, to, **kwargs)


def _send_sms(from_: str, to: str, text: str) -> str:
    """The SMS fallback from the agent's number."""
    return twilio_sms.send_sms(to, text, from_=from_)
