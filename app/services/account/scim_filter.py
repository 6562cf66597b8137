"""A small recursive-descent parser of the SCIM filters LinkTime supports (RFC 7644 §3.4.2.2, issue 20).

Grammar (keywords and attribute names are case-insensitive)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := atom ("and" atom)*
    atom       := "(" filter ")" | attr "pr" | attr ("eq" | "co" | "sw") string
    attr       := userName | externalId | displayName | id | emails.value | emails[type eq "work"].value

An attribute may carry the core User schema's URN as prefix. Anything else (other operators, attributes,
``not``, non-string values) raises :class:`InvalidFilter`, which the API answers with 400 ``invalidFilter``.
The result is a tree of tuples: ``("and"|"or", left, right)``, ``("pr", attr)`` or ``(op, attr, value)``
with ``attr`` one of :data:`ATTRIBUTES`.
"""
from __future__ import annotations

import json
import re

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ATTRIBUTES = {"username": "userName", "externalid": "externalId", "displayname": "displayName", "id": "id",
              "emails.value": "emails.value", "emails": "emails.value"}
WORK_EMAIL = "emails[type eq \"work\"].value"
OPERATORS = ("eq", "co", "sw")
MAX_LENGTH = 2000
MAX_DEPTH = 20
_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<punct>[()\[\]])|(?P<word>[^\s()\[\]"]+))')


class InvalidFilter(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise InvalidFilter(f"Cannot read the filter at position {pos}.")
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _string(raw: str) -> str:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidFilter("The filter has a malformed string.") from exc


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise InvalidFilter("The filter ends too early.")
        self.pos += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].lower() in words:
            self.pos += 1
            return token[1].lower()
        return None

    def expect(self, kind: str, value: str | None = None) -> str:
        token = self.take()
        if token[0] != kind or (value is not None and token[1].lower() != value):
            raise InvalidFilter(f"Expected {value or kind} but found {token[1]!r}.")
        return token[1]

    def parse(self):
        tree = self.or_expr()
        if self.peek() is not None:
            raise InvalidFilter(f"Unexpected {self.peek()[1]!r} in the filter.")
        return tree

    def or_expr(self):
        tree = self.and_expr()
        while self.keyword("or"):
            tree = ("or", tree, self.and_expr())
        return tree

    def and_expr(self):
        tree = self.atom()
        while self.keyword("and"):
            tree = ("and", tree, self.atom())
        return tree

    def atom(self):
        token = self.peek()
        if token is not None and token == ("punct", "("):
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise InvalidFilter("The filter nests too deeply.")
            tree = self.or_expr()
            self.expect("punct", ")")
            self.depth -= 1
            return tree
        if token is not None and token[0] == "word" and token[1].lower() == "not":
            raise InvalidFilter("The 'not' operator is not supported.")
        attr = self.attribute()
        op = self.expect("word").lower()
        if op == "pr":
            return ("pr", attr)
        if op not in OPERATORS:
            raise InvalidFilter(f"The operator {op!r} is not supported; use eq, co, sw or pr.")
        kind, raw = self.take()
        if kind != "string":
            raise InvalidFilter(f"Compare {attr} with a quoted string, not {raw!r}.")
        return (op, attr, _string(raw))

    def attribute(self) -> str:
        name = self.expect("word")
        lowered = name.lower()
        if lowered.startswith(USER_SCHEMA.lower() + ":"):
            lowered = lowered[len(USER_SCHEMA) + 1:]
        if lowered == "emails" and self.peek() == ("punct", "["):
            self.take()
            self.expect("word", "type")
            self.expect("word", "eq")
            kind, raw = self.take()
            if kind != "string" or _string(raw).lower() != "work":
                raise InvalidFilter('Only emails[type eq "work"] is supported.')
            self.expect("punct", "]")
            suffix = self.take()
            if suffix[0] != "word" or suffix[1].lower() != ".value":
                raise InvalidFilter('Use emails[type eq "work"].value.')
            return WORK_EMAIL
        if lowered not in ATTRIBUTES:
            raise InvalidFilter(f"Filtering on {name!r} is not supported; use userName, externalId, "
                                "emails.value, emails[type eq \"work\"].value or displayName.")
        return ATTRIBUTES[lowered]


def parse(text: str):
    """The tree of a filter string; InvalidFilter when it is empty, too long or not supported."""
    if not text or not text.strip():
        raise InvalidFilter("The filter is empty.")
    if len(text) > MAX_LENGTH:
        raise InvalidFilter("The filter is too long.")
    return _Parser(_tokens(text)).parse()
