"""Booking limits in the API's event types (issue 23): camelCase fields, null when unset, and in the OpenAPI schema."""
from __future__ import annotations

from app.models import EventType
from tests.api.conftest import event_type_of, in_db


def test_event_types_carry_their_booking_limits(app, api, pro_host):
    event_type = event_type_of(app, pro_host)
    in_db(app, lambda: EventType.update(max_per_week=3, max_minutes_per_day=120).where(
        EventType.id == event_type.id).execute())
    item = api.get(f"/api/v1/event-types/{event_type.id}").json
    assert (item["maxPerWeek"], item["maxPerMonth"], item["maxPerYear"]) == (3, None, None)
    assert (item["maxMinutesPerDay"], item["maxMinutesPerWeek"]) == (120, None)
    listed = api.get("/api/v1/event-types").json["data"][0]
    assert listed["maxPerWeek"] == 3


def test_the_openapi_document_describes_the_limits(client):
    schema = client.get("/api/v1/openapi.json").json["components"]["schemas"]["EventType"]["properties"]
    for name in ("maxPerWeek", "maxPerMonth", "maxPerYear", "maxMinutesPerDay", "maxMinutesPerWeek"):
        assert schema[name]["type"] == ["integer", "null"]
