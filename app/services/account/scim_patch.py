"""SCIM User attributes as LinkTime keeps them, read from a resource (POST, PUT) or changed by PATCH (issue 20).

Pure functions, no database. What is kept: ``userName``, ``externalId``, ``active``, ``name.givenName``,
``name.familyName``, ``displayName`` and one work email (``emails[type eq "work"].value``, else the primary one,
else the first). Attribute names and ``op`` names are case-insensitive; the core User schema's URN may prefix a
path. Microsoft Entra's forms are accepted: ``"Replace"``/``"Add"``, a path-less replace whose value holds dotted
keys (``{"name.givenName": "Ann"}``) and ``"True"``/``"False"`` strings for ``active``. Attributes LinkTime does
not keep (``title``, phone numbers, the enterprise extension ...) are ignored, as identity providers send the
attributes their default mappings name. Errors raise :class:`ScimError` with the RFC 7644 ``scimType``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from app.services.validation import is_email

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MAX_OPERATIONS = 100
_EMAIL_PATH = re.compile(r'^emails\[\s*type\s+eq\s+"([^"]*)"\s*\](?:\.(value|type|primary))?$', re.IGNORECASE)
_LIMITS = {"user_name": 255, "external_id": 255, "given_name": 100, "family_name": 100, "display_name": 200,
           "email": 254}


class ScimError(Exception):
    """A SCIM error answer: HTTP ``status``, ``scim_type`` (or None) and ``detail``."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type


def invalid(detail: str, scim_type: str = "invalidValue") -> ScimError:
    return ScimError(400, detail, scim_type)


@dataclass(frozen=True)
class Attributes:
    user_name: str
    external_id: str | None = None
    active: bool | None = True      # None: not given, which counts as active
    given_name: str | None = None
    family_name: str | None = None
    display_name: str | None = None
    email: str | None = None
    email_primary: bool | None = None

    def contact_email(self) -> str | None:
        """The address the account has: the work email, else a userName that is an email address."""
        if self.email:
            return self.email.lower()
        return self.user_name.lower() if is_email(self.user_name) else None


def to_bool(value, name: str = "active") -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise invalid(f"{name} must be true or false.")


def _text(value, field: str, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string.")
    value = value.strip()
    if len(value) > _LIMITS[field]:
        raise invalid(f"{name} is longer than {_LIMITS[field]} characters.")
    return value or None


def _email(value) -> str | None:
    value = _text(value, "email", "emails.value")
    if value is not None and not is_email(value.lower()):
        raise invalid(f"{value!r} is not an email address.")
    return value.lower() if value else None


def _email_of(emails) -> tuple[str | None, bool | None]:
    """The work email of an ``emails`` value (a list, or one object): type work, else primary, else first; and
    its ``primary`` flag."""
    if emails is None:
        return None, None
    if isinstance(emails, dict):
        emails = [emails]
    if not isinstance(emails, list) or not all(isinstance(item, dict) for item in emails):
        raise invalid("emails must be a list of objects with a value.")
    items = [{str(k).lower(): v for k, v in item.items()} for item in emails]
    chosen = (next((i for i in items if str(i.get("type") or "").lower() == "work"), None)
              or next((i for i in items if i.get("primary") in (True, "true", "True")), None)
              or (items[0] if items else None))
    if not chosen:
        return None, None
    primary = chosen.get("primary")
    return _email(chosen.get("value")), None if primary is None else to_bool(primary, "emails.primary")


def _lower_keys(data: dict) -> dict:
    return {str(key).lower(): value for key, value in data.items()}


def from_resource(body) -> Attributes:
    """The attributes of a full User resource (POST, PUT): what is missing becomes null (``active`` true)."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.", "invalidSyntax")
    data = _lower_keys(body)
    user_name = _text(data.get("username"), "user_name", "userName")
    if not user_name:
        raise invalid("userName is required.")
    name = data.get("name")
    if name is not None and not isinstance(name, dict):
        raise invalid("name must be an object.")
    name = _lower_keys(name or {})
    email, primary = _email_of(data.get("emails"))
    return Attributes(
        user_name=user_name, external_id=_text(data.get("externalid"), "external_id", "externalId"),
        active=None if data.get("active") is None else to_bool(data.get("active")),
        given_name=_text(name.get("givenname"), "given_name", "name.givenName"),
        family_name=_text(name.get("familyname"), "family_name", "name.familyName"),
        display_name=_text(data.get("displayname"), "display_name", "displayName"),
        email=email, email_primary=primary)


def _strip_schema(path: str) -> str:
    if path.lower().startswith(USER_SCHEMA.lower() + ":"):
        return path[len(USER_SCHEMA) + 1:]
    return path


def _set(attrs: Attributes, path: str, value, op: str) -> Attributes:
    """``attrs`` with ``path`` set to ``value`` (``op`` add or replace) or removed (``op`` remove)."""
    path = _strip_schema(path.strip())
    key = path.lower()
    removing = op == "remove"
    if key == "active":
        return replace(attrs, active=None if removing or value is None else to_bool(value))
    if key == "username":
        if removing or not _text(value, "user_name", "userName"):
            raise invalid("userName is required and cannot be removed.", "mutability")
        return replace(attrs, user_name=_text(value, "user_name", "userName"))
    simple = {"externalid": ("external_id", "externalId"), "displayname": ("display_name", "displayName"),
              "name.givenname": ("given_name", "name.givenName"), "name.familyname": ("family_name", "name.familyName")}
    if key in simple:
        field, name = simple[key]
        return replace(attrs, **{field: None if removing else _text(value, field, name)})
    if key == "name":
        if removing:
            return replace(attrs, given_name=None, family_name=None)
        if not isinstance(value, dict):
            raise invalid("name must be an object.")
        for sub, sub_value in value.items():
            attrs = _set(attrs, f"name.{sub}", sub_value, op)
        return attrs
    if key in ("emails", "emails.value"):
        if removing:
            return replace(attrs, email=None, email_primary=None)
        if key == "emails.value":
            return replace(attrs, email=_email(value))
        email, primary = _email_of(value)
        return replace(attrs, email=email, email_primary=primary)
    match = _EMAIL_PATH.match(path)
    if match:
        email_type, sub = match.group(1).lower(), (match.group(2) or "").lower()
        if email_type != "work" or sub == "type":
            return attrs        # other email types are not kept
        if sub == "primary":
            return replace(attrs, email_primary=None if removing or value is None else to_bool(value, "primary"))
        if removing:
            return replace(attrs, email=None, email_primary=None)
        if sub == "value":
            return replace(attrs, email=_email(value))
        email, primary = _email_of([dict(value, type="work")] if isinstance(value, dict) else value)
        return replace(attrs, email=email, email_primary=primary)
    if "[" in path and not re.match(r"^[A-Za-z:.0-9_]+\[[^\]]*\](\.[A-Za-z0-9_]+)?$", path):
        raise invalid(f"The path {path!r} cannot be read.", "invalidPath")
    return attrs        # an attribute LinkTime does not keep


def apply_patch(current: Attributes, body) -> Attributes:
    """``current`` changed by a PatchOp request body."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.", "invalidSyntax")
    data = _lower_keys(body)
    operations = data.get("operations")
    if not isinstance(operations, list) or not operations:
        raise invalid("Operations must be a non-empty list.", "invalidSyntax")
    if len(operations) > MAX_OPERATIONS:
        raise invalid(f"At most {MAX_OPERATIONS} operations per request.", "tooMany")
    attrs = current
    for raw in operations:
        if not isinstance(raw, dict):
            raise invalid("Each operation must be an object.", "invalidSyntax")
        operation = _lower_keys(raw)
        op = str(operation.get("op") or "").strip().lower()
        path = operation.get("path")
        value = operation.get("value")
        if op not in ("add", "replace", "remove"):
            raise invalid(f"Unknown op {operation.get('op')!r}: use add, replace or remove.", "invalidSyntax")
        if path is not None and not isinstance(path, str):
            raise invalid("path must be a string.", "invalidPath")
        if path:
            attrs = _set(attrs, path, value, op)
        elif op == "remove":
            raise invalid("A remove operation needs a path.", "noTarget")
        elif isinstance(value, dict):
            attrs = _apply_object(attrs, value, op)
        else:
            raise invalid("An operation without a path needs an object as its value.", "invalidValue")
    return attrs


def _apply_object(attrs: Attributes, value: dict, op: str) -> Attributes:
    for key, sub_value in value.items():
        key = str(key)
        if key.lower() == USER_SCHEMA.lower() and isinstance(sub_value, dict):
            attrs = _apply_object(attrs, sub_value, op)
        elif key.lower().startswith("urn:") and isinstance(sub_value, dict):
            continue        # an extension schema LinkTime does not keep
        else:
            attrs = _set(attrs, key, sub_value, op)
    return attrs
