"""Booking limits in the TEAM event-type editor (issue 23 point 3; the personal editor's are tested in
test_booking_limits.py): the organization page's team form has the "More booking limits" section, saves the limits,
shows them again, refuses a bad one inline (nothing saved), and the team's slots then honour them."""
from __future__ import annotations

from app.db import db
from tests.web import test_team_event_type_redirects as team_form
from tests.web.test_team_event_type_redirects import HTMX, _client, _demo, _edit_url, _form, _new_url

crew = team_form.crew   # the fixture: Acme's team Sales with Olga, Adam (admin) and Mia

LIMITS = {"limits_section": "1", "max_per_week": "3", "max_per_month": "", "max_per_year": "40",
          "max_minutes_per_day": "90", "max_minutes_per_week": ""}


def test_the_team_form_saves_and_shows_the_booking_limits(app, crew):
    adam = _client(app, crew["adam"])
    opened = adam.get(_new_url(crew), headers=HTMX).data.decode()
    assert 'id="tet-booking-limits"' in opened and 'id="tet-max_per_week"' in opened
    created = adam.post(_new_url(crew), data=_form(crew, **LIMITS), headers=HTMX)
    assert created.status_code == 200 and "Created the team event type" in created.data.decode()
    demo = _demo(app)
    assert (demo.max_per_week, demo.max_per_month, demo.max_per_year, demo.max_minutes_per_day,
            demo.max_minutes_per_week) == (3, None, 40, 90, None)
    form = adam.get(_edit_url(crew, demo.id), headers=HTMX).data.decode()
    assert 'id="tet-max_per_week"' in form and 'value="3"' in form and 'value="90"' in form


def test_a_bad_limit_is_refused_inline_and_nothing_is_saved(app, crew):
    adam = _client(app, crew["adam"])
    adam.post(_new_url(crew), data=_form(crew, **LIMITS), headers=HTMX)
    demo = _demo(app)
    refused = adam.post(_edit_url(crew, demo.id), data=_form(crew, **{**LIMITS, "max_per_week": "-2"}),
                        headers=HTMX)
    page = refused.data.decode()
    assert refused.status_code == 422 and 'aria-invalid="true"' in page
    with app.app_context(), db.connection_context():
        assert _demo(app).max_per_week == 3
