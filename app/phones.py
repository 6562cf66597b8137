"""Phone numbers in E.164 (``+14155550100``), parsed and validated with ``phonenumbers`` (Google's libphonenumber
rules: which lengths and prefixes each country uses are data, not code we would keep by hand)."""
from __future__ import annotations

import phonenumbers


def normalize_phone(raw: str | None, default_region: str = "US") -> str | None:
    """``raw`` as an E.164 number, or None when it is missing or not a valid number."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 64:
        return None
    try:
        number = phonenumbers.parse(raw.strip(), (default_region or "US").upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
