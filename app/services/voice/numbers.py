"""Phone numbers for the whole product (issue 21; spec pages 10 and 11): bought at Twilio in one of the 14 countries,
imported into ElevenLabs when a voice agent answers on them, and on a 30-day hold after their release.

* ``provision_number``: the plan's ``messaging_numbers`` limit counts the *active* numbers of the account (or of the
  organization, for an organization number, which an OWNER or ADMIN provisions); Twilio sells a local number first,
  a toll-free one when the country has no local number; the number's SMS webhook is LinkTime's inbound texts
  (STOP/START/HELP). A provider's refusal is ``NumberFailed`` ("Failed to provision phone number: <reason>").
* ``bind_to_agent``: imports the number into ElevenLabs once (``elevenlabs_phone_id``), assigns it to the agent.
* ``discard_purchase``: the provisioning rollback (ElevenLabs, Twilio, the row); never raises.
* ``hold_number``: the release a host asks for. The number leaves ElevenLabs, its Twilio voice URL becomes
  ``BASE_URL/api/voice/held-line`` (callers hear that the line moved and the host's booking URL), the agents using it
  are detached, and it is ``held`` for 30 days; then ``release_due_numbers`` (a daily task) gives it back to Twilio.
  The provider steps run first, each stored as it succeeds, the status last: a failure raises ``NumberFailed``
  ("Failed to release phone number: ...") with nothing held yet, and a retry continues where it stopped.

Who sees what: a personal number is its user's; an organization number is visible to every member and managed
(label, release) by its OWNERs and ADMINs. Another account's number, or a released one, is ``NotFound``.
Spec page 21 names no audit action for phone numbers, so none is recorded.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app

from app import queue
from app.db import is_postgres, transaction
from app.integrations import twilio_numbers
from app.integrations.errors import IntegrationError
from app.integrations.errors import NotFound as RemoteNotFound
from app.models import Membership, Organization, User
from app.models.base import utcnow
from app.models.messaging import MessagingAgent
from app.models.voice import PhoneNumber, VoiceAgent
from app.services import plans
from app.services.account import organizations
from app.services.errors import Forbidden, NotFound, ValidationFailed
from app.services.events import iso
from app.services.voice import settings

log = logging.getLogger(__name__)

HOLD_DAYS = 30
LABEL_MAX = 64                       # Twilio's FriendlyName holds 64 characters
SMS_PATH = "/api/webhooks/twilio/inbound"
HELD_LINE_PATH = "/api/voice/held-line"
COUNTRIES = twilio_numbers.SUPPORTED_COUNTRIES
WHAT = "phone numbers"


class NumberFailed(Exception):
    """A provider refused: ``str(e)`` is "Failed to <action> phone number: <the provider's reason>"."""

    def __init__(self, reason: str, *, action: str = "provision") -> None:
        self.reason = str(reason)
        self.action = action
        super().__init__(f"Failed to {action} phone number: {self.reason}")


# --- plain facts -----------------------------------------------------------------------------------------------
def flag(country: str | None) -> str:
    """The flag emoji of an ISO 3166-1 alpha-2 code ("US" -> 🇺🇸); empty for anything else."""
    code = (country or "").upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in code)


def country_name(country: str | None) -> str:
    return COUNTRIES.get((country or "").upper(), (country or "", ""))[0]


def clean_label(label) -> str:
    """The label stripped; ValidationFailed ({"label"}) when it is not text of at most 64 characters."""
    if label is None:
        return ""
    if not isinstance(label, str):
        raise ValidationFailed({"label": "The label must be text."})
    text = " ".join(label.split())
    if len(text) > LABEL_MAX:
        raise ValidationFailed({"label": f"The label is at most {LABEL_MAX} characters."})
    return text


def clean_country(country) -> str:
    """The ISO code upper-cased; ValidationFailed ({"country"}) outside the 14 countries."""
    try:
        return twilio_numbers.country_code(country if isinstance(country, str) else "")
    except twilio_numbers.UnsupportedCountry:
        raise ValidationFailed({"country": "Choose one of the supported countries: "
                                           f"{', '.join(COUNTRIES)}."}) from None


# --- reading ---------------------------------------------------------------------------------------------------
def _visible(user: User):
    orgs = Membership.select(Membership.organization).where(Membership.user == user)
    return (((PhoneNumber.user == user) & PhoneNumber.organization.is_null())
            | PhoneNumber.organization.in_(orgs))


def numbers_of(user: User) -> list[PhoneNumber]:
    """The account's numbers and those of its organizations, active and held, newest first."""
    return list(PhoneNumber.select().where(_visible(user) & (PhoneNumber.status != "released"))
                .order_by(PhoneNumber.created_at.desc(), PhoneNumber.id.desc()))


def get_number(user: User, number_id: str, *, manage: bool = False) -> PhoneNumber:
    """The number if ``user`` may see it (NotFound otherwise); with ``manage``, Forbidden for an organization's
    number unless ``user`` is one of its OWNERs or ADMINs."""
    number = PhoneNumber.get_or_none((PhoneNumber.id == str(number_id)) & (PhoneNumber.status != "released"))
    if number is None:
        raise NotFound("Phone number not found")
    if number.organization_id is None:
        if number.user_id != user.id:
            raise NotFound("Phone number not found")
        return number
    row = organizations.membership(number.organization_id, user)
    if row is None:
        raise NotFound("Phone number not found")
    if manage and row.role not in organizations.MANAGERS:
        raise Forbidden(organizations.NEEDS_ADMIN)
    return number


def can_manage(user: User, number: PhoneNumber) -> bool:
    if number.organization_id is None:
        return number.user_id == user.id
    row = organizations.membership(number.organization_id, user)
    return row is not None and row.role in organizations.MANAGERS


def agents_using(number: PhoneNumber) -> list[VoiceAgent]:
    return list(VoiceAgent.select().where((VoiceAgent.phone_number == number) & VoiceAgent.deleted_at.is_null())
                .order_by(VoiceAgent.created_at))


# --- plan limits -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _PlanOf:
    """An organization as ``plans`` reads an account: its own plan, nothing above it."""
    plan: str
    id: None = None


def _plan_holder(user: User, organization: Organization | None):
    return user if organization is None else _PlanOf(organization.plan)


def _active_count(user: User, organization: Organization | None) -> int:
    scope = (PhoneNumber.organization == organization) if organization is not None else (
        (PhoneNumber.user == user) & PhoneNumber.organization.is_null())
    return PhoneNumber.select().where(scope & (PhoneNumber.status == "active")).count()


def check_limit(user: User, organization: Organization | None = None) -> None:
    """PlanLimitReached when the account (or the organization) may not have one more active number."""
    holder = _plan_holder(user, organization)
    plans.check_feature(holder, "messaging_numbers", WHAT)
    plans.check_count(holder, "messaging_numbers", _active_count(user, organization), WHAT)


def allowance(user: User) -> tuple[int, int]:
    """(active personal numbers, the plan's limit) for the page's "1 of 5" line."""
    return _active_count(user, None), plans.limits_for(user).messaging_numbers


def _lock(user: User, organization: Organization | None) -> None:
    if is_postgres():                   # SQLite: the transaction already holds the write lock
        if organization is not None:
            list(Organization.select(Organization.id).where(Organization.id == organization.id).for_update())
        else:
            list(User.select(User.id).where(User.id == user.id).for_update())


# --- provisioning ----------------------------------------------------------------------------------------------
def _organization(user: User, organization) -> Organization | None:
    if organization is None or organization == "":
        return None
    org_id = organization.id if isinstance(organization, Organization) else str(organization)
    org, _row = organizations.require_member(org_id, user, *organizations.MANAGERS)
    return org


def _buy(country: str, label: str) -> tuple[str, twilio_numbers.OwnedNumber]:
    """Search (local first, toll-free when no local number is offered) and buy the first number still there."""
    offered = twilio_numbers.search(country)
    if not offered:
        raise twilio_numbers.NumberError(f"Twilio has no phone number available in {country_name(country)} "
                                         "right now.")
    sms_url = settings.base_url() + SMS_PATH
    last: twilio_numbers.NumberError | None = None
    for candidate in offered:
        try:
            return candidate.kind, twilio_numbers.purchase(candidate.phone_number, friendly_name=label or None,
                                                           sms_url=sms_url)
        except twilio_numbers.NumberError as exc:
            if exc.code != 21422:          # taken meanwhile: try the next one; anything else stops here
                raise
            last = exc
    assert last is not None
    raise last


def provision_number(user: User, country: str, *, label: str = "", organization=None) -> PhoneNumber:
    """Buy a number in ``country`` for ``user`` (or for ``organization``, an Organization or its id).

    Raises ValidationFailed (country, label), NotFound / Forbidden (the organization), PlanLimitReached, or
    NumberFailed when Twilio is not configured or refuses."""
    code = clean_country(country)
    text = clean_label(label)
    org = _organization(user, organization)
    check_limit(user, org)
    if not settings.numbers_configured():
        raise NumberFailed(twilio_numbers.MISSING_SETTINGS_NOTE)
    try:
        kind, owned = _buy(code, text)
    except IntegrationError as exc:
        raise NumberFailed(str(exc)) from exc
    try:
        with transaction():
            _lock(user, org)
            check_limit(user, org)      # again: another request may have taken the last place meanwhile
            number = PhoneNumber.create(
                user=user, organization=org, e164=owned.phone_number, country=code,
                number_type=twilio_numbers.TOLL_FREE if kind == twilio_numbers.TOLL_FREE else "local",
                twilio_sid=owned.sid, label=text)
    except Exception:
        _release_at_twilio(owned.sid)
        raise
    log.info("provisioned phone number %s (%s) for user %s", number.id, kind, user.id)
    return number


def _release_at_twilio(sid: str) -> None:
    try:
        twilio_numbers.release(sid)
    except Exception:                   # noqa: BLE001 (logged: an operator releases it by hand)
        log.exception("could not release the Twilio number %s after a failed provisioning", sid)


def _client(action: str):
    """The ElevenLabs client; NumberFailed when voice agents are not configured."""
    try:
        return settings.client()
    except ValueError as exc:
        raise NumberFailed(f"ElevenLabs is not configured ({exc}).", action=action) from exc


def bind_to_agent(number: PhoneNumber, agent: VoiceAgent) -> None:
    """Import the number into ElevenLabs (once) and assign it to the agent; the agent's ``phone_number`` is set."""
    stored = PhoneNumber.get_or_none(PhoneNumber.id == number.id)
    if stored is None or stored.status != "active":
        raise NumberFailed("the number is on hold or released.")
    number.elevenlabs_phone_id = stored.elevenlabs_phone_id      # another copy of the row may have imported it
    if not agent.elevenlabs_agent_id:
        raise NumberFailed("the agent has no ElevenLabs agent.")
    mine = (number.organization_id == agent.organization_id if number.organization_id is not None
            else agent.organization_id is None and number.user_id == agent.user_id)
    if not mine:
        raise NumberFailed("the number belongs to another account.")
    client = _client("provision")
    cfg = current_app.config
    try:
        if not number.elevenlabs_phone_id:
            number.elevenlabs_phone_id = client.import_twilio_number(
                phone_number=number.e164, label=number.label or number.e164,
                account_sid=cfg.get("TWILIO_ACCOUNT_SID") or "", auth_token=cfg.get("TWILIO_AUTH_TOKEN") or "")
            PhoneNumber.update(elevenlabs_phone_id=number.elevenlabs_phone_id).where(
                PhoneNumber.id == number.id).execute()
        client.assign_phone_number(number.elevenlabs_phone_id, agent.elevenlabs_agent_id)
    except (IntegrationError, ValueError) as exc:
        raise NumberFailed(str(exc)) from exc
    agent.phone_number = number
    VoiceAgent.update(phone_number=number.id, updated_at=utcnow()).where(VoiceAgent.id == agent.id).execute()


def discard_purchase(number: PhoneNumber) -> None:
    """Undo a provisioning: delete the number at ElevenLabs (if imported), release it at Twilio, delete the row.
    Never raises: a release Twilio refuses leaves the row held and due, so the daily task tries again."""
    stored = PhoneNumber.get_or_none(PhoneNumber.id == number.id)
    phone_id = number.elevenlabs_phone_id or (stored.elevenlabs_phone_id if stored is not None else None)
    try:
        if phone_id:
            _delete_at_elevenlabs(phone_id, "discard")
    except Exception:                   # noqa: BLE001
        log.exception("could not remove the phone number %s from ElevenLabs while discarding it", number.id)
    released = True
    try:
        twilio_numbers.release(number.twilio_sid)
    except Exception:                   # noqa: BLE001
        released = False
        log.exception("could not release the phone number %s at Twilio while discarding it", number.id)
    try:
        with transaction():
            VoiceAgent.update(phone_number=None).where(VoiceAgent.phone_number == number.id).execute()
            if released:
                PhoneNumber.delete().where(PhoneNumber.id == number.id).execute()
            else:
                PhoneNumber.update(status="held", hold_until=utcnow(), elevenlabs_phone_id=None).where(
                    PhoneNumber.id == number.id).execute()
    except Exception:                   # noqa: BLE001
        log.exception("could not delete the discarded phone number %s", number.id)


def _delete_at_elevenlabs(phone_id: str, action: str) -> None:
    try:
        _client(action).delete_phone_number(phone_id)
    except RemoteNotFound:
        pass                            # already gone: what we wanted


# --- label, hold and release -----------------------------------------------------------------------------------
def set_label(number: PhoneNumber, label) -> PhoneNumber:
    """Rename the number here and at Twilio (its friendly name). ValidationFailed or NumberFailed."""
    text = clean_label(label)
    if text != number.label:
        try:
            twilio_numbers.update(number.twilio_sid, friendly_name=text or number.e164)
        except IntegrationError as exc:
            raise NumberFailed(str(exc), action="update") from exc
        number.label = text
        PhoneNumber.update(label=text).where(PhoneNumber.id == number.id).execute()
    return number


def held_line_url() -> str:
    return settings.base_url() + HELD_LINE_PATH


def hold_number(number: PhoneNumber, *, now: datetime | None = None) -> None:
    """Put an active number on its 30-day hold (see the module docstring); a held or released one is left as it
    is. Raises NumberFailed ("Failed to release phone number: ...") when a provider refuses."""
    fresh = PhoneNumber.get_or_none(PhoneNumber.id == number.id)
    if fresh is None or fresh.status != "active":
        if fresh is not None:
            number.status, number.hold_until = fresh.status, fresh.hold_until
        return
    if fresh.elevenlabs_phone_id:
        try:
            _delete_at_elevenlabs(fresh.elevenlabs_phone_id, "release")
        except IntegrationError as exc:
            raise NumberFailed(str(exc), action="release") from exc
        PhoneNumber.update(elevenlabs_phone_id=None).where(PhoneNumber.id == fresh.id).execute()
        number.elevenlabs_phone_id = None
    gone = False
    try:
        twilio_numbers.update(fresh.twilio_sid, voice_url=held_line_url())
    except twilio_numbers.NumberError as exc:
        if exc.status != 404:
            raise NumberFailed(str(exc), action="release") from exc
        gone = True                     # no longer on the Twilio account (released there by hand): nothing to hold
    except IntegrationError as exc:
        raise NumberFailed(str(exc), action="release") from exc
    at = now or utcnow()
    until = at + timedelta(days=HOLD_DAYS)
    changes = {"status": "released", "released_at": at} if gone else {"status": "held", "hold_until": until}
    with transaction():
        VoiceAgent.update(phone_number=None, updated_at=utcnow()).where(
            VoiceAgent.phone_number == fresh.id).execute()
        # messaging agents on the number stop answering (their page shows the number on hold)
        MessagingAgent.update(is_active=False, updated_at=utcnow()).where(
            MessagingAgent.phone_number == fresh.id).execute()
        PhoneNumber.update(**changes).where((PhoneNumber.id == fresh.id) & (PhoneNumber.status == "active")).execute()
    for name, value in changes.items():
        setattr(number, name, value)
    try:                                # its WhatsApp sender is deregistered too (tasks/whatsapp.py)
        queue.enqueue("deregister_whatsapp_sender", fresh.id)
    except Exception:                   # noqa: BLE001 (the hold stands; the WhatsApp poll deregisters it later)
        log.exception("could not queue the WhatsApp deregistration of phone number %s", fresh.id)
    log.info("phone number %s is %s", fresh.id, "released (gone from Twilio)" if gone else f"held until {until}")


def release_due_numbers(now: datetime | None = None) -> int:
    """Give back to Twilio every held number whose hold is over; how many were released. A number Twilio
    refuses to release stays held and due (logged): the next run tries again."""
    now = now or utcnow()
    due = list(PhoneNumber.select().where((PhoneNumber.status == "held") & (PhoneNumber.hold_until <= now))
               .order_by(PhoneNumber.hold_until))
    released = 0
    for number in due:
        try:
            if number.elevenlabs_phone_id:
                _delete_at_elevenlabs(number.elevenlabs_phone_id, "release")
            twilio_numbers.release(number.twilio_sid)          # False: already gone from the account
        except Exception as exc:         # noqa: BLE001 (one number's failure does not stop the others)
            log.warning("could not release the held phone number %s: %s", number.id, exc)
            continue
        released += PhoneNumber.update(status="released", released_at=now, elevenlabs_phone_id=None).where(
            (PhoneNumber.id == number.id) & (PhoneNumber.status == "held")).execute()
    return released


# --- the held line ---------------------------------------------------------------------------------------------
GENERIC_LINE = "Sorry, the number you have called is not in service. Goodbye."


def booking_address(user: User) -> str:
    """The host's booking page as it is spoken: ``cal.example.com/hana`` (no scheme)."""
    parts = urlsplit(settings.base_url())
    return f"{parts.netloc}{parts.path.rstrip('/')}/{user.username}"


def held_line_text(called: str | None) -> str:
    """What a caller of ``called`` hears: the line moved and the booking page, for a held number; else a polite
    generic message."""
    number = None
    if called:
        number = (PhoneNumber.select(PhoneNumber, User).join(User)
                  .where((PhoneNumber.e164 == called.strip()) & (PhoneNumber.status == "held"))
                  .order_by(PhoneNumber.created_at.desc()).first())
    if number is None:
        return GENERIC_LINE
    owner = number.user
    return (f"Thank you for calling. This line has moved and no longer takes calls for {owner.name}. "
            f"To book a meeting with {owner.name}, please visit {booking_address(owner)}. Goodbye.")


# --- JSON ------------------------------------------------------------------------------------------------------
def number_json(number: PhoneNumber) -> dict:
    return {
        "id": number.id,
        "phoneNumber": number.e164,
        "countryCode": number.country,
        "countryName": country_name(number.country),
        "flag": flag(number.country),
        "numberType": number.number_type,
        "label": number.label,
        "status": number.status,
        "holdUntil": iso(number.hold_until),
        "organizationId": number.organization_id,
        "agents": [{"id": agent.id, "agentName": agent.name, "isActive": agent.is_active}
                   for agent in agents_using(number)],
        "createdAt": iso(number.created_at),
    }
