"""The one app-wide answer to a domain error a view lets through (app/errors.py): the API's JSON error shape
under /api, a small partial for htmx, the error page otherwise, each with the error's own status."""
from __future__ import annotations

import pytest

from app.services.errors import Conflict, NotFound, ValidationFailed

HTMX = {"HX-Request": "true"}
ERRORS = {
    "not-found": lambda: NotFound("Widget not found"),
    "conflict": lambda: Conflict("That name is taken."),
    "invalid": lambda: ValidationFailed({"name": "Enter a name.", "size": "Too big."}),
}


@pytest.fixture
def app(app_factory):
    application = app_factory()

    def fail(kind: str):
        raise ERRORS[kind]()

    # routes of the test only, added before the first request
    application.add_url_rule("/api/test-errors/<kind>", "test_api_errors", fail)
    application.add_url_rule("/test-errors/<kind>", "test_page_errors", fail)
    return application


@pytest.mark.parametrize(("kind", "status", "body"), [
    ("not-found", 404, {"error": "Widget not found"}),
    ("conflict", 409, {"error": "That name is taken."}),
    ("invalid", 400, {"error": "Invalid request data", "details": {"name": "Enter a name.", "size": "Too big."}}),
])
def test_api_requests_get_the_json_error_shape(client, kind, status, body):
    response = client.get(f"/api/test-errors/{kind}")
    assert response.status_code == status
    assert response.is_json and response.get_json() == body
    # the same from htmx or a browser: under /api the answer is always JSON
    assert client.get(f"/api/test-errors/{kind}", headers=HTMX).get_json() == body


@pytest.mark.parametrize(("kind", "status", "heading", "message"), [
    ("not-found", 404, "Not found", "We could not find that page."),  # what abort(404) says: no internal names
    ("conflict", 409, "Request not accepted", "That name is taken."),
    ("invalid", 400, "Request not accepted", "Enter a name. Too big."),
])
def test_pages_get_the_error_page(client, kind, status, heading, message):
    response = client.get(f"/test-errors/{kind}")
    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<html" in html and f"<h1>{heading}</h1>" in html and f"<p>{message}</p>" in html
    assert "HX-Request" in response.headers["Vary"]


def test_a_not_found_page_is_the_same_as_abort_404(client):
    raised = client.get("/test-errors/not-found")
    aborted = client.get("/no/such/page/here")
    assert raised.status_code == aborted.status_code == 404

    def card(response):
        html = response.get_data(as_text=True)
        return html[html.index('<section class="card narrow">'):html.index("</section>")]

    assert card(raised) == card(aborted)


@pytest.mark.parametrize(("kind", "status", "message"), [
    ("not-found", 404, "We could not find that page."),
    ("conflict", 409, "That name is taken."),
    ("invalid", 400, "Enter a name. Too big."),
])
def test_htmx_requests_get_a_partial(client, kind, status, message):
    response = client.get(f"/test-errors/{kind}", headers=HTMX)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert "<html" not in html and "<body" not in html
    assert 'class="flash flash-error"' in html and message in html
    assert "HX-Request" in response.headers["Vary"]


def test_a_page_asked_for_as_json_gets_json(client):
    response = client.get("/test-errors/conflict", headers={"Accept": "application/json"})
    assert response.status_code == 409
    assert response.get_json() == {"error": "That name is taken."}


def test_an_empty_not_found_in_the_api_says_not_found(app, client):
    app.add_url_rule("/api/test-empty", "test_empty", lambda: (_ for _ in ()).throw(NotFound()))
    response = client.get("/api/test-empty")
    assert response.status_code == 404 and response.get_json() == {"error": "Not found"}
