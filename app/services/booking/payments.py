"""Paid bookings (issue 16): the hold, the checkout, the provider's word, the window running out, refunds.

1. ``create_booking`` of a priced event type writes the booking ``PENDING_PAYMENT`` with ``held_until`` (the slot is
   taken, nobody is told yet). :func:`start_checkout` then asks the provider for a place to pay (a Stripe Checkout
   Session, a PayPal order) and keeps it on a ``Payment`` row; if the provider cannot be reached the hold is released
   at once and the invitee is told that nothing was booked or charged.
2. Only the provider's signed webhook confirms (the return page merely waits): :func:`record_event` keeps each
   verified event once (its provider id is unique) and queues its processing; :func:`process_event` reads it:
   Stripe ``checkout.session.completed`` (paid), PayPal ``CHECKOUT.ORDER.APPROVED`` (captured here, with a request id
   that makes a retry harmless) and ``PAYMENT.CAPTURE.COMPLETED`` confirm the booking through :func:`confirm_payment`:
   ``booking.created`` (emails, calendars, video link, webhooks), ``payment.received``, the audit entries and the
   contact (``source: "payment"`` when new), once, whatever the number of deliveries.
3. :func:`release_expired` (a periodic task, every minute) cancels held bookings whose window ran out, marks their
   payments expired and expires the Stripe Checkout Session (a PayPal order is simply never captured). A payment
   that still arrives is refunded at once and the invitee is told (:func:`confirm_payment` answers ``"late"``).
4. Refunds (:func:`refund`) are rows first, then a queued call with the row's reference as the provider's
   idempotency key: a retry never refunds twice. Refund events that arrive before their payment is known are
   retried until it is (noted, not lost).
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import peewee

from app import money
from app.db import transaction
from app.integrations import paypal_payments
from app.integrations.errors import IntegrationError, TransientError
from app.models import Booking, EventType, Payment, PaymentEvent, Refund, User
from app.models.base import utcnow
from app.services import audit, events, outbox
from app.services.booking import bookings as core
from app.services.booking.payment_providers import PAYMENT_PROVIDERS
from app.services.errors import Conflict, NotFound, ValidationFailed

log = logging.getLogger(__name__)

EXPIRED_REASON = "The payment window ran out before the payment arrived."


class PaymentUnavailable(Conflict):
    """The provider could not start the payment: the hold was released, nothing was booked or charged."""

    def __init__(self) -> None:
        super().__init__("The payment service could not be reached, so nothing was booked or charged. "
                         "Please try again in a moment.")


# --- providers --------------------------------------------------------------------------------------------------
def configured_providers() -> list[str]:
    """The providers this instance has settings for (the others are hidden everywhere)."""
    return [name for name, provider in PAYMENT_PROVIDERS.items() if provider.configured()]


def providers_for(event_type: EventType) -> list[str]:
    """The providers an invitee of ``event_type`` may pay with: accepted by the host and configured here."""
    if not event_type.is_paid:
        return []
    return [name for name in configured_providers() if name in (event_type.payment_providers or [])
            and PAYMENT_PROVIDERS[name].supports(event_type.price_currency)]


# --- the checkout -----------------------------------------------------------------------------------------------
def start_checkout(booking: Booking, provider: str, *, success_url: str, cancel_url: str) -> Payment:
    """Where the invitee of a held booking pays (``payment.checkout_url``); the same one when asked again."""
    event_type = booking.event_type
    if provider not in providers_for(event_type):
        raise ValidationFailed({"provider": "Choose one of the payment methods offered."})
    if booking.status != core.PENDING_PAYMENT:
        raise NotFound("This booking is not waiting for a payment.")
    payment = Payment.get_or_none((Payment.booking == booking) & (Payment.provider == provider))
    if payment is not None and payment.checkout_url:
        return payment
    if payment is None:
        payment = Payment.create(booking=booking, provider=provider, amount=event_type.price_amount,
                                 currency=event_type.price_currency)
    try:
        payment.provider_ref, payment.checkout_url = PAYMENT_PROVIDERS[provider].start(
            booking, payment, event_type, success_url=success_url, cancel_url=cancel_url)
    except (IntegrationError, ValueError) as exc:
        log.warning("the %s checkout of booking %s could not start: %s", provider, booking.id, exc)
        _release(booking.id, "The payment could not be started.", utcnow())
        raise PaymentUnavailable() from exc
    payment.updated_at = utcnow()
    payment.save()
    return payment


def payment_of(booking: Booking) -> Payment | None:
    """The booking's payment: the one paid, else the latest started."""
    rows = list(Payment.select().where(Payment.booking == booking).order_by(Payment.created_at.desc()))
    return next((row for row in rows if row.paid_at is not None), rows[0] if rows else None)


# --- confirmation -----------------------------------------------------------------------------------------------
def confirm_payment(payment: Payment, *, transaction_id: str | None, method: str | None,
                    now: datetime | None = None) -> str:
    """The provider says ``payment`` is paid: ``"confirmed"`` (the held booking stands now), ``"already"`` (told
    before) or ``"late"`` (the hold was released first: a refund is queued and the invitee told)."""
    now = now or utcnow()
    booking = payment.booking
    with transaction(immediate=True):
        core._lock_host(booking.user_id)
        fresh = Payment.get_by_id(payment.id)
        if fresh.paid_at is not None:
            return "already"
        fresh.status, fresh.paid_at, fresh.updated_at = "paid", now, now
        fresh.transaction_id = transaction_id or fresh.transaction_id
        fresh.payment_method = method or fresh.payment_method
        fresh.save()
        held = Booking.get_by_id(booking.id)
        host = User.get_by_id(held.user_id)
        event_type = held.event_type
        paid = money.format_amount(fresh.amount, fresh.currency)
        via = PAYMENT_PROVIDERS[fresh.provider].label
        if held.status != core.PENDING_PAYMENT or event_type is None:
            core._activity(held, "payment", f"{paid} arrived through {via} after the hold was released: refunded "
                                            "in full")
            _queue_refund(fresh, fresh.amount, "late")
            return "late"
        contact, new_contact = core._upsert_contact(host, held.invitee_name, held.invitee_email, held.invitee_phone,
                                                    source="payment")
        held.status, held.held_until, held.contact, held.updated_at = "CONFIRMED", None, contact, now
        held.save()
        core.announce_created(held, event_type, host, now=now,
                              how=f"Paid {paid} through {via} by {held.invitee_name} "
                                  f"<{held.invitee_email}> ({held.source}): confirmed")
        events.emit("payment.received", payment_received(fresh), user_id=host.id)
        audit.record("payment.received", resource="booking", resource_id=held.id, user=host,
                     details={"amount": fresh.amount, "currency": fresh.currency, "provider": fresh.provider,
                              "transactionId": fresh.transaction_id, "inviteeEmail": held.invitee_email})
        if new_contact:
            events.emit("contact.created", core.contact_payload(contact), user_id=host.id)
    return "confirmed"


def payment_received(payment: Payment) -> dict:
    """The ``data`` of ``payment.received`` (spec pages 14 and 16, with the README's decisions)."""
    return {"bookingId": payment.booking_id, "amount": payment.amount, "currency": payment.currency,
            "paymentMethod": payment.payment_method or PAYMENT_PROVIDERS[payment.provider].default_method,
            "transactionId": payment.transaction_id, "provider": payment.provider}


def payment_json(payment: Payment | None) -> dict | None:
    """A booking's ``payment`` object in the API."""
    if payment is None:
        return None
    return {"status": payment.status, "amount": payment.amount, "currency": payment.currency,
            "provider": payment.provider, "amountRefunded": payment.amount_refunded,
            "transactionId": payment.transaction_id}


# --- the window running out ---------------------------------------------------------------------------------------
def _release(booking_id: str, reason: str, now: datetime) -> bool:
    with transaction(immediate=True):
        booking = Booking.get_by_id(booking_id)
        core._lock_host(booking.user_id)
        booking = Booking.get_by_id(booking_id)
        if booking.status != core.PENDING_PAYMENT:
            return False
        booking.status, booking.held_until = "CANCELLED", None
        booking.cancel_reason, booking.cancelled_at, booking.cancelled_by = reason, now, "system"
        booking.updated_at = now
        booking.save()
        core._activity(booking, "released", f"Released: {reason}")
        for payment in Payment.select().where((Payment.booking == booking_id) & (Payment.status == "pending")):
            payment.status, payment.updated_at = "expired", now
            payment.save()
            if payment.provider_ref:
                outbox.add("payment_expire", {"payment_id": payment.id}, user_id=booking.user_id)
    return True


def release_expired(now: datetime | None = None) -> int:
    """Cancel the held bookings whose payment window ran out; answers how many."""
    now = now or utcnow()
    due = [row.id for row in Booking.select(Booking.id).where((Booking.status == core.PENDING_PAYMENT)
                                                               & (Booking.held_until <= now))]
    return sum(_release(booking_id, EXPIRED_REASON, now) for booking_id in due)


@outbox.handler("payment_expire")
def _give_up(payload: dict) -> None:
    payment = Payment.get_or_none(Payment.id == payload["payment_id"])
    if payment is None or not payment.provider_ref or payment.paid_at is not None:
        return
    if PAYMENT_PROVIDERS[payment.provider].give_up(payment):
        # paid in the last moment: the provider's event brings it, and it is refunded as late
        log.info("payment %s was paid before it could be given up", payment.id)


# --- provider events --------------------------------------------------------------------------------------------
def record_event(provider: str, event_id: str, event_type: str, payload: dict) -> bool:
    """Keep a verified provider event once and queue its processing; False when it was already kept."""
    try:
        with transaction():
            row = PaymentEvent.create(provider=provider, event_id=event_id, type=event_type, payload=payload)
            outbox.add("payment_event", {"id": row.id})
    except peewee.IntegrityError:
        return False
    return True


class NotYetKnown(TransientError):
    """An event about a payment this instance has not recorded yet (a refund before its completion): retried."""


@outbox.handler("payment_event")
def process_event(payload: dict) -> None:
    row = PaymentEvent.get_or_none(PaymentEvent.id == payload["id"])
    if row is None or row.processed_at is not None:
        return
    handler = EVENT_HANDLERS.get(row.provider, {}).get(row.type)
    if handler is not None:
        handler(row.payload)
    row.processed_at = utcnow()
    row.save()


def _by_ref(name: str, ref: str | None) -> Payment | None:
    return Payment.get_or_none((Payment.provider == name) & (Payment.provider_ref == ref)) if ref else None


def _by_transaction(name: str, transaction_id: str | None) -> Payment | None:
    if not transaction_id:
        return None
    return Payment.get_or_none((Payment.provider == name) & (Payment.transaction_id == transaction_id))


def _stripe_completed(event: dict) -> None:
    session = event["data"]["object"]
    if session.get("payment_status") != "paid":
        return                                       # an asynchronous method: its own event confirms it later
    payment = _by_ref("stripe", session.get("id"))
    if payment is None:
        raise NotYetKnown(f"Checkout Session {session.get('id')} is not known (yet)", provider="stripe")
    method = (session.get("payment_method_types") or ["card"])[0]
    confirm_payment(payment, transaction_id=session.get("payment_intent"), method=method)


def _stripe_expired(event: dict) -> None:
    payment = _by_ref("stripe", event["data"]["object"].get("id"))
    if payment is not None and payment.status == "pending":
        _release(payment.booking_id, EXPIRED_REASON, utcnow())


def _stripe_refunded(event: dict) -> None:
    charge = event["data"]["object"]
    payment = _by_transaction("stripe", charge.get("payment_intent"))
    if payment is None:
        raise NotYetKnown(f"no payment for {charge.get('payment_intent')} yet", provider="stripe")
    _note_refunded(payment, int(charge.get("amount_refunded") or 0))


def _paypal_approved(event: dict) -> None:
    order_id = event["resource"].get("id")
    payment = _by_ref("paypal", order_id)
    if payment is None:
        raise NotYetKnown(f"PayPal order {order_id} is not known (yet)", provider="paypal")
    if payment.paid_at is not None or payment.booking.status != core.PENDING_PAYMENT:
        return      # paid already, or the hold was released: without a capture no money moves
    order = PAYMENT_PROVIDERS["paypal"].client().capture_order(order_id,
                                                               request_id=f"{payment.booking_id}:paypal:capture")
    capture = order.completed_capture
    if capture is not None:
        confirm_payment(payment, transaction_id=capture.id, method="paypal")


def _paypal_captured(event: dict) -> None:
    resource = event["resource"]
    order_id = ((resource.get("supplementary_data") or {}).get("related_ids") or {}).get("order_id")
    payment = _by_ref("paypal", order_id)
    if payment is None:
        raise NotYetKnown(f"PayPal order {order_id} is not known (yet)", provider="paypal")
    confirm_payment(payment, transaction_id=resource.get("id"), method="paypal")


def _paypal_refunded(event: dict) -> None:
    resource = event["resource"]
    up = next((link.get("href", "") for link in resource.get("links") or [] if link.get("rel") == "up"), "")
    capture_id = up.rstrip("/").rsplit("/", 1)[-1] if "/captures/" in up else None
    payment = _by_transaction("paypal", capture_id)
    if payment is None:
        raise NotYetKnown(f"no payment for capture {capture_id} yet", provider="paypal")
    if Refund.get_or_none(Refund.provider_refund_id == resource.get("id")) is None:   # not one of ours
        amount, _currency = paypal_payments.amount_from_paypal(resource["amount"])
        _note_refunded(payment, payment.amount_refunded + amount)


# provider -> event type -> what it means here
EVENT_HANDLERS = {
    "stripe": {"checkout.session.completed": _stripe_completed,
               "checkout.session.async_payment_succeeded": _stripe_completed,
               "checkout.session.expired": _stripe_expired,
               "charge.refunded": _stripe_refunded},
    "paypal": {paypal_payments.ORDER_APPROVED: _paypal_approved,
               paypal_payments.CAPTURE_COMPLETED: _paypal_captured,
               paypal_payments.CAPTURE_REFUNDED: _paypal_refunded},
}


def _note_refunded(payment: Payment, total: int) -> None:
    with transaction():
        fresh = Payment.get_by_id(payment.id)
        if total > fresh.amount_refunded:
            fresh.amount_refunded = min(total, fresh.amount)
            fresh.status = "refunded" if fresh.amount_refunded >= fresh.amount else "partially_refunded"
            fresh.updated_at = utcnow()
            fresh.save()


# --- refunds ------------------------------------------------------------------------------------------------------
def _queue_refund(payment: Payment, amount: int, reason: str) -> Refund:
    number = Refund.select().where(Refund.payment == payment).count() + 1
    row = Refund.create(payment=payment, amount=amount, reason=reason, reference=f"refund-{payment.id}-{number}")
    outbox.add("payment_refund", {"refund_id": row.id}, user_id=payment.booking.user_id)
    return row


def refund(payment: Payment, *, amount: int | None = None, reason: str) -> Refund:
    """Refund ``amount`` (default: what is left) of a paid payment; call inside the change that causes it."""
    if payment.paid_at is None:
        raise ValidationFailed({"amount": "This payment has not arrived, so there is nothing to refund."})
    left = refundable(payment)
    amount = left if amount is None else amount
    if not 0 < amount <= left:
        raise ValidationFailed({"amount": f"Refund between {money.format_amount(1, payment.currency)} and "
                                          f"{money.format_amount(left, payment.currency)}."})
    return _queue_refund(payment, amount, reason)


def refundable(payment: Payment) -> int:
    """What is left to refund: the amount less what was refunded and the refunds queued but not issued yet."""
    queued = sum(row.amount for row in Refund.select(Refund.amount)
                 .where((Refund.payment == payment.id) & (Refund.status == "pending")))
    return max(0, payment.amount - payment.amount_refunded - queued)


def cancel_refund(booking: Booking, by: str, now: datetime | None = None) -> tuple[Payment, int] | None:
    """What cancelling ``booking`` now refunds by the event type's rules: ``(payment, amount)`` (0: none), or None
    when nothing was paid. Host: all that is left when ``refund_on_host_cancel``; invitee: all that is left when
    the start is more than ``refund_invitee_hours`` away."""
    payment = payment_of(booking)
    if payment is None or payment.paid_at is None:
        return None
    event_type = booking.event_type if booking.event_type_id else None
    if by == "host":
        earned = event_type is None or event_type.refund_on_host_cancel
    else:
        hours = event_type.refund_invitee_hours if event_type is not None else 0
        earned = booking.start_at - (now or utcnow()) > timedelta(hours=hours)
    return payment, refundable(payment) if earned else 0


def _refund_on_cancel(booking: Booking, by: str, now: datetime | None) -> None:
    """``bookings.cancel_booking``'s hook, inside its transaction: queue the refund the cancellation earns."""
    owed = cancel_refund(booking, by, now)
    if owed is None:
        return
    payment, amount = owed
    paid = money.format_amount(payment.amount, payment.currency)
    if amount > 0:
        _queue_refund(payment, amount, "host_cancel" if by == "host" else "invitee_cancel")
        core._activity(booking, "refund", f"Refund of {money.format_amount(amount, payment.currency)} queued "
                                          f"(of {paid} paid)")
    else:
        core._activity(booking, "refund", f"No refund of the {paid} paid: the event type's rules give none for "
                                          f"this cancellation")


core.PAYMENT_HOOKS["cancelled"] = _refund_on_cancel


@outbox.handler("payment_refund")
def _issue_refund(payload: dict) -> None:
    row = Refund.get_or_none(Refund.id == payload["refund_id"])
    if row is None or row.status == "succeeded":
        return
    payment = row.payment
    refund_id = PAYMENT_PROVIDERS[payment.provider].refund(payment, row)
    booking = payment.booking
    with transaction():
        row.provider_refund_id, row.status = refund_id, "succeeded"
        row.save()
        fresh = Payment.get_by_id(payment.id)
        fresh.amount_refunded = min(fresh.amount, fresh.amount_refunded + row.amount)
        fresh.status = "refunded" if fresh.amount_refunded >= fresh.amount else "partially_refunded"
        fresh.updated_at = utcnow()
        fresh.save()
        refunded = money.format_amount(row.amount, payment.currency)
        via = PAYMENT_PROVIDERS[payment.provider].label
        core._activity(booking, "refund", f"Refunded {refunded} through {via} ({row.reason})")
        audit.record("payment.refunded", resource="booking", resource_id=booking.id, user=booking.user,
                     details={"amount": row.amount, "currency": payment.currency, "provider": payment.provider,
                              "reason": row.reason, "inviteeEmail": booking.invitee_email})
        _tell_invitee_of_refund(booking, refunded, row.reason)


def _tell_invitee_of_refund(booking: Booking, refunded: str, reason: str) -> None:
    from app.services.mailer import queue_email

    why = {"late": "your payment arrived after the time held for it had run out, so the booking could not be "
                   "kept", "host_cancel": "the host cancelled the meeting",
           "invitee_cancel": "you cancelled the meeting"}.get(reason, "the host refunded it")
    queue_email(booking.invitee_email, f"Refund: {booking.event_name}", "payment_refunded_invitee",
                user_id=booking.user_id, booking_id=booking.id, booking=booking, amount=refunded, why=why,
                host=booking.user)


def held_minutes_left(booking: Booking, now: datetime | None = None) -> int:
    if booking.held_until is None:
        return 0
    return max(0, int((booking.held_until - (now or datetime.now(UTC))).total_seconds() // 60))
