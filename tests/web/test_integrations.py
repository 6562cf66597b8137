"""Settings → Integrations over HTTP: connect, inline errors, choose calendars, disconnect, authorisation."""
from __future__ import annotations

import pytest

from app.models import AuditLog, Integration, IntegrationCalendar
from app.services.errors import ValidationFailed
from app.services.integrations import connections
from tests.conftest import login
from tests.web.conftest import data

HTMX = {"HX-Request": "true"}
APP_PASSWORD = "app-pass-1234"


@pytest.fixture
def signed_in(client, host):
    login(client, host)
    return client


def connect(client, radicale, password=APP_PASSWORD, headers=None):
    return client.post("/settings/integrations/caldav", headers=headers or {},
                       data={"server_url": radicale.url, "username": "alice", "password": password})


def test_page_lists_calendar_connect_forms_and_the_video_group(signed_in):
    html = signed_in.get("/settings/integrations").get_data(as_text=True)
    assert "Calendars" in html and 'id="connect-caldav"' in html and 'id="connect-icloud"' in html
    assert 'id="connect-ics"' in html and "caldav.icloud.com" in html
    assert "Video Conferencing" in html
    # no Google / Zoom / Teams / Webex app is configured on this server: nothing to connect, no dead button, and no
    # Google Meet card asking to connect a Google Calendar that cannot be connected here
    assert 'id="integration-google-meet"' not in html and "connect Google Calendar above" not in html
    assert 'id="connect-zoom"' not in html and 'id="connect-teams"' not in html and 'id="connect-webex"' not in html
    assert 'href="/settings/integrations"' in html    # the settings tab


def test_page_needs_sign_in(client):
    response = client.get("/settings/integrations")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_connect_caldav_with_htmx_shows_connected_account_and_calendars(app, signed_in, radicale):
    radicale.make_calendar("Work")
    response = connect(signed_in, radicale, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="integrations-panel"')     # the partial, not the page
    assert "Connected" in html and "status-connected" in html and "alice" in html
    assert 'id="calendar-list"' in html and "Work" in html
    assert APP_PASSWORD not in html
    with data(app):
        assert Integration.select().count() == 1
        assert AuditLog.select().where(AuditLog.action == "integration.connected").count() == 1


def test_plain_form_post_redirects_back_to_the_page(signed_in, radicale):
    radicale.make_calendar("Work")
    response = connect(signed_in, radicale)
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/integrations")
    page = signed_in.get("/settings/integrations").get_data(as_text=True)
    assert "Connected the CalDAV account" in page and "Work" in page


def test_wrong_password_is_an_inline_error_and_nothing_is_stored(app, signed_in, radicale):
    radicale.make_calendar("Work")
    response = connect(signed_in, radicale, password="nope", headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="caldav-e-password"' in html and "refused this user name and password" in html
    assert 'value="alice"' in html and "nope" not in html    # the password is never sent back
    with data(app):
        assert Integration.select().count() == 0


@pytest.mark.parametrize("form, field", [
    ({"server_url": "", "username": "", "password": ""}, "caldav-e-server_url"),
    ({"server_url": "not a url", "username": "a", "password": "b"}, "caldav-e-server_url"),
    ({"server_url": "http://127.0.0.1:9/", "username": "a", "password": "b"}, "caldav-e-server_url"),
])
def test_bad_caldav_input_is_an_inline_error(signed_in, form, field):
    response = signed_in.post("/settings/integrations/caldav", data=form, headers=HTMX)
    assert response.status_code == 422 and f'id="{field}"' in response.get_data(as_text=True)


def test_icloud_form_uses_the_icloud_server(signed_in, monkeypatch):
    from app.services.integrations import calendars

    seen = {}

    def fake_connect(user, *, server_url, username, password, ip=None):
        seen.update(server_url=server_url, username=username)
        raise ValidationFailed({"password": "refused"})

    monkeypatch.setattr(calendars, "connect_caldav", fake_connect)
    response = signed_in.post("/settings/integrations/icloud", data={"username": "me@icloud.com", "password": "x"},
                              headers=HTMX)
    assert response.status_code == 422 and 'id="icloud-e-password"' in response.get_data(as_text=True)
    assert seen == {"server_url": "https://caldav.icloud.com/", "username": "me@icloud.com"}


def test_ics_feed_connects_and_a_broken_one_is_an_inline_error(app, signed_in, feed_server):
    feed_server.body = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//T//EN\r\nX-WR-CALNAME:Rota\r\n"
                        b"END:VCALENDAR\r\n")
    ok = signed_in.post("/settings/integrations/ics", data={"feed_url": feed_server.url + "a.ics"}, headers=HTMX)
    assert ok.status_code == 200 and "Rota" in ok.get_data(as_text=True) and "Read-only" in ok.get_data(as_text=True)
    feed_server.status = 404
    bad = signed_in.post("/settings/integrations/ics", data={"feed_url": feed_server.url + "b.ics"}, headers=HTMX)
    assert bad.status_code == 422 and 'id="ics-e-feed_url"' in bad.get_data(as_text=True)
    with data(app):
        assert Integration.select().count() == 1


def test_choosing_calendars_saves_conflicts_and_one_destination(app, signed_in, radicale):
    radicale.make_calendar("Work")
    radicale.make_calendar("Home")
    connect(signed_in, radicale)
    with data(app):
        home = IntegrationCalendar.get(IntegrationCalendar.name == "Home")
        work = IntegrationCalendar.get(IntegrationCalendar.name == "Work")
    response = signed_in.post("/settings/integrations/calendars", data={"conflict": [work.id], "destination": work.id},
                              headers=HTMX)
    assert response.status_code == 200 and "Saved your calendar choices" in response.get_data(as_text=True)
    with data(app):
        home, work = IntegrationCalendar.get_by_id(home.id), IntegrationCalendar.get_by_id(work.id)
        assert (home.check_conflicts, home.is_destination) == (False, False)
        assert (work.check_conflicts, work.is_destination) == (True, True)
    signed_in.post("/settings/integrations/calendars", data={"conflict": [work.id, home.id], "destination": ""})
    with data(app):
        assert not IntegrationCalendar.select().where(IntegrationCalendar.is_destination).exists()
        assert IntegrationCalendar.select().where(IntegrationCalendar.check_conflicts).count() == 2


def test_another_users_calendar_cannot_be_chosen(app, signed_in, make_user, radicale, client):
    radicale.make_calendar("Work")
    connect(signed_in, radicale)
    with data(app):
        theirs = IntegrationCalendar.get(IntegrationCalendar.name == "Work")
    other = app.test_client()
    login(other, make_user("otto"))
    response = other.post("/settings/integrations/calendars", data={"destination": theirs.id}, headers=HTMX)
    assert response.status_code == 422 and 'id="e-destination"' in response.get_data(as_text=True)
    with data(app):
        assert IntegrationCalendar.get_by_id(theirs.id).is_destination    # unchanged


def test_disconnect_asks_for_confirmation_then_deletes_the_credentials(app, signed_in, radicale):
    radicale.make_calendar("Work")
    connect(signed_in, radicale)
    with data(app):
        integration = Integration.get()
    confirm = signed_in.get(f"/settings/integrations/{integration.id}/disconnect", headers=HTMX)
    assert confirm.status_code == 200 and 'id="confirm-disconnect"' in confirm.get_data(as_text=True)
    cancel = signed_in.get(f"/settings/integrations/{integration.id}", headers=HTMX)
    assert f'id="integration-{integration.id}"' in cancel.get_data(as_text=True)
    done = signed_in.post(f"/settings/integrations/{integration.id}/disconnect", headers=HTMX)
    assert done.status_code == 200 and "Disconnected" in done.get_data(as_text=True)
    with data(app):
        assert Integration.select().count() == 0 and IntegrationCalendar.select().count() == 0
        entry = AuditLog.get(AuditLog.action == "integration.disconnected")
        assert '"service":"CalDAV"' in entry.details


def test_another_users_integration_is_404(app, signed_in, make_user, radicale):
    radicale.make_calendar("Work")
    connect(signed_in, radicale)
    with data(app):
        integration = Integration.get()
    other = app.test_client()
    login(other, make_user("otto"))
    assert other.get(f"/settings/integrations/{integration.id}/disconnect").status_code == 404
    assert other.post(f"/settings/integrations/{integration.id}/disconnect").status_code == 404
    assert other.get(f"/settings/integrations/{integration.id}", headers=HTMX).status_code == 404
    with data(app):
        assert Integration.select().count() == 1


def test_last_error_is_shown_on_the_card(app, signed_in, radicale):
    radicale.make_calendar("Work")
    connect(signed_in, radicale)
    with data(app):
        connections.record_error(Integration.get().id, "Saving the event: the server answered 500; will try again.")
    html = signed_in.get("/settings/integrations").get_data(as_text=True)
    assert "Needs attention" in html and "the server answered 500" in html


def test_connect_without_csrf_token_is_refused(app_factory, make_user, radicale):
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    user = make_user("hana")
    page = client.get("/login")
    import re
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    client.post("/login", data={"email": user.email, "password": "correct horse battery", "csrf_token": token})
    response = client.post("/settings/integrations/caldav",
                           data={"server_url": radicale.url, "username": "alice", "password": APP_PASSWORD})
    assert response.status_code == 400
    with data(app):
        assert Integration.select().count() == 0
