"""Host dashboard: contacts — list, search, pages, htmx partials, detail with meetings, create / edit / delete."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.db import db
from app.models import Booking, Contact, EventType, OutboxMessage
from app.services.booking import contacts as svc
from app.services.scheduling.slots import available_slots
from tests import factories
from tests.conftest import login

HTMX = {"HX-Request": "true"}


@pytest.fixture
def host(make_user):
    return make_user("hana", timezone="America/New_York")


@pytest.fixture
def signed_in(client, host):
    login(client, host)
    return client


def text(response):
    return response.get_data(as_text=True)


def add(app, host, **data):
    data.setdefault("email", f"{data['name'].split()[0].lower()}@example.com")
    with app.app_context(), db.connection_context():
        return svc.create_contact(host, data)


def stored(app, contact_id):
    with app.app_context(), db.connection_context():
        return Contact.get_or_none(Contact.id == contact_id)


def stored_by_email(app, email):
    with app.app_context(), db.connection_context():
        return Contact.get(Contact.email == email)


def count(app, model=Contact):
    with app.app_context(), db.connection_context():
        return model.select().count()


def contact_created_events(app):
    with app.app_context(), db.connection_context():
        payloads = [json.loads(m.payload) for m in OutboxMessage.select().where(OutboxMessage.kind == "event")]
    return [p for p in payloads if p["event"] == "contact.created"]


def book(app, host, start, now, email="ivan@example.com", name="Ivan Invitee"):
    with app.app_context(), db.connection_context():
        return factories.booking(factories.event_type(host), start, email=email, name=name, now=now)


def slots_from(app, host, when):
    with app.app_context(), db.connection_context():
        event_type = EventType.get((EventType.user == host) & (EventType.slug == "30-min"))
        return available_slots(event_type, when, when + timedelta(days=7), now=when)


# --- list and search ---------------------------------------------------------------------------------
def test_contacts_page_requires_sign_in(client):
    response = client.get("/dashboard/contacts")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_list_shows_the_hosts_contacts_only(app, signed_in, host, make_user):
    add(app, host, name="Jane Doe", company="Acme")
    add(app, make_user("otto"), name="Oscar Other")
    html = text(signed_in.get("/dashboard/contacts"))
    assert "Jane Doe" in html and "jane@example.com" in html and "Acme" in html
    assert "Oscar" not in html and "1 contact" in html


@pytest.mark.parametrize("query", ["jane", "JANE@EXAMPLE", "acme"])
def test_search_matches_name_email_or_company(app, signed_in, host, query):
    add(app, host, name="Jane Doe", company="Acme")
    add(app, host, name="Bob Builder", company="Bricks")
    html = text(signed_in.get("/dashboard/contacts", query_string={"q": query}))
    assert "Jane Doe" in html and "Bob Builder" not in html


def test_search_without_match_says_so(app, signed_in, host):
    add(app, host, name="Jane Doe")
    html = text(signed_in.get("/dashboard/contacts?q=zzz"))
    assert "Jane Doe" not in html and "No contacts match" in html


def test_search_request_from_htmx_gets_only_the_results_with_vary(app, signed_in, host):
    add(app, host, name="Jane Doe")
    add(app, host, name="Bob Builder")
    response = signed_in.get("/dashboard/contacts?q=jane", headers=HTMX)
    html = text(response)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert html.lstrip().startswith('<div id="contact-results">')
    assert "Jane Doe" in html and "Bob Builder" not in html
    assert "<html" not in html and 'id="contact-q"' not in html


def test_plain_and_history_restore_requests_get_the_full_page(signed_in):
    for headers in ({}, {**HTMX, "HX-History-Restore-Request": "true"}):
        response = signed_in.get("/dashboard/contacts", headers=headers)
        html = text(response)
        assert "<html" in html and 'id="contact-q"' in html and "HX-Request" in response.headers["Vary"]


def test_list_is_paginated_keeping_the_search(app, signed_in, host, monkeypatch):
    import app.web.contacts as view
    monkeypatch.setattr(view, "PAGE_SIZE", 2)
    for n in range(5):
        add(app, host, name=f"Person {n}", email=f"p{n}@example.com")
    add(app, host, name="Zed Nobody", email="zed@elsewhere.org")
    first = text(signed_in.get("/dashboard/contacts?q=person"))
    assert "Person 0" in first and "Person 1" in first and "Person 2" not in first
    assert "Page 1 of 3" in first and "q=person" in first and "page=2" in first
    last = text(signed_in.get("/dashboard/contacts?q=person&page=3", headers=HTMX))
    assert "Person 4" in last and "Person 3" not in last and "Zed" not in last
    assert "Person 4" in text(signed_in.get("/dashboard/contacts?q=person&page=40"))


def test_list_shows_meeting_counts(app, signed_in, host):
    past = datetime.now(UTC) - timedelta(days=20)
    starts = slots_from(app, host, past)
    book(app, host, starts[0], past)
    book(app, host, starts[3], past)
    html = text(signed_in.get("/dashboard/contacts"))
    assert "Ivan Invitee" in html and "<td>2</td>" in html


# --- detail ------------------------------------------------------------------------------------------
def test_detail_shows_upcoming_and_past_meetings_and_their_count(app, signed_in, host):
    then = datetime.now(UTC) - timedelta(days=10)
    past_start = slots_from(app, host, then)[0]
    book(app, host, past_start, then)
    soon = datetime.now(UTC) + timedelta(days=2)
    future_start = slots_from(app, host, soon)[0]
    book(app, host, future_start, datetime.now(UTC))
    contact = stored_by_email(app, "ivan@example.com")
    html = text(signed_in.get(f"/dashboard/contacts/{contact.id}"))
    assert 'id="meeting-count">2<' in html
    upcoming, past = html.split('id="h-upcoming"')[1].split('id="h-past"')
    ny = future_start.astimezone(ZoneInfo("America/New_York"))
    assert f"{ny.day} {ny:%b %Y}" in upcoming and "No upcoming meetings" not in upcoming
    assert "No past meetings" not in past and "ivan@example.com" in html


def test_detail_without_meetings_says_so(app, signed_in, host):
    contact = add(app, host, name="Jane Doe", phone="+1 415 555 1234", company="Acme", notes="Met at the fair")
    html = text(signed_in.get(f"/dashboard/contacts/{contact.id}"))
    for expected in ("Jane Doe", "jane@example.com", "+1 415 555 1234", "Acme", "Met at the fair",
                     "No upcoming meetings", "No past meetings", 'id="meeting-count">0<'):
        assert expected in html, expected


def test_another_hosts_contact_is_not_found_and_cannot_be_changed(app, client, host, make_user):
    contact = add(app, host, name="Jane Doe")
    login(client, make_user("mallory"))
    assert client.get(f"/dashboard/contacts/{contact.id}").status_code == 404
    assert client.get(f"/dashboard/contacts/{contact.id}/edit").status_code == 404
    assert client.post(f"/dashboard/contacts/{contact.id}/edit",
                       data={"name": "Hacked", "email": "h@example.com"}).status_code == 404
    assert client.post(f"/dashboard/contacts/{contact.id}/delete").status_code == 404
    kept = stored(app, contact.id)
    assert kept is not None and kept.name == "Jane Doe"
    assert client.get("/dashboard/contacts/nope").status_code == 404


# --- create ------------------------------------------------------------------------------------------
def test_new_contact_form_renders(signed_in):
    html = text(signed_in.get("/dashboard/contacts/new"))
    assert 'id="contact-form"' in html and 'name="email"' in html and "<html" in html


def test_host_adds_a_contact_by_hand_and_contact_created_fires(app, signed_in, host):
    response = signed_in.post("/dashboard/contacts/new", data={
        "name": "Jane Doe", "email": "Jane@Example.com", "phone": "+1 415 555 1234", "company": "Acme", "notes": ""})
    assert response.status_code == 302
    contact = stored_by_email(app, "jane@example.com")
    assert response.headers["Location"].endswith(f"/dashboard/contacts/{contact.id}")
    assert (contact.source, contact.company, contact.notes, contact.user_id) == ("manual", "Acme", None, host.id)
    [event] = contact_created_events(app)
    assert event["data"]["id"] == contact.id and event["data"]["source"] == "manual"
    assert "Contact Jane Doe added" in text(signed_in.get(response.headers["Location"]))


def test_htmx_create_redirects_the_page(app, signed_in):
    response = signed_in.post("/dashboard/contacts/new", data={"name": "Jane", "email": "jane@example.com"},
                              headers=HTMX)
    contact = stored_by_email(app, "jane@example.com")
    assert response.status_code == 200 and response.headers["HX-Redirect"] == f"/dashboard/contacts/{contact.id}"


@pytest.mark.parametrize("data,message", [
    ({"name": "", "email": "jane@example.com"}, "Enter a name."),
    ({"name": "Jane", "email": "jane-at-example"}, "Enter a valid email address."),
    ({"name": "Jane", "email": "jane@example.com", "phone": "ring ring"}, "Enter a valid phone number."),
    ({"name": "Jane", "email": "jane@example.com", "notes": "n" * 5001}, "Use at most 5000 characters."),
])
def test_invalid_new_contact_shows_inline_errors_and_stores_nothing(app, signed_in, data, message):
    response = signed_in.post("/dashboard/contacts/new", data=data)
    assert response.status_code == 422 and message in text(response) and "<html" in text(response)
    partial = signed_in.post("/dashboard/contacts/new", data=data, headers=HTMX)
    html = text(partial)
    assert partial.status_code == 422 and html.lstrip().startswith('<form id="contact-form"')
    assert message in html and 'aria-invalid="true"' in html
    assert count(app) == 0 and contact_created_events(app) == []


def test_duplicate_email_shows_inline_error_and_adds_nothing(app, signed_in, host):
    add(app, host, name="Jane Doe")
    response = signed_in.post("/dashboard/contacts/new", data={"name": "Jane Two", "email": "JANE@example.com"},
                              headers=HTMX)
    html = text(response)
    assert response.status_code == 422 and "A contact with this email already exists." in html
    assert 'value="Jane Two"' in html           # what was typed is kept
    assert count(app) == 1 and len(contact_created_events(app)) == 1


# --- edit and delete ---------------------------------------------------------------------------------
def test_edit_form_is_prefilled(app, signed_in, host):
    contact = add(app, host, name="Jane Doe", company="Acme")
    html = text(signed_in.get(f"/dashboard/contacts/{contact.id}/edit"))
    assert 'value="Jane Doe"' in html and 'value="jane@example.com"' in html and 'value="Acme"' in html


def test_host_edits_a_contact(app, signed_in, host):
    contact = add(app, host, name="Jane Doe", company="Acme")
    response = signed_in.post(f"/dashboard/contacts/{contact.id}/edit", data={
        "name": "Jane Smith", "email": "jane@example.com", "phone": "", "company": "NewCo", "notes": "VIP"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/dashboard/contacts/{contact.id}")
    saved = stored(app, contact.id)
    assert (saved.name, saved.company, saved.notes) == ("Jane Smith", "NewCo", "VIP")
    assert len(contact_created_events(app)) == 1


def test_edit_to_a_taken_email_shows_inline_error_and_changes_nothing(app, signed_in, host):
    add(app, host, name="Jane Doe")
    bob = add(app, host, name="Bob Builder")
    response = signed_in.post(f"/dashboard/contacts/{bob.id}/edit", headers=HTMX,
                              data={"name": "Bobby", "email": "jane@example.com"})
    assert response.status_code == 422 and "A contact with this email already exists." in text(response)
    saved = stored(app, bob.id)
    assert (saved.name, saved.email) == ("Bob Builder", "bob@example.com")


def test_edit_with_empty_name_shows_inline_error_and_changes_nothing(app, signed_in, host):
    contact = add(app, host, name="Jane Doe")
    response = signed_in.post(f"/dashboard/contacts/{contact.id}/edit", data={"name": "", "email": "jane@example.com"})
    assert response.status_code == 422 and "Enter a name." in text(response)
    assert stored(app, contact.id).name == "Jane Doe"


def test_host_deletes_a_contact_and_keeps_the_bookings(app, signed_in, host):
    then = datetime.now(UTC) - timedelta(days=10)
    booking = book(app, host, slots_from(app, host, then)[0], then)
    contact = stored_by_email(app, "ivan@example.com")
    page = text(signed_in.get(f"/dashboard/contacts/{contact.id}"))
    assert "data-confirm=" in page
    response = signed_in.post(f"/dashboard/contacts/{contact.id}/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard/contacts")
    assert stored(app, contact.id) is None and count(app, Booking) == 1
    with app.app_context(), db.connection_context():
        assert Booking.get_by_id(booking.id).contact_id is None
    assert "Contact Ivan Invitee deleted" in text(signed_in.get("/dashboard/contacts"))


def test_delete_needs_a_post(app, signed_in, host):
    contact = add(app, host, name="Jane Doe")
    assert signed_in.get(f"/dashboard/contacts/{contact.id}/delete").status_code == 405
    assert stored(app, contact.id) is not None
