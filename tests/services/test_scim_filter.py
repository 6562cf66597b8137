"""The SCIM filter parser (app/services/account/scim_filter.py): what it reads, the tree it builds, what it refuses."""
from __future__ import annotations

import pytest

from app.services.account.scim_filter import WORK_EMAIL, InvalidFilter, parse


@pytest.mark.parametrize(("text", "tree"), [
    ('userName eq "ann@x.test"', ("eq", "userName", "ann@x.test")),
    ('USERNAME Eq "a"', ("eq", "userName", "a")),
    ('externalId co "a\\"b"', ("co", "externalId", 'a"b')),
    ("displayName pr", ("pr", "displayName")),
    ('emails.value sw "a"', ("sw", "emails.value", "a")),
    ('emails[type eq "work"].value eq "a@x.test"', ("eq", WORK_EMAIL, "a@x.test")),
    ('emails[ type eq "Work" ].value pr', ("pr", WORK_EMAIL)),
    ('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"', ("eq", "userName", "a")),
    ('userName eq "a" or userName eq "b" and displayName pr',
     ("or", ("eq", "userName", "a"), ("and", ("eq", "userName", "b"), ("pr", "displayName")))),
    ('(userName eq "a" or userName eq "b") and displayName pr',
     ("and", ("or", ("eq", "userName", "a"), ("eq", "userName", "b")), ("pr", "displayName"))),
])
def test_reads_supported_filters_with_and_binding_tighter_than_or(text, tree):
    assert parse(text) == tree


@pytest.mark.parametrize("text", [
    "", "   ", 'userName ne "a"', 'userName gt "a"', 'userName ew "a"', 'nickName eq "a"', 'not (userName pr)',
    'userName eq', 'userName eq a', 'userName eq true', 'userName eq null', '(userName pr', 'userName pr)',
    'userName pr userName pr', 'emails[type eq "home"].value eq "a"', 'emails[value eq "a"]',
    'emails[type eq "work"] eq "a"', 'userName eq "a" and', "(" * 30 + "userName pr" + ")" * 30,
    'userName eq "' + "a" * 3000 + '"', 'userName eq "unterminated', 'userName eq "\\x"',
    'emails[type eq "\\q"].value pr',
])
def test_refuses_anything_else(text):
    with pytest.raises(InvalidFilter):
        parse(text)
