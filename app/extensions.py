"""Flask extensions, created once and bound to the app by the factory (``create_app``): modules that need one
import it from here, never from the ``app`` package (which imports every blueprint)."""
from __future__ import annotations

from flask_htmx import HTMX
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
htmx = HTMX()
