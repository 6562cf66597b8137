"""The six routing form templates of spec page 02, with real questions, options and rules.

A template makes a draft whose routes have no event type yet: the host points each rule (and the default route) at
one of their event types and publishes. ``template_input(key)`` is that draft as the editor's input.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.services.routing.forms import FormInput


def _field(field_id, label, kind, *, options=(), required=True, help_text=""):
    return {"id": field_id, "label": label, "type": kind, "help": help_text, "required": required,
            "options": list(options)}


def _rule(rule_id, *conditions):
    return {"id": rule_id, "conditions": [{"field": f, "operator": op, "value": v} for f, op, v in conditions],
            "route": {"kind": "event_type", "eventTypeId": None}}


_NAME = _field("name", "Your name", "text")
_EMAIL = _field("email", "Email", "email")


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    description: str
    fields: tuple
    rules: tuple


TEMPLATES: dict[str, Template] = {t.key: t for t in (
    Template("sales_qualifier", "Sales Qualifier", "Tell us a little about your team so we can book the right call.",
             (_NAME, _EMAIL,
              _field("size", "Company size", "select", options=("1-10", "11-50", "51-200", "201-1000", "1000+")),
              _field("budget", "Monthly budget (USD)", "number", required=False),
              _field("timeline", "When do you want to start?", "select",
                     options=("This month", "This quarter", "Just exploring"))),
             (_rule("enterprise", ("size", "equals", "1000+")),
              _rule("bigbudget", ("budget", "greater_than", "5000"), ("timeline", "not_equals", "Just exploring")),
              _rule("explore", ("timeline", "equals", "Just exploring")))),
    Template("support_triage", "Support Triage", "Describe the problem and we'll route you to the right support tier.",
             (_NAME, _EMAIL,
              _field("urgency", "How urgent is it?", "select",
                     options=("Production is down", "Something is broken", "A question")),
              _field("details", "What happened?", "textarea", required=False)),
             (_rule("down", ("urgency", "equals", "Production is down")),
              _rule("urgent_words", ("details", "contains", "urgent")),
              _rule("broken", ("urgency", "equals", "Something is broken")))),
    Template("industry_selector", "Industry Selector", "Choose your industry to meet the right specialist.",
             (_NAME, _EMAIL,
              _field("industry", "Industry", "select",
                     options=("Healthcare", "Finance", "Education", "Retail", "Other"))),
             (_rule("health", ("industry", "equals", "Healthcare")),
              _rule("finance", ("industry", "equals", "Finance")),
              _rule("education", ("industry", "equals", "Education")))),
    Template("company_size_router", "Company Size Router", "How many people work at your company?",
             (_NAME, _EMAIL,
              _field("employees", "Number of employees", "number")),
             (_rule("large", ("employees", "greater_than", "500")),
              _rule("small", ("employees", "less_than", "20")))),
    Template("service_type", "Service Type", "Which service are you interested in?",
             (_NAME, _EMAIL,
              _field("services", "Services", "multiselect",
                     options=("Wedding", "Portrait", "Commercial", "Event")),
              _field("date", "Preferred date", "text", required=False)),
             (_rule("wedding", ("services", "contains", "Wedding")),
              _rule("commercial", ("services", "contains", "Commercial")),
              _rule("portrait", ("services", "equals", ["Portrait"])))),
    Template("general_intake", "General Intake", "A few questions before we meet.",
             (_NAME, _EMAIL,
              _field("phone", "Phone", "phone", required=False),
              _field("topic", "What would you like to talk about?", "select",
                     options=("A new project", "An existing project", "Something else")),
              _field("notes", "Anything else we should know?", "textarea", required=False)),
             (_rule("new", ("topic", "equals", "A new project")),
              _rule("existing", ("topic", "equals", "An existing project")))),
)}


def template_input(key: str) -> FormInput | None:
    """A draft form of template ``key``: its questions and rules, routes to be pointed at event types."""
    template = TEMPLATES.get(key)
    if template is None:
        return None
    slug = key.replace("_", "-")
    return FormInput(name=template.name, slug=slug, description=template.description, published=False,
                     fields=[dict(f, options=list(f["options"])) for f in template.fields],
                     rules=[{"id": r["id"], "conditions": [dict(c) for c in r["conditions"]],
                             "route": dict(r["route"])} for r in template.rules],
                     default_route={"kind": "event_type", "eventTypeId": None})
