"""Routing rules: which route a visitor's answers take (pure functions, no database).

Rules are checked in order and the first whose conditions all hold (AND, up to five) wins; when none does, the
form's default route is taken. The semantics of each operator, by the field's type:

- **Text, Textarea, Email, Phone, Select**: answers and values are compared trimmed and case-insensitively.
  Equals / Not Equals compare the whole answer, Contains looks for the value inside it.
- **Multi-select**: Equals means the chosen set is exactly the value's set (order and case do not matter), Not
  Equals its opposite, Contains that the value is among the chosen options.
- **Number**: answers and values are numbers (a decimal point or a decimal comma; surrounding spaces ignored).
  Greater Than / Less Than / Equals / Not Equals compare them as numbers; an answer that is not a number never
  matches any of them.
- **An empty answer** (a field left blank) matches only Not Equals (on text-like and choice fields): it is not equal
  to anything, contains nothing and is no number.

``OPERATORS_FOR`` lists the operators the editor offers for each field type; a condition with any other operator
never matches.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

OPERATOR_LABELS = {"equals": "Equals", "not_equals": "Not Equals", "contains": "Contains",
                   "greater_than": "Greater Than", "less_than": "Less Than"}
_TEXT_OPERATORS = ("equals", "not_equals", "contains")
OPERATORS_FOR = {
    "text": _TEXT_OPERATORS, "textarea": _TEXT_OPERATORS, "email": _TEXT_OPERATORS, "phone": _TEXT_OPERATORS,
    "select": ("equals", "not_equals"), "multiselect": _TEXT_OPERATORS,
    "number": ("equals", "not_equals", "greater_than", "less_than"),
}
MAX_CONDITIONS = 5


def text_key(value) -> str:
    """How text is compared: trimmed, case folded, inner runs of whitespace as one space."""
    return " ".join(str(value if value is not None else "").split()).casefold()


def parse_number(value) -> Decimal | None:
    """A number typed with a decimal point or a decimal comma (``"1,5"``, ``" 12.0 "``, ``"-3"``); None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    text = str(value).strip().replace(" ", "")
    if not text:
        return None
    if "," in text and "." not in text and text.count(",") == 1:
        text = text.replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _chosen(answer) -> set[str]:
    if answer is None or answer == "":
        return set()
    items = answer if isinstance(answer, (list, tuple, set)) else [answer]
    return {text_key(item) for item in items if text_key(item)}


def _empty(answer) -> bool:
    if isinstance(answer, (list, tuple, set)):
        return not _chosen(answer)
    return text_key(answer) == ""


def condition_matches(field_type: str, operator: str, value, answer) -> bool:
    """Whether one condition holds for ``answer`` (see the module's semantics)."""
    if operator not in OPERATORS_FOR.get(field_type, ()):
        return False
    if field_type == "number":
        got, want = parse_number(answer), parse_number(value)
        if got is None or want is None:
            return False
        return {"equals": got == want, "not_equals": got != want, "greater_than": got > want,
                "less_than": got < want}[operator]
    if _empty(answer):
        return operator == "not_equals"
    if field_type == "multiselect":
        chosen = _chosen(answer)
        if operator == "contains":
            return text_key(value) in chosen
        same = chosen == _chosen(value)
        return same if operator == "equals" else not same
    got, want = text_key(answer), text_key(value)
    if operator == "contains":
        return bool(want) and want in got
    return (got == want) if operator == "equals" else (got != want)


def rule_matches(rule: dict, fields_by_id: dict[str, dict], answers: dict) -> bool:
    conditions = rule.get("conditions") or []
    if not conditions:
        return False
    for condition in conditions[:MAX_CONDITIONS]:
        field = fields_by_id.get(condition.get("field"))
        if field is None:
            return False
        if not condition_matches(field["type"], condition.get("operator"), condition.get("value"),
                                 answers.get(field["id"])):
            return False
    return True


def route_for(fields: list[dict], rules: list[dict], default_route: dict | None,
              answers: dict) -> tuple[str | None, dict | None]:
    """(the id of the first rule that matches, its route), or (None, the default route)."""
    by_id = {field["id"]: field for field in fields}
    for rule in rules:
        if rule_matches(rule, by_id, answers):
            return rule.get("id"), rule.get("route")
    return None, default_route
