"""Paid bookings (issue 16): a booking's payment, the refunds issued against it, and the providers' webhook events.

A priced event type's booking is held (``bookings.status = 'PENDING_PAYMENT'``, ``held_until``) while the invitee
pays; its ``Payment`` row names the provider's object (a Stripe Checkout Session ``cs_...`` or a PayPal order) and,
once paid, the transaction (a Stripe payment intent ``pi_...`` or a PayPal capture). ``PaymentEvent`` keeps every
provider webhook event once (its provider id is unique), so a repeated delivery changes nothing.
"""
from __future__ import annotations

import peewee

from app.models.base import BaseModel, UTCDateTimeField, utcnow
from app.models.bookings import Booking
from app.models.scheduling import JSONField

PAYMENT_STATUSES = ("pending", "paid", "refunded", "partially_refunded", "expired", "failed")


class Payment(BaseModel):
    booking = peewee.ForeignKeyField(Booking, backref="payments", on_delete="CASCADE")
    provider = peewee.CharField(max_length=20)                       # stripe | paypal
    status = peewee.CharField(max_length=20, default="pending")
    amount = peewee.IntegerField()                                   # minor units
    currency = peewee.CharField(max_length=3)                        # lower-case ISO 4217
    provider_ref = peewee.CharField(max_length=255, null=True)       # Checkout Session id / PayPal order id
    checkout_url = peewee.CharField(max_length=2000, null=True)
    transaction_id = peewee.CharField(max_length=255, null=True)     # payment intent / capture id
    payment_method = peewee.CharField(max_length=40, null=True)      # card, paypal, ...
    amount_refunded = peewee.IntegerField(default=0)
    paid_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "payments"
        indexes = ((("provider", "provider_ref"), True), (("provider", "transaction_id"), False))


class Refund(BaseModel):
    payment = peewee.ForeignKeyField(Payment, backref="refunds", on_delete="CASCADE")
    amount = peewee.IntegerField()
    reason = peewee.CharField(max_length=40)                         # host_cancel | invitee_cancel | late | manual
    reference = peewee.CharField(max_length=180, unique=True)       # our idempotency reference
    provider_refund_id = peewee.CharField(max_length=255, null=True)
    status = peewee.CharField(max_length=20, default="pending")      # pending | succeeded | failed
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "refunds"


class PaymentEvent(BaseModel):
    provider = peewee.CharField(max_length=20)
    event_id = peewee.CharField(max_length=255)
    type = peewee.CharField(max_length=100)
    payload = JSONField()
    received_at = UTCDateTimeField(default=utcnow)
    processed_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "payment_events"
        indexes = ((("provider", "event_id"), True),)
