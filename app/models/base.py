"""Base model and field helpers shared by every domain module."""
from __future__ import annotations

from datetime import UTC, datetime

import peewee

from app.db import db
from app.ids import new_id


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTimeField(peewee.DateTimeField):
    """Stores instants as naive UTC, returns aware UTC datetimes."""

    def db_value(self, value):
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return super().db_value(value)

    def python_value(self, value):
        value = super().python_value(value)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class BaseModel(peewee.Model):
    id = peewee.CharField(primary_key=True, max_length=32, default=new_id)

    class Meta:
        database = db
        legacy_table_names = False


def contains_text(field, text: str):
    """Case-insensitive substring match with LIKE wildcards in ``text`` taken literally."""
    from app.db import is_postgres

    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return peewee.NodeList((field, peewee.SQL("ILIKE" if is_postgres() else "LIKE"), f"%{escaped}%",
                            peewee.SQL("ESCAPE '\\'")))
