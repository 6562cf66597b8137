"""The in-process rate-limit counters: no thread started per hit, and windows still end on time."""
from __future__ import annotations

import time

import pytest

from app.ratelimit import RateLimited, RateLimiter


def test_hits_do_not_start_a_thread_each():
    limiter = RateLimiter("memory://")
    timers = set()
    for n in range(15):
        limiter.hit("test", f"client-{n}", "1000/minute")
        timers.add(id(limiter.storage.timer))
        time.sleep(0.02)            # longer than the library's own 10 ms timer, which then started anew each hit
    assert len(timers) <= 2


def test_a_window_still_ends_on_time_between_purges():
    limiter = RateLimiter("memory://")
    limiter.hit("test", "ip", "1/second")
    with pytest.raises(RateLimited):
        limiter.hit("test", "ip", "1/second")
    deadline = time.monotonic() + 30
    while True:                     # the window ends after a second, long before the next purge of memory
        try:
            limiter.hit("test", "ip", "1/second")
            break
        except RateLimited:
            assert time.monotonic() < deadline, "the window never ended"
            time.sleep(0.1)
