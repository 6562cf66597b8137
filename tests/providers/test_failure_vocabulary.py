"""One vocabulary of failures for every integration client: whatever the service, 5xx / 429 / a timeout is a
TransientError, a refused credential (401, ``invalid_grant``) is AuthRevoked, 404 / 410 is NotFound, and
``except IntegrationError`` catches them all. The OAuth clients against their local fakes; CalDAV and ICS feeds
against a local server answering the status under test."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.integrations import errors, ics_feed
from app.integrations.caldav import CalDAVClient
from app.integrations.errors import (
    AuthRevoked,
    GrantRevoked,
    IntegrationError,
    NotFound,
    PermanentError,
    PreconditionFailed,
    TransientError,
    Unauthorized,
)
from app.integrations.google import GoogleClient
from app.integrations.microsoft import MicrosoftClient
from app.integrations.webex import WebexClient
from app.integrations.zoom import ZoomClient
from tests.fakes.google import GoogleFake
from tests.fakes.microsoft import MicrosoftFake
from tests.fakes.webex import WebexFake
from tests.fakes.zoom import ZoomFake

from .conftest import connect

OAUTH = {"google": (GoogleFake, GoogleClient), "microsoft": (MicrosoftFake, MicrosoftClient),
         "zoom": (ZoomFake, ZoomClient), "webex": (WebexFake, WebexClient)}
MONDAY = datetime(2030, 1, 7, tzinfo=UTC)
EXPECTED = [(500, TransientError), (503, TransientError), (429, TransientError), (401, AuthRevoked),
            (404, NotFound), (410, NotFound)]


def test_the_kinds_nest_so_callers_catch_what_they_handle():
    assert issubclass(GrantRevoked, AuthRevoked) and issubclass(Unauthorized, AuthRevoked)
    for kind in (AuthRevoked, NotFound, PreconditionFailed, errors.AuthorizationFailed):
        assert issubclass(kind, PermanentError) and not kind.transient
    assert TransientError.transient and not issubclass(TransientError, PermanentError)
    assert all(issubclass(kind, IntegrationError) for kind in (TransientError, PermanentError))


@pytest.mark.parametrize(("status", "kind"), [*EXPECTED, (412, PreconditionFailed), (400, PermanentError)])
def test_classify_status_of_calendar_servers(status, kind):
    error = errors.classify_status(status, "Reading", provider="caldav")
    assert type(error) is kind and (error.status, error.provider) == (status, "caldav")


@pytest.fixture(params=sorted(OAUTH))
def oauth_client(request):
    fake_class, client_class = OAUTH[request.param]
    with fake_class() as fake:
        client = client_class(fake.client_config())
        yield fake, client, connect(client)


@pytest.mark.parametrize(("status", "kind"), EXPECTED)
def test_oauth_api_statuses(oauth_client, status, kind):
    fake, client, token = oauth_client
    fake.fail(status)
    with pytest.raises(kind) as caught:
        client.get_email(token.access_token)
    assert caught.value.status == status and caught.value.provider == client.name


def test_oauth_timeouts_and_token_endpoint_failures(oauth_client):
    fake, client, token = oauth_client
    impatient = type(client)({**fake.client_config(), "timeout": 0.3})
    fake.slow(1.0)
    with pytest.raises(TransientError):
        impatient.get_email(token.access_token)
    fake.fail(503)
    with pytest.raises(TransientError):
        client.refresh(token)
    fake.revoke_grants()
    with pytest.raises(AuthRevoked) as refused:
        client.refresh(token)
    assert isinstance(refused.value, GrantRevoked) and refused.value.code == "invalid_grant"
    with pytest.raises(AuthRevoked) as api:
        client.get_email(token.access_token)
    assert isinstance(api.value, Unauthorized)


def _caldav(server, timeout=5.0):
    return CalDAVClient(server.url, "alice", "pw", timeout=timeout, allow_private=True)


def _feed(server, timeout=5.0):
    return ics_feed.fetch(server.url + "cal.ics", timeout=timeout, allow_private=True, max_bytes=1_000_000)


CALENDAR_SERVERS = {"caldav": lambda server, **kw: _caldav(server, **kw).busy(server.url, MONDAY,
                                                                             MONDAY + timedelta(days=1), UTC),
                    "ics": _feed}


@pytest.mark.parametrize("provider", sorted(CALENDAR_SERVERS))
@pytest.mark.parametrize(("status", "kind"), EXPECTED)
def test_calendar_server_statuses(feed_server, provider, status, kind):
    feed_server.status = status
    with pytest.raises(kind) as caught:
        CALENDAR_SERVERS[provider](feed_server)
    assert caught.value.status == status and caught.value.provider == provider


@pytest.mark.parametrize("provider", sorted(CALENDAR_SERVERS))
def test_calendar_server_timeouts_are_transient(feed_server, provider):
    feed_server.delay = 1.0
    with pytest.raises(TransientError) as caught:
        CALENDAR_SERVERS[provider](feed_server, timeout=0.3)
    assert caught.value.provider == provider


def test_caldav_403_and_412(feed_server):
    feed_server.status = 403
    with pytest.raises(AuthRevoked):
        _caldav(feed_server).discover()
    feed_server.status = 412
    with pytest.raises(PreconditionFailed):
        _caldav(feed_server).put_event(feed_server.url + "e.ics", b"BEGIN:VCALENDAR", create=True)
