"""The payment fields of an event type (issue 16): price, currency, providers, payment window and refund rules."""
from __future__ import annotations

from app.models import EventType
from app.services.scheduling.event_types import OPTION_VALIDATORS, EventTypeInput, _int, resulting

MIN_PAYMENT_WINDOW, MAX_PAYMENT_WINDOW = 5, 1440
MAX_REFUND_HOURS = 24 * 365
PAID_CANNOT_REPEAT = "A paid event type cannot repeat: choose single meetings, or remove the price."


def _payment_offer() -> dict:
    """The payment providers this instance has settings for: name -> (label, takes the currency?). The same as
    ``app.services.booking.payment_providers`` (a layer above this one, so not imported here)."""
    from flask import current_app

    from app.integrations import paypal_payments, stripe_payments

    cfg = current_app.config
    offer = {}
    if stripe_payments.StripePayments.configured(cfg):
        offer["stripe"] = ("Card (Stripe)", lambda currency: True)
    if paypal_payments.configured(cfg):
        offer["paypal"] = ("PayPal", paypal_payments.supports_currency)
    return offer


def _validate_price(errors: dict, changes: dict, data: EventTypeInput, current: EventType | None, team) -> None:
    """The payment fields: a price in minor units of its currency (read with ``money.parse_amount``), the providers
    the invitee may pay with (configured here, taking the currency), the payment window and the refund rules."""
    from app import money

    if data.price is not None:
        if team is not None:
            errors["price"] = "Team event types are free."
        currency = None
        try:
            currency = money.normalize_currency(data.price_currency or "usd")
        except money.MoneyError as exc:
            errors["price_currency"] = str(exc)
        text = (data.price or "").strip()
        amount = None
        if text and currency is not None:
            try:
                amount = money.parse_amount(text, currency)
            except money.MoneyError as exc:
                errors["price"] = str(exc)
            else:
                if amount == 0:
                    errors["price"] = "Enter a price above zero, or leave it empty for a free event type."
        changes["price_amount"] = amount or None
        changes["price_currency"] = currency if "price_currency" not in errors else None
        if data.payment_providers is not None:
            offered = _payment_offer()
            chosen = []
            for name in data.payment_providers:
                if name not in offered:
                    errors["payment_providers"] = "Choose among the payment methods offered."
                elif name not in chosen:
                    chosen.append(name)
            if text and "payment_providers" not in errors and not chosen:
                errors["payment_providers"] = "Choose at least one way to pay."
            if currency is not None and "payment_providers" not in errors:
                refusing = [offered[name][0] for name in chosen if not offered[name][1](currency)]
                if refusing and text:
                    errors["payment_providers"] = (f"{', '.join(refusing)} does not take {currency.upper()}: "
                                                   "choose another currency or payment method.")
            changes["payment_providers"] = chosen
    if data.payment_window is not None:
        changes["payment_window"] = _int(errors, "payment_window", data.payment_window, MIN_PAYMENT_WINDOW,
                                         MAX_PAYMENT_WINDOW, "the payment window in minutes")
    if data.refund_on_host_cancel is not None:
        changes["refund_on_host_cancel"] = bool(data.refund_on_host_cancel)
    if data.refund_invitee_hours is not None:
        changes["refund_invitee_hours"] = _int(errors, "refund_invitee_hours", data.refund_invitee_hours, 0,
                                               MAX_REFUND_HOURS, "the refund cut-off in hours")
    priced, repeats = resulting(changes, current, "price_amount"), resulting(changes, current, "recurrence")
    if priced and repeats and "recurrence" not in errors:
        errors["recurrence"] = PAID_CANNOT_REPEAT


OPTION_VALIDATORS.append(_validate_price)
