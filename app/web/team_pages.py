"""Public team pages (issue 15): ``/team/<team_slug>`` lists a team's public event types, and
``/team/<team_slug>/<slug>`` (with ``/calendar``, ``/slots`` and the booking form's POST) books one of them.
They show the team's name with its organization's logo (Organization → Settings) and brand colour.

The booking views are the personal ones of :mod:`app.web.public` (``show_booking_page``, ``show_calendar``,
``show_slots``, ``submit_booking``) run for a team ``Site``: the team's name and its organization's brand colour
instead of a host's name, colour and logo. The slots come from ``available_slots``, which combines the hosts'
availability for a team event type (collective: every host free; round-robin: any). The page cache is keyed by a
host's ``pages_version``, which a team page does not have (any host's booking changes it): team pages are
computed on every request.

``/team/...`` is a fixed segment, so Flask prefers these rules to ``/<username>/<slug>``; the username "team" is
reserved (app/services/account/accounts.py) so no host's page would be hidden behind them.
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, request, url_for

from app.extensions import csrf
from app.models import EventType, Organization, OrganizationLogo, Team
from app.services.plans import LIMITS, normalize_plan
from app.services.scheduling.event_types import render_description
from app.services.scheduling.slots import hosts_of
from app.services.scheduling.team_event_types import public_event_type, team_event_types
from app.web.booking_view import ViewState, color_style, location_text, view_state
from app.web.public import Site, show_booking_page, show_calendar, show_slots, submit_booking
from app.web.rendering import render

bp = Blueprint("team_pages", __name__, url_prefix="/team")

SCHEDULING_LABELS = {"round_robin": "Round robin", "collective": "Collective"}


def get_team(team_slug: str) -> Team:
    team = (Team.select(Team, Organization).join(Organization)
            .where(Team.slug == team_slug.lower()).first())
    if team is None:
        abort(404)
    return team


def get_event_type(team_slug: str, slug: str) -> EventType:
    """An active team event type (secret ones included: they are booked by link), or 404."""
    event_type = public_event_type(team_slug, slug)
    if event_type is None:
        abort(404)
    return event_type


def team_context(team: Team, state: ViewState) -> dict:
    """The team's counterpart of ``booking_view.host_context``: the team stands where the host's name does."""
    organization = team.organization
    return {"host": team, "team": team, "state": state, "embed": state.embed,
            "brand_style": color_style(organization.brand_color),
            "has_logo": OrganizationLogo.select().where(OrganizationLogo.organization == organization.id).exists(),
            "logo_url": url_for("org_settings.logo", org_id=organization.id),
            "hide_branding": LIMITS[normalize_plan(organization.plan)].hide_branding,
            "base_url": current_app.config["BASE_URL"],
            "profile_url": url_for("team_pages.team_page", team_slug=team.slug)}


def team_site(event_type: EventType) -> Site:
    team = event_type.team
    return Site("team_pages", {"team_slug": team.slug}, lambda state: team_context(team, state))


# --- the team page -----------------------------------------------------------------------------------------
@bp.get("/<team_slug>")
def team_page(team_slug: str):
    team = get_team(team_slug)
    event_types = team_event_types(team, public_only=True)
    # the zone shown before the visitor picks one: the first event type's creator's, as on its booking page
    state = view_state(request.args, event_types[0].user.timezone if event_types else "UTC")
    keep = state.params(tz=request.args.get("tz") and state.tz, hour=request.args.get("hour") and state.hour)
    query = ("?" + urlencode(keep)) if keep else ""
    cards = []
    for et in event_types:
        hosts = hosts_of(et)
        cards.append({"et": et, "location": location_text(et), "description": render_description(et.description),
                      "kind": SCHEDULING_LABELS.get(et.scheduling_type, ""),
                      "hosts": [host.user.name for host in hosts],
                      "url": url_for("team_pages.booking_page", team_slug=team.slug, slug=et.slug) + query})
    return render("public/profile.html", cards=cards, shared_page=True, **team_context(team, state))


# --- a team event type's booking page ------------------------------------------------------------------------
@bp.get("/<team_slug>/<slug>")
def booking_page(team_slug: str, slug: str):
    event_type = get_event_type(team_slug, slug)
    return show_booking_page(event_type, team_site(event_type))


@bp.get("/<team_slug>/<slug>/calendar")
def calendar(team_slug: str, slug: str):
    event_type = get_event_type(team_slug, slug)
    return show_calendar(event_type, team_site(event_type))


@bp.get("/<team_slug>/<slug>/slots")
def slots(team_slug: str, slug: str):
    event_type = get_event_type(team_slug, slug)
    return show_slots(event_type, team_site(event_type))


@bp.post("/<team_slug>/<slug>")
def book(team_slug: str, slug: str):
    event_type = get_event_type(team_slug, slug)
    return submit_booking(event_type, team_site(event_type))


csrf.exempt(book)
