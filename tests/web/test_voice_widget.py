"""The voice widget over HTTP: which pages show "Talk to AI Assistant", the CSP and Permissions-Policy of those
pages (and only those), and the public session endpoint against the ElevenLabs fake."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.fakes.elevenlabs import API_KEY, ElevenLabsFake

BUTTON = b"Talk to AI Assistant"
CONNECT = "wss://voice.example.test"
EL_AGENT = "agent_widget0123456789"


@pytest.fixture
def fake():
    with ElevenLabsFake() as server:
        server.agents[EL_AGENT] = {"agent_id": EL_AGENT, "name": "Scheduling Assistant"}
        yield server


@pytest.fixture
def voice_app(app_factory, fake):
    return app_factory(ELEVENLABS_API_KEY=API_KEY, ELEVENLABS_WEBHOOK_SECRET="hook-secret",
                       ELEVENLABS_SIGNING_SECRET="sign-secret", ELEVENLABS_API_BASE=fake.url,
                       ELEVENLABS_CONNECT_ORIGINS=f"{CONNECT} https://voice.example.test",
                       BASE_URL="https://linktime.test", PUBLIC_PAGE_CACHE_SECONDS=30)


@pytest.fixture
def web(voice_app):
    return voice_app.test_client()


@pytest.fixture
def hana(voice_app):
    from app.db import db
    from tests import factories

    with voice_app.app_context(), db.connection_context():
        return factories.user("hana", name="Hana Host", timezone="Europe/Berlin")


def _agent(app, user, **fields):
    from app.db import db
    from app.models.voice import VoiceAgent

    values = {"user": user, "name": "Scheduling Assistant", "elevenlabs_agent_id": EL_AGENT, "is_active": True}
    values.update(fields)
    with app.app_context(), db.connection_context():
        return VoiceAgent.create(**values)


def _update(app, agent, **fields):
    from app.db import db
    from app.models.voice import VoiceAgent

    with app.app_context(), db.connection_context():
        VoiceAgent.update(**fields).where(VoiceAgent.id == agent.id).execute()


def _directives(response) -> dict[str, str]:
    csp = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part for part in (p.strip() for p in csp.split(";")) if part}


def _shows_widget(response) -> bool:
    directives = _directives(response)
    assert "'unsafe-inline'" not in directives["script-src"] and directives["script-src"] == "script-src 'self'"
    widened = CONNECT in directives["connect-src"]
    microphone = "microphone=(self)" in response.headers["Permissions-Policy"]
    assert widened == microphone == (BUTTON in response.data)
    if not widened:
        assert directives["connect-src"] == "connect-src 'self'"
        assert "microphone=()" in response.headers["Permissions-Policy"]
    return widened


# --- the button and the headers ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/hana", "/hana/30-min", "/hana?embed=true", "/hana/30-min?embed=true"])
def test_pages_of_a_host_with_an_active_agent_show_the_button(voice_app, web, hana, path):
    agent = _agent(voice_app, hana)
    response = web.get(path)
    assert response.status_code == 200
    assert _shows_widget(response)
    assert f'/api/voice/widget/{agent.id}/session'.encode() in response.data
    directives = _directives(response)
    assert directives["connect-src"] == f"connect-src 'self' {CONNECT} https://voice.example.test"
    assert response.headers["Permissions-Policy"] == "camera=(), microphone=(self), geolocation=()"
    if "embed" in path:
        assert directives["frame-ancestors"] == "frame-ancestors *"
        assert b"is-embed" in response.data
    else:
        assert directives["frame-ancestors"] == "frame-ancestors 'none'"
    assert b"<script>" not in response.data     # no inline script: the page's CSP would refuse it anyway


@pytest.mark.parametrize("state", ["none", "inactive", "deleted", "not_at_elevenlabs", "unconfigured"])
def test_no_button_without_an_active_agent(app_factory, voice_app, fake, hana, state):
    app, web = voice_app, voice_app.test_client()
    if state == "inactive":
        _agent(voice_app, hana, is_active=False)
    elif state == "deleted":
        _agent(voice_app, hana, is_active=True, deleted_at=datetime.now(UTC))
    elif state == "not_at_elevenlabs":
        _agent(voice_app, hana, elevenlabs_agent_id=None)
    elif state == "unconfigured":
        _agent(voice_app, hana)
        app = app_factory(ELEVENLABS_CONNECT_ORIGINS=CONNECT)      # no ELEVENLABS_API_KEY and secrets
        web = app.test_client()
    for path in ("/hana", "/hana/30-min", "/hana?embed=true"):
        response = web.get(path)
        assert response.status_code == 200
        assert not _shows_widget(response), path


def test_only_pages_with_the_button_allow_the_microphone(voice_app, web, hana):
    _agent(voice_app, hana)
    for path in ("/login", "/", "/hana/30-min/calendar", "/hana/30-min/slots?date=2031-01-06"):
        response = web.get(path)
        assert "microphone=()" in response.headers["Permissions-Policy"], path
        assert CONNECT not in response.headers.get("Content-Security-Policy", ""), path
    partial = web.get("/hana/30-min", headers={"HX-Request": "true"})     # the htmx step block: no button
    assert partial.status_code == 200 and BUTTON not in partial.data
    assert "microphone=()" in partial.headers["Permissions-Policy"]
    missing = web.get("/hana/no-such-event")
    assert missing.status_code == 404 and "microphone=()" in missing.headers["Permissions-Policy"]


def test_another_hosts_agent_shows_nothing_on_this_page(voice_app, web, hana):
    from app.db import db
    from tests import factories

    with voice_app.app_context(), db.connection_context():
        other = factories.user("otto")
    _agent(voice_app, other)
    assert not _shows_widget(web.get("/hana"))
    assert _shows_widget(web.get("/otto"))


def test_cached_pages_follow_the_agent_switching_on_and_off(voice_app, web, hana):
    assert not _shows_widget(web.get("/hana"))        # stored in the page cache without the button
    agent = _agent(voice_app, hana)
    assert _shows_widget(web.get("/hana"))
    assert _shows_widget(web.get("/hana"))            # served from the cache: the headers still follow
    _update(voice_app, agent, is_active=False, auto_deactivated=True)
    assert not _shows_widget(web.get("/hana"))


def test_connect_origins_that_are_not_https_or_wss_origins_are_left_out(app_factory, fake, hana):
    app = app_factory(ELEVENLABS_API_KEY=API_KEY, ELEVENLABS_WEBHOOK_SECRET="a", ELEVENLABS_SIGNING_SECRET="b",
                      ELEVENLABS_API_BASE=fake.url,
                      ELEVENLABS_CONNECT_ORIGINS="wss://ok.example.test 'unsafe-inline' https://x.test;script-src "
                                                 "http://plain.example.test")
    _agent(app, hana)
    response = app.test_client().get("/hana")
    directives = _directives(response)
    assert directives["connect-src"] == "connect-src 'self' wss://ok.example.test"
    assert directives["script-src"] == "script-src 'self'"


# --- the session endpoint ------------------------------------------------------------------------------------
def test_session_gives_a_signed_url_and_the_hosts_variables(voice_app, web, hana, fake):
    agent = _agent(voice_app, hana)
    response = web.post(f"/api/voice/widget/{agent.id}/session", headers={"Origin": "http://localhost"})
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert body["signedUrl"].startswith(f"wss://{fake.url.split('://')[1]}/v1/convai/conversation?agent_id="
                                        f"{EL_AGENT}&conversation_signature=")
    assert body["agentName"] == "Scheduling Assistant"
    assert body["dynamicVariables"] == {
        "user_id": hana.id, "agent_id": agent.id, "host_name": "Hana Host",
        "booking_url": "https://linktime.test/hana", "host_timezone": "Europe/Berlin",
        "agent_name": "Scheduling Assistant", "booking_id": ""}
    assert response.headers["Cache-Control"] == "no-store"
    asked = [r for r in fake.requests if r.path == "/v1/convai/conversation/get-signed-url"]
    assert [r.query for r in asked] == [{"agent_id": EL_AGENT}]
    assert fake.signatures[-1]["agent_id"] == EL_AGENT


def test_session_needs_no_csrf_token_or_sign_in(app_factory, fake, hana):
    app = app_factory(WTF_CSRF_ENABLED=True, ELEVENLABS_API_KEY=API_KEY, ELEVENLABS_WEBHOOK_SECRET="a",
                      ELEVENLABS_SIGNING_SECRET="b", ELEVENLABS_API_BASE=fake.url)
    agent = _agent(app, hana)
    assert app.test_client().post(f"/api/voice/widget/{agent.id}/session").status_code == 200


@pytest.mark.parametrize("state", ["unknown", "inactive", "deleted", "not_at_elevenlabs", "disabled_host"])
def test_session_of_an_agent_that_cannot_talk_is_404(voice_app, web, hana, fake, state):
    from app.db import db
    from app.models import User

    agent = _agent(voice_app, hana)
    agent_id = agent.id
    if state == "unknown":
        agent_id = "nope" + agent.id[4:]
    elif state == "inactive":
        _update(voice_app, agent, is_active=False)
    elif state == "deleted":
        _update(voice_app, agent, is_active=False, deleted_at=datetime.now(UTC))
    elif state == "not_at_elevenlabs":
        _update(voice_app, agent, elevenlabs_agent_id=None)
    else:
        with voice_app.app_context(), db.connection_context():
            User.update(is_disabled=True).where(User.id == hana.id).execute()
    response = web.post(f"/api/voice/widget/{agent_id}/session")
    assert response.status_code == 404
    assert "error" in response.get_json()
    assert not [r for r in fake.requests if r.path.endswith("get-signed-url")]


def test_session_is_404_when_voice_is_not_configured(app_factory, hana):
    app = app_factory()
    agent = _agent(app, hana)
    assert app.test_client().post(f"/api/voice/widget/{agent.id}/session").status_code == 404


def test_session_is_rate_limited_per_client(voice_app, web, hana):
    from app.web.voice_widget import SESSION_RATE

    agent = _agent(voice_app, hana)
    allowed = int(SESSION_RATE.split("/")[0])
    for _ in range(allowed):
        assert web.post(f"/api/voice/widget/{agent.id}/session").status_code == 200
    limited = web.post(f"/api/voice/widget/{agent.id}/session")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.get_json()["error"]
    other = web.post(f"/api/voice/widget/{agent.id}/session", environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 200          # another client address has its own budget


def test_session_refuses_a_foreign_origin(voice_app, web, hana, fake):
    agent = _agent(voice_app, hana)
    response = web.post(f"/api/voice/widget/{agent.id}/session", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert not fake.signatures


def test_session_when_elevenlabs_fails_is_502(voice_app, web, hana, fake):
    agent = _agent(voice_app, hana)
    fake.fail(503, times=3)
    response = web.post(f"/api/voice/widget/{agent.id}/session")
    assert response.status_code == 502
    assert response.get_json() == {"error": "The assistant cannot be reached right now. Please try again later."}


def test_session_without_minutes_left_is_refused(voice_app, web, hana, fake):
    from app.db import db
    from app.models.voice import CallLog

    agent = _agent(voice_app, hana)
    with voice_app.app_context(), db.connection_context():
        CallLog.create(user=hana.id, agent=agent.id, direction="web", status="COMPLETED", duration_seconds=4 * 60 + 30,
                       started_at=datetime.now(UTC))        # Free: 5 minutes a month, under one left
    response = web.post(f"/api/voice/widget/{agent.id}/session")
    assert response.status_code == 409
    assert "not available right now" in response.get_json()["error"]
    assert not fake.signatures


def test_session_outside_active_hours_is_refused(voice_app, web, hana, fake):
    closed = {"enabled": True, "timezone": "Europe/Berlin", "afterHoursBehavior": "booking_url",
              "afterHoursMessage": "", "schedule": []}
    agent = _agent(voice_app, hana, active_hours=closed)
    response = web.post(f"/api/voice/widget/{agent.id}/session")
    assert response.status_code == 409
    assert "no hours at present" in response.get_json()["error"]
    assert not fake.signatures


# --- on a verified custom domain -----------------------------------------------------------------------------
DOMAIN = "meet.hana-host.test"


def _verified_domain(app, user):
    from app.db import db
    from app.models import CustomDomain, User
    from app.models.base import utcnow

    with app.app_context(), db.connection_context():
        User.update(plan="ORGANIZATION").where(User.id == user.id).execute()     # custom domains' plan
        CustomDomain.create(user=user, hostname=DOMAIN, token="t" * 32, status="verified", verified_at=utcnow())


def test_on_the_owners_custom_domain_the_button_shows_and_its_session_works(voice_app, web, hana, fake):
    agent = _agent(voice_app, hana)
    _verified_domain(voice_app, hana)
    page = web.get("/hana/30-min", base_url=f"https://{DOMAIN}")
    assert page.status_code == 200 and _shows_widget(page)
    answer = web.post(f"/api/voice/widget/{agent.id}/session", base_url=f"https://{DOMAIN}",
                      headers={"Origin": f"https://{DOMAIN}"})
    assert answer.status_code == 200, answer.data
    assert answer.get_json()["dynamicVariables"]["agent_id"] == agent.id


def test_on_a_custom_domain_another_hosts_agent_session_is_404(voice_app, web, hana, fake):
    from app.db import db
    from tests import factories

    with voice_app.app_context(), db.connection_context():
        other = factories.user("omar", name="Omar Other")
    theirs = _agent(voice_app, other)
    _verified_domain(voice_app, hana)
    answer = web.post(f"/api/voice/widget/{theirs.id}/session", base_url=f"https://{DOMAIN}",
                      headers={"Origin": f"https://{DOMAIN}"})
    assert answer.status_code == 404
