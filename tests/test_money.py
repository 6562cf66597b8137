"""Money (app/money.py): integer minor units, ISO 4217 decimals, exact parsing and formatting without float."""
from __future__ import annotations

import ast
import decimal
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import money
from app.money import MAX_MAJOR, MoneyError, format_amount, parse_amount, to_decimal_string

MONEY_SOURCE = Path(money.__file__)


@pytest.fixture
def float_trap():
    """Any mixing of float and Decimal inside the block raises (decimal.FloatOperation)."""
    with decimal.localcontext() as ctx:
        ctx.traps[decimal.FloatOperation] = True
        yield


def test_the_offered_currencies_carry_their_iso_4217_decimals():
    expected = {"jpy": 0, "krw": 0, "usd": 2, "eur": 2, "gbp": 2, "chf": 2, "kwd": 3, "bhd": 3, "jod": 3, "omr": 3,
                "tnd": 3, "huf": 2, "twd": 2, "clp": 0, "vnd": 0}
    assert {code: money.CURRENCIES[code].decimals for code in expected} == expected
    assert len(money.CURRENCIES) >= 30
    assert all(len(code) == 3 and code.islower() and c.code == code for code, c in money.CURRENCIES.items())


def test_a_currency_is_found_in_either_case_and_stored_lower_case():
    assert money.currency(" USD ").code == "usd" and money.normalize_currency("Kwd") == "kwd"
    assert money.currency("jpy").upper == "JPY"
    for bad in ("XXX", "", "usdollar", None, 840):
        with pytest.raises(MoneyError):
            money.currency(bad)


@pytest.mark.parametrize(("text", "code", "minor"), [
    ("49.99", "usd", 4999), ("50", "usd", 5000), ("50.5", "USD", 5050), (" 12.30 ", "eur", 1230),
    ("007.50", "gbp", 750), ("0", "usd", 0), ("0.01", "usd", 1), ("5000", "jpy", 5000), ("5000", "krw", 5000),
    ("1.5", "kwd", 1500), ("1.500", "kwd", 1500), ("0.001", "kwd", 1), ("12.345", "bhd", 12345),
    ("999999999.99", "usd", 99999999999), ("999999999", "jpy", 999999999),
])
def test_parse_amount_reads_what_people_type_exactly(text, code, minor):
    assert parse_amount(text, code) == minor


@pytest.mark.parametrize(("text", "code", "says"), [
    ("49.999", "usd", "at most 2 decimals"), ("5.000", "usd", "at most 2 decimals"),
    ("5000.0", "jpy", "no decimals"), ("1.5", "jpy", "no decimals"), ("1.2345", "kwd", "at most 3 decimals"),
    ("-1", "usd", "negative"), ("-0.5", "usd", "negative"), ("+1", "usd", "digits"),
    ("NaN", "usd", "digits"), ("nan", "usd", "digits"), ("Infinity", "usd", "digits"), ("inf", "usd", "digits"),
    ("1e3", "usd", "digits"), ("1E3", "jpy", "digits"), ("1,000", "usd", "thousands"), ("1,5", "eur", "point"),
    ("1_000", "usd", "digits"), ("1 000", "usd", "digits"), ("0x10", "usd", "digits"), (".5", "usd", "digits"),
    ("5.", "usd", "digits"), ("٥", "usd", "digits"), ("５", "jpy", "digits"), ("", "usd", "Enter an amount"),
    ("   ", "usd", "Enter an amount"), ("1000000000", "usd", "below"), ("1000000000", "jpy", "below"),
    ("9" * 41, "usd", "too long"), ("10", "xyz", "not one of the currencies"),
])
def test_parse_amount_refuses_what_it_cannot_read_exactly(text, code, says):
    with pytest.raises(MoneyError) as caught:
        parse_amount(text, code)
    assert says in str(caught.value)


def test_parse_amount_refuses_floats_and_checks_decimals_the_same_way():
    for value in (0.1, 49.99, 5000, True):
        with pytest.raises(MoneyError):
            parse_amount(value, "usd")
    assert parse_amount(Decimal("49.99"), "usd") == 4999
    assert parse_amount(Decimal("1E+3"), "jpy") == 1000
    assert parse_amount(Decimal("-0"), "usd") == 0
    for bad in (Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-1"), Decimal("5.000"),
                Decimal("1E+9")):
        with pytest.raises(MoneyError):
            parse_amount(bad, "usd")


@pytest.mark.parametrize(("minor", "code", "text", "shown"), [
    (4999, "usd", "49.99", "49.99 USD"), (5, "usd", "0.05", "0.05 USD"), (0, "eur", "0.00", "0.00 EUR"),
    (5000, "jpy", "5000", "5000 JPY"), (1500, "kwd", "1.500", "1.500 KWD"), (1, "kwd", "0.001", "0.001 KWD"),
    (-150, "usd", "-1.50", "-1.50 USD"), (123456789012, "usd", "1234567890.12", "1234567890.12 USD"),
])
def test_amounts_are_written_with_exactly_the_currency_decimals(minor, code, text, shown):
    assert to_decimal_string(minor, code) == text
    assert format_amount(minor, code.upper()) == shown
    assert money.to_decimal(minor, code) == Decimal(text)


def test_minor_units_must_be_an_int():
    for bad in (49.99, 5000.0, True, "5000", Decimal("5000")):
        with pytest.raises(TypeError):
            to_decimal_string(bad, "usd")
    with pytest.raises(TypeError):
        format_amount(1.5, "kwd")
    assert money.decimal_string(7, 0) == "7" and money.decimal_string(5, 3) == "0.005"


def test_point_one_plus_point_two_is_point_three(float_trap):
    """The classic float trap: 0.1 + 0.2 != 0.3 in binary floating point; in minor units it is exact."""
    assert 0.1 + 0.2 != 0.3                                   # the trap itself, for contrast
    for code, expected in (("usd", "0.30"), ("kwd", "0.300"), ("eur", "0.30")):
        total = parse_amount("0.1", code) + parse_amount("0.2", code)
        assert total == parse_amount("0.3", code)
        assert to_decimal_string(total, code) == expected
    assert sum(parse_amount("0.10", "usd") for _ in range(10)) == parse_amount("1", "usd") == 100
    assert format_amount(sum(parse_amount("0.01", "usd") for _ in range(333)), "usd") == "3.33 USD"
    assert parse_amount("1.005", "kwd") + parse_amount("2.005", "kwd") == 3010


def test_the_money_module_contains_no_float():
    """No float literal, no float() call, no true division: every step is int or Decimal."""
    tree = ast.parse(MONEY_SOURCE.read_text())
    floats = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, float)]
    calls = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "float"]
    divisions = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div)]
    assert (floats, calls, divisions) == ([], [], [])


def test_the_money_module_is_a_bottom_layer():
    tree = ast.parse(MONEY_SOURCE.read_text())
    imported = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not {m for m in imported if m == "app" or m.startswith("app.")}


def test_choices_list_every_currency_by_code():
    choices = money.choices()
    assert [code for code, _ in choices] == sorted(money.CURRENCIES)
    assert ("usd", "USD - US dollar") in choices and ("kwd", "KWD - Kuwaiti dinar") in choices


# --- properties ------------------------------------------------------------------------------------------------
ROUND_TRIP = ("jpy", "usd", "kwd")


@given(code=st.sampled_from(ROUND_TRIP), data=st.data())
def test_minor_units_round_trip_through_text(code, data):
    decimals = money.CURRENCIES[code].decimals
    minor = data.draw(st.integers(min_value=0, max_value=MAX_MAJOR * 10**decimals - 1))
    text = to_decimal_string(minor, code)
    assert parse_amount(text, code) == minor
    assert format_amount(minor, code) == f"{text} {code.upper()}"
    assert len(text.partition(".")[2]) == decimals


@given(code=st.sampled_from(ROUND_TRIP), data=st.data())
def test_typed_amounts_round_trip_to_the_same_value(code, data):
    decimals = money.CURRENCIES[code].decimals
    whole = data.draw(st.integers(min_value=0, max_value=MAX_MAJOR - 1))
    places = data.draw(st.integers(min_value=0, max_value=decimals))
    fraction = data.draw(st.text(alphabet="0123456789", min_size=places, max_size=places))
    text = f"{whole}.{fraction}" if places else str(whole)
    minor = parse_amount(text, code)
    assert Decimal(to_decimal_string(minor, code)) == Decimal(text)
    assert minor == int(Decimal(text) * 10**decimals)


@given(code=st.sampled_from(ROUND_TRIP), whole=st.integers(min_value=0, max_value=10**6),
       fraction=st.text(alphabet="0123456789", min_size=1, max_size=8))
def test_more_decimals_than_the_currency_has_are_always_refused(code, whole, fraction):
    text = f"{whole}.{fraction}"
    if len(fraction) > money.CURRENCIES[code].decimals:
        with pytest.raises(MoneyError):
            parse_amount(text, code)
    else:
        assert parse_amount(text, code) >= 0


@given(a=st.integers(min_value=0, max_value=10**6), b=st.integers(min_value=0, max_value=10**6),
       code=st.sampled_from(ROUND_TRIP))
def test_sums_of_parsed_prices_equal_the_parsed_sum(a, b, code):
    """What ``0.1 + 0.2`` gets wrong in float holds exactly here, for any two prices."""
    total = parse_amount(to_decimal_string(a, code), code) + parse_amount(to_decimal_string(b, code), code)
    assert total == parse_amount(to_decimal_string(a + b, code), code)
    assert Decimal(to_decimal_string(a, code)) + Decimal(to_decimal_string(b, code)) == money.to_decimal(a + b, code)
