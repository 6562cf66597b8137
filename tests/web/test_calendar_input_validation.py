"""Settings → Integrations over HTTP: addresses that cannot be used are an inline error (422), never a 500, and
nothing is stored: host names that cannot be looked up, and a user name or password written into the address."""
from __future__ import annotations

import pytest

from app.models import Integration, IntegrationCalendar
from tests.conftest import login
from tests.web.conftest import data

HTMX = {"HX-Request": "true"}
FEED = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//T//EN\r\nX-WR-CALNAME:Rota\r\nEND:VCALENDAR\r\n")
BAD_HOSTS = ["a..example.com", "x" * 64 + ".example.com"]


@pytest.fixture
def signed_in(client, host):
    login(client, host)
    return client


def stored(app) -> tuple[int, int]:
    with data(app):
        return Integration.select().count(), IntegrationCalendar.select().count()


@pytest.mark.parametrize("server_name", BAD_HOSTS)
def test_an_ics_feed_on_a_host_name_that_cannot_exist_is_an_inline_error(app, signed_in, server_name):
    response = signed_in.post("/settings/integrations/ics", data={"feed_url": f"https://{server_name}/x.ics"},
                              headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="ics-e-feed_url"' in html and "is not a valid server name" in html
    assert stored(app) == (0, 0)


@pytest.mark.parametrize("server_name", BAD_HOSTS)
def test_a_caldav_server_on_a_host_name_that_cannot_exist_is_an_inline_error(app, signed_in, server_name):
    response = signed_in.post("/settings/integrations/caldav", headers=HTMX,
                              data={"server_url": f"https://{server_name}/", "username": "alice", "password": "pw"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="caldav-e-server_url"' in html and "is not a valid server name" in html
    assert stored(app) == (0, 0)


def test_a_plain_form_post_with_such_an_address_is_an_inline_error_too(app, signed_in):
    response = signed_in.post("/settings/integrations/ics", data={"feed_url": "webcal://a..example.com/x.ics"})
    assert response.status_code == 422 and "is not a valid server name" in response.get_data(as_text=True)
    assert stored(app) == (0, 0)


def test_a_caldav_address_with_the_user_name_and_password_in_it_is_refused(app, signed_in, radicale):
    radicale.make_calendar("Work")
    url = radicale.url.replace("http://", "http://alice:app-pass-1234@")
    response = signed_in.post("/settings/integrations/caldav", headers=HTMX,
                              data={"server_url": url, "username": "alice", "password": "app-pass-1234"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="caldav-e-server_url"' in html
    assert "Leave the user name and password out of the address" in html and "Password fields" in html
    assert "app-pass-1234" not in html and f'value="{radicale.url}' in html   # the address comes back without it
    assert stored(app) == (0, 0)


def test_a_feed_address_with_a_user_name_is_refused(app, signed_in, feed_server):
    feed_server.body = FEED
    url = feed_server.url.replace("http://", "http://reader:feed-secret@") + "cal.ics"
    response = signed_in.post("/settings/integrations/ics", data={"feed_url": url}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="ics-e-feed_url"' in html and "Leave the user name and password out of the address" in html
    assert "feed-secret" not in html
    assert stored(app) == (0, 0)
    assert feed_server.requests == []                 # refused before anything was fetched


def test_the_same_addresses_without_credentials_connect(app, signed_in, radicale, feed_server):
    radicale.make_calendar("Work")
    feed_server.body = FEED
    ok = signed_in.post("/settings/integrations/caldav", headers=HTMX,
                        data={"server_url": radicale.url, "username": "alice", "password": "app-pass-1234"})
    assert ok.status_code == 200
    ok = signed_in.post("/settings/integrations/ics", data={"feed_url": feed_server.url + "cal.ics"}, headers=HTMX)
    assert ok.status_code == 200
    with data(app):
        servers = sorted(i.server_url for i in Integration.select())
    assert all("@" not in s for s in servers) and len(servers) == 2
