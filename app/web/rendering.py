"""How a page is answered: the full page, or one block of it for htmx; and the Content-Security-Policy."""
from __future__ import annotations

from flask import make_response, render_template
from jinja2_fragments.flask import render_block

from app.web.htmx import is_history_restore, is_htmx

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")


def render(template: str, block: str | None = None, status: int = 200, **context):
    """Render a page, or only ``block`` of it for an htmx request (not for a history restore)."""
    if block and is_htmx() and not is_history_restore():
        html = render_block(template, block, **context)
    else:
        html = render_template(template, **context)
    response = make_response(html, status)
    response.vary.add("HX-Request")
    return response
