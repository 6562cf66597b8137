"""SCIM 2.0 under /api/scim/v2 through the Flask test client (issue 20): discovery, bearer tokens, filters on every
attribute with every operator, POST (create, link, 409), PUT, PATCH (standard and Microsoft Entra's forms),
suspension, deprovisioning, organization isolation, rate limit and content types."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.db import db
from app.models import AuditLog, Booking, EventType, Membership, Organization, TeamMember, User
from app.models.scim import ScimToken, ScimUser
from app.services.account import scim_tokens
from tests import factories
from tests.conftest import login

MEDIA = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def in_db(app, fn, *args, **kwargs):
    with app.app_context(), db.connection_context():
        return fn(*args, **kwargs)


def _next_tuesday_noon() -> datetime:
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    days = (1 - today.weekday()) % 7 or 7
    return today + timedelta(days=days + 7)


@pytest.fixture
def acme(app, make_user):
    """Acme (Business plan): Olga owns it, Adam is a member hosting a collective event type with her and attends
    one upcoming booking. Globex (Business) is another organization owned by Gus. Each has a SCIM token."""
    people = {name: make_user(name, email=f"{name}@example.com") for name in ("olga", "adam", "gus", "otto")}

    def build():
        team = factories.team(people["olga"], [people["adam"]])
        Organization.update(plan="BUSINESS").where(Organization.id == team.organization_id).execute()
        demo = factories.team_event_type(people["olga"], team, [people["olga"], people["adam"]], kind="collective",
                                         name="Demo")
        booking = factories.booking(EventType.get_by_id(demo.id), _next_tuesday_noon())
        globex = factories.team(people["gus"], [], org_slug="globex", slug="globex-sales")
        Organization.update(plan="BUSINESS").where(Organization.id == globex.organization_id).execute()
        _, token = scim_tokens.generate(people["olga"], team.organization_id)
        _, other = scim_tokens.generate(people["gus"], globex.organization_id)
        return {"org": team.organization_id, "team": team.id, "booking": booking.id, "token": token,
                "globex": globex.organization_id, "globex_token": other}
    return {**people, **in_db(app, build)}


def call(client, method, path, token, body=None, content_type=MEDIA, **kwargs):
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        headers["Content-Type"] = content_type
    return client.open(f"/api/scim/v2{path}", method=method, headers=headers, data=data, **kwargs)


def new_user(user_name, *, email=None, external_id=None, display=None, given=None, family=None, active=True):
    body = {"schemas": [USER], "userName": user_name, "active": active}
    if email:
        body["emails"] = [{"value": email, "type": "work", "primary": True}]
    if external_id:
        body["externalId"] = external_id
    if display:
        body["displayName"] = display
    if given or family:
        body["name"] = {"givenName": given, "familyName": family}
    return body


def provision(client, token, *args, **kwargs) -> dict:
    response = call(client, "POST", "/Users", token, new_user(*args, **kwargs))
    assert response.status_code == 201, response.data
    return response.get_json()


def patch(client, token, scim_id, *operations):
    return call(client, "PATCH", f"/Users/{scim_id}", token, {"schemas": [PATCH], "Operations": list(operations)})


def scim_error(response, status, scim_type=None):
    body = response.get_json(force=True)
    assert response.status_code == status, response.data
    assert response.mimetype == MEDIA
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    return body


# -- discovery and content type ------------------------------------------------------------------------------------

def test_discovery_declares_patch_and_filter_and_no_bulk_sort_etag(client, acme):
    config = call(client, "GET", "/ServiceProviderConfig", acme["token"])
    assert config.status_code == 200 and config.mimetype == MEDIA
    body = config.get_json(force=True)
    assert body["patch"] == {"supported": True}
    assert body["filter"] == {"supported": True, "maxResults": 200}
    assert [body[k]["supported"] for k in ("bulk", "sort", "etag", "changePassword")] == [False] * 4
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    schemas = call(client, "GET", "/Schemas", acme["token"]).get_json(force=True)
    assert schemas["totalResults"] == 1 and schemas["Resources"][0]["id"] == USER
    names = {a["name"] for a in schemas["Resources"][0]["attributes"]}
    assert names == {"userName", "name", "displayName", "active", "emails"}
    assert call(client, "GET", f"/Schemas/{USER}", acme["token"]).get_json(force=True)["id"] == USER
    types = call(client, "GET", "/ResourceTypes", acme["token"]).get_json(force=True)
    assert types["Resources"][0]["endpoint"] == "/Users"
    assert call(client, "GET", "/ResourceTypes/User", acme["token"]).get_json(force=True)["schema"] == USER
    scim_error(call(client, "GET", "/ResourceTypes/Group", acme["token"]), 404)


def test_bodies_are_taken_as_scim_json_or_json_and_nothing_else(client, acme):
    as_json = call(client, "POST", "/Users", acme["token"], new_user("ann@acme.test"), content_type="application/json")
    assert as_json.status_code == 201 and as_json.mimetype == MEDIA
    charset = call(client, "POST", "/Users", acme["token"], new_user("bo@acme.test"),
                   content_type="application/scim+json; charset=utf-8")
    assert charset.status_code == 201
    scim_error(call(client, "POST", "/Users", acme["token"], new_user("cy@acme.test"), content_type="text/plain"),
               415)
    scim_error(call(client, "POST", "/Users", acme["token"], "{not json"), 400, "invalidSyntax")


# -- tokens --------------------------------------------------------------------------------------------------------

def test_requests_without_a_live_token_get_401_in_the_scim_error_shape(app, client, acme):
    assert scim_error(client.get("/api/scim/v2/Users"), 401)
    scim_error(call(client, "GET", "/Users", "lt_scim_" + "x" * 40), 401)
    scim_error(call(client, "GET", "/Users", "lt_live_" + "x" * 40), 401)
    response = client.get("/api/scim/v2/Users", headers={"Authorization": f"Basic {acme['token']}"})
    assert response.status_code == 401 and "Bearer" in response.headers["WWW-Authenticate"]
    row = in_db(app, ScimToken.get, ScimToken.token_hash == __import__("hashlib").sha256(
        acme["token"].encode()).hexdigest())
    in_db(app, scim_tokens.revoke, acme["olga"], acme["org"], row.id)
    scim_error(call(client, "GET", "/Users", acme["token"]), 401)


def test_a_rotated_token_keeps_working_for_the_grace_period_only(app, client, acme):
    _, fresh = in_db(app, scim_tokens.rotate, acme["olga"], acme["org"], grace_minutes=60)
    assert call(client, "GET", "/Users", acme["token"]).status_code == 200         # in the grace period
    assert call(client, "GET", "/Users", fresh).status_code == 200
    in_db(app, lambda: ScimToken.update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
          .where(ScimToken.expires_at.is_null(False)).execute())
    scim_error(call(client, "GET", "/Users", acme["token"]), 401)
    assert call(client, "GET", "/Users", fresh).status_code == 200
    _, newest = in_db(app, scim_tokens.rotate, acme["olga"], acme["org"])           # grace 0: at once
    scim_error(call(client, "GET", "/Users", fresh), 401)
    assert call(client, "GET", "/Users", newest).status_code == 200


def test_an_organization_whose_plan_lacks_scim_gets_403(app, client, acme):
    in_db(app, lambda: Organization.update(plan="PRO").where(Organization.id == acme["org"]).execute())
    body = scim_error(call(client, "GET", "/Users", acme["token"]), 403)
    assert "Pro plan does not include SCIM" in body["detail"]


def test_scim_requests_are_rate_limited_per_organization(app_factory, make_user):
    app = app_factory(RATELIMIT_SCIM="3/minute")
    client = app.test_client()
    olga = make_user("olga")

    def setup():
        org = factories.team(olga, []).organization
        Organization.update(plan="BUSINESS").where(Organization.id == org.id).execute()
        return scim_tokens.generate(olga, org.id)[1]
    token = in_db(app, setup)
    assert [call(client, "GET", "/Users", token).status_code for _ in range(3)] == [200] * 3
    limited = call(client, "GET", "/Users", token)
    scim_error(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 1


# -- POST ----------------------------------------------------------------------------------------------------------

def test_post_creates_an_account_and_membership_with_meta(app, client, acme):
    response = call(client, "POST", "/Users", acme["token"],
                    new_user("Nina@Acme.test", email="nina@acme.test", external_id="00u1", display="Nina Novak",
                             given="Nina", family="Novak"))
    assert response.status_code == 201 and response.mimetype == MEDIA
    body = response.get_json(force=True)
    assert body["userName"] == "Nina@Acme.test" and body["externalId"] == "00u1" and body["active"] is True
    assert body["name"] == {"givenName": "Nina", "familyName": "Novak"}
    assert body["emails"] == [{"value": "nina@acme.test", "type": "work", "primary": True}]      # as sent
    meta = body["meta"]
    assert meta["resourceType"] == "User" and meta["created"].endswith("Z") and meta["lastModified"].endswith("Z")
    assert meta["location"].endswith(f"/api/scim/v2/Users/{body['id']}")
    assert response.headers["Location"] == meta["location"]
    again = call(client, "GET", f"/Users/{body['id']}", acme["token"]).get_json(force=True)
    assert again["id"] == body["id"] and again["meta"]["created"] == meta["created"]

    def check():
        user = User.get(User.email == "nina@acme.test")
        assert user.name == "Nina Novak" and user.password_hash is None and not user.is_disabled
        row = Membership.get((Membership.user == user) & (Membership.organization == acme["org"]))
        assert row.role == "MEMBER"
    in_db(app, check)


def test_post_links_an_existing_account_with_that_email_and_never_makes_a_second(app, client, acme):
    before = in_db(app, User.select().count)
    body = provision(client, acme["token"], "otto@corp.test", email="OTTO@example.com")
    assert in_db(app, User.select().count) == before
    row = in_db(app, ScimUser.get_by_id, body["id"])
    assert row.user_id == acme["otto"].id and not row.created_account
    assert in_db(app, Membership.select().where((Membership.user == acme["otto"].id)
                                                 & (Membership.organization == acme["org"])).exists)
    # a member already in the organization is linked as they are (Adam stays a member, once)
    adam = provision(client, acme["token"], "adam@example.com")
    assert in_db(app, ScimUser.get_by_id, adam["id"]).user_id == acme["adam"].id
    assert in_db(app, Membership.select().where(Membership.user == acme["adam"].id).count) == 1


def test_post_answers_409_uniqueness_for_a_taken_user_name_or_another_organizations_user(client, acme):
    provision(client, acme["token"], "otto@example.com")
    body = scim_error(call(client, "POST", "/Users", acme["globex_token"], new_user("otto@example.com")), 409,
                      "uniqueness")
    assert "another organization" in body["detail"]
    scim_error(call(client, "POST", "/Users", acme["token"], new_user("OTTO@example.com")), 409, "uniqueness")
    scim_error(call(client, "POST", "/Users", acme["token"], new_user("x", email="otto@example.com")), 409,
               "uniqueness")
    scim_error(call(client, "POST", "/Users", acme["token"], {"schemas": [USER]}), 400, "invalidValue")
    scim_error(call(client, "POST", "/Users", acme["token"], new_user("no-email")), 400, "invalidValue")


# -- filters -------------------------------------------------------------------------------------------------------

@pytest.fixture
def people(client, acme):
    """Three provisioned users of Acme (and one of Globex that no Acme filter may find)."""
    made = {
        "ann": provision(client, acme["token"], "Ann.Lee@Acme.test", email="ann.lee@acme.test", external_id="EXT-1",
                         display="Ann Lee"),
        "bob": provision(client, acme["token"], "bob.ray@acme.test", email="bob.ray@mail.acme.test",
                         external_id="ext-22", display="Bob Ray"),
        "cy": provision(client, acme["token"], "cy@acme.test"),
    }
    provision(client, acme["globex_token"], "ann.lee@globex.test", email="ann.lee@globex.test", external_id="EXT-1",
              display="Ann Lee")
    return made


CASES = [
    # (filter, the users it matches)
    ('userName eq "ann.lee@acme.test"', {"ann"}),          # case-insensitive
    ('userName eq "ANN.LEE@ACME.TEST"', {"ann"}),
    ('userName co "RAY@"', {"bob"}),
    ('userName sw "B"', {"bob"}),
    ("userName pr", {"ann", "bob", "cy"}),
    ('externalId eq "EXT-1"', {"ann"}),
    ('externalId eq "ext-1"', set()),                      # case-exact
    ('externalId co "xt-2"', {"bob"}),
    ('externalId sw "EXT"', {"ann"}),
    ("externalId pr", {"ann", "bob"}),
    ('emails.value eq "BOB.RAY@mail.acme.test"', {"bob"}),
    ('emails.value co "@mail."', {"bob"}),
    ('emails.value sw "ann"', {"ann"}),
    ("emails.value pr", {"ann", "bob"}),
    ('emails[type eq "work"].value eq "ann.lee@acme.test"', {"ann"}),
    ('emails[type eq "work"].value co "RAY"', {"bob"}),
    ('emails[type eq "work"].value sw "bob.r"', {"bob"}),
    ('emails[type eq "work"].value pr', {"ann", "bob"}),
    ('displayName eq "ann lee"', {"ann"}),
    ('displayName co "Ra"', {"bob"}),
    ('displayName sw "ANN"', {"ann"}),
    ("displayName pr", {"ann", "bob"}),
    ('userName sw "ann" or userName sw "cy"', {"ann", "cy"}),
    ('userName pr and externalId sw "ext"', {"bob"}),
    ('(displayName pr or userName eq "cy@acme.test") and emails.value co "acme"', {"ann", "bob"}),
    ('USERNAME EQ "cy@acme.test"', {"cy"}),
    (f'{USER}:userName eq "cy@acme.test"', {"cy"}),
    ('userName co "%"', set()),                            # LIKE wildcards are taken literally
    ('userName sw "_"', set()),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_every_attribute_with_every_operator(client, acme, people, text, expected):
    response = call(client, "GET", "/Users", acme["token"], query_string={"filter": text})
    assert response.status_code == 200, response.data
    body = response.get_json(force=True)
    ids = {name for name, user in people.items() if user["id"] in {r["id"] for r in body["Resources"]}}
    assert ids == expected
    assert body["totalResults"] == len(expected) and body["schemas"] == [
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"]


@pytest.mark.parametrize("text", ['userName ne "x"', 'userName gt "a"', 'userName ew "x"', 'title eq "x"',
                                  'not (userName eq "x")', 'userName eq', 'userName eq "x" and', '(userName pr',
                                  'emails[type eq "home"].value eq "x"', 'active eq true', 'userName eq 12',
                                  'name.givenName eq "Ann"', ''])
def test_unsupported_filters_answer_400_invalid_filter(client, acme, text):
    scim_error(call(client, "GET", "/Users", acme["token"], query_string={"filter": text}), 400, "invalidFilter")


def test_list_pages_with_start_index_and_count(client, acme, people):
    def page(**args):
        return call(client, "GET", "/Users", acme["token"], query_string=args).get_json(force=True)
    whole = page()
    assert (whole["totalResults"], whole["startIndex"], whole["itemsPerPage"]) == (3, 1, 3)
    assert [r["id"] for r in whole["Resources"]] == [people[n]["id"] for n in ("ann", "bob", "cy")]
    second = page(startIndex=2, count=1)
    assert (second["totalResults"], second["startIndex"], second["itemsPerPage"]) == (3, 2, 1)
    assert second["Resources"][0]["id"] == people["bob"]["id"]
    assert page(count=0)["Resources"] == [] and page(count=0)["totalResults"] == 3
    assert page(startIndex=0)["startIndex"] == 1 and page(startIndex=9)["Resources"] == []
    assert page(count=10_000)["itemsPerPage"] == 3
    empty = page(filter='userName eq "nobody"')
    assert empty == {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0,
                     "startIndex": 1, "itemsPerPage": 0, "Resources": []}
    scim_error(call(client, "GET", "/Users", acme["token"], query_string={"count": "many"}), 400, "invalidValue")
    only = page(attributes="userName")["Resources"][0]
    assert set(only) == {"schemas", "id", "meta", "userName"}


# -- isolation -----------------------------------------------------------------------------------------------------

def test_a_token_of_one_organization_never_sees_another(client, acme, people):
    listed = call(client, "GET", "/Users", acme["globex_token"]).get_json(force=True)
    assert [r["userName"] for r in listed["Resources"]] == ["ann.lee@globex.test"]
    found = call(client, "GET", "/Users", acme["globex_token"],
                 query_string={"filter": 'userName eq "ann.lee@acme.test"'}).get_json(force=True)
    assert found["totalResults"] == 0
    ann = people["ann"]["id"]
    scim_error(call(client, "GET", f"/Users/{ann}", acme["globex_token"]), 404)
    scim_error(call(client, "PUT", f"/Users/{ann}", acme["globex_token"], new_user("x@globex.test")), 404)
    scim_error(patch(client, acme["globex_token"], ann, {"op": "replace", "path": "active", "value": False}), 404)
    scim_error(call(client, "DELETE", f"/Users/{ann}", acme["globex_token"]), 404)
    assert call(client, "GET", f"/Users/{ann}", acme["token"]).get_json(force=True)["active"] is True


# -- PUT and PATCH -------------------------------------------------------------------------------------------------

def test_put_replaces_everything_and_missing_optional_attributes_become_null(client, acme, people):
    ann = people["ann"]
    response = call(client, "PUT", f"/Users/{ann['id']}", acme["token"],
                    {"schemas": [USER], "userName": "ann.lee@acme.test", "name": {"givenName": "Ann"}})
    body = response.get_json(force=True)
    assert response.status_code == 200
    assert body["id"] == ann["id"] and body["name"] == {"givenName": "Ann"}
    assert not {"externalId", "displayName", "emails", "active"} & set(body)       # null: left out
    assert body["meta"]["created"] == ann["meta"]["created"]
    scim_error(call(client, "PUT", f"/Users/{ann['id']}", acme["token"], new_user("BOB.RAY@acme.test")), 409,
               "uniqueness")
    scim_error(call(client, "PUT", "/Users/nope", acme["token"], new_user("x@acme.test")), 404)


def _get(client, acme, scim_id):
    return call(client, "GET", f"/Users/{scim_id}", acme["token"]).get_json(force=True)


def test_patch_standard_path_operations(client, acme, people):
    ann = people["ann"]["id"]
    response = patch(client, acme["token"], ann,
                     {"op": "replace", "path": "name.givenName", "value": "Annie"},
                     {"op": "add", "path": "name.familyName", "value": "Leigh"},
                     {"op": "replace", "path": "displayName", "value": "Annie Leigh"},
                     {"op": "replace", "path": 'emails[type eq "work"].value', "value": "annie@acme.test"},
                     {"op": "replace", "path": "externalId", "value": "EXT-9"})
    assert response.status_code == 200
    body = _get(client, acme, ann)
    assert body["name"] == {"givenName": "Annie", "familyName": "Leigh"} and body["displayName"] == "Annie Leigh"
    assert body["emails"][0]["value"] == "annie@acme.test" and body["externalId"] == "EXT-9"
    patch(client, acme["token"], ann, {"op": "remove", "path": "externalId"},
          {"op": "remove", "path": "name.familyName"}, {"op": "remove", "path": 'emails[type eq "work"].value'})
    body = _get(client, acme, ann)
    assert "externalId" not in body and body["name"] == {"givenName": "Annie"} and "emails" not in body
    scim_error(patch(client, acme["token"], ann, {"op": "remove"}), 400, "noTarget")
    scim_error(patch(client, acme["token"], ann, {"op": "move", "path": "active"}), 400, "invalidSyntax")
    scim_error(patch(client, acme["token"], ann, {"op": "replace", "path": "active", "value": "maybe"}), 400,
               "invalidValue")
    scim_error(patch(client, acme["token"], ann, {"op": "remove", "path": "userName"}), 400, "mutability")
    scim_error(call(client, "PATCH", f"/Users/{ann}", acme["token"], {"schemas": [PATCH]}), 400, "invalidSyntax")


# Microsoft Entra ID's request bodies as Microsoft documents them in "Known issues and resolutions with SCIM 2.0
# protocol compliance of the Microsoft Entra user provisioning service" (MicrosoftDocs/entra-docs,
# docs/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility.md: what the sync
# engine sends without and with the aadOptscim062020 flag), and in "Tutorial: Develop and plan provisioning for a
# SCIM endpoint" (use-scim-to-provision-users-and-groups.md, "User Operations"). One test per body.
ENTRA_DISABLE_WITHOUT_FLAG = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}
ENTRA_DISABLE_WITH_FLAG = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{"op": "replace", "path": "active", "value": False}]}
ENTRA_ADD_SINGLE_VALUE_WITHOUT_FLAG = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{"op": "Add", "path": "nickName", "value": "Babs"}]}
ENTRA_ADD_SINGLE_VALUE_WITH_FLAG = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{"op": "add", "path": "nickName", "value": "Babs"}]}
ENTRA_REPLACE_MANY_WITHOUT_FLAG = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [
        {"op": "Replace", "path": "displayName", "value": "Pvlo"},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "TestBcwqnm@test.microsoft.com"},
        {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
        {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
        {"op": "Replace", "path": "externalId", "value": "Eqpj"},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
         "value": "Eqpj"},
    ]}
ENTRA_REPLACE_MANY_WITH_FLAG = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "TestMhvaes@test.microsoft.com"},
        {"op": "replace", "value": {
            "displayName": "Bjfe",
            "name.givenName": "Kkom",
            "name.familyName": "Unua",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq",
        }},
    ]}
ENTRA_UPDATE_MULTI_VALUED = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
    ]}
ENTRA_UPDATE_SINGLE_VALUED = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{"op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}]}
ENTRA_DISABLE_USER = {
    "Operations": [{"op": "Replace", "path": "active", "value": False}],
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}


def _entra(client, acme, scim_id, body):
    response = call(client, "PATCH", f"/Users/{scim_id}", acme["token"], body)
    assert response.status_code == 200, response.data
    return response.get_json(force=True)


@pytest.mark.parametrize("body", [ENTRA_DISABLE_WITHOUT_FLAG, ENTRA_DISABLE_WITH_FLAG, ENTRA_DISABLE_USER],
                         ids=["without-flag", "with-flag", "tutorial"])
def test_entra_disable_user(app, client, acme, people, body):
    scim_id = people["ann"]["id"]
    assert _entra(client, acme, scim_id, body)["active"] is False
    assert in_db(app, lambda: ScimUser.get_by_id(scim_id).user.is_disabled)


@pytest.mark.parametrize("body", [ENTRA_ADD_SINGLE_VALUE_WITHOUT_FLAG, ENTRA_ADD_SINGLE_VALUE_WITH_FLAG],
                         ids=["without-flag", "with-flag"])
def test_entra_add_a_single_value_attribute_linktime_does_not_keep(client, acme, people, body):
    before = _get(client, acme, people["cy"]["id"])
    after = _entra(client, acme, people["cy"]["id"], body)
    assert {k: v for k, v in after.items() if k != "meta"} == {k: v for k, v in before.items() if k != "meta"}


def test_entra_replace_many_attributes_without_flag(client, acme, people):
    body = _entra(client, acme, people["ann"]["id"], ENTRA_REPLACE_MANY_WITHOUT_FLAG)
    assert body["displayName"] == "Pvlo" and body["name"] == {"givenName": "Gtfd", "familyName": "Pkqf"}
    assert body["emails"][0]["value"] == "testbcwqnm@test.microsoft.com" and body["externalId"] == "Eqpj"


def test_entra_replace_many_attributes_with_flag_path_less_and_dotted(client, acme, people):
    body = _entra(client, acme, people["ann"]["id"], ENTRA_REPLACE_MANY_WITH_FLAG)
    assert body["displayName"] == "Bjfe" and body["name"] == {"givenName": "Kkom", "familyName": "Unua"}
    assert body["emails"][0]["value"] == "testmhvaes@test.microsoft.com" and body["externalId"] == "EXT-1"


def test_entra_update_user_multi_valued_properties(client, acme, people):
    body = _entra(client, acme, people["ann"]["id"], ENTRA_UPDATE_MULTI_VALUED)
    assert body["emails"][0]["value"] == "updatedemail@microsoft.com"
    assert body["name"]["familyName"] == "updatedFamilyName"


def test_entra_update_user_single_valued_properties(client, acme, people):
    body = _entra(client, acme, people["ann"]["id"], ENTRA_UPDATE_SINGLE_VALUED)
    assert body["userName"] == "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"


def test_entra_add_email_with_a_filter_path(client, acme, people):
    scim_id = people["cy"]["id"]
    response = call(client, "PATCH", f"/Users/{scim_id}", acme["token"], {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "title", "value": "tester"},
                       {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "cy.new@acme.test"}]})
    assert response.status_code == 200
    assert response.get_json(force=True)["emails"][0]["value"] == "cy.new@acme.test"


def test_entra_boolean_strings_and_a_path_less_replace_with_active(app, client, acme, people):
    scim_id = people["bob"]["id"]
    off = _entra(client, acme, scim_id, {"schemas": [PATCH], "Operations": [
        {"op": "Replace", "value": {"active": "False", "name.givenName": "Robert"}}]})
    assert off["active"] is False and off["name"]["givenName"] == "Robert"
    on = _entra(client, acme, scim_id, {"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "active", "value": "True"}]})
    assert on["active"] is True
    assert not in_db(app, lambda: ScimUser.get_by_id(scim_id).user.is_disabled)


def test_entra_add_of_an_attribute_linktime_does_not_keep_is_ignored(client, acme, people):
    scim_id = people["cy"]["id"]
    response = call(client, "PATCH", f"/Users/{scim_id}", acme["token"], {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": "nickName", "value": "Babs"},
                       {"op": "Add", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                                               {"department": "Sales"}}}]})
    assert response.status_code == 200 and response.get_json(force=True)["userName"] == "cy@acme.test"


# -- suspension and deprovisioning ---------------------------------------------------------------------------------

def test_active_false_suspends_sign_in_and_booking_pages_but_keeps_the_bookings(app, client, acme):
    adam = provision(client, acme["token"], "adam@example.com")
    signed_in = app.test_client()
    login(signed_in, acme["adam"])
    assert client.get("/adam").status_code == 200
    patch(client, acme["token"], adam["id"], {"op": "replace", "path": "active", "value": False})
    refused = app.test_client().post("/login", data={"email": "adam@example.com", "password": factories.PASSWORD})
    assert refused.status_code != 302
    assert signed_in.get("/dashboard").status_code == 302                  # the session ended
    for page in ("/adam", "/adam/30-min"):                                  # booking pages unavailable
        answer = client.get(page)
        assert answer.status_code == 404 and b"This booking page is unavailable." in answer.data
    assert b"unavailable" not in client.get("/nobody-here").data
    assert in_db(app, Booking.get_by_id, acme["booking"]).status == "CONFIRMED"
    assert in_db(app, Membership.select().where(Membership.user == acme["adam"].id).exists)
    patch(client, acme["token"], adam["id"], {"op": "replace", "path": "active", "value": True})
    login(app.test_client(), acme["adam"])
    assert client.get("/adam").status_code == 200 and client.get("/adam/30-min").status_code == 200


def test_a_put_without_active_lifts_a_suspension_and_remove_active_too(app, client, acme, people):
    bob = people["bob"]["id"]
    patch(client, acme["token"], bob, {"op": "replace", "path": "active", "value": False})
    assert in_db(app, lambda: ScimUser.get_by_id(bob).user.is_disabled)
    call(client, "PUT", f"/Users/{bob}", acme["token"], {"schemas": [USER], "userName": "bob.ray@acme.test"})
    assert not in_db(app, lambda: ScimUser.get_by_id(bob).user.is_disabled)
    patch(client, acme["token"], bob, {"op": "replace", "path": "active", "value": False})
    removed = patch(client, acme["token"], bob, {"op": "remove", "path": "active"}).get_json(force=True)
    assert "active" not in removed and not in_db(app, lambda: ScimUser.get_by_id(bob).user.is_disabled)


def test_reactivating_does_not_enable_an_account_an_administrator_disabled(app, client, acme):
    adam = provision(client, acme["token"], "adam@example.com")
    in_db(app, lambda: User.update(is_disabled=True).where(User.id == acme["adam"].id).execute())
    patch(client, acme["token"], adam["id"], {"op": "replace", "path": "active", "value": False})
    patch(client, acme["token"], adam["id"], {"op": "replace", "path": "active", "value": True})
    assert in_db(app, User.get_by_id, acme["adam"].id).is_disabled


def test_delete_deprovisions_cancels_upcoming_bookings_and_keeps_the_account(app, client, acme):
    adam = provision(client, acme["token"], "adam@example.com")
    response = call(client, "DELETE", f"/Users/{adam['id']}", acme["token"])
    assert response.status_code == 204 and response.data == b""
    booking = in_db(app, Booking.get_by_id, acme["booking"])
    assert booking.status == "CANCELLED" and booking.cancelled_by == "host"
    assert "no longer with Acme" in booking.cancel_reason

    def check():
        user = User.get_by_id(acme["adam"].id)
        assert not user.is_disabled
        assert not Membership.select().where((Membership.user == user) & (Membership.organization == acme["org"])
                                             ).exists()
        assert not TeamMember.select().where(TeamMember.user == user).exists()
        assert Booking.select().where(Booking.id == acme["booking"]).exists()      # history kept
        actions = [e.action for e in AuditLog.select().where(AuditLog.organization_id == acme["org"])]
        assert {"scim.user_created", "scim.user_deleted", "org.member_removed"} <= set(actions)
    in_db(app, check)
    scim_error(call(client, "GET", f"/Users/{adam['id']}", acme["token"]), 404)
    scim_error(call(client, "DELETE", f"/Users/{adam['id']}", acme["token"]), 404)
    # the account can be provisioned again (by any organization), still the same account
    again = provision(client, acme["globex_token"], "adam@example.com")
    assert in_db(app, ScimUser.get_by_id, again["id"]).user_id == acme["adam"].id


def test_deleting_a_suspended_account_that_scim_created_keeps_it_disabled(app, client, acme):
    made = provision(client, acme["token"], "temp@acme.test", active=False)
    user_id = in_db(app, ScimUser.get_by_id, made["id"]).user_id
    assert in_db(app, User.get_by_id, user_id).is_disabled
    assert call(client, "DELETE", f"/Users/{made['id']}", acme["token"]).status_code == 204
    assert in_db(app, User.get_by_id, user_id).is_disabled


def test_the_last_owner_cannot_be_deprovisioned(client, acme):
    olga = provision(client, acme["token"], "olga@example.com")
    scim_error(call(client, "DELETE", f"/Users/{olga['id']}", acme["token"]), 409, "mutability")


def test_every_call_is_recorded_in_the_organization_audit_log(app, client, acme, people):
    call(client, "GET", "/Users", acme["token"], query_string={"filter": 'userName sw "a"'})
    call(client, "GET", f"/Users/{people['ann']['id']}", acme["token"])
    patch(client, acme["token"], people["ann"]["id"], {"op": "replace", "path": "active", "value": False})
    call(client, "GET", "/Users/missing", acme["token"])
    call(client, "GET", "/ServiceProviderConfig", acme["token"])

    def actions():
        rows = AuditLog.select().where(AuditLog.organization_id == acme["org"]).order_by(AuditLog.created_at)
        return [(row.action, row.category) for row in rows]
    logged = in_db(app, actions)
    for action in ("scim.token_created", "scim.user_created", "scim.users_listed", "scim.user_read",
                   "scim.user_updated", "scim.user_deactivated", "scim.request_failed", "scim.config_read"):
        assert (action, "team") in logged, action
    other = in_db(app, lambda: [r.action for r in AuditLog.select().where(AuditLog.organization_id == acme["globex"])])
    assert "scim.users_listed" not in other
    owner = app.test_client()
    login(owner, acme["olga"])
    page = owner.get(f"/dashboard/organizations/{acme['org']}/audit-log")
    assert page.status_code == 200
    for label in (b"SCIM User Provisioned", b"SCIM User Suspended", b"SCIM Users Listed", b"SCIM Token Created"):
        assert label in page.data, label
