"""Custom domains (issue 20, spec page 18): a user's own host name for their booking pages.

The owner adds a host name, publishes a TXT record ``_linktime-verify.<domain>`` = ``lt-verify=<token>`` and a
CNAME to the instance, and asks for verification; a verified domain serves their booking pages (app/web/
custom_domains.py) and may get a certificate (``may_get_certificate``: the TLS proxy's question). A daily task
looks again (``recheck_verified``): when the record is gone the domain is ``lost`` (no longer served) and the
owner is told by email, once.
"""
from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import current_app

from app.db import db
from app.integrations.dns_txt import lookup_txt
from app.models import CustomDomain, User
from app.services import audit, plans
from app.services.errors import Conflict, ValidationFailed

TXT_PREFIX = "_linktime-verify."
VALUE_PREFIX = "lt-verify="
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
FEATURE = "custom domains"


@dataclass(frozen=True)
class Verification:
    ok: bool
    message: str
    found: tuple[str, ...] = ()


def main_host() -> str:
    return (urlsplit(current_app.config["BASE_URL"]).hostname or "").lower()


def cname_target() -> str:
    return current_app.config.get("CUSTOM_DOMAIN_CNAME_TARGET") or main_host()


def txt_name(domain: CustomDomain) -> str:
    return TXT_PREFIX + domain.hostname


def txt_value(domain: CustomDomain) -> str:
    return VALUE_PREFIX + domain.token


def validate_hostname(value: str) -> str:
    """The host name as stored, or ValidationFailed: lowercase letters, digits and hyphens in dot-separated
    labels, at least two labels, not an IP address, not this instance's own host (nor a name under it)."""
    hostname = (value or "").strip().rstrip(".")
    error = None
    if not hostname:
        error = "Enter a domain such as meetings.yourcompany.com."
    elif hostname != hostname.lower():
        error = "Use lowercase letters only."
    elif any(ch.isspace() for ch in hostname) or "/" in hostname or ":" in hostname and not _is_ip(hostname):
        error = "Enter only the domain name, without spaces, http:// or a path."
    elif _is_ip(hostname) or _is_ip(hostname.strip("[]")):
        error = "Enter a domain name, not an IP address."
    elif len(hostname) > 253 or "." not in hostname or not all(_LABEL.match(p) for p in hostname.split(".")):
        error = "This is not a valid domain name (letters, digits and hyphens, e.g. meetings.yourcompany.com)."
    elif hostname.split(".")[-1].isdigit():
        error = "Enter a domain name, not an IP address."
    else:
        own = {main_host(), cname_target()} - {""}
        if hostname in own or any(hostname.endswith("." + host) for host in own):
            error = "This is the address of LinkTime itself: enter a domain of your own."
    if error:
        raise ValidationFailed({"hostname": error})
    return hostname


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def domain_of(user: User) -> CustomDomain | None:
    return CustomDomain.get_or_none(CustomDomain.user == user)


def add_domain(user: User, value: str, *, ip: str | None = None) -> CustomDomain:
    """Add ``user``'s custom domain (pending). Raises PlanLimitReached, ValidationFailed or Conflict."""
    plans.check_feature(user, "custom_domains", FEATURE)
    hostname = validate_hostname(value)
    with db.atomic():
        if domain_of(user) is not None:
            raise Conflict("You already have a custom domain. Remove it first to set up another one.")
        if CustomDomain.select().where(CustomDomain.hostname == hostname).exists():
            raise ValidationFailed({"hostname": "This domain is already used by another account."})
        domain = CustomDomain.create(user=user, hostname=hostname, token=secrets.token_urlsafe(24))
    audit.record("custom_domain.added", resource="custom_domain", resource_id=domain.id, user=user, actor=user,
                 ip=ip, details={"hostname": hostname})
    return domain


def remove_domain(user: User, *, ip: str | None = None) -> bool:
    domain = domain_of(user)
    if domain is None:
        return False
    domain.delete_instance()
    audit.record("custom_domain.removed", resource="custom_domain", resource_id=domain.id, user=user, actor=user,
                 ip=ip, details={"hostname": domain.hostname})
    return True


def check_record(domain: CustomDomain) -> Verification:
    """Look the TXT record up now and say what was found (changes nothing)."""
    cfg = current_app.config
    name = txt_name(domain)
    answer = lookup_txt(name, resolver=cfg.get("DNS_RESOLVER") or "", timeout=float(cfg.get("DNS_TIMEOUT") or 5))
    expected = txt_value(domain)
    if expected in answer.values:
        return Verification(True, "Verified: the TXT record matches.", answer.values)
    if answer.values:
        shown = ", ".join(f'"{v}"' for v in answer.values)
        return Verification(False, f"TXT record found but doesn't match: {name} has {shown}; expected "
                                   f'"{expected}".', answer.values)
    why = answer.error or f"{name} has no TXT record"
    return Verification(False, f"Verification failed: no TXT record was found at {name} ({why}). DNS changes "
                               "can take from a few minutes up to 48 hours to propagate; try again later.")


def verify(user: User, *, ip: str | None = None) -> tuple[CustomDomain, Verification]:
    """The owner's "Verify Domain": look the record up and keep the result."""
    plans.check_feature(user, "custom_domains", FEATURE)
    domain = domain_of(user)
    if domain is None:
        raise ValidationFailed({"hostname": "Add a domain first."})
    result = check_record(domain)
    now = datetime.now(UTC)
    domain.last_checked_at = now
    if result.ok:
        if domain.status != "verified":
            domain.verified_at = now
            audit.record("custom_domain.verified", resource="custom_domain", resource_id=domain.id, user=user,
                         actor=user, ip=ip, details={"hostname": domain.hostname})
        domain.status, domain.last_error, domain.warned_at = "verified", None, None
    else:
        domain.last_error = result.message
    domain.save()
    return domain, result


def recheck_verified() -> int:
    """The daily look: every verified domain whose TXT record no longer matches becomes ``lost`` (its pages are
    no longer served) and its owner gets one email. Returns how many were lost."""
    from app.services.mailer import queue_email

    lost = 0
    for domain in list(CustomDomain.select(CustomDomain, User).join(User)
                       .where(CustomDomain.status == "verified")):
        result = check_record(domain)
        now = datetime.now(UTC)
        domain.last_checked_at = now
        if result.ok:
            domain.last_error = None
            domain.save()
            continue
        lost += 1
        domain.status, domain.last_error = "lost", result.message
        with db.atomic():
            if domain.warned_at is None:
                domain.warned_at = now
                owner = domain.user
                queue_email(owner.email, f"Your custom domain {domain.hostname} stopped working",
                            "custom_domain_lost", user_id=owner.id, user=owner, domain=domain, problem=result.message,
                            txt_name=txt_name(domain), txt_value=txt_value(domain),
                            link=current_app.config["BASE_URL"] + "/settings/custom-domain")
            domain.save()
    return lost


def serving_owner(hostname: str) -> User | None:
    """The owner whose booking pages ``hostname`` serves: a verified domain of an enabled account whose plan
    includes custom domains; otherwise None."""
    row = (CustomDomain.select(CustomDomain, User).join(User)
           .where((CustomDomain.hostname == hostname.lower()) & (CustomDomain.status == "verified")
                  & (User.is_disabled == False))
           .first())
    if row is None or not plans.limits_for(row.user).custom_domains:
        return None
    return row.user


def may_get_certificate(hostname: str) -> bool:
    """The TLS proxy's question (Caddy's on_demand_tls ``ask``): only verified, served domains get one."""
    return bool(hostname) and serving_owner(hostname) is not None
