"""Dashboard usability (issue 14) through the test client: the first-run checklist, the audit log's readable
entries and honest filters, the webhook events offered, the video pointer, the minimum-notice message in the
chosen unit, the rate-limit page and API key times on the host's clock."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from app.models import AuditLog, Schedule
from tests import factories
from tests.conftest import login
from tests.web.conftest import data

HTMX = {"HX-Request": "true"}


@pytest.fixture
def signed_in(app, host):
    client = app.test_client()
    login(client, host)
    return client


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _steps(html: str) -> dict[str, str]:
    return dict(re.findall(r'id="step-([a-z-]+)" data-done="(true|false)"', html))


# --- first run ---------------------------------------------------------------------------------------------
def test_checklist_follows_the_accounts_real_state_and_goes_when_all_is_done(app, signed_in, host):
    html = _text(signed_in.get("/dashboard"))
    assert _steps(html) == {"hours": "false", "event-type": "false", "calendar": "false", "share": "false"}
    assert "0 of 4 done" in html
    later = datetime.now(UTC) + timedelta(minutes=5)
    with data(app):
        Schedule.update(updated_at=later).where(Schedule.user == host).execute()
        factories.new_event_type(host, name="Coaching")
    assert _steps(_text(signed_in.get("/dashboard"))) == {"hours": "true", "event-type": "true",
                                                          "calendar": "false", "share": "false"}
    with data(app):
        factories.connection(host)
        factories.booking_row(factories.event_type(host), datetime.now(UTC) + timedelta(days=3))
    html = _text(signed_in.get("/dashboard"))
    assert 'id="first-run"' not in html
    assert re.search(r'href="/dashboard/event-types/[^"]+/share" aria-label="Share 30', html)  # booking page card


def test_checklist_can_be_hidden_for_good(app, signed_in, host):
    assert 'id="first-run"' in _text(signed_in.get("/dashboard"))
    response = signed_in.post("/dashboard/checklist/dismiss")
    assert response.status_code == 302
    assert 'id="first-run"' not in _text(signed_in.get("/dashboard"))
    other_device = app.test_client()                      # another browser, a later sign-in: still hidden
    login(other_device, host)
    assert 'id="first-run"' not in _text(other_device.get("/dashboard"))


def test_the_dashboard_previews_the_booking_page_in_a_frame_it_may_show(signed_in, host):
    html = _text(signed_in.get("/dashboard"))
    src = re.search(r'<iframe class="page-preview" src="([^"]+)"', html).group(1)
    assert src == f"/{host.username}?embed=1"
    framed = signed_in.get(src)
    assert framed.status_code == 200 and "X-Frame-Options" not in framed.headers
    assert "frame-ancestors *" in framed.headers["Content-Security-Policy"]


def test_after_sign_up_one_welcome(app):
    client = app.test_client()
    response = client.post("/signup", data={"name": "Ada Lovelace", "email": "ada@example.com", "username": "ada",
                                            "password": "analytical engine 1843", "timezone": "Europe/London"},
                           follow_redirects=True)
    html = _text(response)
    assert response.status_code == 200 and html.count("Welcome") == 1 and "Welcome, Ada Lovelace" in html


# --- audit log ---------------------------------------------------------------------------------------------
def _audit(app, user, action, resource, resource_id, details, ip="203.0.113.9"):
    from app.services.audit import category_for

    with data(app):
        AuditLog.create(user_id=user.id, action=action, category=category_for(action), resource=resource,
                        resource_id=resource_id, ip_address=ip, details=json.dumps(details),
                        created_at=datetime(2026, 12, 5, 14, 30, tzinfo=UTC))


def test_audit_entries_read_as_text_on_the_hosts_clock(app, signed_in, host):
    weekly = {str(d): [["09:00", "17:00"]] if d < 5 else [] for d in range(7)}
    changed = {**weekly, "0": [["13:00", "17:30"]]}
    _audit(app, host, "settings.updated", "schedule", "sch123", {"field": "schedule.weekly", "oldValue": weekly,
                                                                   "newValue": changed})
    _audit(app, host, "booking.created", "booking", "cmxa42", {"inviteeEmail": "ivan@example.com",
                                                               "startTime": "2026-12-08T09:00:00.000Z"})
    with data(app):
        host.hour12 = True
        host.save()
    html = _text(signed_in.get("/settings/audit-log"))
    assert "bookingcmxa42" not in re.sub(r"<[^>]+>", "", html).replace(" ", "")
    assert re.search(r'<span class="resource-type">Booking</span><span class="cell-sub">'
                     r'<code class="resource-id">cmxa42', html)
    table = html[html.index('id="audit-table"'):]
    assert "{&#34;" not in table and '{"' not in table and "[[" not in table    # no raw JSON
    assert "Weekly hours" in html and "Mon 1:00pm – 5:30pm" in html and "Sat unavailable" in html
    assert "Invitee:</span> ivan@example.com" in html
    assert "Tue 8 Dec 2026, 10:00am" in html                                 # 09:00 UTC on a Berlin clock
    assert "Sat 5 Dec 2026, 3:30pm" in html and "2026-12-05T14:30" not in re.sub(r'datetime="[^"]+"', "", html)


def test_audit_filter_offers_only_categories_this_build_records(signed_in):
    html = _text(signed_in.get("/settings/audit-log"))
    options = re.findall(r'<option value="([a-z]+)"', html)
    assert options == ["all", "bookings", "events", "team", "settings", "integrations"]


def test_webhook_form_offers_only_events_the_product_emits(signed_in):
    html = _text(signed_in.get("/settings/webhooks/new"))
    assert 'value="booking.created"' in html and 'value="contact.created"' in html
    assert "payment.received" not in html


def test_with_a_payment_provider_payments_appear_in_the_webhook_form_and_the_audit_filter(app_factory, make_user):
    from tests.fakes.stripe import API_KEY, WEBHOOK_SECRET

    app = app_factory(STRIPE_SECRET_KEY=API_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    client = app.test_client()
    login(client, make_user("paula"))
    assert 'value="payment.received"' in _text(client.get("/settings/webhooks/new"))
    options = re.findall(r'<option value="([a-z]+)"', _text(client.get("/settings/audit-log")))
    assert options == ["all", "bookings", "events", "team", "settings", "integrations", "payments"]


# --- video pointer -----------------------------------------------------------------------------------------
def test_without_a_video_service_the_form_does_not_send_the_host_to_an_empty_page(signed_in, host, app):
    with data(app):
        et = factories.event_type(host)
    form = _text(signed_in.get(f"/dashboard/event-types/{et.id}/edit"))
    hint = re.search(r'<p class="hint" id="h-location_type">(.*?)</p>', form).group(1)
    assert "/settings/integrations" not in hint and "not set up on this server" in hint
    page = _text(signed_in.get("/settings/integrations"))
    assert 'id="video-not-configured"' in page
    for setting in ("ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET", "MICROSOFT_CLIENT_ID", "WEBEX_CLIENT_ID",
                    "GOOGLE_CLIENT_ID"):
        assert setting in page


def test_with_a_video_service_configured_the_form_points_to_integrations(app_factory, make_user):
    app = app_factory(ZOOM_CLIENT_ID="zoom-id", ZOOM_CLIENT_SECRET="zoom-secret")
    user = make_user("zed")
    client = app.test_client()
    login(client, user)
    with data(app):
        et = factories.event_type(user)
    form = _text(client.get(f"/dashboard/event-types/{et.id}/edit"))
    hint = re.search(r'<p class="hint" id="h-location_type">(.*?)</p>', form).group(1)
    assert "/settings/integrations" in hint
    page = _text(client.get("/settings/integrations"))
    assert 'id="video-not-configured"' not in page and 'id="connect-zoom-button"' in page


# --- smaller points of 15 ----------------------------------------------------------------------------------
def test_minimum_notice_error_speaks_the_chosen_unit(app, signed_in, host):
    with data(app):
        et = factories.event_type(host)
    form = signed_in.get(f"/dashboard/event-types/{et.id}/edit").get_data(as_text=True)
    fields = dict(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', form))
    fields.update({"name": et.name, "slug": et.slug, "notice_value": "9000", "notice_unit": "hours",
                   "location_type": "none", "window_type": "rolling", "recurrence": "none", "op": "save"})
    response = signed_in.post(f"/dashboard/event-types/{et.id}/edit", data=fields, headers=HTMX)
    html = _text(response)
    assert response.status_code == 422
    assert "between 0 and 8760 hours" in html and "525600" not in html


def test_rate_limit_page_says_how_long_to_wait_and_links_back(app_factory):
    app = app_factory(RATELIMIT_SIGNUP="1/hour")
    client = app.test_client()
    values = {"name": "", "email": "x", "username": "", "password": "", "timezone": "UTC"}
    client.post("/signup", data=values)
    response = client.post("/signup", data=values, headers={"Referer": "http://localhost/signup"})
    html = _text(response)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert re.search(r"You can try again in (about )?\d+ (minutes|seconds)", html)
    assert 'href="/signup" id="retry-link"' in html


def test_api_key_created_time_is_on_the_hosts_clock(app, signed_in, host):
    from app.services.developer import api_keys

    with data(app):
        key, _raw = api_keys.create_api_key(host, "Zapier")
    created = key.created_at.astimezone(UTC)
    html = _text(signed_in.get("/settings/api-keys"))
    assert f"{created:%Y-%m-%d %H:%M} UTC" not in html
    from app.datetimes import format_datetime
    assert format_datetime(created, "Europe/Berlin", style="short") in html
