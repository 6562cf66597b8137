"""Routing rule semantics (issue 18): every field type × operator, the edge cases, rule order and the default."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.services.routing.rules import OPERATORS_FOR, condition_matches, parse_number, route_for

CASES = [
    # field type, operator, rule value, answer, matches
    ("text", "equals", "Healthcare", "  healthcare ", True),
    ("text", "equals", "Healthcare", "Health care", False),
    ("text", "equals", "Healthcare", "", False),
    ("text", "not_equals", "Enterprise", "Startup", True),
    ("text", "not_equals", "Enterprise", " ENTERPRISE", False),
    ("text", "not_equals", "Enterprise", "", True),          # an empty answer is not equal to anything
    ("text", "contains", "urgent", "This is URGENT please", True),
    ("text", "contains", "urgent", "whenever", False),
    ("text", "contains", "urgent", "", False),
    ("text", "greater_than", "5", "10", False),              # not offered for text: never matches
    ("textarea", "contains", "refund", "I want a\nRefund now", True),
    ("email", "equals", "ceo@acme.com", "CEO@Acme.com", True),
    ("email", "contains", "@acme.com", "ann@acme.com", True),
    ("phone", "contains", "+1415", "+14155550100", True),
    ("select", "equals", "I want a demo", "i want a demo", True),
    ("select", "equals", "I want a demo", "I need support", False),
    ("select", "not_equals", "Enterprise", "Startup", True),
    ("select", "not_equals", "Enterprise", "", True),
    ("select", "contains", "demo", "I want a demo", False),  # not offered for select
    ("multiselect", "equals", ["Wedding", "Portrait"], ["portrait", "wedding"], True),
    ("multiselect", "equals", ["Wedding"], ["Wedding", "Portrait"], False),    # equality is of the whole set
    ("multiselect", "contains", "Wedding", ["Wedding", "Portrait"], True),      # contains: among the chosen
    ("multiselect", "contains", "Event", ["Wedding", "Portrait"], False),
    ("multiselect", "not_equals", ["Wedding"], ["Wedding", "Portrait"], True),
    ("multiselect", "not_equals", ["Wedding"], [], True),
    ("multiselect", "equals", ["Wedding"], [], False),
    ("multiselect", "contains", "Wedding", [], False),
    ("number", "greater_than", "50", "51", True),
    ("number", "greater_than", "50", "50", False),
    ("number", "greater_than", "50", "50,5", True),          # decimal comma
    ("number", "greater_than", "2.5", " 2,75 ", True),
    ("number", "less_than", "1000", "999.99", True),
    ("number", "less_than", "1000", "lots", False),          # a non-numeric answer never matches
    ("number", "greater_than", "1000", "lots", False),
    ("number", "not_equals", "10", "lots", False),
    ("number", "equals", "10", "10.0", True),
    ("number", "equals", "10", "", False),
    ("number", "not_equals", "10", "", False),
    ("number", "less_than", "0", "-3", True),
    ("number", "contains", "1", "10", False),                # not offered for numbers
]


@pytest.mark.parametrize("kind, operator, value, answer, expected", CASES)
def test_condition_semantics(kind, operator, value, answer, expected):
    assert condition_matches(kind, operator, value, answer) is expected


def test_every_type_and_offered_operator_is_covered():
    covered = {(kind, operator) for kind, operator, *_ in CASES}
    missing = [(kind, op) for kind, ops in OPERATORS_FOR.items() for op in ops if (kind, op) not in covered
               and kind not in ("textarea", "email", "phone")]
    assert not missing


@pytest.mark.parametrize("text, number", [("12", "12"), ("1,5", "1.5"), (" 3.25 ", "3.25"), ("-4", "-4"),
                                          ("1 000", "1000"), ("1,000.5", None), ("abc", None), ("", None),
                                          ("nan", None), ("inf", None)])
def test_numbers_accept_a_decimal_point_or_comma(text, number):
    parsed = parse_number(text)
    assert parsed == (Decimal(number) if number else None)


FIELDS = [{"id": "why", "type": "select", "label": "Why", "options": ["I want a demo", "I need support"]},
          {"id": "size", "type": "number", "label": "Team size"}]
DEMO = {"kind": "event_type", "eventTypeId": "demo"}
SUPPORT = {"kind": "event_type", "eventTypeId": "support"}
BIG = {"kind": "event_type", "eventTypeId": "big"}
DEFAULT = {"kind": "message", "message": "We will write to you."}
RULES = [
    {"id": "r1", "conditions": [{"field": "why", "operator": "equals", "value": "I want a demo"},
                                {"field": "size", "operator": "greater_than", "value": "50"}], "route": BIG},
    {"id": "r2", "conditions": [{"field": "why", "operator": "equals", "value": "I want a demo"}], "route": DEMO},
    {"id": "r3", "conditions": [{"field": "why", "operator": "equals", "value": "I need support"}], "route": SUPPORT},
]


@pytest.mark.parametrize("answers, expected", [
    ({"why": "I want a demo", "size": "120"}, ("r1", BIG)),          # both conditions (AND) hold: the first rule
    ({"why": "I want a demo", "size": "12"}, ("r2", DEMO)),          # the first fails on size: the next one
    ({"why": "I want a demo", "size": "many"}, ("r2", DEMO)),
    ({"why": "I need support", "size": "500"}, ("r3", SUPPORT)),
    ({"why": "", "size": "500"}, (None, DEFAULT)),                   # nothing matched: the default route
])
def test_rules_in_order_first_match_wins_with_a_default(answers, expected):
    assert route_for(FIELDS, RULES, DEFAULT, answers) == expected


def test_a_rule_naming_a_removed_field_never_matches():
    rules = [{"id": "x", "conditions": [{"field": "gone", "operator": "equals", "value": "a"}], "route": DEMO}]
    assert route_for(FIELDS, rules, DEFAULT, {"gone": "a"}) == (None, DEFAULT)
