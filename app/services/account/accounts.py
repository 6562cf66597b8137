"""Accounts: sign-up, sign-in, profile, passwords, administration.

No Flask request objects here: functions take values and return models or raise domain errors.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import peewee
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.db import transaction
from app.models import ApiKey, Integration, IntegrationCalendar, OAuthIdentity, User, UserLogo, Webhook
from app.models.accounts import bump_pages_version
from app.models.base import utcnow
from app.security import hash_password, sha256_hex, verify_password
from app.services import audit
from app.services.account import sessions
from app.services.errors import ValidationFailed
from app.services.plans import PLAN_CHANGED, UnknownPlan, normalize_plan
from app.services.scheduling.event_types import announce_url_change, create_defaults
from app.services.validation import NAME_CONTROL, has_control, is_email
from app.timezones import is_valid_timezone

USERNAME_RE = re.compile(r"^[a-z0-9-]{3,30}$")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
RESERVED_USERNAMES = frozenset("""
    about account accounts admin administrator api app apps assets auth billing blog book booking bookings
    cancel contact contacts dashboard docs download embed embed-js events help healthz home integrations
    invite join legal linktime login logout me new oauth oidc pricing privacy profile public register
    reschedule reset root security settings signin signout signup static status support team teams terms
    uploads user users webhooks www zapier
""".split())
COMMON_PASSWORDS = frozenset("""
    password password1 password12 password123 passw0rd 12345678 123456789 1234567890 qwerty123 qwertyuiop
    iloveyou admin123 welcome1 letmein1 abc12345 11111111 00000000 sunshine monkey123 football baseball
    linktime linktime1 changeme
""".split())
MIN_PASSWORD = 10
MAX_PASSWORD = 256
LOGO_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
MAX_LOGO_BYTES = 512 * 1024
RESET_MAX_AGE = 60 * 60  # one hour


@dataclass
class SignupData:
    name: str
    email: str
    username: str
    password: str
    timezone: str
    hour12: bool = False     # the clock the host reads (the web sign-up: ``app.datetimes.signup_hour12``)


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def _validate_password(password: str, *, email: str = "", username: str = "") -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"Use at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"Use at most {MAX_PASSWORD} characters."
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(password)) < 4:
        return "This password is too easy to guess."
    local = email.split("@")[0].lower()
    if (username and username.lower() in lowered) or (len(local) >= 3 and local in lowered):
        return "The password must not contain your username or email."
    return None


def validate_username(username: str, *, exclude_user_id: str | None = None) -> str | None:
    if not USERNAME_RE.match(username):
        return "Use 3–30 characters: lower-case letters, digits and hyphens."
    if username.startswith("-") or username.endswith("-"):
        return "The username cannot start or end with a hyphen."
    if username in RESERVED_USERNAMES:
        return "This username is reserved."
    query = User.select().where(User.username == username)
    if exclude_user_id:
        query = query.where(User.id != exclude_user_id)
    if query.exists():
        return "This username is taken."
    return None


def _validate_common(name: str, email: str, timezone: str, errors: dict[str, str],
                     exclude_user_id: str | None = None) -> None:
    if not name.strip():
        errors["name"] = "Enter your name."
    elif len(name.strip()) > 100:
        errors["name"] = "Use at most 100 characters."
    elif has_control(name.strip()):
        errors["name"] = NAME_CONTROL
    if not is_email(email):
        errors["email"] = "Enter a valid email address."
    else:
        query = User.select().where(User.email == email)
        if exclude_user_id:
            query = query.where(User.id != exclude_user_id)
        if query.exists():
            errors["email"] = "An account with this email already exists."
    if not is_valid_timezone(timezone):
        errors["timezone"] = "Choose a time zone from the list."


def signup(data: SignupData, *, default_plan: str, ip: str | None = None,
           password_required: bool = True, identity: tuple[str, str] | None = None,
           email_verified: bool = False) -> User:
    """Create an account. The first account of the instance becomes its administrator.

    The email counts as verified for the first account, for an account created from a provider identity
    (whose email the provider vouched for) and when ``email_verified`` says so (the CLI)."""
    email = normalize_email(data.email)
    username = (data.username or "").strip().lower()
    errors: dict[str, str] = {}
    _validate_common(data.name, email, data.timezone, errors)
    if problem := validate_username(username):
        errors["username"] = problem
    if password_required or data.password:
        if problem := _validate_password(data.password or "", email=email, username=username):
            errors["password"] = problem
    if errors:
        raise ValidationFailed(errors)
    password_hash = hash_password(data.password) if data.password else None   # slow: before the write lock
    try:
        with transaction():
            first = not User.select().exists()
            user = User.create(
                name=data.name.strip(), email=email, username=username,
                password_hash=password_hash,
                timezone=data.timezone, hour12=bool(data.hour12), plan=normalize_plan(default_plan), is_admin=first,
                email_verified_at=utcnow() if (first or identity or email_verified) else None)
            create_defaults(user)
            if identity:
                OAuthIdentity.create(user=user, provider=identity[0], subject=identity[1], email=email)
            audit.record("auth.signup", resource="user", resource_id=user.id, user=user, actor=user, ip=ip,
                         details={"email": email, "username": username, "method": identity[0] if identity
                                  else "password"})
    except peewee.IntegrityError as exc:  # a concurrent sign-up took the email or username
        raise ValidationFailed({"email": "An account with this email or username already exists."}) from exc
    return user


def authenticate(email: str, password: str) -> User | None:
    user = User.get_or_none(User.email == normalize_email(email))
    if user is None or user.is_disabled:
        verify_password(None, password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    return user


def record_login(user: User, *, ip: str | None, method: str) -> None:
    User.update(last_login_at=utcnow()).where(User.id == user.id).execute()
    audit.record("auth.login", resource="user", resource_id=user.id, user=user, actor=user, ip=ip,
                 details={"method": method})


def update_profile(user: User, *, name: str, username: str, timezone: str, brand_color: str,
                   hour12: bool | None = None, ip: str | None = None) -> User:
    """``hour12``: the clock the host reads (None leaves it as it is)."""
    username = (username or "").strip().lower()
    errors: dict[str, str] = {}
    _validate_common(name, user.email, timezone, errors, exclude_user_id=user.id)
    if username != user.username and (problem := validate_username(username, exclude_user_id=user.id)):
        errors["username"] = problem
    if not COLOR_RE.match(brand_color or ""):
        errors["brand_color"] = "Use a colour like #2563eb."
    if errors:
        raise ValidationFailed(errors)
    changes = {k: v for k, v in (("name", name.strip()), ("username", username), ("timezone", timezone),
                                 ("brand_color", brand_color.lower()), ("hour12", hour12))
               if v is not None and getattr(user, k) != v}
    old = {k: getattr(user, k) for k in changes}
    try:
        with transaction():
            bump_pages_version(user.id)
            for key, value in changes.items():
                setattr(user, key, value)
            user.save()
            if "username" in changes:
                announce_url_change(user)
            for field, new_value in changes.items():
                audit.record("settings.updated", resource="user", resource_id=user.id, user=user, actor=user,
                             ip=ip, details={"field": field, "oldValue": old[field], "newValue": new_value})
    except peewee.IntegrityError as exc:
        raise ValidationFailed({"username": "This username is taken."}) from exc
    return user


def set_logo(user: User, content_type: str, data: bytes) -> None:
    if content_type not in LOGO_TYPES or not _looks_like_image(data, content_type):
        raise ValidationFailed({"logo": "Upload a PNG, JPEG, GIF or WebP image."})
    if len(data) > MAX_LOGO_BYTES:
        raise ValidationFailed({"logo": "The logo must be at most 512 KB."})
    with transaction():
        bump_pages_version(user.id)
        UserLogo.delete().where(UserLogo.user == user).execute()
        UserLogo.create(user=user, content_type=content_type, data=data)


def remove_logo(user: User) -> None:
    with transaction():
        bump_pages_version(user.id)
        UserLogo.delete().where(UserLogo.user == user).execute()


def _looks_like_image(data: bytes, content_type: str) -> bool:
    signatures = {
        "image/png": (b"\x89PNG\r\n\x1a\n",),
        "image/jpeg": (b"\xff\xd8\xff",),
        "image/gif": (b"GIF87a", b"GIF89a"),
        "image/webp": (b"RIFF",),
    }
    return data.startswith(signatures[content_type]) and (content_type != "image/webp" or data[8:12] == b"WEBP")


def change_password(user: User, current: str, new: str, *, ip: str | None = None) -> None:
    errors = {}
    if user.password_hash and not verify_password(user.password_hash, current):
        errors["current_password"] = "The current password is not correct."
    if problem := _validate_password(new, email=user.email, username=user.username):
        errors["new_password"] = problem
    if errors:
        raise ValidationFailed(errors)
    _set_password(user, new)
    audit.record("settings.updated", resource="user", resource_id=user.id, user=user, actor=user, ip=ip,
                 details={"field": "password"})


def _set_password(user: User, password: str | None) -> None:
    """Set (or, with None, remove) the password: every session of the account and every reset link ends."""
    from app.models.accounts import _session_key
    with transaction():
        user.password_hash = hash_password(password) if password is not None else None
        user.session_key = _session_key()  # every reset link issued before stops working
        user.save()
        sessions.end_all(user)


# --- password reset: signed, expiring, single use -------------------------------------------------------
def _reset_serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="linktime.password-reset")


def _reset_fingerprint(user: User) -> str:
    # Changes when the password (or session key) changes, so a used link stops working.
    return sha256_hex(f"{user.password_hash}|{user.session_key}")[:16]


def make_reset_token(user: User, secret_key: str) -> str:
    return _reset_serializer(secret_key).dumps({"u": user.id, "f": _reset_fingerprint(user)})


def user_for_reset_token(token: str, secret_key: str, max_age: int = RESET_MAX_AGE) -> User | None:
    try:
        data = _reset_serializer(secret_key).loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
    user = User.get_or_none(User.id == data.get("u"))
    if user is None or user.is_disabled or data.get("f") != _reset_fingerprint(user):
        return None
    return user


def reset_password(user: User, new: str, *, ip: str | None = None) -> None:
    if problem := _validate_password(new, email=user.email, username=user.username):
        raise ValidationFailed({"password": problem})
    _set_password(user, new)
    audit.record("auth.password_reset", resource="user", resource_id=user.id, user=user, actor=user, ip=ip)


# --- email verification: a signed link proves the address --------------------------------------------------
VERIFY_MAX_AGE = 7 * 24 * 60 * 60  # a week


def _verify_serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="linktime.email-verify")


def make_verify_token(user: User, secret_key: str) -> str:
    return _verify_serializer(secret_key).dumps({"u": user.id, "e": user.email})


def user_for_verify_token(token: str, secret_key: str, max_age: int = VERIFY_MAX_AGE) -> User | None:
    """The account the link was made for, while its email is still the one the link was sent to."""
    try:
        data = _verify_serializer(secret_key).loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict):
        return None
    user = User.get_or_none(User.id == data.get("u"))
    if user is None or user.is_disabled or data.get("e") != user.email:
        return None
    return user


def verify_email(user: User, *, ip: str | None = None) -> bool:
    """Mark the account's email as verified; False when it already was."""
    if user.email_verified_at is not None:
        return False
    user.email_verified_at = utcnow()
    User.update(email_verified_at=user.email_verified_at).where(User.id == user.id).execute()
    audit.record("auth.email_verified", resource="user", resource_id=user.id, user=user, actor=user, ip=ip,
                 details={"email": user.email})
    return True


def link_identity(user: User, provider: str, subject: str, email: str, *, ip: str | None = None) -> None:
    """Link a provider identity whose (provider-verified) email is the account's.

    An account whose own email was never verified may have been created by someone else with the owner's
    address, waiting for the owner to arrive (pre-hijacking): its password and every session end before
    the owner's identity is linked, and so does every way the squatter set up to keep reading the account's
    bookings (API keys, webhooks and Zapier subscriptions, connected calendars and video accounts); the email
    now counts as verified."""
    with transaction():
        takeover_guard = user.email_verified_at is None
        removed: dict[str, int] = {}
        if takeover_guard:
            _set_password(user, None)
            removed = _remove_access_paths(user)
            user.email_verified_at = utcnow()
            User.update(email_verified_at=user.email_verified_at).where(User.id == user.id).execute()
        OAuthIdentity.create(user=user, provider=provider, subject=subject, email=email)
        details: dict = {"provider": provider, "passwordRemoved": takeover_guard}
        if takeover_guard:
            details["removed"] = removed
        audit.record("auth.identity_linked", resource="user", resource_id=user.id, user=user, actor=user, ip=ip,
                     details=details)


def _remove_access_paths(user: User) -> dict[str, int]:
    """Delete the account's API keys, webhooks (Zapier subscriptions are webhooks) and third-party connections
    (their calendars, busy caches and event links go with them). Returns how many of each went."""
    removed = {
        "apiKeys": ApiKey.delete().where(ApiKey.user == user.id).execute(),
        "webhooks": Webhook.delete().where(Webhook.user == user.id).execute(),
    }
    IntegrationCalendar.delete().where(IntegrationCalendar.user == user.id).execute()
    removed["integrations"] = Integration.delete().where(Integration.user == user.id).execute()
    if removed["integrations"]:
        bump_pages_version(user.id)  # connected calendars decided which times the public pages offered
    return removed


# --- administration --------------------------------------------------------------------------------------
def set_plan(user: User, plan: str, *, actor: User | None = None, ip: str | None = None) -> User:
    try:
        plan = normalize_plan(plan)
    except UnknownPlan as exc:
        raise ValidationFailed({"plan": str(exc)}) from exc
    previous = user.plan
    user.plan = plan
    user.save()
    bump_pages_version(user.id)  # the plan decides the branding shown on the public pages
    audit.record("settings.updated", resource="user", resource_id=user.id, user=user, actor=actor, ip=ip,
                 details={"field": "plan", "oldValue": previous, "newValue": plan})
    for hook in PLAN_CHANGED:
        hook(user)
    return user


def set_disabled(user: User, disabled: bool, *, actor: User | None = None, ip: str | None = None) -> User:
    if disabled and actor is not None and actor.id == user.id:
        raise ValidationFailed({"user": "You cannot disable your own account."})
    user.is_disabled = disabled
    user.save()
    if disabled:
        sessions.end_all(user)
    bump_pages_version(user.id)
    audit.record("admin.user_disabled" if disabled else "admin.user_enabled", resource="user", resource_id=user.id,
                 user=user, actor=actor, ip=ip)
    return user


def dismiss_checklist(user: User) -> None:
    """Hide the dashboard's first-run checklist for good (every device, every later session)."""
    User.update(checklist_dismissed_at=utcnow()).where(User.id == user.id).execute()
