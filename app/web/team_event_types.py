"""Dashboard → Organizations → a team's event types (issue 15): the list in each team's card, and creating,
editing and deleting them (OWNER and ADMIN).

The form opens inside the team's card of the organization panel: a plain GET renders the organization page with
it open, an htmx GET swaps the panel in place; posting it answers the panel again (with inline errors, 422) or,
without JavaScript, redirects to the organization page with a notice. Deleting asks first, in place of the row.
Who may do what is the services' rule: an outsider (or an id from another organization) gets a 404, a MEMBER a
403 saying which role is needed.
"""
from __future__ import annotations

import dataclasses

from flask import Blueprint, current_app, g, get_template_attribute, make_response, redirect, request, url_for
from werkzeug.datastructures import MultiDict

from app.models import EventType, Team, TeamMember, User
from app.models.scheduling import SCHEDULING_TYPES
from app.services.account import organizations as orgs
from app.services.account import team_event_types as service
from app.services.errors import Forbidden, NotFound, ValidationFailed
from app.services.scheduling import event_types as personal
from app.web import event_types as editor
from app.web.htmx import is_htmx
from app.web.organizations import _done, _panel
from app.web.session import login_required

bp = Blueprint("team_event_types", __name__, url_prefix="/dashboard/organizations/<org_id>")
# the error summary names each field as the personal editor's does
FIELD_LABELS = {**editor.FIELD_LABELS, "scheduling_type": "Scheduling type", "hosts": "Hosts"}


# --- who and what ---------------------------------------------------------------------------------------------
def _team(org_id: str, team_id: str) -> Team:
    """The team, when it is ``org_id``'s and the user is a member of that organization (else NotFound)."""
    orgs.require_member(org_id, g.user)
    team = Team.get_or_none((Team.id == team_id) & (Team.organization == org_id))
    if team is None:
        raise NotFound("Team not found")
    return team


def _event_type(org_id: str, event_type_id: str) -> EventType:
    """A team event type of ``org_id`` that the user manages: NotFound outside it, Forbidden for a MEMBER."""
    orgs.require_member(org_id, g.user)
    event_type = (EventType.select(EventType).join(Team)
                  .where((EventType.id == event_type_id) & (Team.organization == org_id)).first())
    if event_type is None:
        raise NotFound("Event type not found")
    return service.get_for_manager(g.user, event_type.id)


def _members(team: Team) -> list[User]:
    return list(User.select().join(TeamMember, on=(TeamMember.user == User.id))
                .where(TeamMember.team == team).order_by(User.name, User.email))


def _forbidden(org_id: str, exc: Forbidden):
    return _panel(org_id, status=403, errors={"form": str(exc)})


# --- form values ------------------------------------------------------------------------------------------------
# Every field but the schedule is the personal editor's (app/web/event_types.py: the same values, parsing into
# ``EventTypeInput`` and question rows); the team form adds its scheduling type and hosts.
def _values_from_model(event_type: EventType | None) -> dict:
    values = editor.values_from_model(event_type)
    if event_type is None:
        return {**values, "scheduling_type": "collective", "hosts": {}}
    hosts = {host.user_id: {"fixed": host.is_fixed, "weight": str(host.weight)} for host in event_type.hosts}
    return {**values, "scheduling_type": event_type.scheduling_type or "", "hosts": hosts}


def _values_from_form(form: MultiDict, members: list[User]) -> dict:
    chosen = set(form.getlist("host"))
    # only the team's members are offered; an id from elsewhere is passed on for the service to refuse
    hosts = {user_id: {"fixed": bool(form.get(f"fixed-{user_id}")),
                       "weight": form.get(f"weight-{user_id}", "1").strip() or "1"}
             for user_id in [m.id for m in members if m.id in chosen] + sorted(chosen - {m.id for m in members})}
    return {**editor.values_from_form(form), "scheduling_type": form.get("scheduling_type", "").strip(),
            "hosts": hosts}


def _input(values: dict) -> personal.EventTypeInput:
    # each host's own default schedule applies: the team form offers no schedule
    return dataclasses.replace(editor.input_from_values(values), schedule_id=None)


def _hosts(values: dict) -> list[service.HostInput]:
    hosts = []
    for user_id, host in values["hosts"].items():
        try:
            weight: object = int(host["weight"])
        except ValueError:
            weight = host["weight"]  # not a number: the service refuses it with the range
        hosts.append(service.HostInput(user_id, host["fixed"], weight))
    return hosts


def _questions_url(org_id: str) -> str:
    return url_for("team_event_types.questions", org_id=org_id)


def _form(org_id: str, team: Team, event_type: EventType | None, values: dict, errors: dict | None = None,
          status: int = 200, focus: str | None = None):
    form = {"team": team, "event_type": event_type, "values": values,
            "errors": editor.notice_in_unit(errors or {}, values), "focus": focus,
            "members": _members(team), "location_choices": personal.location_choices(g.user, values["location_type"]),
            "scheduling_types": SCHEDULING_TYPES, "max_weight": service.MAX_WEIGHT,
            "questions_url": _questions_url(org_id), "question_labels": editor.QUESTION_LABELS,
            "reminder_presets": editor.REMINDER_PRESETS, "human_minutes": editor.human_minutes,
            "field_labels": FIELD_LABELS}
    return _panel(org_id, status=status, tet_form=form)


# --- routes -----------------------------------------------------------------------------------------------------
@bp.route("/teams/<team_id>/event-types/new", methods=["GET", "POST"])
@login_required
def new(org_id: str, team_id: str):
    team = _team(org_id, team_id)
    try:
        orgs.require_member(org_id, g.user, *orgs.MANAGERS)
    except Forbidden as exc:
        return _forbidden(org_id, exc)
    if request.method == "GET":
        return _form(org_id, team, None, _values_from_model(None))
    values = _values_from_form(request.form, _members(team))
    op = request.form.get("op", "save")
    if op != "save":  # a question row added, moved or removed without JavaScript: nothing is saved
        return _form(org_id, team, None, values, focus=editor.apply_question_op(values, op))
    try:
        event_type = service.create_team_event_type(g.user, team.id, _input(values),
                                                    scheduling_type=values["scheduling_type"],
                                                    hosts=_hosts(values), ip=g.client_ip)
    except ValidationFailed as exc:
        return _form(org_id, team, None, values, exc.errors, status=422)
    except Forbidden as exc:
        return _forbidden(org_id, exc)
    return _done(org_id, f"Created the team event type “{event_type.name}” in {team.name}.")


@bp.route("/event-types/<event_type_id>/edit", methods=["GET", "POST"])
@login_required
def edit(org_id: str, event_type_id: str):
    try:
        event_type = _event_type(org_id, event_type_id)
    except Forbidden as exc:
        return _forbidden(org_id, exc)
    team = event_type.team
    if request.method == "GET":
        return _form(org_id, team, event_type, _values_from_model(event_type))
    values = _values_from_form(request.form, _members(team))
    op = request.form.get("op", "save")
    if op != "save":
        return _form(org_id, team, event_type, values, focus=editor.apply_question_op(values, op))
    try:
        service.update_team_event_type(g.user, event_type, _input(values), scheduling_type=values["scheduling_type"],
                                       hosts=_hosts(values), ip=g.client_ip)
    except ValidationFailed as exc:
        return _form(org_id, team, EventType.get_by_id(event_type.id), values, exc.errors, status=422)
    except Forbidden as exc:
        return _forbidden(org_id, exc)
    return _done(org_id, f"Saved “{event_type.name}”.")


@bp.post("/event-types/questions")
@login_required
def questions(org_id: str):
    """Add, move or remove a question row of the form being edited (htmx answers the questions alone, as in the
    personal editor); nothing is saved."""
    try:
        orgs.require_member(org_id, g.user, *orgs.MANAGERS)
    except Forbidden as exc:
        return _forbidden(org_id, exc)
    if not is_htmx():  # without JavaScript these buttons post to the form itself
        return redirect(url_for("organizations.detail", org_id=org_id))
    values = editor.values_from_form(request.form)
    focus = editor.apply_question_op(values, request.form.get("op", ""))
    editor_macro = get_template_attribute("event_types/_fields.html", "question_editor")
    response = make_response(editor_macro({}, values, focus, _questions_url(org_id), editor.QUESTION_LABELS, "tet-"))
    response.vary.add("HX-Request")
    return response


@bp.route("/event-types/<event_type_id>/delete", methods=["GET", "POST"])
@login_required
def delete(org_id: str, event_type_id: str):
    try:
        event_type = _event_type(org_id, event_type_id)
    except Forbidden as exc:
        return _forbidden(org_id, exc)
    if request.method == "GET":  # the confirmation, in place of the row
        return _panel(org_id, tet_confirm=event_type.id)
    name = event_type.name
    try:
        service.delete_team_event_type(g.user, event_type, ip=g.client_ip)
    except Forbidden as exc:
        return _forbidden(org_id, exc)
    return _done(org_id, f"Deleted the team event type “{name}”.")


@bp.app_template_global()
def team_event_type_url(team_slug: str, slug: str) -> str:
    """The public address of a team event type (``/team/<team-slug>/<slug>``)."""
    return f"{current_app.config['BASE_URL']}/team/{team_slug}/{slug}"
