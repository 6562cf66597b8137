"""Every setting of LinkTime in one registry.

This module alone reads the process environment. Each setting has a name, a type, a default and a
description; the README's configuration table lists the same registry (``python -m app.config`` prints it).
Secrets may also be given as ``NAME_FILE`` pointing at a file that holds the value.

Development needs no configuration: on first start an instance folder is created with generated
secrets (mode 0600). Production (``LINKTIME_ENV=production``) refuses to start without its secrets.
"""
from __future__ import annotations

import base64
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.instance import private_dir

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """Raised when the configuration cannot be used; the message names every problem."""


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected a boolean (1/0, true/false), got {value!r}")


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _paypal_mode(value: str) -> str:
    mode = value.strip().lower()
    if mode not in ("sandbox", "live"):
        raise ValueError(f"expected sandbox or live, got {value!r}")
    return mode


def _kill_secret(value: str) -> str:
    secret = value.strip()
    if secret and len(secret) < 8:
        raise ValueError("must be at least 8 characters")
    return secret


def _http_url(value: str) -> str:
    url = value.strip().rstrip("/")
    if not url.startswith(("https://", "http://")) or "?" in url or "#" in url:
        raise ValueError(f"expected an http(s) URL without query, got {value!r}")
    return url


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    description: str
    parse: Callable[[str], Any] = str
    secret: bool = False
    required_in_production: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("LINKTIME_ENV", "development", "`development` (default) or `production`."),
    Setting("HOST", "127.0.0.1", "Address `make run` listens on."),
    Setting("PORT", 5000, "Port `make run` listens on.", int),
    Setting("BASE_URL", "", "Public base URL of this instance, e.g. `https://cal.example.com` (links in emails, "
            "OAuth redirects). Development default: `http://HOST:PORT`.", required_in_production=True),
    Setting("INSTANCE_DIR", "instance", "Folder for the SQLite database, queue, generated secrets and dev mail. "
            "Relative paths are taken from the project root."),
    Setting("SECRET_KEY", "", "Signs sessions, CSRF tokens and links. Generated into the instance folder in "
            "development.", secret=True, required_in_production=True),
    Setting("ENCRYPTION_KEY", "", "AES-256-GCM keys for stored secrets: one or more comma-separated "
            "`id:base64key` (or bare base64) 32-byte keys; the first encrypts, all decrypt. Generated in "
            "development.", secret=True, required_in_production=True),
    Setting("DATABASE_URL", "", "Database URL. Default: SQLite file `INSTANCE_DIR/linktime.db` (WAL). "
            "`postgresql://user:pass@host:5432/db` for PostgreSQL."),
    Setting("HUEY_URL", "", "Queue storage. Default: SQLite file `INSTANCE_DIR/queue.db`. `redis://host:6379/0` "
            "or `postgresql://...` for several processes."),
    Setting("HUEY_IMMEDIATE", False, "Run tasks inline instead of queueing (tests).", _bool),
    Setting("HUEY_WORKERS", 2, "Worker threads of the embedded queue consumer.", int),
    Setting("WEBHOOK_WORKERS", 4, "Worker threads of the embedded consumer of the webhook queue (deliveries to "
            "customers' endpoints, apart from email and calendar work).", int),
    Setting("AGENT_WORKERS", 4, "Worker threads of the embedded consumer of the agents queue (the messaging agents' "
            "replies, which wait on the AI model, apart from email and calendar work).", int),
    Setting("RUN_QUEUE_IN_WEB", True, "`make run`/`python -m app.serve` also runs the queue consumer in the "
            "same process. Set 0 when separate `huey_consumer` processes run the queue.", _bool),
    Setting("RATELIMIT_STORAGE_URL", "memory://", "Rate-limit counters: `memory://` (one process) or "
            "`redis://host:6379/1` (shared by several processes)."),
    Setting("RATELIMIT_LOGIN", "5/minute", "Log-in attempts per client IP."),
    Setting("RATELIMIT_SIGNUP", "10/hour", "Sign-up form submissions (and sign-up completions after Google/Microsoft "
            "sign-in) per client IP."),
    Setting("RATELIMIT_LOGIN_ACCOUNT", "30/hour", "Failed sign-ins to one account (from anywhere) after which only "
            "browsers that signed in to it before may keep trying. Each client also waits longer after every "
            "failure past the fifth (1 s, 2 s, 4 s ... up to 15 minutes) for that account."),
    Setting("RATELIMIT_PUBLIC_BOOKING", "10/minute", "Bookings created through the public booking page and "
            "`POST /api/bookings` per client IP."),
    Setting("RATELIMIT_ROUTING_FORM", "10/minute", "Routing form submissions (`/<username>/route/<form-slug>`) "
            "per client IP."),
    Setting("RATELIMIT_API_KEY", "60/minute", "REST API requests per API key."),
    Setting("RATELIMIT_API_PREAUTH", "5/minute", "Failed API authentications per client IP."),
    Setting("RATELIMIT_SCIM", "300/minute", "SCIM requests (`/api/scim/v2`) per organization, all its tokens "
            "together."),
    Setting("RATELIMIT_WEBHOOK_TEST", "5/minute", "Webhook test sends (Settings → Webhooks) per account."),
    Setting("PUBLIC_PAGE_CACHE_SECONDS", 30, "How long a rendered public booking page or slots partial is reused "
            "for visitors without a session (per process). Any change to the host's bookings, hours, event types, "
            "profile or calendars retires it at once; this bounds only how long \"now\" may lag (minimum notice). "
            "0 turns the cache off.", int),
    Setting("PUBLIC_PAGE_CACHE_BYTES", 16 * 1024 * 1024, "Bytes of rendered public pages kept per process "
            "(least recently used go first; a page larger than an eighth of this is not kept). Only the query "
            "parameters a page reads make separate entries.", int),
    Setting("TRUSTED_PROXIES", 0, "Number of reverse proxies in front of the app whose `X-Forwarded-For` is "
            "trusted (0 = use the socket address).", int),
    Setting("SESSION_COOKIE_SECURE", None, "Send the session cookie over HTTPS only. Default: on in production.",
            _bool),
    Setting("SESSION_IDLE_DAYS", 14, "A signed-in session ends after this many days without a request.", int),
    Setting("SESSION_MAX_DAYS", 30, "A signed-in session ends this many days after sign-in at the latest.", int),
    Setting("DEFAULT_PLAN", "FREE", "Plan given to new accounts: FREE, PRO, BUSINESS or ORGANIZATION."),
    Setting("SIGNUP_OPEN", True, "Allow anyone to sign up (the first account becomes administrator).", _bool),
    Setting("SMTP_URL", "", "SMTP server as one URL: `smtp://user:pass@host:25`, `smtp+starttls://...:587`, "
            "`smtps://...:465`. Overrides the SMTP_HOST.. settings.", secret=True),
    Setting("SMTP_HOST", "", "SMTP host. Without SMTP_URL or SMTP_HOST, development writes mail to "
            "`INSTANCE_DIR/mail/*.eml`."),
    Setting("SMTP_PORT", 25, "SMTP port.", int),
    Setting("SMTP_USER", "", "SMTP user name."),
    Setting("SMTP_PASSWORD", "", "SMTP password.", secret=True),
    Setting("SMTP_TLS", "none", "`none`, `starttls` or `ssl`."),
    Setting("SMTP_TIMEOUT", 10, "Seconds before an SMTP connection attempt fails.", int),
    Setting("MAIL_FROM", "LinkTime <no-reply@localhost>", "Sender address of outgoing mail."),
    Setting("EMAIL_RETRIES", 8, "Retries of a failed email delivery.", int),
    Setting("EMAIL_RETRY_DELAY", 60, "Seconds between email delivery retries.", int),
    Setting("WEBHOOK_TIMEOUT", 30, "Seconds an outgoing webhook may take to connect and to answer.", float),
    Setting("WEBHOOK_CONNECT_TIMEOUT", 5, "Seconds an outgoing webhook may take to connect (within "
            "WEBHOOK_TIMEOUT).", float),
    Setting("WEBHOOK_ALLOW_PRIVATE", None, "Allow webhooks to private, loopback and link-local addresses (and "
            "plain http). Default: on in development, off in production.", _bool),
    Setting("OUTBOX_SWEEP_AFTER", 120, "Seconds after which an unprocessed outbox row is queued again by the "
            "periodic sweep.", int),
    Setting("CALENDAR_TIMEOUT", 10, "Seconds a request to a connected calendar (CalDAV server, ICS feed) may take "
            "to connect and to answer.", float),
    Setting("CALENDAR_BUSY_WAIT", 1.5, "Seconds the booking page waits for a connected calendar whose busy times "
            "are not cached yet; after that it shows the times without it (and a note) while reading continues.",
            float),
    Setting("CALENDAR_BOOKING_WAIT", 5, "Seconds a booking waits for fresh busy times of the host's calendars "
            "before checking the slot with the cached ones.", float),
    Setting("CALENDAR_BUSY_TTL", 300, "Seconds cached busy times are used before they are refreshed in the "
            "background.", int),
    Setting("CALENDAR_FEED_MAX_BYTES", 10_000_000, "Largest ICS feed (bytes) that is read.", int),
    Setting("CALENDAR_ALLOW_PRIVATE", None, "Allow calendar servers and feeds on private, loopback and link-local "
            "addresses (and plain http). Default: on in development, off in production.", _bool),
    Setting("GOOGLE_CLIENT_ID", "", "Google OAuth client id: enables \"Sign in with Google\" (OpenID Connect) and "
            "connecting Google Calendar (Settings → Integrations)."),
    Setting("GOOGLE_CLIENT_SECRET", "", "Google OAuth client secret.", secret=True),
    Setting("GOOGLE_AUTHORIZE_URL", "https://accounts.google.com/o/oauth2/v2/auth",
            "Google's OAuth authorization endpoint (Google Calendar connections; tests point it at a fake)."),
    Setting("GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token", "Google's OAuth token endpoint."),
    Setting("GOOGLE_REVOKE_URL", "https://oauth2.googleapis.com/revoke", "Google's OAuth token revocation endpoint."),
    Setting("GOOGLE_API_URL", "https://www.googleapis.com/calendar/v3", "Base URL of the Google Calendar API v3."),
    Setting("GOOGLE_USERINFO_URL", "https://openidconnect.googleapis.com/v1/userinfo",
            "Google's OpenID userinfo endpoint (the connected account's email address)."),
    Setting("GOOGLE_DISCOVERY_URL", "https://accounts.google.com/.well-known/openid-configuration",
            "Google's OpenID discovery document (tests point it at a local provider)."),
    Setting("INTEGRATION_HTTP_TIMEOUT", 10, "Seconds a request to an OAuth provider (Google, Microsoft, Zoom, "
            "Webex, the CRMs) may take to connect and to answer.", float),
    Setting("MICROSOFT_CLIENT_ID", "", "Microsoft OAuth client id: enables \"Sign in with Microsoft\" (OpenID "
            "Connect) and connecting Outlook Calendar and Microsoft Teams (Settings → Integrations)."),
    Setting("MICROSOFT_CLIENT_SECRET", "", "Microsoft OAuth client secret.", secret=True),
    Setting("MICROSOFT_AUTHORIZE_URL", "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
            "Microsoft's OAuth authorization endpoint (Outlook Calendar connections; tests point it at a fake)."),
    Setting("MICROSOFT_TOKEN_URL", "https://login.microsoftonline.com/common/oauth2/v2.0/token",
            "Microsoft's OAuth token endpoint."),
    Setting("MICROSOFT_API_URL", "https://graph.microsoft.com/v1.0", "Base URL of Microsoft Graph v1.0."),
    Setting("MICROSOFT_DISCOVERY_URL",
            "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
            "Microsoft's OpenID discovery document."),
    Setting("ZOOM_CLIENT_ID", "", "Zoom OAuth app client id: enables connecting Zoom (Settings → Integrations) for "
            "Zoom meeting links."),
    Setting("ZOOM_CLIENT_SECRET", "", "Zoom OAuth app client secret.", secret=True),
    Setting("ZOOM_AUTHORIZE_URL", "https://zoom.us/oauth/authorize", "Zoom's OAuth authorization endpoint (tests "
            "point it at a fake)."),
    Setting("ZOOM_TOKEN_URL", "https://zoom.us/oauth/token", "Zoom's OAuth token endpoint."),
    Setting("ZOOM_REVOKE_URL", "https://zoom.us/oauth/revoke", "Zoom's OAuth token revocation endpoint."),
    Setting("ZOOM_API_URL", "https://api.zoom.us/v2", "Base URL of the Zoom API v2."),
    Setting("WEBEX_CLIENT_ID", "", "Webex integration client id: enables connecting Webex (Settings → Integrations) "
            "for Webex meeting links."),
    Setting("WEBEX_CLIENT_SECRET", "", "Webex integration client secret.", secret=True),
    Setting("WEBEX_AUTHORIZE_URL", "https://webexapis.com/v1/authorize", "Webex's OAuth authorization endpoint "
            "(tests point it at a fake)."),
    Setting("WEBEX_TOKEN_URL", "https://webexapis.com/v1/access_token", "Webex's OAuth token endpoint."),
    Setting("WEBEX_API_URL", "https://webexapis.com/v1", "Base URL of the Webex REST API."),
    Setting("HUBSPOT_CLIENT_ID", "", "HubSpot public app client id: with HUBSPOT_CLIENT_SECRET, offers HubSpot under "
            "Settings → Integrations → CRM (Pro plan and above). Redirect URL: `BASE_URL/settings/integrations/hubspot/"
            "callback`."),
    Setting("HUBSPOT_CLIENT_SECRET", "", "HubSpot public app client secret.", secret=True),
    Setting("HUBSPOT_API_BASE", "https://api.hubapi.com", "Base URL of HubSpot's API and OAuth token endpoints "
            "(tests point it at a fake)."),
    Setting("HUBSPOT_APP_BASE", "https://app.hubspot.com", "Host of HubSpot's OAuth consent screen."),
    Setting("ATTIO_CLIENT_ID", "", "Attio OAuth app client id: with ATTIO_CLIENT_SECRET, offers Attio under "
            "Settings → Integrations → CRM. Redirect URL: `BASE_URL/settings/integrations/attio/callback`; tick the "
            "scopes record_permission:read-write, object_configuration:read and note:read-write in the app."),
    Setting("ATTIO_CLIENT_SECRET", "", "Attio OAuth app client secret.", secret=True),
    Setting("ATTIO_API_BASE", "https://api.attio.com", "Base URL of Attio's REST API (tests point it at a fake)."),
    Setting("ATTIO_APP_BASE", "https://app.attio.com", "Host of Attio's OAuth authorize and token endpoints."),
    Setting("SALESFORCE_CLIENT_ID", "", "Consumer key of a Salesforce Connected App (scopes `id`, `api`, "
            "`refresh_token`): with SALESFORCE_CLIENT_SECRET, offers Salesforce under Settings → Integrations → CRM. "
            "Callback URL: `BASE_URL/api/integrations/salesforce/callback`."),
    Setting("SALESFORCE_CLIENT_SECRET", "", "Consumer secret of the Salesforce Connected App.", secret=True),
    Setting("SALESFORCE_LOGIN_URL", "https://login.salesforce.com", "Salesforce login host for production orgs "
            "(a My Domain login URL works too; tests point it at a fake)."),
    Setting("SALESFORCE_SANDBOX_LOGIN_URL", "https://test.salesforce.com", "Salesforce login host used when a host "
            "connects a sandbox org."),
    Setting("CLOSE_CLIENT_ID", "", "Close OAuth app client id: with CLOSE_CLIENT_SECRET, offers Close under "
            "Settings → Integrations → CRM (event types published as Close scheduling links). Redirect URL: "
            "`BASE_URL/settings/integrations/close/callback`."),
    Setting("CLOSE_CLIENT_SECRET", "", "Close OAuth app client secret.", secret=True),
    Setting("CLOSE_API_BASE", "https://api.close.com", "Host of Close's API (`/api/v1`) and OAuth token endpoints "
            "(tests point it at a fake)."),
    Setting("CLOSE_APP_BASE", "https://app.close.com", "Host of Close's OAuth consent screen."),
    Setting("STRIPE_SECRET_KEY", "", "Secret API key of the instance's Stripe account (`sk_live_...`, `sk_test_...` "
            "or a restricted `rk_...` key): with STRIPE_WEBHOOK_SECRET, enables Stripe Checkout for priced event "
            "types.", secret=True),
    Setting("STRIPE_WEBHOOK_SECRET", "", "Signing secret (`whsec_...`) of the Stripe webhook endpoint "
            "`BASE_URL/api/webhooks/stripe`; events whose `Stripe-Signature` does not match are refused.",
            secret=True),
    Setting("STRIPE_API_BASE", "https://api.stripe.com", "Base URL of the Stripe API (tests point it at a fake; "
            "a base other than the default may be on a private or loopback address)."),
    Setting("PAYPAL_CLIENT_ID", "", "PayPal REST app client id: with PAYPAL_CLIENT_SECRET and PAYPAL_WEBHOOK_ID "
            "(all three or none) it offers PayPal for priced event types."),
    Setting("PAYPAL_CLIENT_SECRET", "", "PayPal REST app secret.", secret=True),
    Setting("PAYPAL_WEBHOOK_ID", "", "The id PayPal shows for the app's webhook to `BASE_URL/api/webhooks/paypal` "
            "(PayPal's signature check of each event needs it)."),
    Setting("PAYPAL_MODE", "sandbox", "`sandbox` (PayPal's test accounts) or `live`.", _paypal_mode),
    Setting("PAYPAL_API_BASE", "", "Base URL of PayPal's REST API. Default: `https://api-m.sandbox.paypal.com` in "
            "sandbox mode, `https://api-m.paypal.com` in live mode. Any other value (tests point it at a fake) may "
            "be plain http or a private address.", _http_url),
    Setting("TWILIO_ACCOUNT_SID", "", "Twilio account SID (`AC...`): with TWILIO_AUTH_TOKEN and a sender "
            "(TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID), enables the workflows' Send SMS action. Point the "
            "number's incoming messages at `BASE_URL/api/webhooks/twilio/inbound` (STOP, START, HELP)."),
    Setting("TWILIO_AUTH_TOKEN", "", "Twilio auth token: authenticates the texts sent and checks the "
            "`X-Twilio-Signature` of Twilio's requests to LinkTime.", secret=True),
    Setting("TWILIO_FROM_NUMBER", "", "The Twilio phone number texts are sent from, in E.164 (`+14155550100`)."),
    Setting("TWILIO_MESSAGING_SERVICE_SID", "", "A Twilio Messaging Service (`MG...`) to send from instead of "
            "TWILIO_FROM_NUMBER (used when both are set)."),
    Setting("TWILIO_API_BASE", "https://api.twilio.com", "Base URL of the Twilio REST API (tests point it at a "
            "fake; a base other than the default may be on a private or loopback address)."),
    Setting("ELEVENLABS_API_KEY", "", "ElevenLabs API key (`xi-api-key`): with ELEVENLABS_WEBHOOK_SECRET and "
            "ELEVENLABS_SIGNING_SECRET it enables Voice Agents (Dashboard → Voice Agents). The ElevenLabs account "
            "needs Conversational AI access.", secret=True),
    Setting("ELEVENLABS_WEBHOOK_SECRET", "", "Shared secret ElevenLabs sends in the `X-Voice-Secret` header of "
            "every tool call (`/api/voice/tools/*`) and of the personalization webhook (`/api/voice/webhook/"
            "personalization`; add the header to the workspace's conversation-initiation webhook).", secret=True),
    Setting("ELEVENLABS_SIGNING_SECRET", "", "HMAC secret of ElevenLabs' post-call webhook "
            "(`BASE_URL/api/voice/webhook/call-status`, header `ElevenLabs-Signature`).", secret=True),
    Setting("ELEVENLABS_API_BASE", "https://api.elevenlabs.io", "Base URL of the ElevenLabs API (tests point it at a "
            "fake; a base other than the default may be on a private or loopback address)."),
    Setting("ELEVENLABS_CONNECT_ORIGINS", "https://api.elevenlabs.io wss://api.elevenlabs.io "
            "wss://livekit.rtc.elevenlabs.io https://livekit.rtc.elevenlabs.io", "Origins (space-separated) the voice "
            "widget's browser connection may reach; added to the CSP `connect-src` of the pages that show it."),
    Setting("VOICE_TRANSCRIPT_RETENTION_DAYS", 90, "Days call transcripts are kept; a daily task deletes older "
            "ones (the call's log stays).", int),
    Setting("ANTHROPIC_API_KEY", "", "Anthropic API key: with the Twilio settings it enables Messaging Agents (SMS "
            "and WhatsApp assistants that book by text, Dashboard → Messaging Agents).", secret=True),
    Setting("ANTHROPIC_MODEL", "claude-sonnet-4-5", "The Claude model the messaging agents use."),
    Setting("ANTHROPIC_API_BASE", "https://api.anthropic.com", "Base URL of the Anthropic API (tests point it at a "
            "fake; a base other than the default may be on a private or loopback address)."),
    Setting("MESSAGING_AGENT_ENABLED", True, "Global kill switch of the messaging agents: `false` makes every agent "
            "answer with the host's booking URL instead of the model.", _bool),
    Setting("ADMIN_KILL_SECRET", "", "Secret (at least 8 characters) for the operator's kill-switch endpoints "
            "`POST /api/admin/messaging/kill` and `/resume` (header `X-Admin-Secret`); unset, they answer 404.",
            _kill_secret, secret=True),
    Setting("WHATSAPP_TEMPLATE_CONFIRMATION_SID", "", "Content SID (`HX...`) of the WhatsApp booking-confirmation "
            "template once Meta approved it (body `Hi {{1}}, your {{2}} is confirmed for {{3}}.`); empty while it is "
            "pending or rejected: outside the 24-hour window the confirmation then goes by SMS from the same number."),
    Setting("WHATSAPP_TEMPLATE_REMINDER_SID", "", "Content SID (`HX...`) of the approved WhatsApp reminder template "
            "(body `Hi {{1}}, a reminder: your {{2}} is on {{3}}.`); empty: reminders outside the 24-hour window go "
            "by SMS."),
    Setting("MESSAGING_RETENTION_DAYS", 90, "Days conversation messages are kept; a daily task deletes older ones.",
            int),
    Setting("SLACK_WEBHOOK_BASE", "https://hooks.slack.com", "Scheme and host a Slack incoming-webhook URL must "
            "have (tests point it at a fake; a base other than the default may be on a private or loopback "
            "address)."),
    Setting("SMS_MONTHLY_CAP", 500, "Texts one account may send per calendar month (workflow SMS actions); protects "
            "the bill of the instance's Twilio account.", int),
    Setting("CUSTOM_DOMAIN_CNAME_TARGET", "", "Host name customers point their custom domain's CNAME record at "
            "(Settings → Custom Domain). Default: the host of BASE_URL."),
    Setting("DNS_RESOLVER", "", "DNS server that custom domains' TXT records are looked up with: `address` or "
            "`address:port` (e.g. `127.0.0.1:5353`). Default: the system's resolvers."),
    Setting("DNS_TIMEOUT", 5, "Seconds a DNS look-up of a custom domain may take.", float),
    Setting("ALLOWED_HOSTS", "", "Other host names (comma-separated) the main site answers on besides BASE_URL's "
            "host and loopback; a request for any other host that is not a verified custom domain gets 404.",
            _list),
    Setting("RATELIMIT_DOMAIN_ASK", "60/minute", "Questions of the TLS proxy (`/api/custom-domains/ask`) per "
            "client IP."),
    Setting("LOG_LEVEL", "INFO", "Python log level."),
)

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


def _raw(name: str, env: Mapping[str, str]) -> str | None:
    if name in env:
        return env[name]
    file_var = env.get(name + "_FILE")
    if file_var:
        try:
            return Path(file_var).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {file_var}: {exc.strerror}") from exc
    return None


def _generated_secret(instance_dir: Path, filename: str, make: Callable[[], str]) -> str:
    """Read a development secret from the instance folder, creating it (mode 0600) on first use.

    Safe when several processes start at once (gunicorn workers): the secret is written to a private temporary
    file and hard-linked into place, so nobody reads a half-written file and the first link wins for everyone.
    """
    path = instance_dir / filename
    if path.exists():
        return path.read_text().strip()
    private_dir(instance_dir)
    value = make()
    tmp = instance_dir / f".{filename}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process won the race: use its secret
            return path.read_text().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return value


def new_encryption_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def load_config(env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> dict:
    """Build the configuration dict from ``env`` (default ``os.environ``) plus ``overrides``.

    Raises ConfigError naming every missing or malformed setting.
    """
    env = os.environ if env is None else env
    overrides = dict(overrides or {})
    problems: list[str] = []
    cfg: dict[str, Any] = {}
    for s in SETTINGS:
        if s.name in overrides:
            cfg[s.name] = overrides.pop(s.name)
            continue
        try:
            raw = _raw(s.name, env)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        if raw is None or raw == "":
            cfg[s.name] = s.default
            continue
        try:
            cfg[s.name] = s.parse(raw)
        except ValueError as exc:
            cfg[s.name] = s.default  # keep going, so every problem is reported at once
            problems.append(f"{s.name}: {exc}")
    cfg.update(overrides)  # extra keys (Flask settings, test hooks)

    env_name = str(cfg["LINKTIME_ENV"]).lower()
    if env_name not in ("development", "production"):
        problems.append("LINKTIME_ENV: must be 'development' or 'production'")
    production = env_name == "production"
    cfg["PRODUCTION"] = production

    instance = Path(cfg["INSTANCE_DIR"])
    if not instance.is_absolute():
        instance = ROOT / instance
    cfg["INSTANCE_DIR"] = str(instance)

    if production:
        missing = [s.name for s in SETTINGS if s.required_in_production and not cfg.get(s.name)]
        if missing:
            problems.append("production mode needs these settings: " + ", ".join(missing)
                            + " (set them in the environment or as NAME_FILE)")
    else:
        if not cfg["SECRET_KEY"]:
            cfg["SECRET_KEY"] = _generated_secret(instance, "secret_key", lambda: secrets.token_urlsafe(48))
        if not cfg["ENCRYPTION_KEY"]:
            cfg["ENCRYPTION_KEY"] = _generated_secret(instance, "encryption_key", new_encryption_key)
        if not cfg["BASE_URL"]:
            cfg["BASE_URL"] = f"http://{cfg['HOST']}:{cfg['PORT']}"

    if cfg["DEFAULT_PLAN"] not in ("FREE", "PRO", "BUSINESS", "ORGANIZATION", "ENTERPRISE"):
        problems.append("DEFAULT_PLAN: must be one of FREE, PRO, BUSINESS, ORGANIZATION")
    if cfg["SMTP_TLS"] not in ("none", "starttls", "ssl"):
        problems.append("SMTP_TLS: must be none, starttls or ssl")
    if not 1 <= cfg["SESSION_IDLE_DAYS"] <= cfg["SESSION_MAX_DAYS"]:
        problems.append("SESSION_IDLE_DAYS and SESSION_MAX_DAYS: need 1 <= SESSION_IDLE_DAYS <= SESSION_MAX_DAYS")
    paypal_missing = [n for n in ("PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET", "PAYPAL_WEBHOOK_ID") if not cfg[n]]
    if 0 < len(paypal_missing) < 3:
        problems.append("PayPal needs PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET and PAYPAL_WEBHOOK_ID together; missing: "
                        + ", ".join(paypal_missing))
    if problems:
        raise ConfigError("LinkTime cannot start:\n  - " + "\n  - ".join(problems))

    cfg["BASE_URL"] = str(cfg["BASE_URL"]).rstrip("/")
    if not cfg["DATABASE_URL"]:
        cfg["DATABASE_URL"] = f"sqlite:///{instance / 'linktime.db'}"
    if not cfg["HUEY_URL"]:
        cfg["HUEY_URL"] = f"sqlite:///{instance / 'queue.db'}"
    if cfg["SESSION_COOKIE_SECURE"] is None:
        cfg["SESSION_COOKIE_SECURE"] = production
    if cfg["WEBHOOK_ALLOW_PRIVATE"] is None:
        cfg["WEBHOOK_ALLOW_PRIVATE"] = not production
    if cfg["CALENDAR_ALLOW_PRIVATE"] is None:
        cfg["CALENDAR_ALLOW_PRIVATE"] = not production
    if not cfg["PAYPAL_API_BASE"]:
        cfg["PAYPAL_API_BASE"] = {"live": "https://api-m.paypal.com"}.get(cfg["PAYPAL_MODE"],
                                                                         "https://api-m.sandbox.paypal.com")
    return cfg


def markdown_table() -> str:
    """The README's configuration table, generated from the registry."""
    rows = ["| Setting | Default | Description |", "|---|---|---|"]
    for s in SETTINGS:
        default = "" if s.default in ("", None) else f"`{s.default}`"
        extra = " Secret: also `_FILE`." if s.secret else ""
        req = " **Required in production.**" if s.required_in_production else ""
        rows.append(f"| `{s.name}` | {default} | {s.description}{req}{extra} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover - documentation helper
    sys.stdout.write(markdown_table() + "\n")
