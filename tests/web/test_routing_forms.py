"""Dashboard → Routing Forms: the list with the six templates, the editor (inline errors, rows added, removed and
moved without JavaScript, htmx partials, ids kept), publishing, warnings about targets, plan limits, the responses
table with its filters and the CSV export; another user's form is a 404 and every post needs the CSRF token."""
from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from werkzeug.datastructures import MultiDict

from app.models import EventType, RoutingForm, RoutingResponse
from app.services.routing import forms as service
from app.services.routing.templates import TEMPLATES, template_input
from tests import factories
from tests.conftest import login
from tests.web.conftest import data as in_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def host(make_user):
    return make_user("rita", timezone="America/New_York")


class Posting:
    """A test client whose posts take the editor's rows as a list of pairs, in the order a page posts them."""

    def __init__(self, client):
        self.client = client

    def post(self, path, data=None, **kwargs):
        return self.client.post(path, data=MultiDict(data) if isinstance(data, list) else data, **kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.fixture
def signed_in(client, host):
    login(client, host)
    return Posting(client)


@pytest.fixture
def target(app, host):
    with in_db(app):
        return factories.event_type(host)


def text(response) -> str:
    return response.get_data(as_text=True)


def field(key, label="Your name", kind="text", *, options="", required=True, help_text="") -> list[tuple]:
    rows = [("field", key), (f"field-{key}-type", kind), (f"field-{key}-label", label),
            (f"field-{key}-help", help_text), (f"field-{key}-options", options)]
    return rows + ([(f"field-{key}-required", "1")] if required else [])


def condition(rule, n, field_id, operator, *values) -> list[tuple]:
    return [(f"rule-{rule}-cond", str(n)), (f"rule-{rule}-c{n}-field", field_id),
            (f"rule-{rule}-c{n}-operator", operator)] + [(f"rule-{rule}-c{n}-value", v) for v in values]


def route(prefix, kind="event_type", value="") -> list[tuple]:
    part = {"event_type": "event_type", "url": "url", "message": "message"}.get(kind, "event_type")
    return [(f"{prefix}kind", kind), (f"{prefix}{part}", value)]


def rule(key, *conditions, kind="event_type", value="") -> list[tuple]:
    rows = [("rule", key)]
    for n, (field_id, operator, *values) in enumerate(conditions):
        rows += condition(key, n, field_id, operator, *values)
    return rows + route(f"rule-{key}-route-", kind, value)


def post_data(*rows, name="Intake", slug="intake", published=False, default=("", "")) -> list[tuple]:
    data = [("name", name), ("slug", slug), ("description", "Tell us **more**.")]
    if published:
        data.append(("published", "1"))
    for row in rows:
        data += row
    return data + route("default-route-", *default)


def simple(et_id="", **kw) -> list[tuple]:
    """A form with a select question, one rule and a default route."""
    return post_data(field("name", "Your name"), field("topic", "Topic", "select", options="Demo\nSupport"),
                     rule("demo", ("topic", "equals", "Demo"), value=et_id),
                     default=kw.pop("default", ("event_type", et_id)), **kw)


def forms_of(app, user=None):
    with in_db(app):
        query = RoutingForm.select().order_by(RoutingForm.created_at)
        if user is not None:
            query = query.where(RoutingForm.user == user)
        return list(query)


def make_form(app, user, et_id=None, *, name="Intake", slug="intake", published=False):
    data = service.FormInput(
        name=name, slug=slug, published=published,
        fields=[{"id": "name", "label": "Your name", "type": "text", "required": True},
                {"id": "topic", "label": "Topic", "type": "select", "options": ["Demo", "Support"]}],
        rules=[{"id": "demo", "conditions": [{"field": "topic", "operator": "equals", "value": "Demo"}],
                "route": {"kind": "event_type", "eventTypeId": et_id}}],
        default_route={"kind": "event_type", "eventTypeId": et_id})
    with in_db(app):
        return service.create_form(user, data)


# --- the list ---------------------------------------------------------------------------------------------------
def test_the_pages_need_a_signed_in_user(client):
    response = client.get("/dashboard/routing-forms")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_empty_list_offers_the_six_templates_and_the_nav_marks_the_page(signed_in):
    page = text(signed_in.get("/dashboard/routing-forms"))
    assert re.search(r'<a href="/dashboard/routing-forms" aria-current="page">Routing Forms</a>', page)
    assert 'id="no-forms"' in page and "Create Routing Form" in page
    assert len(TEMPLATES) == 6
    for key in TEMPLATES:
        assert f'href="/dashboard/routing-forms/new?template={key}"' in page


def test_the_list_shows_url_state_counts_and_warnings(app, signed_in, host, target):
    form = make_form(app, host, target.id, published=True)
    with in_db(app):
        RoutingResponse.create(form=form.id, answers={"name": "Ann", "topic": "Demo"}, matched_rule="demo")
        EventType.update(status="draft").where(EventType.id == target.id).execute()
    page = text(signed_in.get("/dashboard/routing-forms"))
    assert "http://localhost/rita/route/intake" in page or "/rita/route/intake" in page
    assert "Published" in page and "2 questions" in page and "1 rule" in page and "1 response" in page
    assert "2 warnings" in page        # rule 1 and the default route point at a draft


# --- create -------------------------------------------------------------------------------------------------------
def test_creating_from_scratch_keeps_the_posted_order_and_redirects(app, signed_in, host, target):
    response = signed_in.post("/dashboard/routing-forms", data=simple(target.id, published=True))
    assert response.status_code == 302, text(response)[:3000]
    [form] = forms_of(app)
    assert response.headers["Location"].endswith(f"/dashboard/routing-forms/{form.id}")
    assert (form.name, form.slug, form.published, form.user_id) == ("Intake", "intake", True, host.id)
    assert [f["id"] for f in form.fields] == ["name", "topic"] and form.fields[1]["options"] == ["Demo", "Support"]
    assert form.rules == [{"id": "demo", "conditions": [{"field": "topic", "operator": "equals", "value": "Demo"}],
                           "route": {"kind": "event_type", "eventTypeId": target.id}}]
    assert form.default_route == {"kind": "event_type", "eventTypeId": target.id}
    page = text(signed_in.get(response.headers["Location"]))
    assert "Created “Intake”." in page and "<strong>more</strong>" in page      # the description's preview
    assert 'name="field" value="topic"' in page and 'name="rule" value="demo"' in page


def test_the_slug_is_suggested_from_the_name_without_javascript(app, signed_in):
    response = signed_in.post("/dashboard/routing-forms", data=post_data(field("q", "Question"), name="Sales Intake",
                                                                         slug=""))
    assert response.status_code == 302
    assert forms_of(app)[0].slug == "sales-intake"


@pytest.mark.parametrize("key", list(TEMPLATES))
def test_each_template_fills_the_editor_and_saves_then_publishes_once_targets_are_set(app, signed_in, host, target,
                                                                                      key):
    page = text(signed_in.get(f"/dashboard/routing-forms/new?template={key}"))
    template = TEMPLATES[key]
    assert f'value="{template.name}"' in page
    for item in template.fields:
        assert f'name="field" value="{item["id"]}"' in page
    for item in template.rules:
        assert f'name="rule" value="{item["id"]}"' in page
    assert "has no event type yet." in page                       # the warnings at the top

    draft = template_input(key)
    rows = []
    for item in draft.fields:
        rows.append(field(item["id"], item["label"], item["type"], options="\n".join(item["options"]),
                          required=item["required"]))
    for item in draft.rules:
        rows.append(rule(item["id"], *[(c["field"], c["operator"], *(c["value"] if isinstance(c["value"], list)
                                                                     else [c["value"]]))
                                       for c in item["conditions"]], value=target.id))
    response = signed_in.post("/dashboard/routing-forms", data=post_data(
        *rows, name=draft.name, slug=draft.slug, published=True, default=("event_type", target.id)))
    assert response.status_code == 302, text(response)[:3000]
    [form] = forms_of(app)
    assert [f["id"] for f in form.fields] == [f["id"] for f in draft.fields]
    assert [r["id"] for r in form.rules] == [r["id"] for r in draft.rules]
    assert [r["conditions"] for r in form.rules] == [r["conditions"] for r in draft.rules]
    assert form.published and all(r["route"]["eventTypeId"] == target.id for r in form.rules)


def test_a_template_saved_as_a_draft_without_targets(app, signed_in):
    draft = template_input("industry_selector")
    rows = [field(f["id"], f["label"], f["type"], options="\n".join(f["options"])) for f in draft.fields]
    rows += [rule(r["id"], *[(c["field"], c["operator"], c["value"]) for c in r["conditions"]]) for r in draft.rules]
    response = signed_in.post("/dashboard/routing-forms", data=post_data(*rows, name=draft.name, slug=draft.slug,
                                                                         default=("event_type", "")))
    assert response.status_code == 302, text(response)[:3000]
    [form] = forms_of(app)
    assert not form.published and form.rules[0]["route"] == {"kind": "event_type", "eventTypeId": None}
    page = text(signed_in.get(response.headers["Location"]))
    assert "Rule 1 has no event type yet." in page and "The default route has no event type yet." in page


def test_saving_through_htmx_answers_with_a_redirect_header(app, signed_in, target):
    response = signed_in.post("/dashboard/routing-forms", data=simple(target.id), headers=HTMX)
    [form] = forms_of(app)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == f"/dashboard/routing-forms/{form.id}"


# --- inline errors ------------------------------------------------------------------------------------------------
def test_errors_show_inline_with_a_summary_and_keep_what_was_typed(app, signed_in, target):
    data = post_data(field("a", ""), field("b", "Plan", "select", options="Only one"),
                     field("c", "Size", "number"),
                     rule("r1", ("c", "contains", "5"), kind="url", value="http://example.com/x"),
                     default=("event_type", target.id))
    response = signed_in.post("/dashboard/routing-forms", data=data)
    assert response.status_code == 422
    page = text(response)
    assert 'class="error-summary"' in page and "Nothing was saved." in page
    assert 'id="e-fields-0-label"' in page and re.search(r'id="f-a-label"[^>]*aria-invalid="true"', page)
    assert 'id="e-fields-1-options"' in page and "Give at least two options, one per line." in page
    assert 'id="e-rules-0-conditions-0-operator"' in page and "Choose a comparison this field" in page
    assert 'id="e-rules-0-route"' in page and "Enter an https:// address." in page
    assert 'href="#f-a-label"' in page and 'href="#f-b-options"' in page and 'href="#r-r1-c0-operator"' in page
    assert 'href="#r-r1-route-kind"' in page and "Rule 1, route" in page and "Question 2, options" in page
    assert 'value="http://example.com/x"' in page and ">Only one</textarea>" in page
    # the number field offers only its operators
    operators = re.search(r'<select id="r-r1-c0-operator".*?</select>', page, re.S).group(0)
    assert 'value="greater_than"' in operators and 'value="contains"' not in operators
    assert forms_of(app) == []


def test_errors_through_htmx_answer_the_form_alone(signed_in):
    response = signed_in.post("/dashboard/routing-forms", data=post_data(field("a", "Q"), name=""), headers=HTMX)
    page = text(response)
    assert response.status_code == 422 and page.lstrip().startswith("<form") and "<html" not in page
    assert 'id="e-name"' in page


def test_publishing_with_an_unset_target_is_refused(app, signed_in):
    response = signed_in.post("/dashboard/routing-forms", data=simple("", published=True))
    assert response.status_code == 422
    page = text(response)
    assert 'id="e-rules-0-route"' in page and "Choose the event type." in page
    assert 'id="e-default_route"' in page and 'href="#default-route-kind"' in page
    assert forms_of(app) == []


def test_the_editor_warns_about_a_draft_target(app, signed_in, host):
    with in_db(app):
        draft = factories.new_event_type(host, name="Secret demo", status="draft")
    form = make_form(app, host, draft.id)
    page = text(signed_in.get(f"/dashboard/routing-forms/{form.id}"))
    assert "Rule 1 points at “Secret demo”, which is a draft" in page and "No event types available" in page
    assert re.search(rf'<option value="{draft.id}" selected>Secret demo \(draft\)</option>', page)


def test_targets_are_grouped_and_team_ones_named_with_their_team(app, signed_in, host, target, make_user):
    mate = make_user("mateo")
    with in_db(app):
        sales = factories.team(host, [mate])
        intro = factories.team_event_type(host, sales, [host, mate], name="Intro call")
    page = text(signed_in.get("/dashboard/routing-forms/new?template=general_intake"))
    assert '<optgroup label="Your event types">' in page and '<optgroup label="Team Sales">' in page
    assert f'<option value="{intro.id}" >Intro call (Sales)</option>' in page
    assert f'<option value="{target.id}" >{target.name}</option>' in page
    response = signed_in.post("/dashboard/routing-forms", data=simple(intro.id, published=True))
    assert response.status_code == 302, text(response)[:3000]
    assert forms_of(app)[0].rules[0]["route"] == {"kind": "event_type", "eventTypeId": intro.id}


def test_a_templates_url_follows_its_name_until_edited(signed_in, app, host, target):
    page = text(signed_in.get("/dashboard/routing-forms/new?template=sales_qualifier"))
    slug = re.search(r'<input id="f-slug"[^>]*>', page).group(0)
    assert 'value="sales-qualifier"' in slug and "data-edited" not in slug
    form = make_form(app, host, target.id)
    assert 'data-edited="true"' in text(signed_in.get(f"/dashboard/routing-forms/{form.id}"))


# --- plan limits --------------------------------------------------------------------------------------------------
def test_a_second_form_on_free_gets_the_plan_message(app, signed_in, host, target):
    make_form(app, host, target.id)
    response = signed_in.post("/dashboard/routing-forms", data=simple(target.id, name="Second", slug="second"))
    assert response.status_code == 422
    page = text(response)
    assert 'id="e-plan"' in page and "routing forms" in page.lower() and 'value="Second"' in page
    assert len(forms_of(app)) == 1


def test_eleven_fields_get_the_plan_message_and_the_editor_offers_no_eleventh(app, signed_in):
    rows = [field(f"q{n}", f"Question {n}") for n in range(11)]
    response = signed_in.post("/dashboard/routing-forms", data=post_data(*rows))
    assert response.status_code == 422
    page = text(response)
    assert 'id="e-plan"' in page and "allows 10 fields per routing form" in page
    assert forms_of(app) == []
    page = text(signed_in.post("/dashboard/routing-forms/editor", data=post_data(*rows[:10]) + [("op", "add-field")],
                               headers=HTMX))
    assert 'name="field" value="q9"' in page and "at most 10 questions" in page and "+ Add question" not in page


# --- rows without JavaScript and through htmx ----------------------------------------------------------------------
def test_add_remove_and_move_rows_without_javascript_keep_what_was_typed(app, signed_in, target):
    base = simple(target.id, name="Kept")
    page = text(signed_in.post("/dashboard/routing-forms", data=base + [("op", "add-field"),
                                                                        ("new_field_type", "email")]))
    assert "<html" in page and 'value="Kept"' in page
    assert len(re.findall(r'name="field" value=', page)) == 3 and re.search(r'id="f-\w+-label"[^>]*autofocus', page)

    page = text(signed_in.post("/dashboard/routing-forms", data=base + [("op", "field-up:topic")]))
    assert page.index('name="field" value="topic"') < page.index('name="field" value="name"')
    assert re.search(r'id="f-topic-up"[^>]*disabled', page) and re.search(r'id="f-topic-up"[^>]*autofocus', page)
    page = text(signed_in.post("/dashboard/routing-forms", data=base + [("op", "remove-field:name")]))
    assert 'name="field" value="name"' not in page and 'name="field" value="topic"' in page

    page = text(signed_in.post("/dashboard/routing-forms", data=base + [("op", "add-rule")]))
    assert len(re.findall(r'name="rule" value=', page)) == 2
    page = text(signed_in.post("/dashboard/routing-forms", data=base + [("op", "add-cond:demo")]))
    assert 'name="rule-demo-c1-field"' in page and re.search(r'id="r-demo-c1-field"[^>]*autofocus', page)
    page = text(signed_in.post("/dashboard/routing-forms", data=base + [("op", "remove-cond:demo:0")]))
    assert 'name="rule-demo-c0-field"' not in page
    # "Update the choices" after a type changed: the rule offers the number's comparisons
    as_number = [(k, "number" if k == "field-topic-type" else v) for k, v in base]
    page = text(signed_in.post("/dashboard/routing-forms", data=as_number + [("op", "refresh:rows")]))
    operators = re.search(r'<select id="r-demo-c0-operator".*?</select>', page, re.S).group(0)
    assert "<html" in page and 'value="greater_than"' in operators
    assert forms_of(app) == []


def test_reordering_without_javascript_then_saving_keeps_the_order(app, signed_in, host, target):
    form = make_form(app, host, target.id)
    base = simple(target.id) + rule("other", ("name", "contains", "vip"), value=target.id)
    page = text(signed_in.post(f"/dashboard/routing-forms/{form.id}", data=base + [("op", "rule-down:demo")]))
    assert page.index('name="rule" value="other"') < page.index('name="rule" value="demo"')
    # the page posts its rows in the order shown: that order is saved
    moved = [row for row in base if not row[0].startswith("rule")]
    moved += [row for row in base if row[0].startswith(("rule-other", "rule")) and "demo" not in row[0]
              and row != ("rule", "demo")]
    moved += [row for row in base if "demo" in row[0] or row == ("rule", "demo")]
    response = signed_in.post(f"/dashboard/routing-forms/{form.id}", data=moved)
    assert response.status_code == 302, text(response)[:3000]
    [saved] = forms_of(app)
    assert [r["id"] for r in saved.rules] == ["other", "demo"]
    fields_moved = field("topic", "Topic", "select", options="Demo\nSupport") + field("name", "Your name")
    data = [row for row in moved if not row[0].startswith("field")] + fields_moved
    assert signed_in.post(f"/dashboard/routing-forms/{form.id}", data=data).status_code == 302
    assert [f["id"] for f in forms_of(app)[0].fields] == ["topic", "name"]


def test_htmx_row_operations_answer_only_the_part_that_changed(signed_in, target):
    base = simple(target.id)
    response = signed_in.post("/dashboard/routing-forms/editor", data=base + [("op", "add-field"),
                                                                              ("new_field_type", "select")],
                              headers=HTMX)
    page = text(response)
    assert response.status_code == 200 and page.lstrip().startswith('<div id="rf-rows"')
    assert len(re.findall(r'name="field" value=', page)) == 3 and 'hx-swap-oob="true"' in page
    page = text(signed_in.post("/dashboard/routing-forms/editor", data=base + [("op", "add-rule")], headers=HTMX))
    assert page.lstrip().startswith('<div id="rf-rules"') and len(re.findall(r'name="rule" value=', page)) == 2
    assert 'id="rf-warnings" class="rf-warnings" hx-swap-oob="true"' in page and "Rule 2 has no event type yet." in page
    page = text(signed_in.post("/dashboard/routing-forms/editor", data=simple("") + [("op", "refresh:warnings")],
                               headers=HTMX))
    assert page.lstrip().startswith('<div id="rf-warnings"') and "hx-swap-oob" not in page
    assert "Rule 1 has no event type yet." in page and 'name="field"' not in page
    assert signed_in.post("/dashboard/routing-forms/editor", data=base).status_code == 302     # not for plain posts


def test_changing_a_fields_type_rerenders_its_operators_and_values(signed_in, target):
    base = simple(target.id)
    as_multi = [(k, "multiselect" if k == "field-topic-type" else v) for k, v in base]
    page = text(signed_in.post("/dashboard/routing-forms/editor", data=as_multi + [("op", "refresh:rows")],
                               headers=HTMX))
    operators = re.search(r'<select id="r-demo-c0-operator".*?</select>', page, re.S).group(0)
    assert 'value="contains"' in operators and 'value="greater_than"' not in operators
    assert re.search(r'<input type="checkbox" name="rule-demo-c0-value" value="Demo" checked>', page)
    as_number = [(k, "number" if k == "field-topic-type" else v) for k, v in base]
    page = text(signed_in.post("/dashboard/routing-forms/editor?part=rules",
                               data=as_number + [("op", "cond-field:demo:0")], headers=HTMX))
    operators = re.search(r'<select id="r-demo-c0-operator".*?</select>', page, re.S).group(0)
    assert 'value="greater_than"' in operators and 'value="equals" selected' in operators


def test_multiselect_equals_takes_several_values(app, signed_in, target):
    data = post_data(field("svc", "Services", "multiselect", options="Wedding\nPortrait\nEvent"),
                     rule("both", ("svc", "equals", "Wedding", "Event"), value=target.id),
                     default=("message", "Thanks, we'll write to you."))
    response = signed_in.post("/dashboard/routing-forms", data=data)
    assert response.status_code == 302, text(response)[:3000]
    [form] = forms_of(app)
    assert form.rules[0]["conditions"][0]["value"] == ["Wedding", "Event"]
    assert form.default_route == {"kind": "message", "message": "Thanks, we'll write to you."}


def test_an_odd_row_id_gets_a_new_one(app, signed_in):
    response = signed_in.post("/dashboard/routing-forms", data=post_data(field('x"><b', "Question")))
    assert response.status_code == 302
    [form] = forms_of(app)
    assert re.fullmatch(r"[0-9a-f]{8}", form.fields[0]["id"])


def test_editing_keeps_ids(app, signed_in, host, target):
    form = make_form(app, host, target.id)
    page = text(signed_in.get(f"/dashboard/routing-forms/{form.id}"))
    assert 'value="Intake"' in page and "Save changes" in page
    data = [(k, "Renamed" if k == "name" else v) for k, v in simple(target.id)]
    response = signed_in.post(f"/dashboard/routing-forms/{form.id}", data=data)
    assert response.status_code == 302
    [saved] = forms_of(app)
    assert saved.name == "Renamed" and [f["id"] for f in saved.fields] == ["name", "topic"]
    assert "Changes saved." in text(signed_in.get(response.headers["Location"]))


def test_the_description_preview(signed_in):
    response = signed_in.post("/dashboard/routing-forms/preview", data={"description": "**Hi** <script>x</script>"},
                              headers=HTMX)
    page = text(response)
    assert page.lstrip().startswith('<div id="description-preview"') and "<strong>Hi</strong>" in page
    assert "<script>" not in page


# --- delete -------------------------------------------------------------------------------------------------------
def test_delete_asks_then_deletes_with_its_responses(app, signed_in, host, target):
    form = make_form(app, host, target.id)
    with in_db(app):
        RoutingResponse.create(form=form.id, answers={}, matched_rule=None)
    confirm = text(signed_in.get(f"/dashboard/routing-forms/{form.id}/delete"))
    assert "Delete “Intake”?" in confirm and 'method="post"' in confirm
    page = text(signed_in.post(f"/dashboard/routing-forms/{form.id}/delete", headers=HTMX))
    assert page.lstrip().startswith('<section id="form-list"') and "Deleted “Intake”." in page
    assert forms_of(app) == []
    with in_db(app):
        assert RoutingResponse.select().count() == 0


# --- responses ----------------------------------------------------------------------------------------------------
@pytest.fixture
def answered(app, host, target):
    form = make_form(app, host, target.id)
    with in_db(app):
        booking = factories.booking_row(target, datetime(2026, 7, 1, 14, 0, tzinfo=UTC))
        rows = [
            RoutingResponse.create(form=form.id, answers={"name": "=HYPERLINK(\"http://x\")", "topic": "Demo"},
                                   matched_rule="demo", booking=booking,
                                   created_at=datetime(2026, 6, 1, 15, 30, tzinfo=UTC)),
            RoutingResponse.create(form=form.id, answers={"name": "+1 555", "topic": "Support"}, matched_rule=None,
                                   created_at=datetime(2026, 6, 3, 2, 0, tzinfo=UTC)),
            RoutingResponse.create(form=form.id, answers={"name": "-dash", "topic": "Support"}, matched_rule=None,
                                   created_at=datetime(2026, 6, 5, 12, 0, tzinfo=UTC)),
            RoutingResponse.create(form=form.id, answers={"name": "@at", "topic": "Support"}, matched_rule="gone",
                                   created_at=datetime(2026, 6, 6, 12, 0, tzinfo=UTC)),
        ]
    return form, booking, rows


def test_the_responses_table_shows_answers_rule_booking_on_the_hosts_clock(signed_in, answered):
    form, booking, rows = answered
    page = text(signed_in.get(f"/dashboard/routing-forms/{form.id}/responses"))
    assert "<th scope=\"col\">Your name</th>" in page and "<th scope=\"col\">Topic</th>" in page
    assert "Rule 1" in page and "Default route" in page and "A deleted rule" in page
    assert f'href="/dashboard/bookings/{booking.id}"' in page
    assert "11:30" in page or "11:30 AM" in page            # 15:30 UTC on New York's clock
    assert page.index(f'id="response-{rows[3].id}"') < page.index(f'id="response-{rows[0].id}"')   # newest first


def test_the_responses_filters(signed_in, answered):
    form, _booking, rows = answered
    base = f"/dashboard/routing-forms/{form.id}/responses"
    page = text(signed_in.get(base + "?route=demo"))
    assert f'response-{rows[0].id}"' in page and f'response-{rows[1].id}"' not in page
    page = text(signed_in.get(base + "?route=default"))
    assert f'response-{rows[1].id}"' in page and f'response-{rows[0].id}"' not in page
    page = text(signed_in.get(base + "?booked=no"))
    assert f'response-{rows[0].id}"' not in page and f'response-{rows[2].id}"' in page
    # 2 June on New York's clock: 02:00 UTC on 3 June is 22:00 on 2 June there
    page = text(signed_in.get(base + "?from=2026-06-02&to=2026-06-02"))
    assert f'response-{rows[1].id}"' in page and f'response-{rows[0].id}"' not in page
    assert f'response-{rows[2].id}"' not in page
    page = text(signed_in.get(base + "?route=demo&booked=no", headers=HTMX))
    assert page.lstrip().startswith('<section id="responses"') and "match these filters" in page


def test_the_csv_export_is_an_attachment_with_formulas_neutralised(signed_in, answered):
    form, _booking, _rows = answered
    response = signed_in.get(f"/dashboard/routing-forms/{form.id}/responses.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    table = list(csv.reader(io.StringIO(text(response))))
    assert table[0][1:3] == ["Your name", "Topic"]
    names = {row[1] for row in table[1:]}
    assert names == {"'=HYPERLINK(\"http://x\")", "'+1 555", "'-dash", "'@at"}
    filtered = list(csv.reader(io.StringIO(text(signed_in.get(
        f"/dashboard/routing-forms/{form.id}/responses.csv?route=default")))))
    assert len(filtered) == 3


# --- isolation and CSRF ------------------------------------------------------------------------------------------
def test_another_users_form_responses_and_export_are_404(app, signed_in, make_user):
    other = make_user("otto")
    with in_db(app):
        et = factories.event_type(other)
    form = make_form(app, other, et.id)
    base = f"/dashboard/routing-forms/{form.id}"
    for path in (base, base + "/delete", base + "/responses", base + "/responses.csv"):
        assert signed_in.get(path).status_code == 404, path
    for path in (base, base + "/delete"):
        assert signed_in.post(path, data=simple(et.id), headers=HTMX).status_code == 404, path
    [saved] = forms_of(app)
    assert saved.name == "Intake" and saved.user_id == other.id


def test_a_target_of_another_user_is_refused(app, signed_in, make_user):
    other = make_user("otto")
    with in_db(app):
        et = factories.event_type(other)
    response = signed_in.post("/dashboard/routing-forms", data=simple(et.id))
    assert response.status_code == 422 and 'id="e-rules-0-route"' in text(response)


def test_posts_need_the_csrf_token(app_factory, make_user):
    app = app_factory(WTF_CSRF_ENABLED=True)
    user = make_user("carla")
    client = Posting(app.test_client())
    page = text(client.get("/login"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"email": user.email, "password": factories.PASSWORD, "csrf_token": token})
    data = post_data(field("q", "Question"))
    assert client.post("/dashboard/routing-forms", data=data).status_code == 400
    assert client.post("/dashboard/routing-forms/editor", data=data + [("op", "add-rule")],
                       headers=HTMX).status_code == 400
    page = text(client.get("/dashboard/routing-forms/new"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/dashboard/routing-forms", data=data + [("csrf_token", token)]).status_code == 302
    [form] = forms_of(app)
    assert client.post(f"/dashboard/routing-forms/{form.id}/delete").status_code == 400
    assert client.post(f"/dashboard/routing-forms/{form.id}/delete", data={"csrf_token": token},
                       headers=HTMX).status_code == 200
