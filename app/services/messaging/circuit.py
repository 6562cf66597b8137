"""The model's circuit breaker (spec page 11, "Circuit breaker"): after ``THRESHOLD`` consecutive failed model calls
the circuit opens and the messaging agents answer customers with the booking URL instead of calling Claude; after
``COOLDOWN`` it is half-open: the next message is let through as a single trial (one process claims it), whose
success closes the circuit and whose failure keeps it open for another cooldown.

State lives in the ``MessagingCircuit`` row ``ROW_ID`` ("anthropic"): ``failures`` (consecutive) and ``opened_at``
(null = closed). Every change is one atomic UPDATE (``failures = failures + 1``; the half-open trial is claimed by
an UPDATE conditioned on the ``opened_at`` it read), so several web and queue processes share one breaker safely.

* ``THRESHOLD`` = 5 consecutive failures (timeouts, 429/5xx/529, a refused key: every failed model call);
* ``COOLDOWN`` = 5 minutes open before the one trial.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from app.models.base import utcnow
from app.models.messaging import MessagingCircuit

ROW_ID = "anthropic"
THRESHOLD = 5
COOLDOWN = timedelta(minutes=5)


def _row() -> MessagingCircuit:
    row = MessagingCircuit.get_or_none(MessagingCircuit.id == ROW_ID)
    if row is None:
        MessagingCircuit.insert(id=ROW_ID, failures=0).on_conflict_ignore().execute()
        row = MessagingCircuit.get(MessagingCircuit.id == ROW_ID)
    return row


def state(now: datetime | None = None) -> str:
    """``closed``, ``open`` or ``half_open`` (the cooldown is over: the next ``allow`` is the trial)."""
    now = now or utcnow()
    row = _row()
    if row.opened_at is None:
        return "closed"
    return "open" if now < row.opened_at + COOLDOWN else "half_open"


def allow(now: datetime | None = None) -> bool:
    """Whether to call the model now. Closed: yes. Open: no. Half-open: yes for exactly one caller (it moves
    ``opened_at`` to now, so the others see the circuit open while the trial runs)."""
    now = now or utcnow()
    row = _row()
    if row.opened_at is None:
        return True
    if now < row.opened_at + COOLDOWN:
        return False
    claimed = (MessagingCircuit.update(opened_at=now, updated_at=now)
               .where((MessagingCircuit.id == ROW_ID) & (MessagingCircuit.opened_at == row.opened_at)).execute())
    return claimed == 1


def record_success(now: datetime | None = None) -> None:
    """A model call succeeded: the circuit closes and the count starts again."""
    now = now or utcnow()
    (MessagingCircuit.update(failures=0, opened_at=None, updated_at=now)
     .where((MessagingCircuit.id == ROW_ID)
            & ((MessagingCircuit.failures != 0) | MessagingCircuit.opened_at.is_null(False))).execute())


def record_failure(now: datetime | None = None) -> bool:
    """A model call failed: count it; the ``THRESHOLD``-th consecutive failure opens the circuit. True when the
    circuit is open after this failure."""
    now = now or utcnow()
    _row()
    (MessagingCircuit.update(failures=MessagingCircuit.failures + 1, updated_at=now)
     .where(MessagingCircuit.id == ROW_ID).execute())
    (MessagingCircuit.update(opened_at=now)
     .where((MessagingCircuit.id == ROW_ID) & (MessagingCircuit.failures >= THRESHOLD)
            & MessagingCircuit.opened_at.is_null()).execute())
    return MessagingCircuit.get(MessagingCircuit.id == ROW_ID).opened_at is not None


def reset() -> None:
    """Close the circuit (an operator's action, tests)."""
    record_success()
