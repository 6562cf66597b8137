"""Close scheduling links follow the event types (issue 19, spec page 26), against the local Close fake.

The Close connection is stored as the CRM contract says (an ``integrations`` row, category "crm", credentials
sealed with a token set the fake issued through the real authorization-code flow) and announced with
``crm_hooks.connected`` as the connection service does. The queue runs inline (HUEY_IMMEDIATE); a retry waits for
its time, and the tests run it with ``outbox.process(..., now=later)``.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from app.db import db, transaction
from app.integrations.close_crm import CloseClient
from app.integrations.errors import GrantRevoked
from app.models import CloseLink, EventType, Integration, OutboxMessage
from app.models.base import utcnow
from app.services import outbox
from app.services.integrations import close_links, connections, crm_hooks, oauth_connections
from app.services.scheduling import event_types as svc
from app.services.scheduling.event_types import EventTypeInput
from tests import factories
from tests.fakes.close import CloseFake
from tests.providers.conftest import connect

BASE = "https://linktime.example"
LINKS = "/api/v1/scheduling_link/integration/"
BUSY = close_links.BUSY_WAIT


@pytest.fixture
def fake():
    with CloseFake() as server:
        yield server


@pytest.fixture
def app(app_factory, fake):
    return app_factory(BASE_URL=BASE, CLOSE_CLIENT_ID=fake.client_id, CLOSE_CLIENT_SECRET=fake.client_secret,
                       CLOSE_API_BASE=fake.url, CLOSE_APP_BASE=fake.url, INTEGRATION_HTTP_TIMEOUT=2)


@pytest.fixture
def ctx(app):
    with app.app_context(), db.connection_context():
        yield


@pytest.fixture
def lin(ctx):
    """Lin (Pro plan) with the default "30 Minute Meeting", a public "Coaching", a secret and a draft one."""
    user = factories.user("lin", plan="PRO")
    factories.new_event_type(user, name="Coaching", duration=60, description="Grow your *career*.")
    factories.new_event_type(user, name="Secret chat", is_secret=True)
    factories.new_event_type(user, name="Draft idea", status="draft")
    return user


def store_connection(user, fake) -> Integration:
    """The Close connection as crm-connect stores it, announced to the CRM hooks in its transaction."""
    token = connect(CloseClient(fake.client_config()))
    with transaction():
        integration = factories.connection(user, provider="close", category="crm", label="Acme Sales",
                                           credentials={"token": token.to_dict()})
        crm_hooks.connected(integration)
    return integration


def et(user, name: str) -> EventType:
    return EventType.get((EventType.user == user) & (EventType.name == name))


def links(fake) -> dict[str, dict]:
    return {source_id: dict(link) for source_id, link in fake.links.items()}


def jobs(*, pending: bool = False) -> list[OutboxMessage]:
    query = OutboxMessage.select().where(OutboxMessage.kind == close_links.KIND)
    if pending:
        query = query.where(OutboxMessage.done_at.is_null() & OutboxMessage.failed_at.is_null())
    return list(query.order_by(OutboxMessage.created_at))


def run(message: OutboxMessage, later: timedelta) -> str:
    return outbox.process(message.id, max_attempts=9, retry_delay=60, now=utcnow() + later)


def row(integration: Integration, event_type_id: str) -> CloseLink:
    return CloseLink.get((CloseLink.integration == integration.id) & (CloseLink.event_type == event_type_id))


def test_connect_publishes_the_public_event_types_only(lin, fake):
    team = factories.team(lin, [factories.user("max")], org_slug="acme")
    team_event = factories.team_event_type(lin, team, [lin])          # a team's: not published
    integration = store_connection(lin, fake)
    assert team_event.id not in fake.links
    coaching, default = et(lin, "Coaching"), et(lin, "30 Minute Meeting")
    published = links(fake)
    assert set(published) == {coaching.id, default.id}
    assert {k: published[coaching.id][k] for k in ("name", "url", "description", "source_id", "source_type",
                                                   "duration_in_minutes", "source")} == {
        "name": "Coaching", "url": f"{BASE}/lin/coaching", "description": "Grow your *career*.",
        "source_id": coaching.id, "source_type": "LinkTime", "duration_in_minutes": 60, "source": "THIRD_PARTY"}
    assert published[default.id]["url"] == f"{BASE}/lin/30-min" and published[default.id]["description"] is None
    assert row(integration, coaching.id).remote_id == published[coaching.id]["id"]
    assert row(integration, coaching.id).status == "published"
    assert row(integration, et(lin, "Secret chat").id).status == "deleted"
    assert not jobs(pending=True)
    # a duplicate job changes nothing at Close (and makes no request: Close has that state already)
    posts = len(fake.calls("POST", LINKS))
    with transaction():
        outbox.add(close_links.KIND, {"integration_id": integration.id, "event_type_id": coaching.id},
                   user_id=lin.id)
    assert len(fake.calls("POST", LINKS)) == posts and len(fake.links) == 2


def test_rename_retime_secret_draft_public_again_and_delete(lin, fake):
    integration = store_connection(lin, fake)
    coaching = et(lin, "Coaching")
    first_id = fake.links[coaching.id]["id"]

    svc.update_event_type(coaching, EventTypeInput(name="Career coaching", duration=45))
    link = fake.links[coaching.id]
    assert (link["id"], link["name"], link["duration_in_minutes"]) == (first_id, "Career coaching", 45)
    assert len(fake.links) == 2                                   # updated in place, never a second link

    svc.update_event_type(coaching, EventTypeInput(is_secret=True))
    assert coaching.id not in fake.links and row(integration, coaching.id).status == "deleted"
    svc.update_event_type(coaching, EventTypeInput(is_secret=False))
    assert fake.links[coaching.id]["name"] == "Career coaching"   # back, as it is now
    svc.set_status(coaching, False)                                # a draft
    assert coaching.id not in fake.links
    svc.set_status(coaching, True)
    assert coaching.id in fake.links and row(integration, coaching.id).status == "published"

    new = factories.new_event_type(lin, name="Office hours", duration=20)
    assert fake.links[new.id]["url"] == f"{BASE}/lin/office-hours"
    copy = svc.duplicate_event_type(coaching)                      # a copy starts as a draft: not published
    assert copy.id not in fake.links

    svc.delete_event_type(et(lin, "Career coaching"))
    assert coaching.id not in fake.links
    assert fake.calls("DELETE", f"{LINKS}{coaching.id}/")
    assert not CloseLink.select().where(CloseLink.event_type == coaching.id).exists()
    assert set(fake.links) == {et(lin, "30 Minute Meeting").id, new.id}


def test_a_new_username_moves_every_link(lin, fake):
    from app.services.account import accounts

    integration = store_connection(lin, fake)
    accounts.update_profile(lin, name=lin.name, username="lin-sales", timezone=lin.timezone,
                            brand_color=lin.brand_color)
    assert {link["url"] for link in fake.links.values()} == {f"{BASE}/lin-sales/30-min", f"{BASE}/lin-sales/coaching"}
    assert len(fake.links) == 2 and row(integration, et(lin, "Coaching").id).status == "published"


def test_changes_coalesce_and_the_job_publishes_the_state_it_finds(lin, fake):
    """A job not yet taken absorbs later changes: a rename then a delete is one job, and it ends deleted."""
    integration = store_connection(lin, fake)
    coaching = et(lin, "Coaching")
    with transaction():         # both changes commit together: the first one's job is not taken yet
        svc.update_event_type(coaching, EventTypeInput(name="Renamed"))
        svc.delete_event_type(coaching)
    rows = [m for m in jobs() if json.loads(m.payload)["event_type_id"] == coaching.id]
    assert len(rows) == 2                           # the one of connecting, and one for both changes
    assert coaching.id not in fake.links
    assert not [c for c in fake.calls("POST", LINKS) if c.json["name"] == "Renamed"]
    assert integration.id == json.loads(rows[-1].payload)["integration_id"]


def test_disconnect_keeps_the_links_and_stops_pending_work(lin, fake):
    integration = store_connection(lin, fake)
    published = links(fake)
    fake.fail(500, times=1, path=LINKS)
    svc.update_event_type(et(lin, "Coaching"), EventTypeInput(name="Renamed"))
    [waiting] = jobs(pending=True)                   # a retry is due later
    with transaction():
        crm_hooks.disconnected(integration)
        Integration.delete().where(Integration.id == integration.id).execute()
    assert links(fake) == published                 # nothing deleted in Close
    assert not jobs(pending=True)
    assert run(waiting, timedelta(hours=1)) == "skipped"
    svc.update_event_type(et(lin, "Renamed"), EventTypeInput(name="Renamed again"))
    svc.delete_event_type(et(lin, "Renamed again"))
    assert links(fake) == published and not jobs(pending=True)


def test_429_and_500_are_retried_and_then_succeed(lin, fake):
    assert outbox.lane_of(close_links.KIND) == "webhooks"        # a slow Close never holds the email workers
    integration = store_connection(lin, fake)
    coaching = et(lin, "Coaching")
    fake.rate_limit(times=1, reset=7)
    before = utcnow()
    svc.update_event_type(coaching, EventTypeInput(name="Rate limited"))
    [message] = jobs(pending=True)
    wait = message.next_attempt_at - before
    assert timedelta(seconds=7) <= wait < timedelta(seconds=30)          # Close's rate_reset, not the schedule
    assert fake.links[coaching.id]["name"] == "Coaching"
    stored = Integration.get_by_id(integration.id)
    assert "will try again" in stored.last_error and stored.last_error_at is not None
    assert stored.status == "connected"
    assert row(integration, coaching.id).last_error == stored.last_error
    assert run(message, timedelta(seconds=3)) == "skipped"                # not before the time Close named
    assert run(message, timedelta(seconds=8)) == "done"
    assert fake.links[coaching.id]["name"] == "Rate limited"
    assert Integration.get_by_id(integration.id).last_error is None
    assert row(integration, coaching.id).last_error is None

    fake.fail(500, times=1, path=LINKS)
    svc.update_event_type(coaching, EventTypeInput(name="After a 500"))
    [message] = jobs(pending=True)
    assert "will try again" in Integration.get_by_id(integration.id).last_error
    assert fake.links[coaching.id]["name"] == "Rate limited"
    assert run(message, timedelta(seconds=close_links.RETRY_DELAYS[0] + 1)) == "done"
    assert fake.links[coaching.id]["name"] == "After a 500" and len(fake.links) == 2
    assert Integration.get_by_id(integration.id).last_error is None


def test_a_refused_link_fails_with_the_reason_shown_until_a_success_clears_it(lin, fake):
    integration = store_connection(lin, fake)
    coaching = et(lin, "Coaching")
    fake.fail(400, times=1, path=LINKS, body={"errors": [], "field-errors": {"url": "Not a valid URL."}})
    svc.update_event_type(coaching, EventTypeInput(name="Refused"))
    [message] = jobs()[-1:]
    assert message.failed_at is not None
    stored = Integration.get_by_id(integration.id)
    assert stored.last_error.startswith("Close did not publish the scheduling link of “Refused”")
    assert "url" in stored.last_error and stored.status == "connected"
    assert row(integration, coaching.id).status == "failed"
    svc.update_event_type(coaching, EventTypeInput(name="Accepted"))
    assert fake.links[coaching.id]["name"] == "Accepted"
    stored = Integration.get_by_id(integration.id)
    assert stored.last_error is None and stored.last_error_at is None
    assert row(integration, coaching.id).status == "published" and row(integration, coaching.id).last_error is None


def stored_token(integration: Integration) -> dict:
    return connections.credentials(Integration.get_by_id(integration.id))["token"]


def test_token_renewal_rotates_the_refresh_token_and_saves_it(lin, fake):
    integration = store_connection(lin, fake)
    old = stored_token(integration)
    fake.expire_access_tokens()                     # Close answers 401 to the stored access token
    svc.update_event_type(et(lin, "Coaching"), EventTypeInput(name="After a 401"))
    assert fake.links[et(lin, "After a 401").id]["name"] == "After a 401"
    new = stored_token(integration)
    assert new["refresh_token"] != old["refresh_token"] and new["access_token"] != old["access_token"]
    assert fake.refresh_token_state(old["refresh_token"]) == "revoked"
    assert fake.refresh_token_state(new["refresh_token"]) == "active"
    assert len(fake.calls("POST", "/oauth2/token/")) == 2          # the code exchange and one renewal
    with pytest.raises(GrantRevoked):               # the old refresh token no longer works at Close
        CloseClient(fake.client_config()).refresh(old["refresh_token"])

    # ahead of expiry: renewed before the call, saved again
    values = {**new, "expires_at": (utcnow() + timedelta(minutes=2)).isoformat()}
    Integration.update(credentials=connections.sealed({"token": values})).where(
        Integration.id == integration.id).execute()
    svc.update_event_type(et(lin, "After a 401"), EventTypeInput(duration=50))
    newer = stored_token(integration)
    assert newer["refresh_token"] not in (new["refresh_token"], old["refresh_token"])
    assert fake.links[et(lin, "After a 401").id]["duration_in_minutes"] == 50
    assert oauth_connections.oauth_token(integration).refresh_token == newer["refresh_token"]


def test_a_revoked_grant_stops_the_job(lin, fake):
    integration = store_connection(lin, fake)
    fake.revoke_grants()
    svc.update_event_type(et(lin, "Coaching"), EventTypeInput(name="Gone"))
    stored = Integration.get_by_id(integration.id)
    assert stored.status == "revoked" and stored.credentials is None
    assert row(integration, et(lin, "Gone").id).status == "failed"
    assert fake.links[et(lin, "Gone").id]["name"] == "Coaching"        # nothing more changed in Close
    svc.update_event_type(et(lin, "Gone"), EventTypeInput(name="Still gone"))
    assert not jobs(pending=True)


def test_a_later_job_of_a_link_waits_while_an_earlier_one_runs(lin, fake):
    integration = store_connection(lin, fake)
    coaching = et(lin, "Coaching")
    payload = {"integration_id": integration.id, "event_type_id": coaching.id}
    fake.fail(503, times=1, path=LINKS)
    svc.update_event_type(coaching, EventTypeInput(name="First"))
    [first] = jobs(pending=True)                           # waiting for its retry
    OutboxMessage.update(leased_until=utcnow() + timedelta(minutes=10)).where(OutboxMessage.id == first.id).execute()
    svc.update_event_type(coaching, EventTypeInput(name="Second"))   # the first is taken: a new row
    second = jobs()[-1]
    assert second.id != first.id and json.loads(second.payload) == payload and second.done_at is None
    assert second.attempts == 0 and second.next_attempt_at > utcnow()   # postponed, not counted as an attempt
    assert fake.links[coaching.id]["name"] == "Coaching"
    OutboxMessage.update(leased_until=None).where(OutboxMessage.id == first.id).execute()
    assert run(second, timedelta(seconds=BUSY + 1)) == "done"
    assert fake.links[coaching.id]["name"] == "Second"
    assert run(first, timedelta(minutes=5)) == "done"                  # Close has that state: no request
    assert fake.links[coaching.id]["name"] == "Second" and len(fake.links) == 2
