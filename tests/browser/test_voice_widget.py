"""The voice widget in Chromium against the ElevenLabs fakes: the HTTP fake signs the conversation URL, the
WebSocket fake (tests/fakes/elevenlabs_ws.py, wss:// with a self-signed certificate the browser is told to accept)
plays the agent. Chromium gets a fake microphone (a generated tone); the test grants or withholds the permission.

Checked: the click connects (the fake receives the initiation with the host's dynamic variables, answers the
ping, receives audio), the page says connected and shows the agent's words, "End Call" ends the call; a withheld
microphone shows "Microphone access required" and asks our server for nothing; the page's CSP still refuses
inline script; no button without an active agent; the button inside an embed on another site."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEZONE, WAIT_MS
from tests.fakes.elevenlabs import API_KEY, ElevenLabsFake
from tests.fakes.elevenlabs_ws import GREETING, TRANSCRIPT, ElevenLabsWsFake
from tests.live import serve_live

pytestmark = pytest.mark.browser

EL_AGENT = "agent_browserwidget01"
MIC_ARGS = ["--use-fake-device-for-media-stream", "--ignore-certificate-errors",
            "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def mic_browser(chromium):
    """Chromium with a fake audio device (the session's browser has none), from the same Playwright."""
    browser = chromium.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + MIC_ARGS, headless=True)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def fakes():
    with ElevenLabsFake() as http_fake, ElevenLabsWsFake(http_fake) as ws_fake:
        http_fake.conversation_base = ws_fake.url
        http_fake.agents[EL_AGENT] = {"agent_id": EL_AGENT, "name": "Scheduling Assistant"}
        yield http_fake, ws_fake


@pytest.fixture
def server(app_factory, fakes):
    http_fake, ws_fake = fakes
    app = app_factory(WTF_CSRF_ENABLED=True, ELEVENLABS_API_KEY=API_KEY, ELEVENLABS_WEBHOOK_SECRET="hook-secret",
                      ELEVENLABS_SIGNING_SECRET="sign-secret", ELEVENLABS_API_BASE=http_fake.url,
                      ELEVENLABS_CONNECT_ORIGINS=ws_fake.origin, BASE_URL="https://linktime.test")
    with serve_live(app) as live:
        yield live


@pytest.fixture
def hana(server):
    from app.db import db
    from tests import factories

    with server.app.app_context(), db.connection_context():
        return factories.user("hana", name="Hana Host", timezone="Europe/Berlin")


def _agent(server, user, **fields):
    from app.db import db
    from app.models.voice import VoiceAgent

    values = {"user": user, "name": "Scheduling Assistant", "elevenlabs_agent_id": EL_AGENT, "is_active": True}
    values.update(fields)
    with server.app.app_context(), db.connection_context():
        return VoiceAgent.create(**values)


@pytest.fixture
def context_for(mic_browser, server):
    made = []

    def make(*, microphone: bool):
        context = mic_browser.new_context(base_url=server.url, timezone_id=TIMEZONE, locale="en-US",
                                          ignore_https_errors=True)
        context.set_default_timeout(WAIT_MS)
        if microphone:
            context.grant_permissions(["microphone"])
        made.append(context)
        return context
    try:
        yield make
    finally:
        for context in made:
            context.close()


def _talk_and_hang_up(scope, ws_fake, hana, agent) -> None:
    """Click the button in ``scope`` (a page or a frame), check the conversation at the fake, end it."""
    widget = scope.locator("#voice-widget")
    expect(widget).to_have_attribute("data-state", "idle")
    scope.get_by_role("button", name="Talk to AI Assistant").click()
    expect(widget).to_have_attribute("data-state", "connected")
    expect(widget.get_by_role("status")).to_have_text("Connected. Speak now.")
    conversation = ws_fake.wait_for(lambda conversations: conversations and conversations[-1].initiation
                                    and conversations[-1])
    assert conversation.agent_id == EL_AGENT
    assert conversation.initiation["type"] == "conversation_initiation_client_data"
    assert conversation.dynamic_variables == {
        "user_id": hana.id, "agent_id": agent.id, "host_name": "Hana Host",
        "booking_url": "https://linktime.test/hana", "host_timezone": "Europe/Berlin",
        "agent_name": "Scheduling Assistant", "booking_id": ""}
    expect(widget).to_have_attribute("data-conversation-id", conversation.conversation_id)
    # the ping is answered, and the fake microphone's sound arrives as 16-bit PCM chunks
    # (Chromium's fake device beeps now and then: wait for a chunk that is not silence)
    ws_fake.wait_for(lambda _: conversation.pongs == [1] and any(any(c) for c in conversation.audio_chunks))
    assert all(len(chunk) % 2 == 0 and chunk for chunk in conversation.audio_chunks)
    transcript = widget.get_by_role("list", name="Conversation")
    expect(transcript).to_contain_text(GREETING)
    expect(transcript).to_contain_text(TRANSCRIPT)
    scope.get_by_role("button", name="End Call").click()
    expect(widget).to_have_attribute("data-state", "ended")
    expect(widget.get_by_role("status")).to_have_text("Call ended.")
    expect(scope.get_by_role("button", name="Talk to AI Assistant")).to_be_visible()
    ws_fake.wait_for(lambda _: conversation.closed)
    assert conversation.close_code == 1000


def test_talking_to_the_assistant_with_the_microphone_granted(server, fakes, hana, context_for):
    http_fake, ws_fake = fakes
    agent = _agent(server, hana)
    page = context_for(microphone=True).new_page()
    page.goto("/hana/30-min")
    _talk_and_hang_up(page, ws_fake, hana, agent)
    assert len(http_fake.signatures) == 1
    # a second call from the same page works too
    page.get_by_role("button", name="Talk to AI Assistant").click()
    expect(page.locator("#voice-widget")).to_have_attribute("data-state", "connected")
    ws_fake.wait_for(lambda conversations: len(conversations) == 2 and conversations[1].initiation)
    page.get_by_role("button", name="End Call").click()
    expect(page.locator("#voice-widget")).to_have_attribute("data-state", "ended")
    assert ws_fake.refused == 0


def test_a_denied_microphone_says_what_to_do(server, fakes, hana, context_for):
    http_fake, ws_fake = fakes
    _agent(server, hana)
    page = context_for(microphone=False).new_page()
    page.goto("/hana")
    page.get_by_role("button", name="Talk to AI Assistant").click()
    widget = page.locator("#voice-widget")
    expect(widget).to_have_attribute("data-state", "error")
    alert = widget.get_by_role("alert").filter(has_text="Microphone access required")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("Site permissions → Microphone")
    expect(page.get_by_role("button", name="End Call")).to_be_hidden()
    assert http_fake.signatures == [] and ws_fake.conversations == []


def test_a_signed_url_the_fake_did_not_issue_is_refused(server, fakes, hana, context_for):
    http_fake, ws_fake = fakes
    _agent(server, hana)
    http_fake.conversation_base = ws_fake.url
    page = context_for(microphone=True).new_page()
    page.route("**/api/voice/widget/*/session", lambda route: route.fulfill(
        status=200, content_type="application/json",
        body=json.dumps({"signedUrl": f"{ws_fake.url}/v1/convai/conversation?agent_id={EL_AGENT}"
                                      "&conversation_signature=forged", "dynamicVariables": {}})))
    page.goto("/hana")
    page.get_by_role("button", name="Talk to AI Assistant").click()
    widget = page.locator("#voice-widget")
    expect(widget).to_have_attribute("data-state", "error")
    expect(widget.get_by_role("alert")).to_have_text("Could not connect to the assistant. Please try again.")
    assert ws_fake.refused == 1 and ws_fake.conversations == []


def test_the_page_still_refuses_inline_script(server, fakes, hana, context_for):
    _agent(server, hana)
    page = context_for(microphone=True).new_page()
    response = page.goto("/hana")
    csp = response.headers["content-security-policy"]
    script_src = next(part.strip() for part in csp.split(";") if part.strip().startswith("script-src"))
    assert script_src == "script-src 'self'"            # no 'unsafe-inline', no nonce, no other origin
    assert "default-src 'self'" in csp and "script-src-elem" not in csp
    assert "connect-src 'self' " + fakes[1].origin in csp
    assert response.headers["permissions-policy"] == "camera=(), microphone=(self), geolocation=()"
    expect(page.get_by_role("button", name="Talk to AI Assistant")).to_be_visible()
    ran = page.evaluate("""() => new Promise(resolve => {
        window.__inlineRan = false;
        document.addEventListener('securitypolicyviolation', e => resolve({ran: window.__inlineRan,
                                                                          directive: e.effectiveDirective}));
        const script = document.createElement('script');
        script.textContent = 'window.__inlineRan = true;';
        document.body.appendChild(script);
    })""")
    assert ran == {"ran": False, "directive": "script-src-elem"}
    assert page.evaluate("() => window.__inlineRan") is False


def test_no_button_without_an_active_agent(server, fakes, hana, context_for):
    _agent(server, hana, is_active=False)
    page = context_for(microphone=True).new_page()
    response = page.goto("/hana")
    expect(page.get_by_role("heading", name="Book a time with Hana Host")).to_be_visible()
    expect(page.locator("#voice-widget")).to_have_count(0)
    expect(page.get_by_role("button", name="Talk to AI Assistant")).to_have_count(0)
    assert "microphone=()" in response.headers["permissions-policy"]
    assert fakes[1].origin not in response.headers["content-security-policy"]


@pytest.fixture
def other_site():
    """One HTML page from http://localhost:<port>: another origin and another site than the live server's."""
    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path.split("?")[0])
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write((body or "not found").encode())

        def log_message(self, *args):
            pass

    site = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()

    def publish(path: str, body: str) -> str:
        pages[path] = body
        return f"http://localhost:{site.server_address[1]}{path}"
    try:
        yield publish
    finally:
        site.shutdown()
        site.server_close()


def test_the_button_inside_an_embed_on_another_site(server, fakes, hana, context_for, other_site):
    agent = _agent(server, hana)
    url = other_site("/acme.html", '<!doctype html><html><head><meta charset="utf-8"><title>Acme</title></head>'
                                   f'<body><h1>Acme</h1><div id="widget" data-linktime-inline="{server.url}/hana">'
                                   f'</div><script src="{server.url}/embed.js" async></script></body></html>')
    page = context_for(microphone=True).new_page()
    page.goto(url)
    assert page.locator("#widget iframe").get_attribute("allow", timeout=WAIT_MS) == "clipboard-write; microphone"
    frame = page.frame_locator("#widget iframe")
    expect(frame.get_by_role("button", name="Talk to AI Assistant")).to_be_visible()
    _talk_and_hang_up(frame, fakes[1], hana, agent)


def test_the_widget_has_no_serious_accessibility_violation(server, fakes, hana, context_for):
    from tests.browser.test_accessibility import AXE, _problems

    _agent(server, hana)
    page = context_for(microphone=False).new_page()
    page.goto("/hana/30-min")
    expect(page.get_by_role("button", name="Talk to AI Assistant")).to_be_visible()
    assert _problems(AXE.run(page, context="#voice-widget")) == []
    page.get_by_role("button", name="Talk to AI Assistant").click()
    expect(page.get_by_text("Microphone access required")).to_be_visible()
    assert _problems(AXE.run(page, context="#voice-widget")) == []
