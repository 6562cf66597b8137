"""Dashboard: the host's contacts — list and search, detail with meetings, create / edit / delete by hand."""
from __future__ import annotations

from flask import Blueprint, flash, g, make_response, redirect, request, url_for

from app.services.booking import contacts as service
from app.services.errors import Conflict, ValidationFailed
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("contacts", __name__, url_prefix="/dashboard/contacts")

PAGE_SIZE = 20
MAX_SEARCH = 200


def _own(contact_id: str):
    return service.get_contact(g.user, contact_id)


def _done(endpoint: str, **values):
    """After a successful post: a redirect, which htmx performs as a full page load."""
    target = url_for(endpoint, **values)
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
    else:
        response = redirect(target)
    response.vary.add("HX-Request")
    return response


def _form_values() -> dict[str, str]:
    return {name: request.form.get(name, "") for name in service.FIELDS}


@bp.get("")
@login_required
def index():
    q = request.args.get("q", "").strip()[:MAX_SEARCH]
    page = max(1, request.args.get("page", 1, type=int) or 1)
    rows, total = service.list_contacts(g.user, q, page, PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    if page > pages:
        page = pages
        rows, total = service.list_contacts(g.user, q, page, PAGE_SIZE)
    return render("contacts/index.html", block="contact_results", contacts=rows, q=q, page=page, pages=pages,
                  total=total)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    errors: dict[str, str] = {}
    values = {name: "" for name in service.FIELDS}
    if request.method == "POST":
        values = _form_values()
        try:
            contact = service.create_contact(g.user, values, source="manual")
        except ValidationFailed as exc:
            errors = exc.errors
        except Conflict as exc:
            errors = {"email": str(exc)}
        else:
            flash(f"Contact {contact.name} added.", "success")
            return _done("contacts.detail", contact_id=contact.id)
    return render("contacts/form.html", block="contact_form", contact=None, values=values, errors=errors,
                  status=422 if errors else 200)


@bp.get("/<contact_id>")
@login_required
def detail(contact_id: str):
    info = service.contact_detail(_own(contact_id))
    return render("contacts/detail.html", info=info, contact=info.contact)


@bp.route("/<contact_id>/edit", methods=["GET", "POST"])
@login_required
def edit(contact_id: str):
    contact = _own(contact_id)
    errors: dict[str, str] = {}
    values = {name: getattr(contact, name) or "" for name in service.FIELDS}
    if request.method == "POST":
        values = _form_values()
        try:
            service.update_contact(contact, values)
        except ValidationFailed as exc:
            errors = exc.errors
        except Conflict as exc:
            errors = {"email": str(exc)}
        else:
            flash("Contact saved.", "success")
            return _done("contacts.detail", contact_id=contact.id)
    return render("contacts/form.html", block="contact_form", contact=contact, values=values, errors=errors,
                  status=422 if errors else 200)


@bp.post("/<contact_id>/delete")
@login_required
def delete(contact_id: str):
    contact = _own(contact_id)
    name = contact.name
    service.delete_contact(contact)
    flash(f"Contact {name} deleted.", "success")
    return _done("contacts.index")
