"""Shared by the dashboard tests: a block with the app and its database at hand (``host`` is in tests/conftest.py)."""
from __future__ import annotations

from contextlib import contextmanager

from app.db import db


@contextmanager
def data(app):
    """Inside: the app context and a database connection, to read and change rows directly."""
    with app.app_context(), db.connection_context():
        yield
