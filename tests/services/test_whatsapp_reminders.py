"""Reminders of bookings made in a WhatsApp conversation (issue 22, spec page 11): when the email reminder goes
(``notifications.send_due_reminders``), the customer also gets a WhatsApp reminder from the agent's number, the
approved template outside the 24-hour window, SMS from the same number while the template is not approved; a booking
made by SMS gets none. Checked on what the Twilio fake received."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.models import Reminder
from app.models.base import utcnow
from app.models.messaging import Conversation, MessagingAgent
from app.services.booking import notifications
from app.services.messaging import whatsapp
from app.services.voice import numbers
from tests import factories

pytest_plugins = ["tests.number_fixtures"]
REMINDER = "HX" + "e1" * 16
CUSTOMER = "+14155557788"


def make_app(app_factory, twilio_fake, elevenlabs_fake, number_settings, template: str):
    return app_factory(**number_settings(twilio_fake, elevenlabs_fake, WHATSAPP_TEMPLATE_REMINDER_SID=template))


@pytest.fixture(params=[REMINDER, ""], ids=["template approved", "template pending"])
def ctx(request, app_factory, twilio_fake, elevenlabs_fake, number_settings):
    from app.db import db

    app = make_app(app_factory, twilio_fake, elevenlabs_fake, number_settings, request.param)
    with app.app_context(), db.connection_context():
        yield request.param


def booked_through(channel: str, twilio_fake):
    host = factories.user("hana", plan="PRO")
    number = numbers.provision_number(host, "US")
    if channel == "whatsapp":
        row = whatsapp.register(host, number.id, "Acme Corp")
        twilio_fake.set_sender_status(row.sender_sid, "ONLINE", notify=False)
        assert whatsapp.status(host, number.id, refresh=True).status == "approved"
    agent = MessagingAgent.create(user=host, name="Sarah", channel=channel, phone_number=number)
    start = factories.weekday_at(3, hour=10)
    booking = factories.booking_row(factories.event_type(host), start, name="Ivan Petrov", invitee_phone=CUSTOMER)
    Conversation.create(user=host, agent=agent, channel=channel, contact_phone=CUSTOMER, agent_phone=number.e164,
                        booking=booking, last_inbound_at=utcnow() - timedelta(days=2))     # outside the window
    Reminder.create(booking=booking, send_at=utcnow() - timedelta(minutes=1), offset_minutes=60 * 24)
    return number, booking


def test_a_booking_made_on_whatsapp_is_reminded_there_or_by_sms_from_the_same_number(ctx, twilio_fake):
    number, booking = booked_through("whatsapp", twilio_fake)
    before = len(twilio_fake.messages)
    assert notifications.send_due_reminders() == 1
    [message] = twilio_fake.messages[before:]
    if ctx:                                            # the approved template, outside the window
        assert (message["from"], message["to"], message["content_sid"]) == (
            f"whatsapp:{number.e164}", f"whatsapp:{CUSTOMER}", REMINDER)
        assert message["content_variables"]["1"] == "Ivan"
        assert message["content_variables"]["2"] == booking.event_name
    else:                                              # no approved template: SMS from the agent's number
        assert (message["from"], message["to"]) == (number.e164, CUSTOMER)
        assert message["body"].startswith(f"Hi Ivan, a reminder: your {booking.event_name} is on ")


def test_a_booking_made_by_sms_is_reminded_by_email_only(ctx, twilio_fake):
    booked_through("sms", twilio_fake)
    before = len(twilio_fake.messages)
    assert notifications.send_due_reminders() == 1
    assert twilio_fake.messages[before:] == []
