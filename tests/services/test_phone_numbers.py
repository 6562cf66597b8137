"""Phone numbers (app.services.voice.numbers) against the Twilio and ElevenLabs fakes: provisioning (local first,
then toll-free), plan limits, organization numbers, binding to agents, the provisioning rollback, the 30-day hold
and the daily release. Every test checks what the fakes hold, not only our rows."""
from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from app.models import Membership
from app.models.base import utcnow
from app.models.messaging import MessagingAgent
from app.models.voice import PhoneNumber, VoiceAgent
from app.services.account import organizations
from app.services.errors import Forbidden, NotFound, ValidationFailed
from app.services.plans import PlanLimitReached
from app.services.voice import numbers
from app.services.voice.numbers import NumberFailed
from tests import factories
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN

pytest_plugins = ["tests.number_fixtures"]
HELD_LINE = "https://cal.example.com/api/voice/held-line"
SMS_URL = "https://cal.example.com/api/webhooks/twilio/inbound"
NUMBERS_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers"


@pytest.fixture
def pro(in_app):
    return factories.user("hana", plan="PRO")


def fresh(number) -> PhoneNumber:
    return PhoneNumber.get_by_id(number.id)


def fake_row(user, *, organization=None, status="active") -> PhoneNumber:
    """A number row without a purchase behind it (for counting against limits)."""
    return PhoneNumber.create(user=user, organization=organization, e164="+1415" + str(secrets.randbelow(10**7)),
                              country="US", twilio_sid="PN" + secrets.token_hex(16), status=status,
                              hold_until=utcnow() + timedelta(days=3) if status == "held" else None)


def bought(twilio_fake) -> list[str]:
    return [record["phone_number"] for record in twilio_fake.numbers.values()]


# --- provisioning ----------------------------------------------------------------------------------------------
def test_provisioning_buys_a_local_number_with_the_sms_webhook(pro, twilio_fake):
    number = numbers.provision_number(pro, "us", label="  Main   office ")
    stored = fresh(number)
    assert (stored.e164, stored.country, stored.number_type, stored.label, stored.status) == (
        "+14155550100", "US", "local", "Main office", "active")
    remote = twilio_fake.numbers[stored.twilio_sid]
    assert remote["phone_number"] == "+14155550100" and remote["friendly_name"] == "Main office"
    assert remote["sms_url"] == SMS_URL and remote["voice_url"] == ""
    assert stored.elevenlabs_phone_id is None and stored.user_id == pro.id and stored.organization_id is None


def test_provisioning_falls_back_to_toll_free_when_no_local_number_is_offered(pro, twilio_fake):
    number = numbers.provision_number(pro, "AE")
    assert (number.e164, number.number_type, number.country) == ("+97180012345", "toll_free", "AE")
    assert [r.path.rsplit("/", 1)[1] for r in twilio_fake.requests if r.method == "GET"] == ["Local.json",
                                                                                           "TollFree.json"]
    assert bought(twilio_fake) == ["+97180012345"]


def test_a_number_taken_meanwhile_is_skipped_for_the_next_one(pro, twilio_fake, monkeypatch):
    from app.integrations import twilio_numbers

    search = twilio_numbers.search

    def search_then_sell_the_first(*args, **kwargs):        # someone else buys the first offer meanwhile
        offered = search(*args, **kwargs)
        twilio_fake.inventory["GB"]["Local"].pop(0)
        return offered
    monkeypatch.setattr(twilio_numbers, "search", search_then_sell_the_first)
    number = numbers.provision_number(pro, "GB")
    assert number.e164 == "+442071838751" and bought(twilio_fake) == ["+442071838751"]


def test_no_stock_and_a_refusal_are_failed_provisionings_with_the_reason(pro, twilio_fake):
    with pytest.raises(NumberFailed) as caught:
        numbers.provision_number(pro, "JP")
    assert str(caught.value) == ("Failed to provision phone number: Twilio has no phone number available in Japan "
                                 "right now.")
    twilio_fake.fail(400)
    with pytest.raises(NumberFailed, match=r"^Failed to provision phone number: .*Injected failure"):
        numbers.provision_number(pro, "US")
    assert PhoneNumber.select().count() == 0 and bought(twilio_fake) == []


def test_an_unsupported_country_or_a_long_label_asks_nothing_of_twilio(pro, twilio_fake):
    with pytest.raises(ValidationFailed) as caught:
        numbers.provision_number(pro, "ZZ")
    assert "country" in caught.value.errors
    with pytest.raises(ValidationFailed) as caught:
        numbers.provision_number(pro, "US", label="x" * 65)
    assert "label" in caught.value.errors
    assert twilio_fake.requests == []


def test_without_twilio_settings_provisioning_fails_and_says_what_is_missing(app_factory, number_settings):
    from app.db import db

    app = app_factory(**number_settings())
    with app.app_context(), db.connection_context():
        user = factories.user("hana", plan="PRO")
        with pytest.raises(NumberFailed, match="TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"):
            numbers.provision_number(user, "US")


# --- plan limits -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("plan", "limit"), [("FREE", 0), ("PRO", 1), ("BUSINESS", 5), ("ORGANIZATION", 20)])
def test_the_plan_limits_active_numbers(in_app, twilio_fake, plan, limit):
    user = factories.user("hana", plan=plan)
    for _ in range(max(limit - 1, 0)):
        fake_row(user)
    fake_row(user, status="held")                           # held numbers do not count
    if limit:
        numbers.provision_number(user, "US")                  # the last place
        assert len(bought(twilio_fake)) == 1
    requests_before = len(twilio_fake.requests)
    with pytest.raises(PlanLimitReached) as caught:
        numbers.provision_number(user, "US")
    if limit:
        assert f"plan allows {limit} phone numbers" in str(caught.value)
    else:
        assert str(caught.value).startswith("Your Free plan does not include phone numbers")
    assert len(twilio_fake.requests) == requests_before       # nothing asked of Twilio


def test_a_held_number_frees_its_place(pro, twilio_fake):
    first = numbers.provision_number(pro, "US")
    with pytest.raises(PlanLimitReached):
        numbers.provision_number(pro, "US")
    numbers.hold_number(first)
    second = numbers.provision_number(pro, "US")
    assert [n.id for n in numbers.numbers_of(pro)] == [second.id, first.id]


def test_two_provisionings_racing_for_the_last_place_keep_one_number(numbers_app, twilio_fake):
    from app.db import db

    with numbers_app.app_context(), db.connection_context():
        user = factories.user("hana", plan="PRO")
    twilio_fake.hang(0.5, times=2)                              # both searches wait: both pass the first check

    def provision():
        with numbers_app.app_context(), db.connection_context():
            try:
                return numbers.provision_number(user, "US").e164
            except PlanLimitReached:
                return None
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: provision(), range(2)))
    assert results.count(None) == 1
    assert len(twilio_fake.numbers) == 1 and len(twilio_fake.released) == 1    # the loser's number went back
    with numbers_app.app_context(), db.connection_context():
        assert PhoneNumber.select().count() == 1


# --- organizations ---------------------------------------------------------------------------------------------
@pytest.fixture
def org_people(in_app):
    owner = factories.user("olga", plan="FREE")
    admin = factories.user("adam", plan="FREE")
    member = factories.user("mia", plan="FREE")
    outsider = factories.user("otto", plan="PRO")
    org = organizations.create_organization(owner, name="Acme", slug="acme")
    Membership.create(organization=org, user=admin, role="ADMIN")
    Membership.create(organization=org, user=member, role="MEMBER")
    return org, owner, admin, member, outsider


def test_an_owner_or_admin_provisions_an_organization_number_its_members_see(org_people, twilio_fake):
    org, owner, admin, member, outsider = org_people
    number = numbers.provision_number(owner, "US", label="Front desk", organization=org.id)
    other = numbers.provision_number(admin, "GB", organization=org)
    assert fresh(number).organization_id == org.id
    for person in (owner, admin, member):
        assert {n.id for n in numbers.numbers_of(person)} == {number.id, other.id}
        assert numbers.get_number(person, number.id).id == number.id
    assert numbers.numbers_of(outsider) == []
    with pytest.raises(NotFound):
        numbers.get_number(outsider, number.id)
    with pytest.raises(Forbidden):
        numbers.get_number(member, number.id, manage=True)
    assert numbers.get_number(admin, number.id, manage=True).id == number.id
    with pytest.raises(Forbidden):
        numbers.provision_number(member, "US", organization=org.id)
    with pytest.raises(NotFound):
        numbers.provision_number(outsider, "US", organization=org.id)
    assert len(bought(twilio_fake)) == 2


def test_organization_numbers_count_against_the_organization(org_people, twilio_fake):
    org, owner, _admin, _member, outsider = org_people
    org.plan = "PRO"
    org.save()
    numbers.provision_number(owner, "US", organization=org)
    with pytest.raises(PlanLimitReached, match="Pro plan allows 1 phone numbers"):
        numbers.provision_number(owner, "US", organization=org)
    # the owner's own plan is Free (the organization's Pro applies to them as a member): one personal number
    numbers.provision_number(owner, "US")
    assert len(bought(twilio_fake)) == 2


# --- binding to agents -----------------------------------------------------------------------------------------
def test_binding_imports_the_number_once_and_assigns_it(pro, twilio_fake, elevenlabs_fake, make_agent):
    number = numbers.provision_number(pro, "US", label="Sales line")
    first, second = make_agent(pro, name="Sales"), make_agent(pro, name="Support")
    numbers.bind_to_agent(number, first)
    phone_id = fresh(number).elevenlabs_phone_id
    remote = elevenlabs_fake.phone_numbers[phone_id]
    assert (remote["phone_number"], remote["label"], remote["sid"], remote["token"]) == (
        "+14155550100", "Sales line", ACCOUNT_SID, AUTH_TOKEN)
    assert remote["assigned_agent"]["agent_id"] == first.elevenlabs_agent_id
    numbers.bind_to_agent(fresh(number), second)
    imports = [r for r in elevenlabs_fake.requests if r.method == "POST" and r.path == "/v1/convai/phone-numbers"]
    assert len(imports) == 1 and list(elevenlabs_fake.phone_numbers) == [phone_id]
    assert elevenlabs_fake.phone_numbers[phone_id]["assigned_agent"]["agent_id"] == second.elevenlabs_agent_id
    assert {a.id for a in VoiceAgent.select().where(VoiceAgent.phone_number == number.id)} == {first.id, second.id}
    assert [a["agentName"] for a in numbers.number_json(fresh(number))["agents"]] == ["Sales", "Support"]


def test_binding_refuses_another_accounts_number_and_reports_elevenlabs_failures(pro, in_app, elevenlabs_fake,
                                                                                 make_agent):
    number = numbers.provision_number(pro, "US")
    stranger = make_agent(factories.user("otto", plan="PRO"))
    with pytest.raises(NumberFailed, match="belongs to another account"):
        numbers.bind_to_agent(number, stranger)
    mine = make_agent(pro)
    elevenlabs_fake.fail(422)
    with pytest.raises(NumberFailed, match=r"^Failed to provision phone number: Could not import the phone number"):
        numbers.bind_to_agent(number, mine)
    assert fresh(number).elevenlabs_phone_id is None and elevenlabs_fake.phone_numbers == {}


def test_discarding_a_purchase_releases_it_everywhere(pro, twilio_fake, elevenlabs_fake, make_agent):
    number = numbers.provision_number(pro, "US")
    agent = make_agent(pro)
    numbers.bind_to_agent(number, agent)
    sid = number.twilio_sid
    numbers.discard_purchase(number)
    assert elevenlabs_fake.phone_numbers == {}
    assert sid not in twilio_fake.numbers and [r["sid"] for r in twilio_fake.released] == [sid]
    assert PhoneNumber.get_or_none(PhoneNumber.id == number.id) is None
    assert VoiceAgent.get_by_id(agent.id).phone_number_id is None


def test_a_discard_twilio_refuses_never_raises_and_is_released_by_the_daily_task(pro, twilio_fake):
    number = numbers.provision_number(pro, "US")
    twilio_fake.fail(500)
    numbers.discard_purchase(number)                         # no exception
    stored = fresh(number)
    assert stored.status == "held" and stored.hold_until <= utcnow()
    assert numbers.release_due_numbers() == 1
    assert fresh(number).status == "released" and twilio_fake.numbers == {}


# --- hold and release ------------------------------------------------------------------------------------------
def test_holding_points_the_line_at_the_held_message_and_detaches_the_agents(pro, twilio_fake, elevenlabs_fake,
                                                                             make_agent):
    number = numbers.provision_number(pro, "US")
    agent = make_agent(pro)
    numbers.bind_to_agent(number, agent)
    texter = MessagingAgent.create(user=pro, name="Texts", channel="sms", phone_number=number)
    before = utcnow()
    numbers.hold_number(number)
    stored = fresh(number)
    assert not MessagingAgent.get_by_id(texter.id).is_active          # the messaging agent stops answering
    assert stored.status == "held" and number.status == "held"
    assert timedelta(days=30) <= stored.hold_until - before < timedelta(days=30, minutes=1)
    assert stored.elevenlabs_phone_id is None and elevenlabs_fake.phone_numbers == {}
    remote = twilio_fake.numbers[stored.twilio_sid]                # still ours during the hold
    assert remote["voice_url"] == HELD_LINE and remote["sms_url"] == SMS_URL
    assert VoiceAgent.get_by_id(agent.id).phone_number_id is None
    body = numbers.number_json(stored)
    assert body["status"] == "held" and body["holdUntil"].endswith("Z") and body["agents"] == []
    # idempotent: a second hold asks nothing of anyone and keeps the date
    counts = len(twilio_fake.requests), len(elevenlabs_fake.requests)
    numbers.hold_number(fresh(number))
    assert (len(twilio_fake.requests), len(elevenlabs_fake.requests)) == counts
    assert fresh(number).hold_until == stored.hold_until


def test_a_hold_a_provider_refuses_holds_nothing_and_a_retry_finishes(pro, twilio_fake, elevenlabs_fake, make_agent):
    number = numbers.provision_number(pro, "US")
    agent = make_agent(pro)
    numbers.bind_to_agent(number, agent)
    twilio_fake.fail(400)
    with pytest.raises(NumberFailed, match="^Failed to release phone number: "):
        numbers.hold_number(number)
    stored = fresh(number)
    assert stored.status == "active" and stored.elevenlabs_phone_id is None     # the ElevenLabs step is done
    numbers.hold_number(stored)
    assert fresh(number).status == "held"
    assert twilio_fake.numbers[number.twilio_sid]["voice_url"] == HELD_LINE


def test_a_number_already_gone_from_twilio_is_released_at_once(pro, twilio_fake):
    number = numbers.provision_number(pro, "US")
    twilio_fake.numbers.pop(number.twilio_sid)              # released in Twilio's console by hand
    numbers.hold_number(number)
    assert fresh(number).status == "released" and number.status == "released"
    assert numbers.numbers_of(pro) == []


def test_binding_reads_the_stored_import(pro, twilio_fake, elevenlabs_fake, make_agent):
    number = numbers.provision_number(pro, "US")
    stale = PhoneNumber.get_by_id(number.id)                 # a copy read before the first binding
    numbers.bind_to_agent(number, make_agent(pro))
    numbers.bind_to_agent(stale, make_agent(pro))
    assert len(elevenlabs_fake.phone_numbers) == 1 and stale.elevenlabs_phone_id == number.elevenlabs_phone_id


def test_the_daily_task_releases_numbers_whose_hold_is_over(pro, twilio_fake):
    from tasks.phone_numbers import release_held_numbers

    old = numbers.provision_number(pro, "US")
    numbers.hold_number(old, now=utcnow() - timedelta(days=31))
    recent = numbers.provision_number(pro, "US")
    numbers.hold_number(recent, now=utcnow() - timedelta(days=29))

    def run():
        with ThreadPoolExecutor(1) as pool:                  # as the consumer runs it: its own app context
            return pool.submit(release_held_numbers.call_local).result(timeout=60)
    assert run() == 1
    assert fresh(old).status == "released" and fresh(old).released_at is not None
    assert [r["sid"] for r in twilio_fake.released] == [old.twilio_sid]
    assert fresh(recent).status == "held" and recent.twilio_sid in twilio_fake.numbers
    assert run() == 0 and len(twilio_fake.released) == 1       # idempotent
    assert [n.id for n in numbers.numbers_of(pro)] == [recent.id]
    with pytest.raises(NotFound):
        numbers.get_number(pro, old.id)
    assert numbers.release_due_numbers(now=utcnow() + timedelta(days=2)) == 1
    assert twilio_fake.numbers == {}


def test_the_release_task_runs_once_a_day():
    from datetime import datetime

    from tasks.phone_numbers import release_held_numbers
    runs = [(hour, minute) for hour in range(24) for minute in range(60)
            if release_held_numbers.task_class().validate_datetime(datetime(2026, 12, 7, hour, minute))]
    assert len(runs) == 1


# --- label, JSON and the held line -----------------------------------------------------------------------------
def test_a_new_label_reaches_twilio(pro, twilio_fake):
    number = numbers.provision_number(pro, "US", label="Old")
    numbers.set_label(number, "New desk")
    assert fresh(number).label == "New desk" and twilio_fake.numbers[number.twilio_sid]["friendly_name"] == "New desk"
    numbers.set_label(number, "")
    assert twilio_fake.numbers[number.twilio_sid]["friendly_name"] == number.e164
    twilio_fake.fail(500)
    with pytest.raises(NumberFailed, match="^Failed to update phone number: "):
        numbers.set_label(number, "Again")
    assert fresh(number).label == ""


def test_number_json_has_flag_country_and_type(pro):
    body = numbers.number_json(numbers.provision_number(pro, "GB", label="London"))
    assert body["phoneNumber"] == "+442071838750" and body["countryCode"] == "GB" and body["flag"] == "🇬🇧"
    assert body["countryName"] == "United Kingdom" and body["numberType"] == "local" and body["label"] == "London"
    assert body["status"] == "active" and body["holdUntil"] is None and body["organizationId"] is None
    assert body["createdAt"].endswith("Z") and body["agents"] == []


def test_the_held_line_gives_the_booking_page_of_a_held_number_only(pro):
    number = numbers.provision_number(pro, "US")
    assert numbers.held_line_text(number.e164) == numbers.GENERIC_LINE          # active: not a held line
    numbers.hold_number(number)
    text = numbers.held_line_text(number.e164)
    assert "moved" in text and "cal.example.com/hana" in text and "Hana" in text
    assert numbers.held_line_text("+15550000000") == numbers.GENERIC_LINE
    assert numbers.held_line_text(None) == numbers.GENERIC_LINE
