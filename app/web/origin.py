"""Whether a form post comes from this site: public forms (booking, routing, the voice widget's session) carry no
session, so besides their signed token they check the browser's ``Origin``."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request


def same_origin_post() -> bool:
    """A browser names the page that sent a form in ``Origin``: it must be this site (absent: allowed)."""
    origin = request.headers.get("Origin")
    if not origin:
        return True
    ours = {request.host_url.rstrip("/")}
    base = urlsplit(current_app.config["BASE_URL"])
    if base.scheme and base.netloc:
        ours.add(f"{base.scheme}://{base.netloc}")
    return origin in ours
