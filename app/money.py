"""Money: amounts are integers in the currency's minor unit, currencies lower-case ISO 4217 codes.

A price is stored and sent around as ``(5000, "usd")``: 5000 minor units = 50.00 US dollars; 5000 yen is
``(5000, "jpy")`` (the yen has no minor unit) and 1.500 Kuwaiti dinar ``(1500, "kwd")``. No float is used anywhere:
``parse_amount`` reads what a person typed with ``decimal.Decimal`` and refuses what it cannot read exactly (more
decimals than the currency has, a negative, ``NaN``, ``1e3``, a thousands separator), and the conversions back to
text are integer arithmetic.

* ``CURRENCIES``: the currencies offered for prices, with their number of decimals (ISO 4217 minor-unit exponent).
* ``currency(code)``: the ``Currency`` of a code in either case; ``normalize_currency`` its lower-case code.
* ``parse_amount(text, currency) -> int``: "49.99" in USD -> 4999.
* ``to_decimal_string(minor, currency)``: 4999 USD -> "49.99", 5000 JPY -> "5000", 1500 KWD -> "1.500" (what
  payment APIs such as PayPal's take as ``value``); ``decimal_string(units, decimals)`` does it for any exponent.
* ``format_amount(minor, currency)``: "49.99 USD": the amount then the upper-case code, with no symbol ("$" and
  "¥" name several currencies) and no thousands separator ("1,000" and "1.000" mean different things to readers in
  different countries).

A payment provider may support only some of these currencies, or fewer decimals than ISO 4217 gives a currency
(PayPal takes HUF and TWD without decimals): its client says so (``app.integrations.paypal_payments``).

A bottom-layer module: it imports only the standard library.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal


class MoneyError(ValueError):
    """An amount or currency that cannot be used; the message can be shown to the person who typed it."""


@dataclass(frozen=True)
class Currency:
    code: str           # lower-case ISO 4217 code, as stored and sent in payloads
    decimals: int       # ISO 4217 minor-unit exponent: USD 2, JPY 0, KWD 3
    name: str

    @property
    def upper(self) -> str:
        return self.code.upper()


_TABLE = (
    ("usd", 2, "US dollar"), ("eur", 2, "Euro"), ("gbp", 2, "Pound sterling"), ("jpy", 0, "Japanese yen"),
    ("chf", 2, "Swiss franc"), ("cad", 2, "Canadian dollar"), ("aud", 2, "Australian dollar"),
    ("nzd", 2, "New Zealand dollar"), ("sek", 2, "Swedish krona"), ("nok", 2, "Norwegian krone"),
    ("dkk", 2, "Danish krone"), ("pln", 2, "Polish złoty"), ("czk", 2, "Czech koruna"),
    ("huf", 2, "Hungarian forint"), ("ils", 2, "Israeli new shekel"), ("try", 2, "Turkish lira"),
    ("zar", 2, "South African rand"), ("inr", 2, "Indian rupee"), ("cny", 2, "Chinese yuan"),
    ("hkd", 2, "Hong Kong dollar"), ("sgd", 2, "Singapore dollar"), ("twd", 2, "New Taiwan dollar"),
    ("krw", 0, "South Korean won"), ("thb", 2, "Thai baht"), ("myr", 2, "Malaysian ringgit"),
    ("php", 2, "Philippine peso"), ("vnd", 0, "Vietnamese dong"), ("brl", 2, "Brazilian real"),
    ("mxn", 2, "Mexican peso"), ("clp", 0, "Chilean peso"), ("aed", 2, "UAE dirham"),
    ("sar", 2, "Saudi riyal"), ("kwd", 3, "Kuwaiti dinar"), ("bhd", 3, "Bahraini dinar"),
    ("jod", 3, "Jordanian dinar"), ("omr", 3, "Omani rial"), ("tnd", 3, "Tunisian dinar"),
)
CURRENCIES: dict[str, Currency] = {code: Currency(code, decimals, name) for code, decimals, name in _TABLE}

# The largest amount accepted, in major units (exclusive): a price of a billion is a typing mistake.
MAX_MAJOR = 10**9
_MAX_TEXT = 40                                     # longer input is refused before any parsing
_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]+))?")   # ASCII digits only ("٥" is a digit to Python, not to us)


def currency(code: object) -> Currency:
    """The currency of an ISO 4217 code in either case (" USD", "usd"); MoneyError when it is not offered."""
    if not isinstance(code, str):
        raise MoneyError("A currency is a three-letter ISO 4217 code.")
    found = CURRENCIES.get(code.strip().lower())
    if found is None:
        raise MoneyError(f"{code.strip().upper()[:8] or 'An empty code'} is not one of the currencies offered.")
    return found


def normalize_currency(code: object) -> str:
    """The lower-case code stored and sent in payloads."""
    return currency(code).code


def parse_amount(text: str | Decimal, currency_code: str) -> int:
    """What someone typed as a price, in minor units of ``currency_code``: "49.99" USD -> 4999, "5000" JPY -> 5000.

    Accepts digits with an optional point and at most as many decimals as the currency has (trailing zeros count:
    "5.000" in USD is refused, since a reader of "5.000" may mean five thousand). Refuses negatives, signs,
    exponents, NaN and infinity, thousands separators, a comma for the point, non-ASCII digits, and amounts of
    ``MAX_MAJOR`` major units or more. A ``Decimal`` is checked the same way; a float is refused (it is already
    inexact). Zero is accepted: whether a price of 0 means "free" is the caller's decision.
    """
    cur = currency(currency_code)
    if isinstance(text, Decimal):
        value = _checked_decimal(text, cur)
    elif isinstance(text, str):
        value = _decimal_from_text(text, cur)
    else:
        raise MoneyError("An amount is read from text (e.g. \"49.99\"), never from a float.")
    if value >= MAX_MAJOR:
        raise MoneyError(f"The amount must be below {MAX_MAJOR} {cur.upper}.")
    minor = value.scaleb(cur.decimals)
    if minor != minor.to_integral_value():     # cannot happen after the checks above; never round money silently
        raise MoneyError(_too_many_decimals(cur))
    return int(minor)


def _decimal_from_text(text: str, cur: Currency) -> Decimal:
    cleaned = text.strip()
    if not cleaned:
        raise MoneyError("Enter an amount.")
    if len(cleaned) > _MAX_TEXT:
        raise MoneyError("The amount is too long.")
    if cleaned.startswith("-"):
        raise MoneyError("The amount cannot be negative.")
    match = _AMOUNT.fullmatch(cleaned)
    if match is None:
        if "," in cleaned:
            raise MoneyError("Use a point for decimals and no thousands separator, e.g. 1500.50.")
        raise MoneyError(f"Enter the amount as digits, e.g. {_example(cur)}.")
    if len(match.group(2) or "") > cur.decimals:
        raise MoneyError(_too_many_decimals(cur))
    return Decimal(cleaned)


def _checked_decimal(value: Decimal, cur: Currency) -> Decimal:
    if not value.is_finite():
        raise MoneyError("The amount must be a number.")
    if value.is_signed() and value != 0:
        raise MoneyError("The amount cannot be negative.")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -cur.decimals:
        raise MoneyError(_too_many_decimals(cur))
    return abs(value)                          # -0 -> 0


def _too_many_decimals(cur: Currency) -> str:
    if cur.decimals == 0:
        return f"{cur.upper} amounts have no decimals."
    return f"{cur.upper} amounts have at most {cur.decimals} decimals."


def _example(cur: Currency) -> str:
    return decimal_string(50 * 10**cur.decimals, cur.decimals)


def _minor(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("an amount in minor units is an int")
    return value


def decimal_string(units: int, decimals: int) -> str:
    """``units`` scaled down by ``decimals`` places, exactly: (4999, 2) -> "49.99", (5, 3) -> "0.005",
    (7, 0) -> "7", (-150, 2) -> "-1.50"."""
    units = _minor(units)
    if decimals < 0:
        raise ValueError("decimals cannot be negative")
    whole, fraction = divmod(abs(units), 10**decimals)
    sign = "-" if units < 0 else ""
    return f"{sign}{whole}.{fraction:0{decimals}d}" if decimals else f"{sign}{whole}"


def to_decimal_string(minor: int, currency_code: str) -> str:
    """The amount with exactly the currency's decimals: 4999 USD -> "49.99", 5000 JPY -> "5000", 1500 KWD ->
    "1.500"."""
    return decimal_string(minor, currency(currency_code).decimals)


def to_decimal(minor: int, currency_code: str) -> Decimal:
    """The exact ``Decimal`` of an amount (for sums and comparisons in major units)."""
    return Decimal(to_decimal_string(minor, currency_code))


def format_amount(minor: int, currency_code: str) -> str:
    """"49.99 USD", "5000 JPY", "1.500 KWD": unambiguous in every language (no symbol, no grouping)."""
    cur = currency(currency_code)
    return f"{decimal_string(minor, cur.decimals)} {cur.upper}"


def choices() -> list[tuple[str, str]]:
    """(code, label) pairs for a currency select, e.g. ("usd", "USD - US dollar"), ordered by code."""
    return [(c.code, f"{c.upper} - {c.name}") for c in sorted(CURRENCIES.values(), key=lambda c: c.code)]

