"""Routing forms (issue 18): the six templates route correctly once pointed at event types, validation and limits,
responses, the booking that follows (linked, prefilled, in ``booking.created``) and the CSV export."""
from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from werkzeug.datastructures import MultiDict

from app.models import Booking, EventType, OutboxMessage, RoutingForm, RoutingResponse
from app.services.booking import bookings
from app.services.errors import ValidationFailed
from app.services.plans import PlanLimitReached
from app.services.routing import forms, responses, templates
from app.services.routing.forms import FormInput
from app.services.routing.rules import parse_number
from app.services.scheduling import event_types as event_type_service
from tests import factories


@pytest.fixture
def host(make_user, db_conn):
    return make_user("rita", plan="PRO")


def targets(host, count):
    return [factories.new_event_type(host, name=f"Target {n}", slug=f"target-{n}", duration=30) for n in range(count)]


def _satisfying(field, operator, value):
    if field["type"] == "number":
        number = parse_number(value)
        return str({"greater_than": number + 1, "less_than": number - 1, "equals": number,
                    "not_equals": number + 7}[operator])
    if field["type"] == "multiselect":
        return list(value) if operator == "equals" else [value]
    if operator == "not_equals":
        return next(o for o in field["options"] if o != value) if field["options"] else f"not {value}"
    if operator == "contains" and field["type"] == "textarea":
        return f"this is {value}!"
    return value


def _filler(field, form):
    """An answer no rule of ``form`` looks for (an option no condition names)."""
    named = set()
    for rule in form.rules:
        for condition in rule["conditions"]:
            if condition["field"] == field["id"]:
                value = condition["value"]
                named.update(value if isinstance(value, list) else [value])
    spare = [o for o in field["options"] if o not in named] or field["options"][-1:]
    return {"text": "Ann Example", "textarea": "nothing", "email": "ann@example.com", "phone": "+1 415 555 0100",
            "number": "100", "select": spare[0] if spare else "",
            "multiselect": spare[:1]}[field["type"]]


def _post(form, answers):
    data = MultiDict()
    for field in form.fields:
        value = answers.get(field["id"], _filler(field, form))
        for one in value if isinstance(value, list) else [value]:
            data.add(f"f_{field['id']}", one)
    return data


@pytest.mark.parametrize("key", list(templates.TEMPLATES))
def test_each_template_routes_correctly_after_its_targets_are_set(host, key):
    data = templates.template_input(key)
    with pytest.raises(ValidationFailed):          # published without targets: refused
        forms.create_form(host, FormInput(**{**vars(data), "published": True}))
    draft = forms.create_form(host, data)           # a draft may wait for its targets
    assert forms.warnings(host, draft)
    points = targets(host, len(data.rules) + 1)
    for rule, event_type in zip(data.rules, points, strict=False):
        rule["route"] = {"kind": "event_type", "eventTypeId": event_type.id}
    data.default_route = {"kind": "event_type", "eventTypeId": points[-1].id}
    data.published = True
    form = forms.update_form(host, draft.id, data)
    assert forms.warnings(host, form) == []
    by_id = {f["id"]: f for f in form.fields}
    for rule, event_type in zip(form.rules, points, strict=False):
        answers = {c["field"]: _satisfying(by_id[c["field"]], c["operator"], c["value"]) for c in rule["conditions"]}
        routed = responses.submit(form, _post(form, answers))
        assert (routed.kind, routed.event_type.id, routed.response.matched_rule) == ("event_type", event_type.id,
                                                                                    rule["id"]), rule
    routed = responses.submit(form, _post(form, {}))
    assert (routed.kind, routed.event_type.id, routed.response.matched_rule) == ("event_type", points[-1].id, None)


def make_form(host, **changes) -> RoutingForm:
    target = changes.pop("target", None) or EventType.get_or_none(
        (EventType.user == host) & (EventType.slug == "demo")) or factories.new_event_type(
        host, name="Demo", slug="demo", duration=30)
    data = FormInput(name="Intake", slug="intake", published=True, fields=[
        {"id": "name", "label": "Your name", "type": "text", "required": True},
        {"id": "email", "label": "Email", "type": "email", "required": True},
        {"id": "why", "label": "Why are you here?", "type": "select", "required": True,
         "options": ["A demo", "Support", "Something else"]},
        {"id": "size", "label": "Team size", "type": "number", "required": False},
    ], rules=[{"id": "demo", "conditions": [{"field": "why", "operator": "equals", "value": "A demo"}],
               "route": {"kind": "event_type", "eventTypeId": target.id}},
              {"id": "help", "conditions": [{"field": "why", "operator": "equals", "value": "Support"}],
               "route": {"kind": "url", "url": "https://help.example.com/"}}],
        default_route={"kind": "message", "message": "We will write to you."})
    for key, value in changes.items():
        setattr(data, key, value)
    return forms.create_form(host, data)


def answers(**values):
    data = {"f_name": "Ann Example", "f_email": "ann@example.com", "f_why": "A demo", "f_size": ""}
    data.update({f"f_{k}": v for k, v in values.items()})
    return MultiDict(data)


def test_validation_says_what_is_wrong_field_by_field(host):
    data = FormInput(name="", slug="Not A Slug", published=True, fields=[
        {"label": "", "type": "text"}, {"label": "Pick", "type": "select", "options": ["only one"]},
        {"label": "Kind", "type": "fax"}],
        rules=[{"conditions": [{"field": "nope", "operator": "equals", "value": "x"}],
                "route": {"kind": "url", "url": "http://plain.example.com"}}],
        default_route=None)
    with pytest.raises(ValidationFailed) as caught:
        forms.create_form(host, data)
    assert set(caught.value.errors) >= {"name", "slug", "fields-0-label", "fields-1-options", "fields-2-type",
                                        "rules-0-conditions-0-field", "rules-0-route", "default_route"}


def test_operators_must_suit_the_field_type(host):
    target = factories.new_event_type(host, name="Demo", slug="demo", duration=30)
    with pytest.raises(ValidationFailed) as caught:
        make_form(host, target=target, rules=[{"conditions": [{"field": "why", "operator": "greater_than",
                                                                "value": "3"}],
                                                "route": {"kind": "event_type", "eventTypeId": target.id}}])
    assert "rules-0-conditions-0-operator" in caught.value.errors


def test_plan_limits_forms_fields_and_rules(make_user, db_conn):
    free = make_user("fred")
    make_form(free)
    with pytest.raises(PlanLimitReached) as caught:
        make_form(free, slug="second")
    assert "Free plan allows 1 routing forms" in str(caught.value)
    pro = make_user("pia", plan="PRO")
    many = [{"label": f"Q{n}", "type": "text"} for n in range(11)]
    with pytest.raises(PlanLimitReached) as caught:
        make_form(pro, fields=many)
    assert "10 fields per routing form" in str(caught.value)
    rules = [{"conditions": [{"field": "why", "operator": "equals", "value": "A demo"}],
              "route": {"kind": "message", "message": "hi"}}] * 11
    with pytest.raises(PlanLimitReached):
        make_form(pro, slug="other", rules=rules)


def test_a_downgrade_keeps_forms_published_but_refuses_more(host):
    from app.services.account.accounts import set_plan

    make_form(host)
    make_form(host, slug="second")
    set_plan(host, "FREE")
    assert [f.published for f in forms.list_forms(host)] == [True, True]
    with pytest.raises(PlanLimitReached):
        make_form(host, slug="third")


def test_route_is_reserved_as_an_event_type_slug(host):
    assert event_type_service.slug_problem(host, "route") == "This URL is reserved. Choose another."


def test_answers_are_checked_and_kept(host):
    form = make_form(host)
    with pytest.raises(ValidationFailed) as caught:
        responses.submit(form, answers(email="not-an-email", why="Nothing", size="lots"))
    assert set(caught.value.errors) == {"f_email", "f_why", "f_size"}
    with pytest.raises(ValidationFailed) as caught:
        responses.submit(form, answers(name="x" * 501))
    assert "500" in caught.value.errors["f_name"]
    assert RoutingResponse.select().count() == 0
    routed = responses.submit(form, answers(size="12,5"))
    assert routed.response.answers["size"] == "12,5" and parse_number("12,5") == Decimal("12.5")


def test_routes_to_a_url_a_message_or_unavailable_for_a_draft_target(host):
    form = make_form(host)
    assert responses.submit(form, answers(why="Support")).url == "https://help.example.com/"
    routed = responses.submit(form, MultiDict({"f_name": "Ann", "f_email": "a@example.com", "f_why": "Something else"}))
    assert (routed.kind, routed.message) == ("message", "We will write to you.")
    EventType.update(status="draft").where(EventType.slug == "demo").execute()
    assert responses.submit(form, answers()).kind == "unavailable"
    assert any("draft" in warning for warning in forms.warnings(host, form))


def test_the_booking_that_follows_is_prefilled_linked_and_announced(host):
    target = factories.new_event_type(host, name="Demo", slug="demo", duration=30)
    event_type_service.update_event_type(target, event_type_service.EventTypeInput(
        questions=[{"label": "Team size", "type": "number"}, {"label": "Unrelated", "type": "text"}]))
    target = EventType.get_by_id(target.id)
    form = make_form(host, target=target)
    routed = responses.submit(form, answers(size="40"))
    [question] = [q for q in target.questions if q["label"] == "Team size"]
    assert routed.prefill == {"name": "Ann Example", "email": "ann@example.com", f"q_{question['id']}": "40"}
    token = responses.link_token(routed.response)
    booking = bookings.create_booking(target, factories.booking_request(
        factories.weekday_at(1), name="Ann Example", email="ann@example.com", routing=token)).booking
    assert RoutingResponse.get_by_id(routed.response.id).booking_id == booking.id
    assert Booking.get_by_id(booking.id).routing_response_id == routed.response.id
    [created] = [json.loads(m.payload) for m in OutboxMessage.select().where(OutboxMessage.kind == "event")
                 if json.loads(m.payload)["event"] == "booking.created"]
    assert created["data"]["routingForm"] == {"id": form.id, "name": "Intake", "slug": "intake",
                                              "responseId": routed.response.id,
                                              "answers": {"Your name": "Ann Example", "Email": "ann@example.com",
                                                          "Why are you here?": "A demo", "Team size": "40"}}
    # a forged or reused token links nothing
    other = bookings.create_booking(target, factories.booking_request(
        factories.weekday_at(2), email="bob@example.com", routing=token)).booking
    assert Booking.get_by_id(other.id).routing_response_id is None
    assert bookings.create_booking(target, factories.booking_request(
        factories.weekday_at(3), email="cy@example.com", routing=token + "x")).booking.routing_response_id is None


def test_deleting_a_form_deletes_its_responses_and_unlinks_bookings(host):
    target = factories.new_event_type(host, name="Demo", slug="demo", duration=30)
    form = make_form(host, target=target)
    routed = responses.submit(form, answers())
    booking = bookings.create_booking(target, factories.booking_request(
        factories.weekday_at(1), routing=responses.link_token(routed.response))).booking
    forms.delete_form(host, form.id)
    assert RoutingResponse.select().count() == 0
    assert Booking.get_by_id(booking.id).routing_response_id is None
    assert responses.routing_form_of(Booking.get_by_id(booking.id)) is None


def test_csv_export_neutralises_formulas(host):
    form = make_form(host)
    for name in ("=HYPERLINK(\"http://evil\")", "+1+1", "-2", "@SUM(A1)", "Plain"):
        responses.submit(form, answers(name=name))
    rows = list(csv.reader(io.StringIO(responses.export_csv(form, responses.list_responses(form)))))
    names = [row[1] for row in rows[1:]]
    assert sorted(names) == sorted(["'=HYPERLINK(\"http://evil\")", "'+1+1", "'-2", "'@SUM(A1)", "Plain"])
    assert rows[0][0] == "Submitted (UTC)" and rows[1][-2] == "Rule 1"


def test_another_users_form_is_not_found(host, make_user):
    from app.services.errors import NotFound

    form = make_form(host)
    with pytest.raises(NotFound):
        forms.get_form(make_user("olga"), form.id)
