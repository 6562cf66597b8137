"""Rate limits: counters in memory on one box, in Redis when RATELIMIT_STORAGE_URL says so.

``check(name, key, rate)`` counts one hit and raises ``RateLimited`` (with seconds to wait) when the rate
is exceeded. The web layer turns that into 429 with ``Retry-After``.
"""
from __future__ import annotations

import math
import threading
import time

from flask import current_app
from limits import parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter


class RateLimited(Exception):
    def __init__(self, retry_after: int, message: str = "Too many requests. Please wait and try again.") -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.message = message


class ProcessMemoryStorage(MemoryStorage):
    """``limits``' in-memory counters, purging expired ones every ``PURGE_EVERY`` seconds instead of 10 ms after
    each hit. The library starts a new timer thread whenever its last one has finished, so on a busy server
    nearly every rate-limited request started a thread (about 10 ms of a booking's time under load). Expired
    counters are still ignored at once (``get`` checks their expiry); only their memory is freed later."""

    PURGE_EVERY = 5.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # the library's private hook (limits pinned in requirements)
        if not self.timer.is_alive():
            self.timer = threading.Timer(self.PURGE_EVERY, self._MemoryStorage__expire_events)
            self.timer.daemon = True
            self.timer.start()


class RateLimiter:
    def __init__(self, storage_url: str) -> None:
        if storage_url.startswith("memory"):
            self.storage = ProcessMemoryStorage(storage_url)
        else:
            self.storage = storage_from_string(storage_url)
        if storage_url.startswith("memory"):
            self.limiter = MovingWindowRateLimiter(self.storage)
        else:  # one round trip per hit on Redis
            self.limiter = FixedWindowRateLimiter(self.storage)

    def hit(self, name: str, key: str, rate: str, cost: int = 1) -> None:
        item = parse(rate)
        if not self.limiter.hit(item, name, key, cost=cost):
            stats = self.limiter.get_window_stats(item, name, key)
            raise RateLimited(math.ceil(stats.reset_time - time.time()))

    def test(self, name: str, key: str, rate: str) -> bool:
        """True when one more hit would be allowed (does not count)."""
        return self.limiter.test(parse(rate), name, key)

    def reset(self) -> None:
        self.storage.reset()


def limiter() -> RateLimiter:
    return current_app.extensions["linktime_ratelimiter"]


def check(name: str, key: str, rate: str) -> None:
    limiter().hit(name, key, rate)


# --- exponential back-off after failures -------------------------------------------------------------------
# A guess that fails costs nothing the first BACKOFF_FREE times; after that, each failure makes the same scope
# wait twice as long as the previous one (1 s, 2 s, 4 s ... at most BACKOFF_MAX). The failure count is
# forgotten BACKOFF_WINDOW after the first failure, or at once on success. Callers choose the scope so that an
# attacker slows down only themselves (e.g. account and client IP), never the account's owner.
BACKOFF_FREE = 5
BACKOFF_MAX = 15 * 60
BACKOFF_WINDOW = 60 * 60
BACKOFF_MESSAGE = "Too many failed attempts. Please wait a moment and try again."


def backoff_check(name: str, scope: str) -> None:
    """Raise RateLimited while ``scope`` has to wait after its last failure."""
    storage = limiter().storage
    key = f"backoff-wait/{name}/{scope}"
    if storage.get(key) > 0:
        raise RateLimited(math.ceil(storage.get_expiry(key) - time.time()), BACKOFF_MESSAGE)


def backoff_failure(name: str, scope: str) -> int:
    """Count a failure of ``scope``; returns the seconds it now has to wait (0 while failures are free)."""
    storage = limiter().storage
    failures = storage.incr(f"backoff-fail/{name}/{scope}", BACKOFF_WINDOW)
    if failures <= BACKOFF_FREE:
        return 0
    delay = min(2 ** (failures - BACKOFF_FREE - 1), BACKOFF_MAX)
    storage.clear(f"backoff-wait/{name}/{scope}")
    storage.incr(f"backoff-wait/{name}/{scope}", delay)
    return delay


def backoff_reset(name: str, scope: str) -> None:
    storage = limiter().storage
    storage.clear(f"backoff-fail/{name}/{scope}")
    storage.clear(f"backoff-wait/{name}/{scope}")


def exceeded(name: str, key: str, rate: str) -> bool:
    """True when ``rate`` is used up for ``key`` (nothing is counted)."""
    return not limiter().test(name, key, rate)


def count(name: str, key: str, rate: str) -> None:
    """Count one hit without raising (the caller decides with ``exceeded`` what a full window means)."""
    limiter().limiter.hit(parse(rate), name, key)
