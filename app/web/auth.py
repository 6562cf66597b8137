"""Sign up, sign in (password, Google, Microsoft), sign out, password reset."""
from __future__ import annotations

import secrets

from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from itsdangerous import BadSignature, URLSafeSerializer

from app.datetimes import signup_hour12
from app.db import transaction
from app.integrations import oauth as oauth_clients
from app.models import OAuthIdentity, User
from app.ratelimit import (
    RateLimited,
    backoff_check,
    backoff_failure,
    backoff_reset,
    count,
    exceeded,
)
from app.ratelimit import check as rate_check
from app.security import sha256_hex
from app.services.account import accounts
from app.services.errors import ValidationFailed
from app.services.mailer import queue_email
from app.timezones import all_timezones
from app.web.rendering import render
from app.web.session import login_user, logout_user, safe_next

bp = Blueprint("auth", __name__)

PROVIDERS = {
    "google": {"label": "Google", "config": "GOOGLE"},
    "microsoft": {"label": "Microsoft", "config": "MICROSOFT"},
}


def enabled_providers() -> list[tuple[str, str]]:
    cfg = current_app.config
    return [(name, p["label"]) for name, p in PROVIDERS.items() if cfg.get(f"{p['config']}_CLIENT_ID")]


def _oauth() -> OAuth:
    app = current_app._get_current_object()
    oauth = app.extensions.get("linktime_oauth")
    if oauth is None:
        oauth = OAuth(app)
        for name, p in PROVIDERS.items():
            prefix = p["config"]
            if app.config.get(f"{prefix}_CLIENT_ID"):
                oauth.register(
                    name=name,
                    client_id=app.config[f"{prefix}_CLIENT_ID"],
                    client_secret=app.config[f"{prefix}_CLIENT_SECRET"],
                    server_metadata_url=app.config[f"{prefix}_DISCOVERY_URL"],
                    # Authlib fills unset endpoints from app.config keys named like ours ({NAME}_AUTHORIZE_URL is
                    # also the calendar integrations' setting): sign-in takes them from the discovery document only.
                    authorize_url=None, access_token_url=None, api_base_url=None,
                    client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256",
                                   "default_timeout": 10},
                )
        app.extensions["linktime_oauth"] = oauth
    return oauth


def _new_host_hour12(choice: str, timezone: str) -> bool:
    """The clock a new host reads: the browser's hour cycle (the form's hidden ``hour``, filled by script), else
    its language's region, else the zone's country (``app.datetimes.signup_hour12``)."""
    return signup_hour12(choice, request.headers.get("Accept-Language"), timezone)


def _form_values(*names: str) -> dict[str, str]:
    return {n: request.form.get(n, "").strip() if n != "password" else request.form.get(n, "") for n in names}


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    if g.user:
        return redirect(url_for("dashboard.home"))
    if not current_app.config["SIGNUP_OPEN"] and User.select().exists():
        return render("auth/signup_closed.html", status=403)
    values = {"name": "", "email": "", "username": "", "timezone": "", "password": "", "hour": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        rate_check("signup", g.client_ip or "unknown", current_app.config["RATELIMIT_SIGNUP"])
        values = _form_values("name", "email", "username", "timezone", "password", "hour")
        data = accounts.SignupData(name=values["name"], email=values["email"], username=values["username"],
                                   password=values["password"], timezone=values["timezone"],
                                   hour12=_new_host_hour12(values["hour"], values["timezone"]))
        try:
            user = accounts.signup(data, default_plan=current_app.config["DEFAULT_PLAN"], ip=g.client_ip)
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            login_user(user)
            if user.email_verified_at is None:
                send_verification_email(user)
            return redirect(url_for("dashboard.home"))
    values["password"] = ""
    return render("auth/signup.html", values=values, errors=errors, timezones=all_timezones(),
                  status=422 if errors else 200)


# --- throttling of password guesses ------------------------------------------------------------------------
# Per client IP (RATELIMIT_LOGIN), and per account: each client (IP, or a browser that signed in to the
# account before) backs off exponentially after five failures for that account, and once the account
# collected RATELIMIT_LOGIN_ACCOUNT failures from everywhere, only browsers that signed in to it before may
# keep trying. An attacker thus slows down themselves; the owner's usual browser always gets its turn.
DEVICE_COOKIE = "linktime_device"
DEVICE_MAX_ACCOUNTS = 10
DEVICE_MAX_AGE = 365 * 24 * 60 * 60


def _device_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="linktime.device")


def _device() -> dict:
    """``{"d": device id, "a": [account keys this browser signed in to]}`` from the signed cookie."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if raw:
        try:
            value = _device_serializer().loads(raw)
        except BadSignature:
            value = None
        if isinstance(value, dict) and isinstance(value.get("d"), str) and isinstance(value.get("a"), list):
            return value
    return {"d": None, "a": []}


def _account_key(email: str) -> str:
    return sha256_hex("login:" + accounts.normalize_email(email))[:32]


def _device_key(user: User | None) -> str | None:
    """What a browser that signed in to ``user`` remembers. It names the account's ``session_key`` too, which
    changes with the password (a change, a reset, the takeover guard): a browser remembered before stops
    counting as the owner's then."""
    if user is None:
        return None
    return sha256_hex(f"device:{user.id}:{user.session_key}")[:32]


def _known_device(email: str, device: dict) -> bool:
    if not device["d"] or not device["a"]:
        return False
    key = _device_key(User.get_or_none(User.email == accounts.normalize_email(email)))
    return key is not None and key in device["a"]


def remember_device(response, user: User) -> None:
    """Remember on ``response`` that this browser signed in to ``user`` (exempt from the account's cap)."""
    key = _device_key(user)
    device = _device()
    known = [k for k in device["a"] if k != key][-(DEVICE_MAX_ACCOUNTS - 1):] + [key]
    value = _device_serializer().dumps({"d": device["d"] or secrets.token_urlsafe(16), "a": known})
    response.set_cookie(DEVICE_COOKIE, value, max_age=DEVICE_MAX_AGE, httponly=True, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"])


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = safe_next(request.values.get("next"), url_for("dashboard.home"))
    if g.user:
        return redirect(next_url)
    error = None
    email = ""
    if request.method == "POST":
        cfg = current_app.config
        rate_check("login", g.client_ip or "unknown", cfg["RATELIMIT_LOGIN"])
        email = request.form.get("email", "").strip()
        account = _account_key(email)
        device = _device()
        known_device = _known_device(email, device)
        scope = f"{account}/device:{device['d']}" if known_device else f"{account}/ip:{g.client_ip or 'unknown'}"
        backoff_check("login", scope)
        if not known_device and exceeded("login-account", account, cfg["RATELIMIT_LOGIN_ACCOUNT"]):
            raise RateLimited(15 * 60, "Too many failed sign-ins to this account. Please try again later, sign in "
                                       "from a browser you used before, or reset your password.")
        user = accounts.authenticate(email, request.form.get("password", ""))
        if user is None:
            error = "The email or password is not correct."
            backoff_failure("login", scope)
            if not known_device:
                count("login-account", account, cfg["RATELIMIT_LOGIN_ACCOUNT"])
        else:
            backoff_reset("login", scope)
            login_user(user)
            accounts.record_login(user, ip=g.client_ip, method="password")
            response = redirect(next_url)
            remember_device(response, user)
            return response
    return render("auth/login.html", email=email, error=error, next=next_url, status=401 if error else 200)


@bp.post("/logout")
def logout():
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    sent = False
    if request.method == "POST":
        rate_check("password-reset", g.client_ip or "unknown", current_app.config["RATELIMIT_LOGIN"])
        email = accounts.normalize_email(request.form.get("email", ""))
        user = User.get_or_none(User.email == email)
        if user is not None and not user.is_disabled:
            token = accounts.make_reset_token(user, current_app.config["SECRET_KEY"])
            link = current_app.config["BASE_URL"] + url_for("auth.reset_password", token=token)
            with transaction():
                queue_email(user.email, "Reset your LinkTime password", "password_reset", user_id=user.id,
                            user=user, link=link, minutes=accounts.RESET_MAX_AGE // 60)
        sent = True  # the same answer whether or not the account exists
    return render("auth/forgot.html", sent=sent)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    user = accounts.user_for_reset_token(token, current_app.config["SECRET_KEY"])
    if user is None:
        return render("auth/reset_invalid.html", status=400)
    errors: dict[str, str] = {}
    if request.method == "POST":
        if request.form.get("password", "") != request.form.get("password_confirm", ""):
            errors["password_confirm"] = "The two passwords do not match."
        else:
            try:
                accounts.reset_password(user, request.form.get("password", ""), ip=g.client_ip)
            except ValidationFailed as exc:
                errors = exc.errors
            else:
                # The link proved the mailbox: sign the owner in here and remember this browser, so an attacker
                # who ran the account into its cap of failed sign-ins cannot keep the owner out of it.
                login_user(user)
                accounts.record_login(user, ip=g.client_ip, method="password_reset")
                flash("Your password was changed and you are signed in. Other devices were signed out.", "success")
                response = redirect(url_for("dashboard.home"))
                remember_device(response, user)
                return response
    return render("auth/reset.html", token=token, errors=errors, status=422 if errors else 200)


# --- email verification ---------------------------------------------------------------------------------
def send_verification_email(user: User) -> None:
    token = accounts.make_verify_token(user, current_app.config["SECRET_KEY"])
    link = current_app.config["BASE_URL"] + url_for("auth.verify_email", token=token)
    with transaction():
        queue_email(user.email, "Confirm your email address for LinkTime", "verify_email", user_id=user.id,
                    user=user, link=link, days=accounts.VERIFY_MAX_AGE // 86400)


@bp.route("/verify-email/<token>", methods=["GET", "POST"])
def verify_email(token: str):
    """The link shows a page whose button (a POST) confirms the address: opening the link changes nothing, so
    a mail scanner that follows every link (or the owner opening a squatter's mail) verifies no account."""
    user = accounts.user_for_verify_token(token, current_app.config["SECRET_KEY"])
    if user is None:
        return render("auth/verify_invalid.html", status=400)
    if request.method != "POST":  # GET and HEAD
        return render("auth/verify_confirm.html", token=token, email=user.email,
                      already=user.email_verified_at is not None)
    accounts.verify_email(user, ip=g.client_ip)
    flash(f"Thank you: {user.email} is confirmed.", "success")
    return redirect(url_for("dashboard.home") if g.user else url_for("auth.login"))


@bp.post("/verify-email/resend")
def resend_verification():
    if g.user is None:
        return redirect(url_for("auth.login"))
    if g.user.email_verified_at is None:
        rate_check("verify-email", g.user.id, "3/hour")
        send_verification_email(g.user)
        flash(f"We sent a new confirmation link to {g.user.email}.", "info")
    return redirect(url_for("dashboard.home"))


# --- OpenID Connect sign-in -------------------------------------------------------------------------------
def _not_enabled():
    # render() takes ``status`` as the HTTP status; error.html also needs it in its context.
    html = render_template("error.html", status=404, message="This sign-in method is not enabled.")
    return make_response(html, 404)


def _signup_allowed() -> bool:
    return current_app.config["SIGNUP_OPEN"] or not User.select().exists()


def _id_token_claims_options(client) -> dict:
    """Check the ID token's issuer and audience ourselves (Authlib alone accepts a foreign ``aud`` when
    ``azp`` names us). Microsoft's multi-tenant discovery document names the issuer as a template with
    ``{tenantid}``; the token's own ``tid`` must complete it."""
    issuer = client.load_server_metadata().get("issuer") or ""
    if "{tenantid}" in issuer:
        iss = {"essential": True,
               "validate": lambda claims, value: bool(claims.get("tid"))
               and value == issuer.replace("{tenantid}", str(claims["tid"]))}
    else:
        iss = {"essential": True, "value": issuer}
    return {"iss": iss, "aud": {"essential": True, "value": client.client_id}}


def _verified_claims(client) -> dict:
    """Finish the authorization-code exchange and return the ID token's claims (plus userinfo's when
    the ID token carries no email). Raises on any state, token or signature problem."""
    token = client.authorize_access_token(claims_options=_id_token_claims_options(client))
    claims = dict(token.get("userinfo") or {})
    if not claims.get("sub"):
        raise ValueError("the token response carried no ID token")
    if not claims.get("email"):
        extra = dict(client.userinfo(token=token))
        if extra.get("sub") != claims["sub"]:  # OIDC Core 5.3.4: userinfo must be about the same subject
            raise ValueError("userinfo is about another subject")
        claims = {**extra, **claims}
    return claims


@bp.get("/login/<provider>")
def oidc_start(provider: str):
    if provider not in dict(enabled_providers()):
        return _not_enabled()
    if g.user:
        return redirect(url_for("dashboard.home"))
    client = _oauth().create_client(provider)
    redirect_uri = current_app.config["BASE_URL"] + url_for("auth.oidc_callback", provider=provider)
    return client.authorize_redirect(redirect_uri)


@bp.get("/login/<provider>/callback")
def oidc_callback(provider: str):
    if provider not in dict(enabled_providers()):
        return _not_enabled()
    label = PROVIDERS[provider]["label"]
    error = request.args.get("error")
    if error:
        current_app.logger.info("sign-in with %s ended by the provider: %s", provider, error)
        if error == "access_denied":
            flash(f"Sign-in with {label} was cancelled. You can sign in another way.", "info")
        else:
            flash(f"{label} did not complete the sign-in. Please try again.", "error")
        return redirect(url_for("auth.login"))
    client = _oauth().create_client(provider)
    try:
        claims = _verified_claims(client)
    except Exception as exc:
        current_app.logger.warning("sign-in with %s failed: %s", provider, exc)
        flash(f"Sign-in with {label} did not complete. Please try again.", "error")
        return redirect(url_for("auth.login"))

    subject = str(claims.get("sub") or "")
    email = accounts.normalize_email(claims.get("email") or "")
    if not email:
        flash(f"{label} did not share your email address, so it cannot be used to sign in here.", "error")
        return redirect(url_for("auth.login"))
    identity = OAuthIdentity.get_or_none((OAuthIdentity.provider == provider) & (OAuthIdentity.subject == subject))
    if identity is not None:
        user = identity.user
    else:
        if not oauth_clients.client_class(provider).email_verified(claims):
            flash(f"{label} has not confirmed that {email} is your address, so it cannot be used here. "
                  "Sign in with your password instead.", "error")
            return redirect(url_for("auth.login"))
        user = User.get_or_none(User.email == email)
    if user is not None:
        if user.is_disabled:
            flash("This account is disabled.", "error")
            return redirect(url_for("auth.login"))
        if identity is None:  # an account with this verified email exists: link the identity to it
            accounts.link_identity(user, provider, subject, email, ip=g.client_ip)
        login_user(user)
        accounts.record_login(user, ip=g.client_ip, method=provider)
        response = redirect(url_for("dashboard.home"))
        remember_device(response, user)
        return response
    if not _signup_allowed():
        return render("auth/signup_closed.html", status=403)
    session["oidc_pending"] = {"provider": provider, "subject": subject, "email": email,
                               "name": str(claims.get("name") or email.split("@")[0])[:100]}
    return redirect(url_for("auth.oidc_complete"))


@bp.route("/signup/complete", methods=["GET", "POST"])
def oidc_complete():
    if g.user:
        return redirect(url_for("dashboard.home"))
    pending = session.get("oidc_pending")
    if not pending or pending.get("provider") not in PROVIDERS:
        return redirect(url_for("auth.signup"))
    if not _signup_allowed():
        session.pop("oidc_pending", None)
        return render("auth/signup_closed.html", status=403)
    suggested = "".join(c for c in pending["email"].split("@")[0].lower() if c.isalnum() or c == "-")[:30]
    values = {"name": pending["name"], "username": suggested, "timezone": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        rate_check("signup", g.client_ip or "unknown", current_app.config["RATELIMIT_SIGNUP"])
        values = _form_values("name", "username", "timezone")
        data = accounts.SignupData(name=values["name"], email=pending["email"], username=values["username"],
                                   password="", timezone=values["timezone"],
                                   hour12=_new_host_hour12(request.form.get("hour", ""), values["timezone"]))
        try:
            user = accounts.signup(data, default_plan=current_app.config["DEFAULT_PLAN"], ip=g.client_ip,
                                   password_required=False, identity=(pending["provider"], pending["subject"]))
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            login_user(user)  # also drops oidc_pending: the session starts afresh
            return redirect(url_for("dashboard.home"))
    return render("auth/complete.html", values=values, email=pending["email"], errors=errors,
                  provider=PROVIDERS[pending["provider"]]["label"], timezones=all_timezones(),
                  status=422 if errors else 200)
