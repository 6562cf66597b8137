"""Custom domains (issue 20, spec page 18): one host name per user on which their booking pages are served.

``status``: ``pending`` (added, TXT record not seen yet), ``verified`` (the TXT record matched; the pages are
served there) or ``lost`` (the record disappeared after verification; the pages are no longer served there).
"""
from __future__ import annotations

import peewee

from app.models.accounts import User
from app.models.base import BaseModel, UTCDateTimeField, utcnow

STATUSES = ("pending", "verified", "lost")


class CustomDomain(BaseModel):
    user = peewee.ForeignKeyField(User, backref="custom_domains", on_delete="CASCADE", unique=True)
    hostname = peewee.CharField(max_length=253, unique=True)
    token = peewee.CharField(max_length=64)
    status = peewee.CharField(max_length=16, default="pending")
    verified_at = UTCDateTimeField(null=True)
    last_checked_at = UTCDateTimeField(null=True)
    last_error = peewee.TextField(null=True)
    warned_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "custom_domains"
