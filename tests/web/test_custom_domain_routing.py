"""Custom domains on the web (issue 20, spec page 18): a verified domain serves its owner's booking pages and
nothing else (the dashboard and sign-in go to the main host, other hosts are 404), the TLS proxy's ask endpoint,
and Settings → Custom Domain (plan, records, verification messages, removal; htmx and plain forms, CSRF)."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.db import db
from app.services import custom_domains
from tests.conftest import login
from tests.fakes.dns import DnsServer

MAIN = "http://cal.example.com"
DOMAIN = "meetings.acme-corp.com"
SITE = f"http://{DOMAIN}"
TXT = "_linktime-verify." + DOMAIN


@pytest.fixture
def dns_server():
    with DnsServer() as server:
        yield server


@pytest.fixture
def app(app_factory, dns_server):
    return app_factory(DNS_RESOLVER=dns_server.address, DNS_TIMEOUT=2, BASE_URL=MAIN)


@pytest.fixture
def client(app):
    return app.test_client()


def run(app, fn, *args, **kwargs):
    with app.app_context(), db.connection_context():
        return fn(*args, **kwargs)


@pytest.fixture
def owner(app, make_user):
    return make_user("olga", name="Olga Owner", plan="ORGANIZATION")


@pytest.fixture
def verified(app, owner, dns_server):
    domain = run(app, custom_domains.add_domain, owner, DOMAIN)
    dns_server.set_txt(TXT, "lt-verify=" + domain.token)
    _, result = run(app, custom_domains.verify, owner)
    assert result.ok
    return domain


def html(response) -> str:
    return response.get_data(as_text=True)


def next_tuesday() -> datetime:
    berlin = ZoneInfo("Europe/Berlin")
    today = datetime.now(berlin).date()
    day = today + timedelta(days=(1 - today.weekday()) % 7 + 7)
    return datetime.combine(day, time(10, 0), berlin)


# --- serving -----------------------------------------------------------------------------------------------------
def test_the_verified_domain_serves_the_owners_profile_and_booking_page(client, verified):
    profile = client.get("/olga", base_url=SITE)
    assert profile.status_code == 200 and "Olga Owner" in html(profile)
    assert 'href="/olga/30-min' in html(profile)                      # links stay on the domain (relative)
    page = client.get("/olga/30-min", base_url=SITE)
    assert page.status_code == 200 and "30 Minute Meeting" in html(page)
    start = next_tuesday()
    month = client.get(f"/olga/30-min/calendar?month={start:%Y-%m}", base_url=SITE, headers={"HX-Request": "true"})
    assert month.status_code == 200 and "<html" not in html(month)
    day = client.get(f"/olga/30-min/slots?date={start:%Y-%m-%d}", base_url=SITE, headers={"HX-Request": "true"})
    assert day.status_code == 200 and "10:00" in html(day)
    form = client.get(f"/olga/30-min?date={start:%Y-%m-%d}&time=10:00&tz=Europe/Berlin", base_url=SITE)
    assert 'class="booking-form"' in html(form) and 'action="/olga/30-min' in html(form)


def test_the_domain_root_goes_to_the_owners_profile(client, verified):
    response = client.get("/", base_url=SITE)
    assert response.status_code == 302 and response.headers["Location"] == "/olga"


def test_a_booking_made_on_the_domain_ends_on_the_main_host(client, verified):
    start = next_tuesday()
    form = html(client.get(f"/olga/30-min?date={start:%Y-%m-%d}&time=10:00&tz=Europe/Berlin", base_url=SITE))
    form = form[form.index('class="booking-form"'):form.index("</form>", form.index('class="booking-form"'))]
    data = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))
    data.update({"name": "Ivan Invitee", "email": "ivan@example.com"})
    response = client.post("/olga/30-min", data=data, base_url=SITE, headers={"Origin": SITE})
    assert response.status_code == 302, html(response)[:300]
    confirmation = response.headers["Location"]
    assert confirmation.startswith("/booking/")                       # the invitee's page ...
    moved = client.get(confirmation, base_url=SITE)                   # ... lives on the main host
    assert moved.status_code == 302 and moved.headers["Location"] == MAIN + confirmation


def test_the_emails_of_a_booking_made_on_the_domain_link_to_the_main_host(app_factory, dns_server, smtp_server,
                                                                           make_user):
    app = app_factory(DNS_RESOLVER=dns_server.address, BASE_URL=MAIN, SMTP_HOST="127.0.0.1",
                      SMTP_PORT=smtp_server.port)
    owner = make_user("olga", name="Olga Owner", plan="ORGANIZATION")
    domain = run(app, custom_domains.add_domain, owner, DOMAIN)
    dns_server.set_txt(TXT, "lt-verify=" + domain.token)
    assert run(app, custom_domains.verify, owner)[1].ok
    client = app.test_client()
    start = next_tuesday()
    form = html(client.get(f"/olga/30-min?date={start:%Y-%m-%d}&time=10:00&tz=Europe/Berlin", base_url=SITE))
    form = form[form.index('class="booking-form"'):form.index("</form>", form.index('class="booking-form"'))]
    data = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))
    data.update({"name": "Ivan Invitee", "email": "ivan@example.com"})
    assert client.post("/olga/30-min", data=data, base_url=SITE, headers={"Origin": SITE}).status_code == 302
    mails = smtp_server.wait_for(2)
    invitee = next(m for m in mails if "ivan@example.com" in m["To"])
    body = invitee.get_body(("plain",)).get_content()
    links = re.findall(r"https?://[^\s\"<>]+", body)
    assert any(link.startswith(MAIN + "/booking/") for link in links), links
    assert all(DOMAIN not in link for link in links), links


def test_static_files_embed_script_and_time_zones_are_served_on_the_domain(client, verified):
    assert client.get("/embed.js", base_url=SITE).status_code == 200
    assert client.get("/timezones.html", base_url=SITE).status_code == 200
    page = html(client.get("/olga/30-min", base_url=SITE))
    css = re.search(r'href="(/static/[^"]+\.css)"', page).group(1)
    assert client.get(css, base_url=SITE).status_code == 200


@pytest.mark.parametrize("path", ["/dashboard", "/login", "/signup", "/settings/profile", "/admin/users",
                                  "/dashboard/bookings?status=upcoming", "/api/v1/me", "/docs/api"])
def test_every_other_path_is_redirected_to_the_main_host(client, verified, path):
    response = client.get(path, base_url=SITE)
    assert response.status_code == 302
    assert response.headers["Location"] == MAIN + path


def test_a_form_posted_to_another_path_is_redirected_keeping_its_method(client, verified):
    response = client.post("/login", data={"email": "x@example.com"}, base_url=SITE)
    assert response.status_code == 307 and response.headers["Location"] == MAIN + "/login"


def test_other_users_pages_are_not_served_on_the_domain(client, verified, make_user):
    make_user("rita", plan="ORGANIZATION")
    assert client.get("/rita", base_url=SITE).status_code == 404
    assert client.get("/rita/30-min", base_url=SITE).status_code == 404
    assert client.get("/rita", base_url=MAIN).status_code == 200


def test_a_signed_in_host_is_not_signed_in_on_the_domain(client, verified, owner):
    login(client, owner)
    assert client.get("/dashboard", base_url="http://localhost").status_code == 200
    # the same session cookie sent to the custom domain opens nothing there
    cookie = client.get_cookie("linktime_session", domain="localhost")
    client.set_cookie("linktime_session", cookie.value, domain=DOMAIN)
    page = client.get("/olga", base_url=SITE)
    assert page.status_code == 200 and "Sign out" not in html(page) and "private" not in \
        page.headers.get("Cache-Control", "")


@pytest.mark.parametrize("host", ["evil.example.net", "meetings.acme-corp.com.evil.net", "10.0.0.5"])
def test_unknown_hosts_get_404(client, verified, host):
    for path in ("/olga", "/", "/login", "/dashboard"):
        response = client.get(path, base_url=f"http://{host}")
        assert response.status_code == 404, (host, path)
        assert "Location" not in response.headers


def test_an_unverified_domain_gets_404(app, client, owner, dns_server):
    run(app, custom_domains.add_domain, owner, DOMAIN)
    dns_server.set_txt(TXT, "lt-verify=not-it")
    run(app, custom_domains.verify, owner)
    assert client.get("/olga", base_url=SITE).status_code == 404


def test_a_removed_domain_gets_404_at_once(app, client, owner, verified):
    assert client.get("/olga", base_url=SITE).status_code == 200
    run(app, custom_domains.remove_domain, owner)
    assert client.get("/olga", base_url=SITE).status_code == 404


def test_the_main_host_loopback_and_allowed_hosts_serve_everything(app, client, verified):
    for base in (MAIN, "http://localhost", "http://127.0.0.1:5000", "http://CAL.example.com:443"):
        assert client.get("/olga", base_url=base).status_code == 200, base
        assert client.get("/login", base_url=base).status_code == 200, base
    assert client.get("/login", base_url="http://cal.internal").status_code == 404
    app.config["ALLOWED_HOSTS"] = ["cal.internal"]
    assert client.get("/login", base_url="http://cal.internal").status_code == 200


def test_the_health_check_answers_on_any_host(client):
    assert client.get("/healthz", base_url="http://10.1.2.3:8080").status_code == 200


def test_the_page_cache_keeps_the_domain_and_the_main_host_apart(app, client, verified):
    from app.web import page_cache
    page_cache.clear()
    client.get("/olga", base_url=MAIN)
    assert page_cache.stats()[0] == 1
    client.get("/olga", base_url=SITE)
    assert page_cache.stats()[0] == 2
    client.get("/olga", base_url=SITE)
    assert page_cache.stats()[0] == 2


# --- the TLS proxy's question -----------------------------------------------------------------------------------
def test_ask_allows_only_verified_domains(app, client, owner, dns_server, make_user):
    assert client.get(f"/api/custom-domains/ask?domain={DOMAIN}").status_code == 404
    domain = run(app, custom_domains.add_domain, owner, DOMAIN)
    assert client.get(f"/api/custom-domains/ask?domain={DOMAIN}").status_code == 404     # pending
    dns_server.set_txt(TXT, "lt-verify=" + domain.token)
    run(app, custom_domains.verify, owner)
    ok = client.get(f"/api/custom-domains/ask?domain={DOMAIN}")
    assert ok.status_code == 200 and ok.json == {"domain": DOMAIN, "allowed": True}
    assert client.get(f"/api/custom-domains/ask?domain={DOMAIN.upper()}.").status_code == 200
    for other in ("cal.example.com", "evil.example.net", "", "127.0.0.1"):
        assert client.get(f"/api/custom-domains/ask?domain={other}").status_code == 404, other


def test_ask_is_rate_limited(app_factory, dns_server):
    app = app_factory(RATELIMIT_DOMAIN_ASK="3/minute", DNS_RESOLVER=dns_server.address)
    client = app.test_client()
    answers = [client.get("/api/custom-domains/ask?domain=x.example.com").status_code for _ in range(4)]
    assert answers == [404, 404, 404, 429]


# --- Settings → Custom Domain --------------------------------------------------------------------------------------
def test_the_settings_page_refuses_plans_without_custom_domains(client, make_user):
    pro = make_user("pete", plan="PRO")
    login(client, pro)
    for response in (client.get("/settings/custom-domain"),
                     client.post("/settings/custom-domain", data={"hostname": DOMAIN}),
                     client.post("/settings/custom-domain/verify")):
        assert response.status_code == 403
        assert "Pro plan does not include custom domains" in html(response)


def test_adding_a_domain_shows_the_two_records_with_copy_buttons(app, client, owner):
    login(client, owner)
    page = client.get("/settings/custom-domain")
    assert page.status_code == 200 and 'id="add-domain"' in html(page)
    response = client.post("/settings/custom-domain", data={"hostname": DOMAIN})
    assert response.status_code == 302 and response.headers["Location"] == "/settings/custom-domain"
    page = html(client.get("/settings/custom-domain"))
    token = run(app, custom_domains.domain_of, owner).token
    assert "Domain added" in page and "Not verified yet" in page
    assert f'data-copy="{TXT}"' in page and f'data-copy="lt-verify={token}"' in page
    assert f'data-copy="{DOMAIN}"' in page and 'data-copy="cal.example.com"' in page       # CNAME target
    app.config["CUSTOM_DOMAIN_CNAME_TARGET"] = "cname.linktime.example"
    assert 'data-copy="cname.linktime.example"' in html(client.get("/settings/custom-domain"))


def test_an_invalid_domain_is_refused_with_the_reason(client, owner):
    login(client, owner)
    for value, words in (("Meetings.Acme.com", "lowercase"), ("10.0.0.1", "not an IP address"),
                         ("cal.example.com", "LinkTime itself")):
        response = client.post("/settings/custom-domain", data={"hostname": value})
        assert response.status_code == 422 and words in html(response), value
    response = client.post("/settings/custom-domain", data={"hostname": "bad domain"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 422 and "<html" not in html(response) and 'id="domain-panel"' in html(response)


def test_verify_shows_the_documented_messages_with_what_was_found(app, client, owner, dns_server):
    login(client, owner)
    client.post("/settings/custom-domain", data={"hostname": DOMAIN})
    missing = html(client.post("/settings/custom-domain/verify"))
    assert "Verification failed" in missing and TXT in missing
    dns_server.set_txt(TXT, "lt-verify=typo")
    wrong = client.post("/settings/custom-domain/verify", headers={"HX-Request": "true"})
    assert wrong.status_code == 200 and "<html" not in html(wrong)
    assert "TXT record found but doesn&#39;t match" in html(wrong) and "<code>lt-verify=typo</code>" in html(wrong)
    token = run(app, custom_domains.domain_of, owner).token
    dns_server.set_txt(TXT, f"lt-verify={token}")
    done = client.post("/settings/custom-domain/verify")
    assert done.status_code == 302
    page = html(client.get("/settings/custom-domain"))
    assert "is verified" in page and 'id="domain-verified"' in page
    assert client.get("/olga", base_url=SITE).status_code == 200


def test_remove_domain_works_at_once(app, client, owner, verified):
    login(client, owner)
    response = client.post("/settings/custom-domain/remove", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "The custom domain was removed" in html(response)
    assert 'id="add-domain"' in html(response)
    assert run(app, custom_domains.domain_of, owner) is None
    assert client.get("/olga", base_url=SITE).status_code == 404


def test_the_settings_forms_need_the_csrf_token(app_factory, dns_server, make_user):
    app = app_factory(WTF_CSRF_ENABLED=True, BASE_URL=MAIN, DNS_RESOLVER=dns_server.address)
    client = app.test_client()
    owner = make_user("olga", plan="ORGANIZATION")
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', html(page)).group(1)
    client.post("/login", data={"email": owner.email, "password": "correct horse battery", "csrf_token": token})
    refused = client.post("/settings/custom-domain", data={"hostname": DOMAIN})
    assert refused.status_code == 400
    page = html(client.get("/settings/custom-domain"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/settings/custom-domain", data={"hostname": DOMAIN, "csrf_token": token}).status_code == 302
