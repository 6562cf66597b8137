"""Dashboard → Organizations: create one, its members and their roles, invitations by email, teams (issue 15).

Everyone in an organization sees its members and teams; OWNER and ADMIN members manage them (the service says
who may do what: an outsider gets a 404, a MEMBER a 403 with the reason). Each action is a plain form post that
redirects back with a notice, and an htmx post that swaps the organization panel in place with inline errors.
The invitation link of the email opens ``/invitations/<token>``: signed out, it asks to sign in (or sign up)
with the invited address; signed in with that address, one button joins.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, flash, g, redirect, request, url_for

from app.datetimes import host_clock
from app.db import transaction
from app.models import EventType, EventTypeHost, Membership, Team, TeamMember, User, UserLogo
from app.models.scheduling import SCHEDULING_TYPES
from app.services import audit
from app.services.account import org_audit
from app.services.account import organizations as service
from app.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.services.mailer import queue_email
from app.services.plans import PLAN_LABELS
from app.web import org_members
from app.web.audit import shown_filters
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("organizations", __name__)
ROLE_LABELS = {"OWNER": "Owner", "ADMIN": "Admin", "MEMBER": "Member"}
AUDIT_PAGE_SIZE = 50


@bp.get("/dashboard/organizations")
@login_required
def index():
    return render("organizations/index.html", organizations=service.organizations_of(g.user), values={},
                  errors={}, role_labels=ROLE_LABELS)


@bp.post("/dashboard/organizations")
@login_required
def create():
    values = {key: request.form.get(key, "").strip() for key in ("name", "slug")}
    try:
        with transaction():
            org = service.create_organization(g.user, **values)
    except ValidationFailed as exc:
        return render("organizations/index.html", status=422, organizations=service.organizations_of(g.user),
                      values=values, errors=exc.errors, role_labels=ROLE_LABELS)
    flash(f"Created the organization {org.name}. Invite your colleagues below.", "success")
    return redirect(url_for("organizations.detail", org_id=org.id))


def _teams(org) -> list[tuple[Team, list[User]]]:
    teams = list(Team.select().where(Team.organization == org).order_by(Team.name))
    people: dict[str, list[User]] = {team.id: [] for team in teams}
    rows = (TeamMember.select(TeamMember, User).join(User)
            .where(TeamMember.team.in_([team.id for team in teams])).order_by(User.name))
    for row in rows:
        people[row.team_id].append(row.user)
    return [(team, people[team.id]) for team in teams]


def _team_event_types(teams: list[tuple[Team, list[User]]]) -> dict[str, list[tuple[EventType, list]]]:
    """Per team id: its event types in order, each with its hosts (users joined, by name)."""
    rows: dict[str, list[tuple[EventType, list]]] = {team.id: [] for team, _ in teams}
    event_types = list(EventType.select().where(EventType.team.in_(list(rows)))
                       .order_by(EventType.position, EventType.created_at))
    hosts: dict[str, list] = {et.id: [] for et in event_types}
    for host in (EventTypeHost.select(EventTypeHost, User).join(User)
                 .where(EventTypeHost.event_type.in_(list(hosts))).order_by(User.name)):
        hosts[host.event_type_id].append(host)
    for et in event_types:
        rows[et.team_id].append((et, hosts[et.id]))
    return rows


def _panel(org_id: str, *, status: int = 200, notice: str | None = None, errors: dict | None = None,
           values: dict | None = None, **extra):
    """The organization panel; ``extra``: ``tet_form`` (a team event type form open in its team's card) or
    ``tet_confirm`` (the id of a team event type whose deletion is being confirmed)."""
    org, mine = service.require_member(org_id, g.user)
    teams = _teams(org)
    context = {"org": org, "mine": mine, "manager": mine.role in service.MANAGERS,
               "members": service.members(org), "teams": teams,
               "invitations": service.pending_invitations(org) if mine.role in service.MANAGERS else [],
               "role_labels": ROLE_LABELS, "plan_label": PLAN_LABELS.get(org.plan, org.plan),
               "notice": notice, "errors": errors or {}, "values": values or {},
               "team_event_types": _team_event_types(teams), "scheduling_types": SCHEDULING_TYPES,
               "base_url": current_app.config["BASE_URL"], "tet_form": None, "tet_confirm": None, **extra}
    return render("organizations/detail.html", block="org_panel", status=status, **context)


def _done(org_id: str, message: str):
    if is_htmx():
        return _panel(org_id, notice=message)
    flash(message, "success")
    return redirect(url_for("organizations.detail", org_id=org_id))


def _refused(org_id: str, exc: ValidationFailed | Conflict | Forbidden, values: dict | None = None):
    errors = exc.errors if isinstance(exc, ValidationFailed) else {"form": str(exc)}
    status = 403 if isinstance(exc, Forbidden) else 409 if isinstance(exc, Conflict) else 422
    if is_htmx() or isinstance(exc, ValidationFailed):
        return _panel(org_id, status=status, errors=errors, values=values)
    flash(str(exc), "error")
    return redirect(url_for("organizations.detail", org_id=org_id))


@bp.get("/dashboard/organizations/<org_id>")
@login_required
def detail(org_id: str):
    return _panel(org_id)


@bp.post("/dashboard/organizations/<org_id>/invitations")
@login_required
def invite(org_id: str):
    values = {"email": request.form.get("email", "").strip(), "role": request.form.get("role", "MEMBER")}
    try:
        with transaction():
            invitation, token = service.invite(g.user, org_id, **values)
            link = current_app.config["BASE_URL"] + url_for("organizations.invitation", token=token)
            queue_email(invitation.email, f"{g.user.name} invited you to {invitation.organization.name} on LinkTime",
                        "organization_invitation", user_id=g.user.id, inviter=g.user,
                        organization=invitation.organization, role=ROLE_LABELS[invitation.role], link=link,
                        days=service.INVITATION_DAYS)
    except (ValidationFailed, Conflict, Forbidden) as exc:
        return _refused(org_id, exc, values)
    return _done(org_id, f"Invited {invitation.email}. The link in the email works for "
                         f"{service.INVITATION_DAYS} days.")


@bp.post("/dashboard/organizations/<org_id>/invitations/<invitation_id>/revoke")
@login_required
def revoke(org_id: str, invitation_id: str):
    with transaction():
        service.revoke_invitation(g.user, org_id, invitation_id)
    return _done(org_id, "Withdrew the invitation; its link no longer works.")


@bp.post("/dashboard/organizations/<org_id>/members/<member_id>/role")
@login_required
def change_role(org_id: str, member_id: str):
    try:
        with transaction():
            row = service.change_role(g.user, org_id, member_id, request.form.get("role", ""))
    except (ValidationFailed, Conflict, Forbidden) as exc:
        return _refused(org_id, exc)
    return _done(org_id, f"{row.user.name} is now {ROLE_LABELS[row.role].lower()}.")


@bp.post("/dashboard/organizations/<org_id>/members/<member_id>/remove")
@login_required
def remove(org_id: str, member_id: str):
    leaving = member_id == g.user.id
    step = org_members.confirmation_step(org_id, member_id)     # upcoming team bookings: ask what happens first
    if step is not None:
        return step
    try:
        with transaction():
            service.remove_member(g.user, org_id, member_id)
    except (Conflict, Forbidden) as exc:
        return _refused(org_id, exc)
    if leaving:
        flash("You left the organization.", "success")
        return redirect(url_for("organizations.index"))
    return _done(org_id, "Removed the member from the organization and its teams.")


@bp.post("/dashboard/organizations/<org_id>/teams")
@login_required
def create_team(org_id: str):
    values = {key: request.form.get(key, "").strip() for key in ("name", "slug")}
    try:
        with transaction():
            team = service.create_team(g.user, org_id, **values)
    except (ValidationFailed, Forbidden) as exc:
        return _refused(org_id, exc, {f"team_{k}": v for k, v in values.items()})
    return _done(org_id, f"Created the team {team.name}.")


@bp.post("/dashboard/organizations/<org_id>/teams/<team_id>/members")
@login_required
def add_team_member(org_id: str, team_id: str):
    _team_in(org_id, team_id)
    try:
        with transaction():
            service.add_team_member(g.user, team_id, request.form.get("member", ""))
    except Forbidden as exc:
        return _refused(org_id, exc)
    return _done(org_id, "Added the member to the team.")


@bp.post("/dashboard/organizations/<org_id>/teams/<team_id>/members/<member_id>/remove")
@login_required
def remove_team_member(org_id: str, team_id: str, member_id: str):
    _team_in(org_id, team_id)
    try:
        with transaction():
            service.remove_team_member(g.user, team_id, member_id)
    except Forbidden as exc:
        return _refused(org_id, exc)
    return _done(org_id, "Removed the member from the team.")


def _team_in(org_id: str, team_id: str) -> None:
    if not Team.select().where((Team.id == team_id) & (Team.organization == org_id)).exists():
        raise NotFound("Team not found")


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def invitation(token: str):
    """The link of an invitation email: opening it changes nothing; the button (a POST) joins."""
    try:
        invite_row = service.invitation_for(token)
    except NotFound as exc:
        return render("organizations/invitation.html", status=404, problem=str(exc), token=token)
    user = g.get("user")
    if request.method == "POST" and user is not None:
        try:
            with transaction():
                joined = service.accept(token, user)
        except (NotFound, Forbidden) as exc:
            return render("organizations/invitation.html", status=exc.status, problem=str(exc), token=token)
        flash(f"You joined {invite_row.organization.name} as {ROLE_LABELS[joined.role].lower()}.", "success")
        return redirect(url_for("organizations.detail", org_id=joined.organization_id))
    wrong_account = user is not None and (user.email or "").lower() != invite_row.email
    return render("organizations/invitation.html", invitation=invite_row, token=token, user=user,
                  wrong_account=wrong_account, role=ROLE_LABELS[invite_row.role],
                  is_member=user is not None and Membership.select().where(
                      (Membership.organization == invite_row.organization) & (Membership.user == user)).exists())


# -- the organization audit log (OWNER and ADMIN) ----------------------------------------------------------------

@bp.get("/dashboard/organizations/<org_id>/audit-log")
@login_required
def audit_log(org_id: str):
    values, errors = audit.parse_filters(request.args)
    if "category" in errors:
        values["category"] = "all"
    values["page"] = 1 if "page" in errors else values["page"]
    org, result = org_audit.list_entries(g.user, org_id, category=values["category"], search=values["search"],
                                         page=values["page"], limit=AUDIT_PAGE_SIZE)
    hour12 = host_clock(g.user).hour12
    users = org_audit.members_of(result.entries)
    logos = {row.user_id for row in UserLogo.select(UserLogo.user).where(UserLogo.user.in_(list(users)))}
    rows = [{"entry": e, "label": audit.action_label(e.action), "resource": audit.resource_label(e.resource),
             "details": audit.detail_lines(e, hour12=hour12), "ip": audit.mask_ip(e.ip_address, full=result.full_ip),
             "user": users.get(e.user_id),
             "user_image": url_for("main.logo", user_id=e.user_id) if e.user_id in logos else None}
            for e in result.entries]
    return render("organizations/audit.html", block="audit_results", org=org, rows=rows, result=result,
                  filters=shown_filters(values["category"]), category=values["category"],
                  search=values["search"], notice=errors.get("category"), show_user=True,
                  log_endpoint="organizations.audit_log", export_endpoint="organizations.audit_export",
                  route_args={"org_id": org.id})


@bp.get("/dashboard/organizations/<org_id>/audit-log/export.csv")
@login_required
def audit_export(org_id: str):
    values, _errors = audit.parse_filters(request.args)
    category = values["category"] if values["category"] in audit.FILTERS else "all"
    body = org_audit.export_csv(g.user, org_id, category=category, search=values["search"])
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{audit.csv_filename()}"'})
