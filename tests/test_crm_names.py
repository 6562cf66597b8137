"""split_name: the invitee's one-string name as the CRMs' first and last name."""
from __future__ import annotations

import pytest

from app.integrations.crm_names import split_name


@pytest.mark.parametrize(("full", "expected"), [
    ("Ada Lovelace", ("Ada", "Lovelace")),
    ("Mary Ann Evans", ("Mary Ann", "Evans")),
    ("Cher", ("", "Cher")),
    ("  Jean-Luc   Picard \n", ("Jean-Luc", "Picard")),
    ("José María García", ("José María", "García")),
    ("", ("", "")),
    ("   ", ("", "")),
    (None, ("", "")),
])
def test_split_name(full, expected):
    assert split_name(full) == expected
