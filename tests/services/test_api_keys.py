"""API keys: format, hashing, plan limits, authentication."""
from __future__ import annotations

import pytest

from app.models import ApiKey, AuditLog
from app.security import sha256_hex
from app.services.developer import api_keys
from app.services.plans import PlanLimitReached


def test_key_has_prefix_and_72_characters_and_only_its_hash_is_stored(make_user, db_conn):
    user = make_user("alice")
    key, raw = api_keys.create_api_key(user, "Zapier")
    assert raw.startswith("lt_live_") and len(raw) == 72
    stored = ApiKey.get_by_id(key.id)
    assert stored.key_hash == sha256_hex(raw) and raw not in (stored.key_hash, stored.prefix)
    assert AuditLog.select().where(AuditLog.action == "api_key.created").count() == 1


def test_free_plan_allows_two_keys_and_pro_more(make_user, db_conn):
    free, pro = make_user("alice"), make_user("bob", plan="PRO")
    api_keys.create_api_key(free, "one")
    api_keys.create_api_key(free, "two")
    with pytest.raises(PlanLimitReached):
        api_keys.create_api_key(free, "three")
    for n in range(3):
        api_keys.create_api_key(pro, f"key {n}")
    assert ApiKey.select().where(ApiKey.user == free).count() == 2


def test_authenticate_accepts_live_keys_only(make_user, db_conn):
    user = make_user("alice")
    key, raw = api_keys.create_api_key(user, "script")
    assert api_keys.authenticate(raw).id == key.id
    assert api_keys.authenticate(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert api_keys.authenticate("lt_live_short") is None
    assert api_keys.authenticate(None) is None
    api_keys.delete_api_key(user, key.id)
    assert api_keys.authenticate(raw) is None


def test_another_users_key_cannot_be_deleted(make_user, db_conn):
    from app.services.errors import NotFound
    alice, bob = make_user("alice"), make_user("bob")
    key, _ = api_keys.create_api_key(alice, "mine")
    with pytest.raises(NotFound):
        api_keys.delete_api_key(bob, key.id)
