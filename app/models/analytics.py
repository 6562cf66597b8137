"""Page analytics: raw views of the public booking pages and the daily rollups the dashboard reads.

``PageView`` is the record of every counted view. The dashboard and the API never scan it: they read
``PageViewDaily`` (views and unique visitors per host, day and page) and ``PageViewReferrer`` (arrivals per
host, day and referrer), which the recorder keeps up to date when it flushes a batch of views.
``PageVisitor`` is the set of visitor ids already counted for a host, day and page; it is what makes the
``visitors`` column exact when several processes flush at once, and is purged once its day is over.

Days are UTC dates. ``page`` is ``""`` for all of a host's pages together (profile and event pages), an event
type id for one event's booking page, or ``form:<id>`` for a routing form (issue 18). ``embed`` separates views
inside an embedded widget.
"""
from __future__ import annotations

import peewee

from app.models.accounts import User
from app.models.base import BaseModel, UTCDateTimeField

ALL_PAGES = ""


class PageView(BaseModel):
    id = peewee.BigAutoField()
    user = peewee.ForeignKeyField(User, on_delete="CASCADE")         # the host whose page was viewed
    # The event type whose booking page was viewed (null: the profile). Not a foreign key: deleting an
    # event type does not rewrite the history of the host's traffic.
    event_type_id = peewee.CharField(max_length=32, null=True)
    viewed_at = UTCDateTimeField()
    day = peewee.DateField()                                        # UTC date of viewed_at
    visitor = peewee.CharField(max_length=16)                       # daily-rotating anonymous id (hex)
    referrer = peewee.CharField(max_length=255, null=True)          # domain, "Direct"; null: from the host's own pages
    embed = peewee.BooleanField(default=False)

    class Meta:
        table_name = "page_views"
        indexes = ((("user", "day"), False),)


class PageViewDaily(BaseModel):
    id = peewee.BigAutoField()
    user = peewee.ForeignKeyField(User, on_delete="CASCADE")
    page = peewee.CharField(max_length=32)                          # ALL_PAGES, an event type id or form:<form id>
    embed = peewee.BooleanField()
    day = peewee.DateField()
    views = peewee.IntegerField(default=0)
    visitors = peewee.IntegerField(default=0)

    class Meta:
        table_name = "page_view_daily"
        indexes = ((("user", "page", "embed", "day"), True),)


class PageViewReferrer(BaseModel):
    id = peewee.BigAutoField()
    user = peewee.ForeignKeyField(User, on_delete="CASCADE")
    embed = peewee.BooleanField()
    day = peewee.DateField()
    referrer = peewee.CharField(max_length=255)
    views = peewee.IntegerField(default=0)

    class Meta:
        table_name = "page_view_referrers"
        indexes = ((("user", "embed", "day", "referrer"), True),)


class PageVisitor(BaseModel):
    id = peewee.BigAutoField()
    user = peewee.ForeignKeyField(User, on_delete="CASCADE")
    page = peewee.CharField(max_length=32)
    embed = peewee.BooleanField()
    day = peewee.DateField(index=True)
    visitor = peewee.CharField(max_length=16)

    class Meta:
        table_name = "page_visitors"
        indexes = ((("user", "day", "page", "embed", "visitor"), True),)
