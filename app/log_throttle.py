"""Rate-limited logging of waitress's "Task queue depth is N" warnings.

Waitress logs that WARNING (logger ``waitress.queue``) for every request that has to wait because all
server threads are busy: under load that is one line per request, thousands a minute, which fills the log
and hides everything else. ``QueueDepthSummary`` lets one such warning through per interval and folds the
rest into the next one that passes: "Task queue depth is 12 (340 more queue warnings in the last 60 s,
deepest 31)".
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

QUEUE_LOGGER = "waitress.queue"
INTERVAL_SECONDS = 60.0


class QueueDepthSummary(logging.Filter):
    def __init__(self, interval: float = INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval, self.clock = interval, clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self._suppressed = 0
        self._deepest = 0

    def filter(self, record: logging.LogRecord) -> bool:
        depth = record.args[0] if isinstance(record.args, tuple) and record.args else None
        now = self.clock()
        with self._lock:
            if isinstance(depth, int):
                self._deepest = max(self._deepest, depth)
            if self._last is not None and now - self._last < self.interval:
                self._suppressed += 1
                return False
            window = now - self._last if self._last is not None else 0.0
            suppressed, deepest = self._suppressed, self._deepest
            self._last, self._suppressed, self._deepest = now, 0, 0
        if suppressed:
            record.msg = (f"{record.getMessage()} ({suppressed} more queue warnings in the last {window:.0f} s, "
                          f"deepest {deepest}): every server thread is busy")
            record.args = None
        return True


def summarize_waitress_queue_warnings(interval: float = INTERVAL_SECONDS) -> QueueDepthSummary:
    """Install the filter on waitress's queue logger (once: a second call returns the installed one)."""
    logger = logging.getLogger(QUEUE_LOGGER)
    for existing in logger.filters:
        if isinstance(existing, QueueDepthSummary):
            return existing
    summary = QueueDepthSummary(interval)
    logger.addFilter(summary)
    return summary
