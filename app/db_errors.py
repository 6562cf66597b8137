"""An unreachable database, told in one line: for the web's 503, the CLI and ``make run``.

peewee raises ``OperationalError`` (or ``InterfaceError``) when it cannot connect, when the server goes
away, or when SQLite stays locked past its busy timeout; a driver's message can run over several lines.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import peewee

DATABASE_ERRORS = (peewee.OperationalError, peewee.InterfaceError)


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message``."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0].strip()}" if lines else type(exc).__name__


def describe_url(url: str) -> str:
    """The database a URL names, without its password: ``postgresql://host:port/name`` or the SQLite path."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "sqlite":
            return url
        host = parts.hostname or "127.0.0.1"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"
    except ValueError:
        return "the configured DATABASE_URL"


def unreachable_message(url: str, exc: BaseException) -> str:
    return f"error: cannot use the database at {describe_url(url)} ({first_line(exc)}); check DATABASE_URL"
