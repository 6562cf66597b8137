"""API keys: ``lt_live_`` + random, 72 characters, shown once; only the SHA-256 is stored."""
from __future__ import annotations

import secrets
import string

from app.db import transaction
from app.models import ApiKey, User
from app.models.base import utcnow
from app.security import sha256_hex
from app.services import audit
from app.services.errors import NotFound, ValidationFailed
from app.services.plans import check_count

PREFIX = "lt_live_"
KEY_LENGTH = 72
_ALPHABET = string.ascii_letters + string.digits
# Writing last_used_at on every request would make each API call a write: once a minute is enough.
LAST_USED_RESOLUTION_SECONDS = 60


def generate_key() -> str:
    return PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(KEY_LENGTH - len(PREFIX)))


def create_api_key(user: User, name: str, *, ip: str | None = None) -> tuple[ApiKey, str]:
    """Returns the stored key and the raw key (to show once). Raises PlanLimitReached or ValidationFailed."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed({"name": "Enter a name of at most 100 characters."})
    with transaction():
        check_count(user, "api_keys", ApiKey.select().where(ApiKey.user == user).count(), "API keys")
        raw = generate_key()
        key = ApiKey.create(user=user, name=name, key_hash=sha256_hex(raw), prefix=raw[:12])
        audit.record("api_key.created", resource="api_key", resource_id=key.id, user=user, actor=user, ip=ip,
                     details={"name": name})
    return key, raw


def list_api_keys(user: User) -> list[ApiKey]:
    return list(ApiKey.select().where(ApiKey.user == user).order_by(ApiKey.created_at.desc()))


def delete_api_key(user: User, key_id: str, *, ip: str | None = None) -> None:
    key = ApiKey.get_or_none((ApiKey.id == key_id) & (ApiKey.user == user))
    if key is None:
        raise NotFound("API key not found")
    with transaction():
        key.delete_instance()
        audit.record("api_key.deleted", resource="api_key", resource_id=key_id, user=user, actor=user, ip=ip,
                     details={"name": key.name})


def looks_like_key(raw: str | None) -> bool:
    return bool(raw) and raw.startswith(PREFIX) and len(raw) == KEY_LENGTH and raw[len(PREFIX):].isalnum()


def authenticate(raw: str | None) -> ApiKey | None:
    """The key for a raw API key, or None (malformed, unknown, deleted, or its user disabled)."""
    if not looks_like_key(raw):
        return None
    key = (ApiKey.select(ApiKey, User).join(User).where(ApiKey.key_hash == sha256_hex(raw)).first())
    if key is None or key.user.is_disabled:
        return None
    now = utcnow()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() >= LAST_USED_RESOLUTION_SECONDS:
        ApiKey.update(last_used_at=now).where(ApiKey.id == key.id).execute()
        key.last_used_at = now
    return key
