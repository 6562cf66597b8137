"""Rate limits: counters in memory on one box, in Redis when RATELIMIT_STORAGE_URL says so.

``check(name, key, rate)`` counts one hit and raises ``RateLimited`` (with seconds to wait) when the rate
is exceeded. The web layer turns that into 429 with ``Retry-After``.
"""
from __future__ import annotations

import math
import time

from flask import current_app
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter


class RateLimited(Exception):
    def __init__(self, retry_after: int, message: str = "Too many requests. Please wait and try again.") -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.message = message


class RateLimiter:
    def __init__(self, storage_url: str) -> None:
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
