"""Twilio phone numbers (issue 21, groundwork): search, buy, re-point and release the instance's Twilio numbers.

Not wired yet: a later change adds the Phone Numbers pages, ``/api/agents/phone-numbers`` and the 30-day hold. This
module only speaks to Twilio, through the same official SDK client as ``twilio_sms`` (its ``_client``: the guarded
HTTP session of ``app.net``, Basic auth ``TWILIO_ACCOUNT_SID:TWILIO_AUTH_TOKEN``, base ``TWILIO_API_BASE`` so tests
point it at ``tests/fakes/twilio.py``), every call inside ``net.deadline(INTEGRATION_HTTP_TIMEOUT)``.

The requests, as Twilio documents them (API 2010-04-01, under ``/Accounts/{AccountSid}``):

* ``GET /AvailablePhoneNumbers/{CountryCode}/Local.json`` and ``.../TollFree.json`` with ``AreaCode`` (US and
  Canada), ``SmsEnabled``, ``VoiceEnabled``, ``PageSize``: ``{"available_phone_numbers": [...]}``, each with
  ``phone_number``, ``friendly_name``, ``iso_country``, ``locality``, ``region`` and ``capabilities``
  (``voice``, ``SMS``, ``MMS``, ``fax``).
* ``POST /IncomingPhoneNumbers.json``: form ``PhoneNumber`` (E.164, one just offered) and optional
  ``FriendlyName``, ``VoiceUrl``, ``SmsUrl``, ``StatusCallback``; 201 with the IncomingPhoneNumber (``sid`` ``PN...``).
* ``POST /IncomingPhoneNumbers/{Sid}.json``: the same optional fields, to re-point the number (``""`` clears one).
* ``DELETE /IncomingPhoneNumbers/{Sid}.json``: 204; the number leaves the account (Twilio recycles it later).

Provisioning (spec pages 10 and 11) is in one of the 14 ``SUPPORTED_COUNTRIES``: a local number first, a toll-free
one when the country has no local number to offer. A country outside the list is refused before any request.

Errors follow ``twilio_sms``: connection failures, timeouts, 429 and 5xx are ``TransientError``; a refused account
SID or token is ``TwilioAuthRejected``; every other refusal is a ``NumberError`` (a ``TwilioError``, so a
``PermanentError``) with Twilio's code and plain words plus Twilio's own reason.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException

from app import net
from app.integrations.errors import TransientError
from app.integrations.twilio_sms import PROVIDER, TwilioError, _classify, _client, _settings, list_page_refusal

# ISO 3166-1 alpha-2 -> (name, dial code), in the order of spec page 10's table.
SUPPORTED_COUNTRIES: dict[str, tuple[str, str]] = {
    "US": ("United States", "+1"), "CA": ("Canada", "+1"), "GB": ("United Kingdom", "+44"),
    "FR": ("France", "+33"), "DE": ("Germany", "+49"), "ES": ("Spain", "+34"), "NL": ("Netherlands", "+31"),
    "IT": ("Italy", "+39"), "AU": ("Australia", "+61"), "BR": ("Brazil", "+55"), "MX": ("Mexico", "+52"),
    "JP": ("Japan", "+81"), "SG": ("Singapore", "+65"), "AE": ("United Arab Emirates", "+971"),
}
LOCAL, TOLL_FREE = "local", "toll_free"
NUMBER_SID = re.compile(r"PN[0-9a-fA-F]{32}")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
MISSING_SETTINGS_NOTE = "Phone numbers need the server settings TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN."

_EXPLANATIONS = {
    20404: "Twilio has no such phone number on this account (Twilio error 20404).",
    21421: "The phone number is not valid (Twilio error 21421).",
    21422: "The phone number is no longer available to buy (Twilio error 21422).",
    21402: "A webhook address for the number is not a valid URL (Twilio error 21402).",
}

T = TypeVar("T")


class NumberError(TwilioError):
    """Twilio refused a phone-number request (``code``: Twilio's error code, or None)."""


class UnsupportedCountry(NumberError):
    """The country is not one of the 14 where LinkTime provisions numbers; nothing was asked of Twilio."""


@dataclass(frozen=True)
class AvailableNumber:
    phone_number: str
    friendly_name: str
    iso_country: str
    kind: str                          # LOCAL or TOLL_FREE
    voice: bool
    sms: bool
    locality: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class OwnedNumber:
    sid: str
    phone_number: str
    friendly_name: str
    voice_url: str | None
    sms_url: str | None
    status_callback: str | None
    voice: bool
    sms: bool


def configured(config: Mapping[str, Any] | None = None) -> bool:
    """The account SID and auth token are set (no sender is needed to manage numbers)."""
    cfg = _settings(config)
    return bool(cfg.get("TWILIO_ACCOUNT_SID") and cfg.get("TWILIO_AUTH_TOKEN"))


def country_code(country: str) -> str:
    """The ISO code upper-cased if LinkTime provisions numbers there; ``UnsupportedCountry`` otherwise."""
    code = str(country or "").strip().upper()
    if code not in SUPPORTED_COUNTRIES:
        raise UnsupportedCountry(f"Phone numbers cannot be provisioned in {country!r}: choose one of "
                                 f"{', '.join(SUPPORTED_COUNTRIES)}.")
    return code


# --- the calls -------------------------------------------------------------------------------------------------
def search(country: str, *, area_code: str | None = None, sms: bool | None = None, voice: bool | None = True,
           limit: int = 5, config: Mapping[str, Any] | None = None) -> list[AvailableNumber]:
    """Numbers on offer in ``country``: local ones (``area_code`` narrows them in the US and Canada), or toll-free
    ones when Twilio has no local number matching; an empty list when neither has any."""
    code = country_code(country)
    client, timeout = _ready(config)
    filters: dict[str, Any] = {"limit": max(1, min(int(limit), 50))}
    if sms is not None:
        filters["sms_enabled"] = sms
    if voice is not None:
        filters["voice_enabled"] = voice
    country_numbers = client.available_phone_numbers(code)
    local_filters = {**filters, "area_code": area_code} if area_code else filters
    found = _call(timeout, lambda: country_numbers.local.list(**local_filters))
    kind = LOCAL
    if not found:
        found, kind = _call(timeout, lambda: country_numbers.toll_free.list(**filters)), TOLL_FREE
    return [_available(n, kind, code) for n in found]


def purchase(phone_number: str, *, friendly_name: str | None = None, voice_url: str | None = None,
             sms_url: str | None = None, status_callback: str | None = None,
             config: Mapping[str, Any] | None = None) -> OwnedNumber:
    """Buy ``phone_number`` (one ``search`` just offered) onto the account; the webhooks are optional."""
    if not isinstance(phone_number, str) or not E164.fullmatch(phone_number):
        raise NumberError(_EXPLANATIONS[21421], code=21421)
    client, timeout = _ready(config)
    params = _webhooks(friendly_name=friendly_name, voice_url=voice_url, sms_url=sms_url,
                       status_callback=status_callback)
    bought = _call(timeout, lambda: client.incoming_phone_numbers.create(phone_number=phone_number, **params))
    return _owned(bought)


def provision(country: str, *, area_code: str | None = None, friendly_name: str | None = None,
              voice_url: str | None = None, sms_url: str | None = None, status_callback: str | None = None,
              config: Mapping[str, Any] | None = None) -> OwnedNumber:
    """Search ``country`` (local first, then toll-free) and buy the first number still available."""
    offered = search(country, area_code=area_code, config=config)
    if not offered:
        name = SUPPORTED_COUNTRIES[country_code(country)][0]
        raise NumberError(f"Twilio has no phone number available in {name} right now.")
    last: NumberError | None = None
    for candidate in offered:
        try:
            return purchase(candidate.phone_number, friendly_name=friendly_name, voice_url=voice_url,
                            sms_url=sms_url, status_callback=status_callback, config=config)
        except NumberError as exc:
            if exc.code != 21422:                  # taken meanwhile: try the next one; anything else stops here
                raise
            last = exc
    assert last is not None
    raise last


def update(sid: str, *, friendly_name: str | None = None, voice_url: str | None = None, sms_url: str | None = None,
           status_callback: str | None = None, config: Mapping[str, Any] | None = None) -> OwnedNumber:
    """Change the number's label or webhooks: None leaves a field as it is, ``""`` clears a webhook."""
    _check_sid(sid)
    client, timeout = _ready(config)
    params = _webhooks(friendly_name=friendly_name, voice_url=voice_url, sms_url=sms_url,
                       status_callback=status_callback)
    return _owned(_call(timeout, lambda: client.incoming_phone_numbers(sid).update(**params)))


def release(sid: str, *, config: Mapping[str, Any] | None = None) -> bool:
    """Give the number back to Twilio; False when the account no longer has it (released before: a retry)."""
    _check_sid(sid)
    client, timeout = _ready(config)
    try:
        _call(timeout, lambda: client.incoming_phone_numbers(sid).delete())
    except NumberError as exc:
        if exc.status == 404:
            return False
        raise
    return True


# --- helpers ---------------------------------------------------------------------------------------------------
def _ready(config: Mapping[str, Any] | None):
    cfg = _settings(config)
    if not configured(cfg):
        raise NumberError(MISSING_SETTINGS_NOTE)
    return _client(cfg)


def _check_sid(sid: str) -> None:
    if not isinstance(sid, str) or not NUMBER_SID.fullmatch(sid):
        raise NumberError(f"{sid!r} is not a Twilio phone number SID (PN followed by 32 hex digits).")


def _webhooks(**fields: str | None) -> dict[str, str]:
    return {name: value for name, value in fields.items() if value is not None}


def _call(timeout: float, request: Callable[[], T]) -> T:
    try:
        with net.deadline(timeout):
            return request()
    except (TwilioRestException, TwilioServiceException) as exc:
        raise _refusal(exc) from exc
    except (requests.RequestException, OSError, net.AddressNotAllowed) as exc:
        refused = net.refusal(exc)
        if refused is not None:
            raise NumberError(f"Twilio cannot be reached from here: {refused}") from exc
        raise TransientError("Twilio could not be reached or did not answer in time.", provider=PROVIDER) from exc
    except TwilioException as exc:
        refused = list_page_refusal(exc)                  # a list page Twilio refused: the SDK wraps it plainly
        if refused is not None:
            raise _refusal(refused) from exc
        raise TransientError("Twilio answered something unexpected.", provider=PROVIDER) from exc
    except ValueError as exc:                            # an answer that is not JSON
        raise TransientError("Twilio answered something unexpected.", provider=PROVIDER) from exc


def _refusal(exc: TwilioRestException | TwilioServiceException) -> Exception:
    classified = _classify(exc)
    if type(classified) is not TwilioError:              # transient, or the credentials refused
        return classified
    reason = str(getattr(exc, "msg", "") or "").strip()
    code, status = classified.code, classified.status
    words = _EXPLANATIONS.get(code or 0) or (f"Twilio error {code}." if code else f"Twilio refused ({status}).")
    if reason and reason not in words:
        words = f"{words} Twilio says: {reason}"
    return NumberError(words, code=code, status=status)


def _capabilities(raw: Any) -> dict[str, bool]:
    if isinstance(raw, Mapping):
        return {str(k).lower(): bool(v) for k, v in raw.items()}
    return {}


def _available(number: Any, kind: str, country: str) -> AvailableNumber:
    caps = _capabilities(getattr(number, "capabilities", None))
    return AvailableNumber(phone_number=number.phone_number, friendly_name=number.friendly_name or number.phone_number,
                           iso_country=getattr(number, "iso_country", None) or country, kind=kind,
                           voice=caps.get("voice", False), sms=caps.get("sms", False),
                           locality=getattr(number, "locality", None), region=getattr(number, "region", None))


def _owned(number: Any) -> OwnedNumber:
    sid = getattr(number, "sid", None)
    if not isinstance(sid, str) or not NUMBER_SID.fullmatch(sid):
        raise TransientError("Twilio answered a phone number without a SID.", provider=PROVIDER)
    caps = _capabilities(getattr(number, "capabilities", None))
    return OwnedNumber(sid=sid, phone_number=number.phone_number, friendly_name=number.friendly_name or "",
                       voice_url=number.voice_url or None, sms_url=number.sms_url or None,
                       status_callback=number.status_callback or None,
                       voice=caps.get("voice", False), sms=caps.get("sms", False))
