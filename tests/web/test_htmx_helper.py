"""The one htmx check (app/web/htmx.py, over flask-htmx)."""
from __future__ import annotations

import pytest

from app.web.htmx import is_history_restore, is_htmx


@pytest.mark.parametrize(("headers", "htmx", "restore"), [
    ({}, False, False),
    ({"HX-Request": "true"}, True, False),
    ({"HX-Request": "false"}, False, False),
    ({"HX-Request": "true", "HX-History-Restore-Request": "true"}, True, True),
])
def test_is_htmx_reads_the_request_headers(app, headers, htmx, restore):
    with app.test_request_context("/", headers=headers):
        assert is_htmx() is htmx
        assert is_history_restore() is restore
