"""An organization's settings (issue 15): its name, brand colour and logo, changed by an OWNER or ADMIN.

The logo follows the host's logo (:func:`accounts.set_logo`): PNG, JPEG, GIF or WebP whose bytes look like the
type they claim, at most ``MAX_LOGO_BYTES``, kept in the database and served at ``/org-logo/<organization id>``.
The audit log's actions (spec page 21) have none for an organization's settings, so these changes record none.
"""
from __future__ import annotations

from app.db import transaction
from app.models import Organization, OrganizationLogo, User
from app.models.base import utcnow
from app.services.account import organizations
from app.services.account.accounts import LOGO_TYPES, MAX_LOGO_BYTES
from app.services.account.accounts import _looks_like_image as looks_like_image
from app.services.errors import ValidationFailed

LOGO_PROBLEM = "Upload a PNG, JPEG, GIF or WebP image."
LOGO_TOO_BIG = f"The logo must be at most {MAX_LOGO_BYTES // 1024} KB."


def has_logo(org: Organization) -> bool:
    return OrganizationLogo.select().where(OrganizationLogo.organization == org).exists()


def logo_of(org_id: str) -> OrganizationLogo | None:
    return OrganizationLogo.get_or_none(OrganizationLogo.organization == org_id)


def update_settings(actor: User, org_id: str, *, name: str, brand_color: str,
                    logo: tuple[str, bytes] | None = None, remove_logo: bool = False) -> Organization:
    """Save the name and brand colour and, given ``logo`` (content type, bytes), the logo; all or nothing."""
    org, _ = organizations.require_member(org_id, actor, *organizations.MANAGERS)
    name = (name or "").strip()
    brand_color = (brand_color or "").strip()
    errors = {}
    if not name or len(name) > 100:
        errors["name"] = "Give a name of 1 to 100 characters."
    if not organizations.COLOR_RE.match(brand_color):
        errors["brand_color"] = "Use a colour like #2563eb."
    if logo is not None:
        content_type, data = logo
        if content_type not in LOGO_TYPES or not looks_like_image(data, content_type):
            errors["logo"] = LOGO_PROBLEM
        elif len(data) > MAX_LOGO_BYTES:
            errors["logo"] = LOGO_TOO_BIG
    if errors:
        raise ValidationFailed(errors)
    with transaction():
        org.name, org.brand_color = name, brand_color.lower()
        org.save()
        if logo is not None or remove_logo:
            OrganizationLogo.delete().where(OrganizationLogo.organization == org).execute()
        if logo is not None:
            OrganizationLogo.create(organization=org, content_type=logo[0], data=logo[1], updated_at=utcnow())
    return org
