"""The payment providers a paid booking can use: one adapter each, in one registry (``PAYMENT_PROVIDERS``).

An adapter starts a payment for a held booking (where the invitee pays, and the provider's id of it), gives up an
unpaid one, and refunds a paid one with our reference as its idempotency key; it says whether this instance has
its settings and which currencies it takes. The provider clients themselves are in ``app/integrations``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import timedelta
from typing import ClassVar

from flask import current_app

from app.integrations import paypal_payments, stripe_payments
from app.models import Booking, EventType, Payment, Refund


class PaymentProvider(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    default_method: ClassVar[str]       # ``paymentMethod`` when the provider does not say

    @abstractmethod
    def configured(self) -> bool:
        """Whether this instance has the provider's settings."""

    def supports(self, currency: str) -> bool:
        return True

    @abstractmethod
    def start(self, booking: Booking, payment: Payment, event_type: EventType, *, success_url: str,
              cancel_url: str) -> tuple[str, str | None]:
        """(the provider's id of the payment, where the invitee pays)."""

    def give_up(self, payment: Payment) -> bool:
        """Stop an unpaid payment at the provider; True when it turned out to be paid meanwhile."""
        return False

    @abstractmethod
    def refund(self, payment: Payment, row: Refund) -> str:
        """Refund ``row.amount`` of a paid payment; answers the provider's refund id."""


class StripeProvider(PaymentProvider):
    name, label, default_method = "stripe", "Card (Stripe)", "card"

    @staticmethod
    def client() -> stripe_payments.StripePayments:
        return stripe_payments.StripePayments.from_config(current_app.config)

    def configured(self) -> bool:
        return stripe_payments.StripePayments.configured(current_app.config)

    def start(self, booking, payment, event_type, *, success_url, cancel_url):
        session = self.client().create_checkout_session(
            booking_id=booking.id, amount=payment.amount, currency=payment.currency, name=event_type.name,
            success_url=success_url, cancel_url=cancel_url, held_at=booking.created_at,
            window=timedelta(minutes=event_type.payment_window), customer_email=booking.invitee_email)
        return session.id, session.url

    def give_up(self, payment):
        return self.client().expire_checkout_session(payment.provider_ref).paid

    def refund(self, payment, row):
        return self.client().create_refund(payment.transaction_id, reference=row.reference, amount=row.amount,
                                           booking_id=payment.booking_id).id


class PayPalProvider(PaymentProvider):
    """Orders with intent CAPTURE: no money moves before the capture, so an unpaid order needs no call to stop."""
    name, label, default_method = "paypal", "PayPal", "paypal"

    @staticmethod
    def client() -> paypal_payments.PayPalClient:
        clients = current_app.extensions.setdefault("linktime_paypal", {})   # one per app: its token is reused
        if "client" not in clients:
            clients["client"] = paypal_payments.client_from_settings(current_app.config)
        return clients["client"]

    def configured(self) -> bool:
        return paypal_payments.configured(current_app.config)

    def supports(self, currency):
        return paypal_payments.supports_currency(currency)

    def start(self, booking, payment, event_type, *, success_url, cancel_url):
        order = self.client().create_order(booking_id=booking.id, amount=payment.amount, currency=payment.currency,
                                           return_url=success_url, cancel_url=cancel_url,
                                           request_id=f"{booking.id}:paypal:create")
        return order.id, order.approve_url

    def refund(self, payment, row):
        return self.client().refund_capture(payment.transaction_id, request_id=row.reference, amount=row.amount,
                                            currency=payment.currency).id


PAYMENT_PROVIDERS: dict[str, PaymentProvider] = {p.name: p for p in (StripeProvider(), PayPalProvider())}
