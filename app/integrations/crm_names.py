"""Names for CRM records: LinkTime keeps an invitee's name as one string; HubSpot and Attio want first and last."""
from __future__ import annotations


def split_name(full: str | None) -> tuple[str, str]:
    """``(first, last)``: the last word is the last name, every word before it the first name.

    One word is a last name only (``("", "Cher")``); blank or None gives ``("", "")``. Runs of white space
    count as one space."""
    words = (full or "").split()
    if not words:
        return "", ""
    return " ".join(words[:-1]), words[-1]
