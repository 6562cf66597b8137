"""How a call to another service failed, classified for the caller: the one vocabulary of every integration
(Google, Microsoft, Zoom, Webex, CalDAV servers, ICS feeds).

Four kinds, and what a caller does with each:

* ``TransientError``: worth trying again later (timeouts, connection errors, 5xx, 429 and rate-limit 403s).
  ``retry_after`` holds the provider's ``Retry-After`` in seconds when it sent one.
* ``PermanentError``: retrying the same request will fail the same way (other 4xx, answers that make no sense).
  * ``AuthRevoked``: the service no longer accepts LinkTime's access (401; a CalDAV server's 401/403; an OAuth
    token endpoint's ``invalid_grant``). The connection needs the user's attention. Two OAuth cases are told apart:
    * ``GrantRevoked``: the token endpoint answered ``invalid_grant`` for a refresh token (or a code), or the
      connection was removed: the user revoked access or the grant expired. Disconnect and tell the user.
    * ``Unauthorized``: an API answered 401 to an access token. Refresh once and retry; if a fresh token is
      refused too, treat the connection as broken.
  * ``NotFound``: the event, meeting or calendar does not exist (any more): 404 and 410.
  * ``PreconditionFailed``: 412, a conditional write (``If-Match`` / ``If-None-Match``) did not hold.
  * ``AuthorizationFailed``: the OAuth redirect came back with ``error=`` (e.g. ``access_denied``) or a
    ``state`` that does not match the one stored for the flow.

Every error carries ``provider``, ``status`` (HTTP status or ``None``), ``code`` (the provider's error code
when it sent one) and a message that never contains a token or password. ``transient`` mirrors the class.
``except IntegrationError`` catches every integration's failure.
"""
from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class IntegrationError(Exception):
    transient = False

    def __init__(self, message: str, *, provider: str = "", status: int | None = None, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.code = code
        self.retry_after = retry_after


class TransientError(IntegrationError):
    transient = True


class PermanentError(IntegrationError):
    pass


class AuthRevoked(PermanentError):
    pass


class GrantRevoked(AuthRevoked):
    pass


class Unauthorized(AuthRevoked):
    pass


class NotFound(PermanentError):
    pass


class PreconditionFailed(PermanentError):
    pass


class AuthorizationFailed(PermanentError):
    pass


def classify_status(status: int, what: str, *, provider: str = "") -> IntegrationError:
    """The error for an HTTP status a calendar server (CalDAV, ICS feed) answered; ``what`` starts the message."""
    kwargs = {"provider": provider, "status": status}
    if status == 401:
        return AuthRevoked(f"{what}: the server refused the user name or password (401).", **kwargs)
    if status == 403:
        return AuthRevoked(f"{what}: access denied (403).", **kwargs)
    if status in (404, 410):
        return NotFound(f"{what}: not found on the server ({status}).", **kwargs)
    if status == 412:
        return PreconditionFailed(f"{what}: the event changed on the server (412).", **kwargs)
    if status == 429 or status >= 500:
        return TransientError(f"{what}: the server answered {status}; will try again.", **kwargs)
    return PermanentError(f"{what}: the server answered {status}.", **kwargs)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header's wait in seconds, given as a number of seconds or as an HTTP date (RFC 9110); None
    when absent or unreadable, never negative."""
    value = str(value or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
