"""Audit log (spec 21): recorded actions and their details, filters, search, retention by plan, IP masking,
CSV, the daily cleanup, and the database refusing to change or delete entries."""
from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import peewee
import pytest

from app.db import db
from app.models import AuditLog, EventType, User
from app.services import audit
from app.services.account import accounts
from app.services.booking import bookings as bookings_svc
from app.services.developer import api_keys
from app.services.scheduling import event_types
from app.services.scheduling.event_types import EventTypeInput

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SLOT = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)


@pytest.fixture
def host(make_user, db_conn):
    return make_user("hana", timezone="America/New_York")


def entries(user, action=None):
    query = AuditLog.select().where(AuditLog.user_id == user.id).order_by(AuditLog.created_at)
    if action:
        query = query.where(AuditLog.action == action)
    return list(query)


def add(user, action, *, days_ago=0.0, resource="booking", resource_id=None, ip=None, details=None):
    """An entry written straight into the table (inserts are allowed), dated ``days_ago``."""
    return AuditLog.create(user_id=user.id, actor_id=user.id, action=action, category=audit.category_for(action),
                           resource=resource, resource_id=resource_id, ip_address=ip,
                           details=json.dumps(details or {}), plan_at_time=user.plan,
                           created_at=datetime.now(UTC) - timedelta(days=days_ago))


def set_plan(user, plan):
    User.update(plan=plan).where(User.id == user.id).execute()
    return User.get_by_id(user.id)


# --- recorded actions ------------------------------------------------------------------------------------
def test_booking_actions_record_invitee_event_type_and_start(host):
    event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
    booking = bookings_svc.create_booking(event_type, bookings_svc.BookingRequest(
        start=SLOT, invitee_name="Ivan", invitee_email="ivan@example.com", invitee_timezone="UTC"),
        ip="203.0.113.9", now=NOW).booking
    bookings_svc.reschedule_booking(booking, SLOT + timedelta(hours=1), reason=None, by="host", actor=host,
                                    now=NOW)
    bookings_svc.cancel_booking(bookings_svc.get_booking_for_host(host, booking.id), reason="ill", by="host",
                                actor=host)
    created, = entries(host, "booking.created")
    assert json.loads(created.details) == {"inviteeEmail": "ivan@example.com", "eventType": event_type.name,
                                           "startTime": "2026-06-02T14:00:00.000Z"}
    assert (created.category, created.resource, created.resource_id, created.ip_address) == (
        "bookings", "booking", booking.id, "203.0.113.9")
    moved, = entries(host, "booking.rescheduled")
    assert json.loads(moved.details)["startTime"] == "2026-06-02T15:00:00.000Z"
    cancelled, = entries(host, "booking.cancelled")
    assert json.loads(cancelled.details)["inviteeEmail"] == "ivan@example.com"
    assert all(e.plan_at_time == "FREE" for e in entries(host))


def test_event_type_actions_record_the_name(host):
    made = event_types.create_event_type(host, EventTypeInput(name="Discovery Call", slug="discovery",
                                                              duration=45), ip="198.51.100.7")
    event_types.update_event_type(made, EventTypeInput(name="Discovery Call (long)"))
    event_types.delete_event_type(EventType.get_by_id(made.id))
    names = [(e.action, json.loads(e.details)["name"]) for e in entries(host) if e.resource == "event_type"]
    assert names == [("event_type.created", "Discovery Call"), ("event_type.updated", "Discovery Call (long)"),
                     ("event_type.deleted", "Discovery Call (long)")]
    assert {e.category for e in entries(host) if e.resource == "event_type"} == {"events"}


def test_api_key_settings_and_login_actions(host):
    key, _raw = api_keys.create_api_key(host, "CI", ip="192.0.2.1")
    api_keys.delete_api_key(host, key.id)
    accounts.update_profile(host, name=host.name, username=host.username, timezone="Europe/London",
                            brand_color=host.brand_color)
    accounts.record_login(host, ip="192.0.2.1", method="password")
    assert [e.action for e in entries(host) if e.resource == "api_key"] == ["api_key.created", "api_key.deleted"]
    assert {e.category for e in entries(host) if e.resource == "api_key"} == {"integrations"}
    change, = entries(host, "settings.updated")
    assert json.loads(change.details) == {"field": "timezone", "oldValue": "America/New_York",
                                          "newValue": "Europe/London"}
    login_entry, = entries(host, "auth.login")
    assert audit.action_label(login_entry.action) == "Signed In"


def test_a_failing_audit_write_never_fails_the_action(host, monkeypatch):
    monkeypatch.setattr(AuditLog, "create", classmethod(lambda cls, **kw: (_ for _ in ()).throw(
        peewee.OperationalError("disk I/O error"))))
    made = event_types.create_event_type(host, EventTypeInput(name="Still saved", slug="saved", duration=30))
    assert EventType.get_by_id(made.id).name == "Still saved"


# --- the database refuses changes --------------------------------------------------------------------------
def test_the_database_refuses_updates_and_deletes_of_entries(host):
    entry = add(host, "booking.created")
    with pytest.raises(peewee.DatabaseError), db.atomic():
        AuditLog.update(action="booking.cancelled").where(AuditLog.id == entry.id).execute()
    with pytest.raises(peewee.DatabaseError), db.atomic():
        db.execute_sql(f'DELETE FROM "audit_logs" WHERE "id" = {db.param}', (entry.id,))
    old = add(host, "booking.created", days_ago=300)
    with pytest.raises(peewee.DatabaseError), db.atomic():
        AuditLog.update(details="{}").where(AuditLog.id == old.id).execute()
    assert AuditLog.get_by_id(entry.id).action == "booking.created"
    assert AuditLog.select().where(AuditLog.action == "booking.created").count() == 2


def test_daily_cleanup_removes_only_entries_older_than_365_days(host):
    keep = [add(host, "booking.created", days_ago=d) for d in (0, 200, 364)]
    add(host, "booking.created", days_ago=366)
    add(host, "booking.cancelled", days_ago=800)
    assert audit.remove_expired() == 2
    assert {e.id for e in AuditLog.select().where(AuditLog.resource == "booking")} == {e.id for e in keep}


def test_cleanup_task_is_scheduled_daily():
    from tasks import maintenance
    task = maintenance.remove_expired_audit_entries.task_class()
    runs = [datetime(2026, 6, 1) + timedelta(minutes=m) for m in range(2 * 24 * 60)]
    assert [t for t in runs if task.validate_datetime(t)] == [datetime(2026, 6, 1, 3, 17),
                                                              datetime(2026, 6, 2, 3, 17)]


# --- listing -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("plan,days", [("FREE", 7), ("PRO", 90), ("BUSINESS", 365)])
def test_retention_window_hides_older_entries_without_deleting_them(host, plan, days):
    user = set_plan(host, plan)
    inside = add(user, "booking.created", days_ago=days - 0.5)
    add(user, "booking.created", days_ago=days + 0.5)
    result = audit.list_entries(user)
    assert [e.id for e in result.entries if e.action == "booking.created"] == [inside.id]
    assert result.retention_days == days
    assert AuditLog.select().where(AuditLog.action == "booking.created").count() == 2


def test_downgrade_hides_and_upgrade_reveals_again(host):
    add(host, "booking.created", days_ago=30)
    assert audit.list_entries(set_plan(host, "PRO")).total >= 1
    free = set_plan(host, "FREE")
    assert [e for e in audit.list_entries(free).entries if e.action == "booking.created"] == []
    assert [e.action for e in audit.list_entries(set_plan(host, "PRO")).entries].count("booking.created") == 1


def test_newest_first_with_category_filter_search_and_pages(host, make_user):
    for i in range(7):
        add(host, "booking.created", days_ago=i / 24, resource_id=f"bk_{i}")
    add(host, "integration.connected", days_ago=0.01, resource="integration", resource_id="zoom_conn",
        details={"service": "zoom"})
    add(host, "event_type.updated", days_ago=0.02, resource="event_type", resource_id="et_1")
    other = make_user("otto")
    add(other, "booking.created", resource_id="bk_other")

    everything = audit.list_entries(host, limit=100).entries
    assert [e.created_at for e in everything] == sorted((e.created_at for e in everything), reverse=True)
    assert "bk_other" not in {e.resource_id for e in everything}

    bookings = audit.list_entries(host, category="bookings", limit=3, page=2)
    assert (bookings.total, len(bookings.entries), bookings.has_more, bookings.pages) == (7, 3, True, 3)
    assert [e.resource_id for e in bookings.entries] == ["bk_3", "bk_4", "bk_5"]
    assert audit.list_entries(host, category="bookings", limit=3, page=3).has_more is False

    assert [e.resource_id for e in audit.list_entries(host, search="ZOOM").entries] == ["zoom_conn"]  # resource id
    assert [e.action for e in audit.list_entries(host, search="integration").entries] == ["integration.connected"]
    assert [e.resource_id for e in audit.list_entries(host, search="event_type.upd").entries] == ["et_1"]
    assert audit.list_entries(host, search="bk_6").total == 1
    assert audit.list_entries(host, search="%").total == 0  # wildcards are literal text
    assert audit.list_entries(host, category="integrations", search="booking").total == 0


# --- IP masking and the JSON shape ------------------------------------------------------------------------
@pytest.mark.parametrize("ip,masked", [
    ("192.168.1.42", "192.168.1.xxx"),
    ("2001:db8::1234:5678", "2001:db8::1234:xxxx"),
    ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::xxxx"),
    ("not-an-ip", None),
    (None, None),
])
def test_ip_masking(ip, masked):
    assert audit.mask_ip(ip, full=False) == masked
    assert audit.mask_ip(ip, full=True) == ip


@pytest.mark.parametrize("plan,shown", [("FREE", "203.0.113.xxx"), ("PRO", "203.0.113.xxx"),
                                        ("BUSINESS", "203.0.113.77")])
def test_plan_decides_whether_the_full_ip_is_shown(host, plan, shown):
    user = set_plan(host, plan)
    add(user, "booking.created", ip="203.0.113.77", resource_id="bk_1")
    result = audit.list_entries(user, search="bk_1")
    assert audit.entry_json(result.entries[0], full_ip=result.full_ip)["ipAddress"] == shown
    rows = list(csv.reader(io.StringIO(audit.export_csv(user, search="bk_1"))))
    assert rows[1][5] == shown


def test_entry_json_has_the_documented_fields(host):
    entry = add(host, "integration.connected", resource="integration", resource_id="int_1",
                details={"service": "google_calendar"}, ip="192.168.1.42")
    data = audit.entry_json(AuditLog.get_by_id(entry.id), full_ip=False)
    assert set(data) == {"id", "action", "actionLabel", "resource", "resourceId", "details", "ipAddress",
                         "createdAt"}
    assert (data["actionLabel"], data["details"], data["ipAddress"]) == (
        "Integration Connected", {"service": "google_calendar"}, "192.168.1.xxx")
    assert data["createdAt"].endswith("Z") and len(data["createdAt"]) == len("2026-02-12T10:30:00.000Z")


def test_csv_has_the_documented_columns_and_follows_the_filters(host):
    add(host, "booking.created", resource_id="bk_1", details={"inviteeEmail": "a@example.com"})
    add(host, "api_key.created", resource="api_key", resource_id="key_1", details={"name": "CI"})
    rows = list(csv.reader(io.StringIO(audit.export_csv(host, category="bookings"))))
    assert rows[0] == ["Time", "Action", "Resource", "Resource ID", "Details", "IP Address"]
    assert [r[1:4] for r in rows[1:]] == [["Booking Created", "booking", "bk_1"]]
    assert json.loads(rows[1][4]) == {"inviteeEmail": "a@example.com"}
    assert audit.csv_filename(datetime(2026, 2, 12, tzinfo=UTC)) == "audit-log-2026-02-12.csv"
