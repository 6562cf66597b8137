"""Custom domains (issue 20, spec page 18): validation, TXT verification against a DNS server on loopback, and the
daily re-check that stops serving a domain whose record disappeared and tells its owner once."""
from __future__ import annotations

import pytest

from app.db import db
from app.services import custom_domains
from app.services.errors import Conflict, ValidationFailed
from app.services.plans import PlanLimitReached
from tests.fakes.dns import DnsServer

DOMAIN = "meetings.acme-corp.com"
TXT = "_linktime-verify." + DOMAIN


@pytest.fixture
def dns_server():
    with DnsServer() as server:
        yield server


@pytest.fixture
def cd_app(app_factory, dns_server, smtp_server):
    return app_factory(DNS_RESOLVER=dns_server.address, DNS_TIMEOUT=2, BASE_URL="https://cal.example.com",
                       SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)


@pytest.fixture
def ctx(cd_app):
    with cd_app.app_context(), db.connection_context():
        yield cd_app


@pytest.fixture
def owner(ctx):
    from tests import factories
    return factories.user("olga", plan="ORGANIZATION")


# --- validation ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["meetings.acme-corp.com", "book.agency.co", "schedule.yourname.io",
                                   "a.b.c.example.org", "meetings.acme-corp.com."])
def test_valid_hostnames_are_accepted(ctx, value):
    assert custom_domains.validate_hostname(value) == value.rstrip(".")


@pytest.mark.parametrize("value, words", [
    ("", "Enter a domain"),
    ("Meetings.Acme.com", "lowercase"),
    ("meet ings.acme.com", "without spaces"),
    ("https://meetings.acme.com", "without spaces"),
    ("meetings.acme.com/alice", "without spaces"),
    ("192.168.1.10", "not an IP address"),
    ("::1", "not an IP address"),
    ("2001:db8::1", "not an IP address"),
    ("localhost", "not a valid domain"),
    ("-bad.acme.com", "not a valid domain"),
    ("bad_.acme.com", "not a valid domain"),
    ("a..b.com", "not a valid domain"),
    ("x" * 64 + ".acme.com", "not a valid domain"),
    ("cal.example.com", "LinkTime itself"),
    ("alice.cal.example.com", "LinkTime itself"),
])
def test_invalid_hostnames_are_refused_with_a_reason(ctx, value, words):
    with pytest.raises(ValidationFailed) as exc:
        custom_domains.validate_hostname(value)
    assert words in exc.value.errors["hostname"]


def test_the_cname_target_defaults_to_the_base_url_host_and_can_be_set(ctx):
    assert custom_domains.cname_target() == "cal.example.com"
    ctx.config["CUSTOM_DOMAIN_CNAME_TARGET"] = "cname.linktime.example"
    assert custom_domains.cname_target() == "cname.linktime.example"
    with pytest.raises(ValidationFailed):
        custom_domains.validate_hostname("cname.linktime.example")


def test_only_the_organization_plan_may_add_a_domain(ctx):
    from tests import factories
    pro = factories.user("pete", plan="PRO")
    with pytest.raises(PlanLimitReached, match="Pro plan does not include custom domains"):
        custom_domains.add_domain(pro, DOMAIN)
    assert custom_domains.domain_of(pro) is None


def test_one_domain_per_user_and_one_user_per_domain(ctx, owner):
    from tests import factories
    domain = custom_domains.add_domain(owner, DOMAIN)
    assert domain.status == "pending" and len(domain.token) >= 24
    with pytest.raises(Conflict):
        custom_domains.add_domain(owner, "other.acme-corp.com")
    rival = factories.user("rita", plan="ORGANIZATION")
    with pytest.raises(ValidationFailed, match="already used"):
        custom_domains.add_domain(rival, DOMAIN)
    assert custom_domains.remove_domain(owner) is True
    assert custom_domains.domain_of(owner) is None
    assert custom_domains.add_domain(rival, DOMAIN).user_id == rival.id


def test_each_domain_gets_its_own_unguessable_token(ctx, owner):
    from tests import factories
    first = custom_domains.add_domain(owner, DOMAIN)
    second = custom_domains.add_domain(factories.user("rita", plan="ORGANIZATION"), "book.agency.co")
    assert first.token != second.token
    assert custom_domains.txt_name(first) == TXT
    assert custom_domains.txt_value(first) == "lt-verify=" + first.token


# --- verification ----------------------------------------------------------------------------------------------
def test_a_matching_txt_record_verifies_the_domain(ctx, owner, dns_server):
    domain = custom_domains.add_domain(owner, DOMAIN)
    dns_server.set_txt(TXT, "some-other=1", "lt-verify=" + domain.token)
    domain, result = custom_domains.verify(owner)
    assert result.ok, result.message
    assert domain.status == "verified" and domain.verified_at is not None and domain.last_error is None
    assert (TXT, "TXT") in dns_server.questions and dns_server.malformed == 0
    assert custom_domains.serving_owner(DOMAIN).id == owner.id
    assert custom_domains.may_get_certificate(DOMAIN)


def test_a_different_txt_value_is_reported_with_what_was_found(ctx, owner, dns_server):
    domain = custom_domains.add_domain(owner, DOMAIN)
    dns_server.set_txt(TXT, "lt-verify=" + domain.token[:10])     # only part of the token copied
    domain, result = custom_domains.verify(owner)
    assert not result.ok
    assert result.message.startswith("TXT record found but doesn't match")
    assert result.found == ("lt-verify=" + domain.token[:10],)
    assert f'expected "lt-verify={domain.token}"' in result.message
    assert domain.status == "pending" and domain.last_error == result.message
    assert custom_domains.serving_owner(DOMAIN) is None and not custom_domains.may_get_certificate(DOMAIN)


def test_a_missing_txt_record_fails_verification(ctx, owner, dns_server):
    custom_domains.add_domain(owner, DOMAIN)
    domain, result = custom_domains.verify(owner)
    assert not result.ok and result.found == ()
    assert result.message.startswith("Verification failed")
    assert TXT in result.message and "does not exist" in result.message
    dns_server.set_txt(TXT)     # the name exists, with no TXT record
    domain, result = custom_domains.verify(owner)
    assert result.message.startswith("Verification failed") and "has no TXT record" in result.message
    assert domain.status == "pending"


def test_an_unreachable_resolver_fails_verification_within_the_timeout(ctx, owner):
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:   # bound, never answers
        silent.bind(("127.0.0.1", 0))
        ctx.config.update(DNS_RESOLVER=f"127.0.0.1:{silent.getsockname()[1]}", DNS_TIMEOUT=0.5)
        custom_domains.add_domain(owner, DOMAIN)
        _, result = custom_domains.verify(owner)
    assert not result.ok and "timed out" in result.message


def test_a_disabled_owner_or_a_lapsed_plan_stops_serving(ctx, owner, dns_server):
    domain = custom_domains.add_domain(owner, DOMAIN)
    dns_server.set_txt(TXT, "lt-verify=" + domain.token)
    custom_domains.verify(owner)
    assert custom_domains.serving_owner(DOMAIN) is not None
    owner.plan = "BUSINESS"
    owner.save()
    assert custom_domains.serving_owner(DOMAIN) is None
    owner.plan, owner.is_disabled = "ORGANIZATION", True
    owner.save()
    assert custom_domains.serving_owner(DOMAIN) is None


# --- the daily re-check ----------------------------------------------------------------------------------------
def _recheck():
    """Run the periodic task as the consumer does: in a thread of its own, which opens the app's context and a
    database connection itself (and releases it at the end)."""
    from concurrent.futures import ThreadPoolExecutor

    from tasks.domains import recheck_custom_domains
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(recheck_custom_domains.call_local).result(timeout=60)


def test_the_recheck_is_a_daily_periodic_task(ctx):
    from datetime import datetime

    from tasks.domains import recheck_custom_domains
    runs = [hour for hour in range(24) for minute in range(60)
            if recheck_custom_domains.task_class().validate_datetime(datetime(2026, 12, 7, hour, minute))]
    assert len(runs) == 1


def test_a_record_that_disappears_stops_the_domain_and_warns_the_owner_once(ctx, owner, dns_server, smtp_server):
    domain = custom_domains.add_domain(owner, DOMAIN)
    dns_server.set_txt(TXT, "lt-verify=" + domain.token)
    custom_domains.verify(owner)
    assert _recheck() == 0                                  # still there: nothing happens
    assert custom_domains.domain_of(owner).status == "verified"

    dns_server.remove(TXT)
    assert _recheck() == 1
    domain = custom_domains.domain_of(owner)
    assert domain.status == "lost" and domain.warned_at is not None
    assert domain.last_error.startswith("Verification failed")
    assert custom_domains.serving_owner(DOMAIN) is None and not custom_domains.may_get_certificate(DOMAIN)
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == owner.email and DOMAIN in mail["Subject"]
    body = mail.get_body(("plain",)).get_content()
    assert f"TXT {TXT} = lt-verify={domain.token}" in body
    assert "https://cal.example.com/settings/custom-domain" in body

    assert _recheck() == 0                                   # lost domains are not looked at again: one email
    assert len(smtp_server.messages) == 1


def test_a_domain_verified_again_after_a_loss_is_served_and_warned_again_next_time(ctx, owner, dns_server,
                                                                                   smtp_server):
    domain = custom_domains.add_domain(owner, DOMAIN)
    dns_server.set_txt(TXT, "lt-verify=" + domain.token)
    custom_domains.verify(owner)
    dns_server.remove(TXT)
    _recheck()
    smtp_server.wait_for(1)
    dns_server.set_txt(TXT, "lt-verify=" + domain.token)
    domain, result = custom_domains.verify(owner)
    assert result.ok and domain.status == "verified" and domain.warned_at is None
    assert custom_domains.serving_owner(DOMAIN) is not None
    dns_server.set_txt(TXT, "lt-verify=wrong")
    assert _recheck() == 1
    assert len(smtp_server.wait_for(2)) == 2
