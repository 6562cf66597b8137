"""The SCIM discovery documents (RFC 7643 §5-7): ServiceProviderConfig, the User schema, the User resource type.

What they declare is what LinkTime serves (issue 20): PATCH and filters (eq, co, sw, pr, and, or on a few
attributes) with ``maxResults``; no bulk, sort, ETags or password changes; a bearer token. The User schema lists
only the attributes LinkTime keeps, so a client (or ``scim2-tester``) reads back what it wrote.
"""
from __future__ import annotations

from app.services.account.scim_users import MAX_RESULTS

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
CONFIG_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"


def _attribute(name: str, description: str, *, type_: str = "string", required: bool = False,
               multi: bool = False, uniqueness: str = "none", sub: list | None = None,
               canonical: list | None = None) -> dict:
    attribute = {"name": name, "type": type_, "multiValued": multi, "description": description,
                 "required": required, "mutability": "readWrite", "returned": "default", "uniqueness": uniqueness}
    if type_ == "string":
        attribute["caseExact"] = False
    if sub is not None:
        attribute["subAttributes"] = sub
    if canonical is not None:
        attribute["canonicalValues"] = canonical
    return attribute


def user_schema(base: str) -> dict:
    return {
        "schemas": [SCHEMA_SCHEMA],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A member of the organization",
        "attributes": [
            _attribute("userName", "Unique identifier for the User, typically the sign-in name of the identity "
                       "provider (unique in the organization, case-insensitive).", required=True,
                       uniqueness="server"),
            _attribute("name", "The components of the user's name.", type_="complex", sub=[
                _attribute("givenName", "The given (first) name."),
                _attribute("familyName", "The family (last) name."),
            ]),
            _attribute("displayName", "The name shown for the user."),
            _attribute("active", "false suspends the account: no sign-in, booking pages unavailable.",
                       type_="boolean"),
            _attribute("emails", "The work email address; the account's address when it is created (required "
                       "unless userName is an email address).", type_="complex", multi=True, required=True, sub=[
                           _attribute("value", "The email address.", required=True),
                           _attribute("type", "Always work.", canonical=["work"]),
                           _attribute("primary", "Whether it is the primary address.", type_="boolean"),
                       ]),
        ],
        "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{USER_SCHEMA}"},
    }


def user_resource_type(base: str) -> dict:
    return {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "Members of the organization",
        "schema": USER_SCHEMA,
        "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
    }


def service_provider_config(base: str, documentation: str) -> dict:
    return {
        "schemas": [CONFIG_SCHEMA],
        "documentationUri": documentation,
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "The organization's SCIM token (lt_scim_...) as Authorization: Bearer.",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "documentationUri": documentation,
            "primary": True,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base}/ServiceProviderConfig"},
    }
