"""WSGI entry point: ``gunicorn wsgi:app`` (and ``flask --app wsgi ...``)."""
import sys

from app import create_app
from app.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:  # a clear message instead of a traceback
    print(exc, file=sys.stderr, flush=True)
    # Exit status 3 is gunicorn's "worker failed to boot": the master stops instead of restarting the worker.
    raise SystemExit(3) from None
