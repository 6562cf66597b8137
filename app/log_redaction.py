"""Logging that never shows a secret URL: the HTTP client's (urllib3) request log kept at INFO or above, and the
path and query of URLs cut from what it does log (an ICS feed's secret address, a webhook's secret path)."""
from __future__ import annotations

import logging
import re


class RedactURLs(logging.Filter):
    """Keeps the path and query of URLs out of a log record: an ICS feed's secret address, a webhook's secret
    path. ``https://host/secret?token=x`` becomes ``https://host/…`` and a bare ``/secret?token=x`` becomes
    ``/…``."""

    _full = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s'\"<>]+)/[^\s'\"<>)]*", re.IGNORECASE)
    _path = re.compile(r"(?<![\w/.:])/[^\s'\"<>)]+")

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):   # a record that cannot be formatted: the handler reports it
            return True
        redacted = self._path.sub("/…", self._full.sub(r"\1/…", message))
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


# The HTTP client's loggers: urllib3 logs the path and query of every request at DEBUG, and a URL in some warnings.
HTTP_CLIENT_LOGGERS = ("urllib3", "urllib3.connection", "urllib3.connectionpool", "urllib3.response",
                       "urllib3.util.retry", "urllib3.poolmanager")


def quiet_http_client_logs(level: str | int) -> None:
    """urllib3 logs at INFO or above whatever LOG_LEVEL says (its DEBUG lines carry every request's path and
    query: secret feed addresses), and what it does log has URLs cut to their host."""
    wanted = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    wanted = wanted if isinstance(wanted, int) else logging.INFO
    logging.getLogger("urllib3").setLevel(max(logging.INFO, wanted))
    for name in HTTP_CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactURLs) for f in logger.filters):
            logger.addFilter(RedactURLs())
