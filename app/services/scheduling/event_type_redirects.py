"""Redirect after booking (issue 23): an event type's https URL the invitee is sent to once booked, optionally with
the booking's details as query parameters."""
from __future__ import annotations

import urllib.parse

from app.services.scheduling.event_types import OPTION_VALIDATORS

MAX_REDIRECT_URL = 2000


def redirect_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a redirect after booking: https only (also in development: an invitee's browser is
    sent there with the booking's details), a host name, no credentials."""
    if len(url) > MAX_REDIRECT_URL:
        return f"Use a URL of at most {MAX_REDIRECT_URL} characters."
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "A URL cannot contain spaces."
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "Enter a valid URL, like https://example.com/thanks."
    if parts.scheme.lower() != "https":
        return "Use an https:// URL."
    if not parts.hostname or "." not in parts.hostname.strip(".") and parts.hostname != "localhost":
        return "Enter a valid URL, like https://example.com/thanks."
    if parts.username is not None or parts.password is not None:
        return "A redirect URL cannot contain a user name or password."
    return None


def _redirect_url(errors: dict, value: str) -> str | None:
    url = (value or "").strip()
    if not url:
        return None
    problem = redirect_url_problem(url)
    if problem:
        errors["redirect_url"] = problem
    return url


# The query parameters "pass the booking's details" adds (named after Calendly's; documented in docs/INTEGRATIONS.md)
REDIRECT_DETAILS = ("booking_id", "event_type", "event_type_name", "host_name", "invitee_name", "invitee_email",
                    "invitee_timezone", "start_time", "end_time")


def after_booking_url(booking) -> str | None:
    """Where the invitee of ``booking`` goes once it is booked (confirmed, so paid if priced): the event type's
    redirect URL, with the booking's details as query parameters when the host asked for them; None: nowhere
    (the confirmation page)."""
    event_type = booking.event_type
    if event_type is None or not event_type.redirect_url or booking.status != "CONFIRMED":
        return None
    url = event_type.redirect_url
    if redirect_url_problem(url):             # stored before a stricter rule: never send anyone there
        return None
    if not event_type.redirect_with_details:
        return url
    details = {"booking_id": booking.id, "event_type": event_type.slug, "event_type_name": booking.event_name,
               "host_name": booking.user.name, "invitee_name": booking.invitee_name,
               "invitee_email": booking.invitee_email, "invitee_timezone": booking.invitee_timezone,
               "start_time": booking.start_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
               "end_time": booking.end_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    parts = urllib.parse.urlsplit(url)
    kept = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k not in details]
    query = urllib.parse.urlencode(kept + list(details.items()), quote_via=urllib.parse.quote)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _validate_redirect(errors: dict, changes: dict, data, current, team) -> None:
    if data.redirect_url is not None:
        changes["redirect_url"] = _redirect_url(errors, data.redirect_url)
    if data.redirect_with_details is not None:
        changes["redirect_with_details"] = bool(data.redirect_with_details)


OPTION_VALIDATORS.append(_validate_redirect)
