"""The public routing form at /<username>/route/<form-slug>: each field type on the page, inline errors, the
session-free form token and the Origin check, the rate limit, where each route sends the visitor (the booking page
with its prefill and link token, an external address, a message, "No event types available"), embeds, and the
form's views, submissions and bookings on the Analytics page."""
from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from app.models import EventType, PageViewDaily, RoutingForm, RoutingResponse
from app.services.insights import analytics, page_views
from app.services.routing import forms as form_service
from app.services.routing import responses
from app.services.scheduling import event_types as et_service
from tests import factories
from tests.conftest import login

CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")

FIELDS = [
    {"id": "name", "label": "Your name", "type": "text", "required": True},
    {"id": "email", "label": "Email", "type": "email", "required": True, "help": "We send the invitation here."},
    {"id": "size", "label": "Company size", "type": "select", "required": True, "options": ["1-10", "11-50", "51+"]},
    {"id": "topics", "label": "Topics", "type": "multiselect", "options": ["Billing", "Sales", "Support"]},
    {"id": "budget", "label": "Budget", "type": "number", "help": "In euros, a decimal comma is fine."},
    {"id": "phone", "label": "Phone", "type": "phone"},
    {"id": "notes", "label": "Notes", "type": "textarea"},
]


def html(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def host(make_user, ctx):
    return make_user("hana", name="Hana Host", plan="PRO")


@pytest.fixture
def sales(host):
    """The event type the "51+" answer leads to, with questions matching two of the form's fields."""
    return factories.new_event_type(host, name="Sales call", slug="sales-call", duration=30, questions=[
        {"id": "topics", "label": "Topics", "type": "multiselect", "options": ["Billing", "Sales", "Support"]},
        {"id": "notes", "label": "Notes", "type": "textarea"}])


def make_form(host, *, rules=None, default=None, published=True, slug="intake", description="") -> RoutingForm:
    default_route = default or {"kind": "event_type", "eventTypeId": factories.event_type(host).id}
    return form_service.create_form(host, form_service.FormInput(
        name="Intake", slug=slug, description=description, published=published, fields=FIELDS,
        rules=rules or [], default_route=default_route))


def rule(field, operator, value, route, rule_id=None):
    return {"id": rule_id or "", "conditions": [{"field": field, "operator": operator, "value": value}],
            "route": route}


@pytest.fixture
def form(host, sales):
    return make_form(host, rules=[
        rule("budget", "greater_than", "1000", {"kind": "url", "url": "https://example.com/enterprise"}),
        rule("size", "equals", "51+", {"kind": "event_type", "eventTypeId": sales.id}),
        rule("size", "equals", "11-50", {"kind": "message", "message": "Thanks! We will **email** you."}),
    ], description="Tell us **about you**. <script>alert(1)</script>")


def hidden(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))


def answers(client, path="/hana/route/intake", **values):
    """The page's hidden inputs, then good answers, then ``values`` (None drops a key)."""
    page = client.get(path)
    assert page.status_code == 200
    data = hidden(html(page))
    data.update({"f_name": "Ann Lee", "f_email": "ann@example.com", "f_size": "1-10", "f_topics": ["Sales"],
                 "f_budget": "", "f_phone": "", "f_notes": ""})
    data.update(values)
    return {k: v for k, v in data.items() if v is not None}


def post(client, data, path="/hana/route/intake", **kwargs):
    return client.post(path, data=data, **kwargs)


# --- the page ---------------------------------------------------------------------------------------------
def test_each_field_type_is_the_right_labelled_input(client, form):
    response = client.get("/hana/route/intake")
    page = html(response)
    assert response.status_code == 200
    assert '<label for="f_name">Your name' in page and 'id="f_name" name="f_name" type="text"' in page
    assert 'id="f_email" name="f_email" type="email"' in page
    assert 'aria-describedby="h-f_email"' in page and 'id="h-f_email">We send the invitation here.' in page
    assert '<select id="f_size" name="f_size"' in page and '<option value="51+">51+</option>' in page
    assert page.count('type="checkbox"') == 3 and "<legend>Topics" in page
    assert 'id="f_budget" name="f_budget" type="text" inputmode="decimal"' in page
    assert 'id="f_phone" name="f_phone" type="tel"' in page
    assert '<textarea id="f_notes" name="f_notes"' in page
    assert "<strong>about you</strong>" in page and "<script>alert" not in page    # Markdown, sanitised
    assert "--brand:" in page and "Hana Host" in page                               # branded like booking pages
    assert 'name="form_token"' in page
    assert "Set-Cookie" not in response.headers                                      # works in third-party frames
    assert response.headers["X-Frame-Options"] == "DENY"


def test_embed_mode_is_framable_and_keeps_the_presentation_parameters(client, form):
    response = client.get("/hana/route/intake?embed=true&tz=America/New_York&hour=12&hideHeader=true&name=Ann")
    page = html(response)
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers
    assert "is-embed" in page and "embed-child." in page and 'class="host-header"' not in page
    assert {"embed": "true", "tz": "America/New_York", "hour": "12", "hideHeader": "true",
            "name": "Ann"}.items() <= hidden(page).items()
    assert 'id="f_name" name="f_name" type="text" value="Ann"' in page     # the embed's name fills the name field


@pytest.mark.parametrize("path", ["/hana/route/nope", "/nobody/route/intake"])
def test_unknown_form_or_user_is_404(client, form, path):
    assert client.get(path).status_code == 404


def test_draft_form_is_404_even_in_an_embed(client, host):
    make_form(host, published=False)
    response = client.get("/hana/route/intake?embed=true")
    assert response.status_code == 404 and "X-Frame-Options" not in response.headers
    assert client.post("/hana/route/intake", data={}).status_code == 404


# --- errors -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("values", "field", "message"), [
    ({"f_name": ""}, "f_name", "This question needs an answer."),
    ({"f_size": ""}, "f_size", "Choose an option."),
    ({"f_email": "ann@"}, "f_email", "Enter a valid email address."),
    ({"f_phone": "12"}, "f_phone", "Enter a valid phone number"),
    ({"f_budget": "lots"}, "f_budget", "Enter a number"),
    ({"f_name": "x" * 501}, "f_name", "Keep this under 500 characters."),
    ({"f_notes": "x" * 5001}, "f_notes", "Keep this under 5,000 characters."),
])
def test_bad_answers_are_shown_inline_and_nothing_is_stored(client, form, values, field, message):
    response = post(client, answers(client, **values))
    page = html(response)
    assert response.status_code == 422
    assert 'class="error-summary" role="alert"' in page and f'href="#{field}"' in page
    assert f'id="e-{field}">{message}' in page
    tag = re.search(rf'<(?:input|select|textarea) id="{field}"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in tag and f"e-{field}" in tag
    assert 'value="ann@example.com"' in page or field == "f_email"        # what was typed is kept
    assert RoutingResponse.select().count() == 0


def test_an_invalid_multiselect_choice_is_tied_to_its_fieldset(client, form):
    response = post(client, answers(client, f_topics=["Sales", "Bribes"]))
    page = html(response)
    assert response.status_code == 422
    assert re.search(r'<fieldset class="field has-error" aria-describedby="e-f_topics" aria-invalid="true">', page)
    assert 'value="Sales" checked' in page


def test_the_phone_number_is_stored_in_e164(client, form):
    post(client, answers(client, f_phone="+49 30 901820"))
    assert RoutingResponse.get().answers["phone"] == "+4930901820"


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_missing_or_forged_form_token_is_refused(client, form, token):
    data = answers(client, form_token=token)
    response = post(client, data)
    assert response.status_code == 400 and "This form expired or was sent from another site" in html(response)
    assert 'value="Ann Lee"' in html(response)
    assert RoutingResponse.select().count() == 0


def test_expired_form_token_or_another_forms_token_is_refused(client, host, form, monkeypatch):
    from app.web.routing_public import token_serializer
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now - 25 * 3600)
    old = token_serializer().dumps(form.id)
    monkeypatch.undo()
    assert post(client, answers(client, form_token=old)).status_code == 400
    other = make_form(host, slug="other")
    assert post(client, answers(client, form_token=token_serializer().dumps(other.id))).status_code == 400
    assert RoutingResponse.select().count() == 0


def test_a_post_from_another_site_is_refused(client, form):
    data = answers(client)
    refused = post(client, data, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 400 and RoutingResponse.select().count() == 0
    assert post(client, data, headers={"Origin": "http://localhost"}).status_code == 303


def test_submissions_are_rate_limited_per_ip(client, form):
    data = answers(client, f_name="")
    for _ in range(10):
        assert post(client, data).status_code == 422
    limited = post(client, data)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert post(client, data, environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 422


def test_the_form_works_with_csrf_protection_on_and_no_session(app_factory):
    app = app_factory(WTF_CSRF_ENABLED=True)
    from app.db import db
    with app.app_context(), db.connection_context():
        make_form(factories.user("hana", plan="PRO"))
    data = answers(app.test_client())
    assert app.test_client().post("/hana/route/intake", data=data).status_code == 303


# --- routes -----------------------------------------------------------------------------------------------
def test_an_event_type_route_redirects_to_its_booking_page_with_the_prefill(client, form, sales):
    response = post(client, answers(client, "/hana/route/intake?embed=true&tz=America/New_York&hour=12",
                                    f_size="51+", f_topics=["Billing", "Support"], f_notes="Invoices"))
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    params = parse_qs(location.query)
    assert location.path == "/hana/sales-call"
    assert params["name"] == ["Ann Lee"] and params["email"] == ["ann@example.com"]
    assert params["q_topics"] == ["Billing", "Support"] and params["q_notes"] == ["Invoices"]
    assert params["embed"] == ["true"] and params["tz"] == ["America/New_York"] and params["hour"] == ["12"]
    stored = RoutingResponse.get()
    assert responses.response_for_token(params["routing"][0]).id == stored.id
    assert stored.route == {"kind": "event_type", "eventTypeId": sales.id}


def test_without_embed_the_redirect_carries_only_what_the_page_had(client, form):
    response = post(client, answers(client))
    location = urlsplit(response.headers["Location"])
    assert location.path == "/hana/30-min"
    assert set(parse_qs(location.query)) == {"name", "email", "routing"}


def test_a_team_event_type_route_goes_to_the_team_booking_page(client, host, make_user):
    team = factories.team(host, [])
    intro = factories.team_event_type(host, team, [host])
    make_form(host, default={"kind": "event_type", "eventTypeId": intro.id})
    response = post(client, answers(client))
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/team/sales/intro-call"


def test_an_external_route_continues_with_a_page_not_a_form_redirect(client, form):
    response = post(client, answers(client, f_budget="1500,5"))
    page = html(response)
    assert response.status_code == 200
    assert '<meta http-equiv="refresh" content="0;url=https://example.com/enterprise">' in page
    assert 'href="https://example.com/enterprise"' in page and 'target="_top"' not in page
    assert RoutingResponse.get().route["kind"] == "url"


def test_an_external_route_in_an_embed_leaves_the_frame(client, form):
    response = post(client, answers(client, "/hana/route/intake?embed=true", f_budget="2000"))
    page = html(response)
    assert response.status_code == 200 and "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert 'target="_top"' in page and 'data-top-url="https://example.com/enterprise"' in page
    assert "http-equiv=\"refresh\"" not in page
    script = re.search(r'<script src="([^"]+continue\.js)"', page).group(1)
    js = client.get(script)
    assert js.status_code == 200 and js.mimetype == "text/javascript" and "window.top.location" in html(js)


def test_a_message_route_shows_the_message_on_the_forms_page(client, form):
    response = post(client, answers(client, f_size="11-50"))
    page = html(response)
    assert response.status_code == 200
    assert "Thanks! We will <strong>email</strong> you." in page and 'name="form_token"' not in page
    assert RoutingResponse.select().count() == 1


@pytest.mark.parametrize("change", [{"status": "draft"}, {"is_secret": True}])
def test_a_target_that_cannot_be_booked_shows_no_event_types_available(client, form, sales, change):
    et_service.update_event_type(sales, et_service.EventTypeInput(**change))
    response = post(client, answers(client, f_size="51+"))
    assert response.status_code == 200 and "No event types available" in html(response)
    assert RoutingResponse.select().count() == 1


# --- analytics ----------------------------------------------------------------------------------------------
def test_views_submissions_and_bookings_of_a_form_show_on_the_analytics_page(app, client, host, form, sales):
    visitor = app.test_client()
    headers = {"User-Agent": CHROME}
    visitor.get("/hana/route/intake", headers=headers)
    visitor.get("/hana/route/intake?embed=true", headers=headers)
    data = answers(visitor, f_size="51+")
    visitor.post("/hana/route/intake", data=data, headers=headers)
    post(visitor, answers(visitor, f_size="11-50"), headers=headers)
    page_views.flush()
    key = page_views.form_page(form.id)
    assert sum(row.views for row in PageViewDaily.select().where(PageViewDaily.page == key)) == 2
    assert not EventType.select().where(EventType.id == key).exists()
    booking = factories.booking_row(sales, datetime.now(UTC).replace(microsecond=0) + timedelta(days=8))
    routed = next(r for r in RoutingResponse.select() if r.route["kind"] == "event_type")
    responses.link_booking(responses.link_token(routed), booking)
    assert RoutingResponse.get_by_id(routed.id).booking_id == booking.id
    [row] = analytics.page_analytics(host).forms
    assert (row.views, row.visitors, row.submissions, row.bookings) == (2, 2, 2, 1)
    assert row.conversion_rate == 50.0
    login(client, host)
    page = html(client.get("/dashboard/analytics?tab=page-views"))
    table = page[page.index('id="form-conversions"'):]
    table = table[:table.index("</table>")]
    assert "Intake" in table and "/route/intake" in table
    assert re.findall(r'<td class="num">([^<]+)</td>', table) == ["2", "2", "2", "1", "50.0%"]


def test_the_hosts_own_visits_are_not_counted(client, host, form):
    login(client, host)
    client.get("/hana/route/intake", headers={"User-Agent": CHROME})
    page_views.flush()
    assert PageViewDaily.select().count() == 0
