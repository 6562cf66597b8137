"""How a call to an OAuth provider (Google, Microsoft, Zoom, Webex) failed, classified for the caller.

* ``TransientError``: worth trying again later (timeouts, connection errors, 5xx, 429 and rate-limit 403s).
  ``retry_after`` holds the provider's ``Retry-After`` in seconds when it sent one.
* ``PermanentError``: retrying the same request will fail the same way (other 4xx).
  * ``GrantRevoked``: the token endpoint answered ``invalid_grant`` for a refresh token (or a code): the user
    revoked access or the grant expired. Disconnect the integration and tell the user.
  * ``Unauthorized``: an API answered 401 to an access token. Refresh once and retry; if a fresh token is
    refused too, treat the connection as broken.
  * ``NotFound``: the event or meeting does not exist (any more).
  * ``AuthorizationFailed``: the OAuth redirect came back with ``error=`` (e.g. ``access_denied``) or a
    ``state`` that does not match the one stored for the flow.

Every error carries ``provider``, ``status`` (HTTP status or ``None``), ``code`` (the provider's error code
when it sent one) and a message that never contains a token. ``transient`` mirrors the class.
``app.integrations.ical.CalendarError`` (CalDAV servers and ICS feeds) is a subclass, so ``except
IntegrationError`` catches every integration's failure.
"""
from __future__ import annotations


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


class GrantRevoked(PermanentError):
    pass


class Unauthorized(PermanentError):
    pass


class NotFound(PermanentError):
    pass


class AuthorizationFailed(PermanentError):
    pass
