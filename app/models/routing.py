"""Routing forms (issue 18, spec page 02): a short intake form whose answers choose the meeting.

A form's ``fields`` and ``rules`` are kept as ordered JSON lists on its row (they are edited, reordered and read
together, never queried one by one): a field is ``{"id", "label", "type", "help", "required", "options"}``; a rule is
``{"id", "conditions": [{"field", "operator", "value"}], "route": {...}}`` and a route is
``{"kind": "event_type", "eventTypeId"}``, ``{"kind": "url", "url"}`` or ``{"kind": "message", "message"}``.
``RoutingResponse`` keeps every submission with the rule that matched (None: the default route), the route taken
and, once the visitor books, the booking.
"""
from __future__ import annotations

import peewee

from app.models.accounts import User
from app.models.base import BaseModel, UTCDateTimeField, utcnow
from app.models.bookings import Booking
from app.models.scheduling import JSONField

FIELD_TYPES = ("text", "textarea", "select", "multiselect", "number", "email", "phone")
OPERATORS = ("equals", "not_equals", "contains", "greater_than", "less_than")
ROUTE_KINDS = ("event_type", "url", "message")


class RoutingForm(BaseModel):
    user = peewee.ForeignKeyField(User, backref="routing_forms", on_delete="CASCADE")
    name = peewee.CharField(max_length=100)
    slug = peewee.CharField(max_length=100)
    description = peewee.TextField(default="")
    published = peewee.BooleanField(default=False)
    fields = JSONField(default=list)
    rules = JSONField(default=list)
    default_route = JSONField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "routing_forms"
        indexes = ((("user", "slug"), True),)


class RoutingResponse(BaseModel):
    form = peewee.ForeignKeyField(RoutingForm, backref="responses", on_delete="CASCADE")
    answers = JSONField(default=dict)                  # field id -> answer (str, or list for multi-select)
    matched_rule = peewee.CharField(max_length=32, null=True)   # the rule's id; None: the default route
    route = JSONField(null=True)                       # the route taken, as it was then
    booking = peewee.ForeignKeyField(Booking, null=True, on_delete="SET NULL")
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "routing_responses"
        indexes = ((("form", "created_at"), False), (("booking",), False))
