"""Racing bookings: many calls at once, each on its own thread and database connection (the concurrency tests of
team bookings, booking limits, seats and single-use links)."""
from __future__ import annotations

import threading
from collections.abc import Callable


def race(app, count: int, book: Callable[[int], object], refusals: dict[type[Exception], str],
         timeout: float = 120) -> list[str]:
    """Call ``book(n)`` for n in 0..count-1 at once (the threads wait at a barrier), each inside its own app context
    and connection. Each outcome is "created", the label ``refusals`` gives the exception it raised, or
    "error: …" for anything else (reported by the caller's assertions)."""
    from app.db import db

    barrier = threading.Barrier(count, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        barrier.wait()
        with app.app_context(), db.connection_context():
            try:
                book(n)
                result = "created"
            except tuple(refusals) as exc:
                result = next(label for kind, label in refusals.items() if isinstance(exc, kind))
            except Exception as exc:  # noqa: BLE001 - reported in the assertion
                result = f"error: {exc!r}"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes
