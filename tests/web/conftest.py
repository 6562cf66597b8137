"""Shared by the dashboard tests: the usual host and a block with the app and its database at hand."""
from __future__ import annotations

from contextlib import contextmanager

import pytest

from app.db import db


@pytest.fixture
def host(make_user):
    """Hana, a host in Berlin (tests that need another host define their own ``host``)."""
    return make_user("hana", timezone="Europe/Berlin")


@contextmanager
def data(app):
    """Inside: the app context and a database connection, to read and change rows directly."""
    with app.app_context(), db.connection_context():
        yield
