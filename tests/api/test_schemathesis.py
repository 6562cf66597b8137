"""Property-based API test: Schemathesis generates requests from our OpenAPI document and sends them to the
live app (Flask's WSGI interface, a Pro API key). Every answer must be a non-5xx and match the schema the
document gives for its status code.

The host is seeded first (event types, confirmed and cancelled bookings, contacts, a priced event type with a
booking held for its payment and a paid one: Stripe is the local fake) and the document's id
path parameters are narrowed to the seeded ids plus an unknown one, so that generated requests reach real
objects, not only 404s. Examples per operation are bounded to keep the run well under a minute.
Each operation runs in positive and negative generation modes through ``operation.as_strategy`` (the
schemathesis pytest fixture loader does not work with pytest 9), and every failure is reported together.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from app.api.openapi import document
from tests import factories
from tests.api.conftest import (
    add_contact,
    add_event_type,
    book,
    event_type_of,
    future_slots,
    in_db,
    new_key,
)
from tests.fakes.stripe import StripeFake

MAX_EXAMPLES = 15
UNKNOWN_ID = "cunknown0000000000000000a"
ID_PARAMS = {"bookingId": "bookings", "contactId": "contacts", "eventTypeId": "event_types",
             "slug": "slugs", "subscriptionId": "unknown"}


def _paid_bookings(app, host) -> tuple:
    """A priced event type (Stripe), one booking held for its payment and one paid (issue 16)."""
    from app.models import EventType
    from app.services.booking import payments

    paid = add_event_type(app, host, name="Paid Coaching", slug="paid", duration=30)
    in_db(app, lambda: EventType.update(price_amount=5000, price_currency="usd", payment_providers=["stripe"])
          .where(EventType.id == paid.id).execute())
    held = []
    for n, start in enumerate(future_slots(app, paid, 2)):
        booking = book(app, paid, start, email=f"payer{n}@example.com", name=f"Payer {n}")
        payment = in_db(app, payments.start_checkout, booking, "stripe", success_url="http://localhost/paid",
                        cancel_url="http://localhost/back")
        held.append(booking)
    in_db(app, payments.confirm_payment, payment, transaction_id="pi_seeded", method="card")   # the second one
    return paid, held


def _seed(app, host, stranger) -> dict:
    from app.models import Booking
    from app.services.booking.bookings import cancel_booking

    thirty = event_type_of(app, host)
    buffered = add_event_type(app, host, name="Consultation", slug="consult", duration=60, buffer_before=5,
                              buffer_after=10)
    draft = add_event_type(app, host, name="Draft", slug="draft", duration=15, status="draft")
    starts = future_slots(app, thirty, 4)
    made = [book(app, thirty, start, email=f"guest{i}@example.com", name=f"Guest {i}") for i, start in
            enumerate(starts)]
    past_now = datetime.now(UTC) - timedelta(days=30)
    made.append(book(app, thirty, future_slots(app, thirty, 1, now=past_now)[0], email="old@example.com",
                     now=past_now))
    in_db(app, lambda: cancel_booking(Booking.get_by_id(made[1].id), reason="seed", by="host"))
    people = [add_contact(app, host, "Jane Doe", "jane@example.com", company="Acme", phone="+1 555 0100"),
              add_contact(app, host, "Bob Roe", "bob@example.com")]
    theirs = book(app, event_type_of(app, stranger), future_slots(app, event_type_of(app, stranger), 1)[0])
    their_contact = add_contact(app, stranger, "Their Contact", "their@example.com")
    # team event types (issue 15): the host is in Sam's team; a booking of its collective one is filed under Sam
    team = in_db(app, factories.team, stranger, [host])
    panel = in_db(app, factories.team_event_type, stranger, team, [stranger, host], kind="collective", name="Panel")
    rr = in_db(app, factories.team_event_type, stranger, team, [host, stranger], name="Demo")
    attended = book(app, panel, future_slots(app, panel, 1)[0], email="team@example.com")
    made.append(attended)
    paid, held = _paid_bookings(app, host)
    made += held
    return {
        "bookings": [b.id for b in made] + [theirs.id, UNKNOWN_ID],
        "contacts": [c.id for c in people] + [their_contact.id, UNKNOWN_ID],
        "event_types": [thirty.id, buffered.id, draft.id, event_type_of(app, stranger).id, panel.id, rr.id,
                        paid.id, UNKNOWN_ID],
        "slugs": ["30-min", "consult", "draft", "missing", rr.id, "paid"],
        "unknown": [UNKNOWN_ID],
    }


def _narrow_id_parameters(doc: dict, values: dict) -> dict:
    for item in doc["paths"].values():
        for op in item.values():
            for param in op.get("parameters", []):
                if param["in"] == "path" and param["name"] in ID_PARAMS:
                    param["schema"] = {"type": "string", "enum": values[ID_PARAMS[param["name"]]]}
    return doc


@pytest.fixture
def no_webhook_sends(monkeypatch):
    """Generated Zapier subscriptions point at made-up URLs: webhook rows are queued but never sent."""
    from app.models import OutboxMessage
    from app.services import outbox

    original = outbox._enqueue

    def enqueue(message_id, delay=None, **kwargs):
        if OutboxMessage.get_by_id(message_id).kind != "webhook":
            original(message_id, delay, **kwargs)
    monkeypatch.setattr(outbox, "_enqueue", enqueue)


@pytest.fixture
def stripe_fake():
    with StripeFake() as fake:
        yield fake


@pytest.fixture
def api_schema(app_factory, make_user, no_webhook_sends, stripe_fake):
    # Generous limits: this test is about shapes; the limits have their own tests.
    app = app_factory(RATELIMIT_API_KEY="100000/minute", RATELIMIT_API_PREAUTH="100000/minute",
                      **stripe_fake.settings())
    host = make_user("hana", plan="PRO", timezone="America/New_York")
    stranger = make_user("sam", plan="PRO", timezone="Europe/London")
    seeded = _seed(app, host, stranger)
    key = new_key(app, host)
    with app.app_context():
        doc = _narrow_id_parameters(document(), seeded)
    # identity: schemathesis calls the WSGI app directly and does not undo the brotli/gzip the app would apply to
    # answers of 500 bytes or more for the Accept-Encoding it sends (tests/web/test_compression.py covers that)
    config = schemathesis.Config.from_dict({"headers": {"Authorization": f"Bearer {key}", "X-API-Key": key,
                                                        "Accept-Encoding": "identity"}})
    schema = schemathesis.openapi.from_dict(doc, config=config)
    schema.app = app
    return schema


def _check_operation(operation, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True, database=None)
    def run(case):
        case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
    run()


def test_every_documented_operation_answers_without_5xx_and_as_documented(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 17  # /api/v1 (14), the public booking endpoint, the Zapier endpoints
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _check_operation(operation, mode)
            except Unsatisfiable:  # nothing to make invalid: no parameters, no body
                continue
            except Exception as exc:
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
