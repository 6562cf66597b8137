"""The text hosts write for workflow actions: variables filled in by Jinja's sandbox.

A host writes ``Hi {{ invitee_name }}, see you {{ start_time }}.``; ``render`` fills it with ``variables(booking)``
in an ``ImmutableSandboxedEnvironment``: a template cannot reach Python objects (``{{ ''.__class__ }}`` renders
nothing, a call of an unsafe attribute is refused), cannot change the values it gets, and its output is capped.
HTML (an email's HTML part) is rendered with autoescaping, so an invitee's ``<script>`` in their name or answers
arrives as text; plain text (SMS, an email's text part) is not escaped, and Slack text is escaped the way Slack's
message syntax asks (``&``, ``<``, ``>``).
"""
from __future__ import annotations

import functools

import nh3
from jinja2 import Template, TemplateError, Undefined, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

MAX_SOURCE = 10_000      # characters a host may write in one field
MAX_OUTPUT = 20_000      # characters one rendering may produce


class TemplateFailed(Exception):
    """The host's text cannot be rendered; the message says why in plain words."""


class _Blank(Undefined):
    """An unknown variable (or a refused attribute) renders as nothing, never as an error."""
    __slots__ = ()


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=autoescape, undefined=_Blank, keep_trailing_newline=True)
    env.globals.clear()          # no range(), lipsum(), dict() ...: variables only
    return env


_HTML = _environment(True)
_TEXT = _environment(False)

# The variables hosts may use, in the editor's order, with what each holds.
VARIABLES = (
    ("invitee_name", "The invitee's name"),
    ("invitee_email", "The invitee's email"),
    ("invitee_phone", "The invitee's phone number, when they gave one"),
    ("event_name", "The event type's name"),
    ("start_time", "Start, on the invitee's clock and zone"),
    ("end_time", "End, on the invitee's clock and zone"),
    ("start_time_host", "Start, on the host's clock and zone"),
    ("end_time_host", "End, on the host's clock and zone"),
    ("invitee_timezone", "The invitee's time zone"),
    ("location", "Where the meeting is"),
    ("meeting_link", "The video meeting link"),
    ("manage_link", "The invitee's page of the booking"),
    ("reschedule_link", "The invitee's reschedule link"),
    ("cancel_link", "The invitee's cancel link"),
    ("host_name", "The host's name (every host of a team booking)"),
    ("host_email", "The host's email"),
    ("answers", "The invitee's answers: {{ answers['Question'] }}, or all of them with {{ answers_text }}"),
    ("answers_text", "Every answer, one \"Question: answer\" per line"),
    ("payment_amount", "What was paid, e.g. 50.00 USD (empty for a free booking)"),
    ("cancel_reason", "Why the booking was cancelled (Booking Cancelled)"),
)


def check(source: str) -> str | None:
    """None when ``source`` is a template LinkTime can render, else a message for the form."""
    if len(source) > MAX_SOURCE:
        return f"Keep this under {MAX_SOURCE:,} characters."
    try:
        _TEXT.parse(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" on line {line}" if line else ""
        return f"This text has a template error{where}: {str(exc.message or exc).rstrip('.')}."
    try:                    # a trial with sample values: refused attribute access is caught when saving
        _render(_TEXT, source, sample_values())
    except TemplateFailed as exc:
        return str(exc)
    return None


def sample_values() -> dict:
    """Values of the shape ``variables`` gives, for checking and previewing a host's text."""
    values = {name: f"[{name}]" for name, _ in VARIABLES}
    values["answers"] = {"What should we prepare?": "[answer]"}
    values["answers_text"] = "What should we prepare?: [answer]"
    return values


@functools.lru_cache(maxsize=256)
def _compiled(env: ImmutableSandboxedEnvironment, source: str) -> Template:
    """A host's text compiled once per process (compiling took longer than rendering: 10,000 reminders compiled
    the same text 10,000 times)."""
    return env.from_string(source)


@functools.lru_cache(maxsize=256)
def _names(source: str) -> frozenset[str]:
    try:
        return frozenset(meta.find_undeclared_variables(_TEXT.parse(source)))
    except TemplateError:
        return frozenset()            # rendering it fails with the reason, whatever the values


def names_in(*sources: str) -> frozenset[str]:
    """The variables ``sources`` read (a name no text uses need not be computed: a reminder's text reads five of
    the twenty, and computing the others took a query or two per text)."""
    names: frozenset[str] = frozenset()
    for source in sources:
        if source:
            names |= _names(source)
    return names


def _render(env: ImmutableSandboxedEnvironment, source: str, values: dict) -> str:
    try:
        out = _compiled(env, source).render(values)
    except TemplateError as exc:   # SecurityError included: a refused call
        raise TemplateFailed(f"The text could not be filled in: {exc}") from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateFailed(f"The text could not be filled in: {exc}") from exc
    return out[:MAX_OUTPUT]


def render_text(source: str, values: dict) -> str:
    """Plain text (SMS, an email's subject and text part)."""
    return _render(_TEXT, source, values)


def render_html(source: str, values: dict) -> Markup:
    """An email's HTML part: variables escaped, the host's line breaks kept."""
    out = _render(_HTML, source, values)
    # the host's own markup stays within what an email may hold (no script, no event handlers)
    return Markup(nh3.clean("<br>\n".join(out.split("\n"))))


def slack_escape(text: str) -> str:
    """Slack's message syntax reads ``<``, ``>`` and ``&`` as markup: escape them as Slack documents."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_slack(source: str, values: dict) -> str:
    """Slack text: every value escaped for Slack, the host's own formatting (``*bold*``, links) kept."""
    escaped = {key: _slack_value(value) for key, value in values.items()}
    return _render(_TEXT, source, escaped)


def _slack_value(value):
    if isinstance(value, str):
        return slack_escape(value)
    if isinstance(value, dict):
        return {key: _slack_value(item) for key, item in value.items()}
    return value
