"""The model circuit breaker with a fixed clock: closed until THRESHOLD consecutive failures, open for COOLDOWN,
then one half-open trial whose success closes it and whose failure opens it again; a success resets the count."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.models.messaging import MessagingCircuit
from app.services.messaging import circuit

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_opens_after_consecutive_failures_then_a_trial_closes_it(db_conn):
    assert circuit.state(T0) == "closed" and circuit.allow(T0)
    for i in range(circuit.THRESHOLD - 1):
        assert circuit.record_failure(T0 + timedelta(seconds=i)) is False
    assert circuit.allow(T0)
    assert circuit.record_failure(T0 + timedelta(seconds=10)) is True
    opened = T0 + timedelta(seconds=10)
    assert MessagingCircuit.get_by_id("anthropic").opened_at == opened
    assert circuit.state(opened) == "open"
    assert not circuit.allow(opened + circuit.COOLDOWN - timedelta(seconds=1))
    later = opened + circuit.COOLDOWN
    assert circuit.state(later) == "half_open"
    assert circuit.allow(later) is True                 # the one trial
    assert circuit.allow(later) is False                # the others wait while it runs
    assert circuit.allow(later + timedelta(seconds=30)) is False
    circuit.record_success(later + timedelta(seconds=2))
    assert circuit.state(later + timedelta(seconds=3)) == "closed"
    row = MessagingCircuit.get_by_id("anthropic")
    assert (row.failures, row.opened_at) == (0, None)


def test_a_failed_trial_keeps_it_open_for_another_cooldown(db_conn):
    for _ in range(circuit.THRESHOLD):
        circuit.record_failure(T0)
    trial = T0 + circuit.COOLDOWN + timedelta(seconds=5)
    assert circuit.allow(trial)
    assert circuit.record_failure(trial + timedelta(seconds=1)) is True
    assert not circuit.allow(trial + circuit.COOLDOWN - timedelta(seconds=1))
    assert circuit.allow(trial + circuit.COOLDOWN)


def test_a_success_resets_the_count(db_conn):
    for _ in range(circuit.THRESHOLD - 1):
        circuit.record_failure(T0)
    circuit.record_success(T0)
    for _ in range(circuit.THRESHOLD - 1):
        assert circuit.record_failure(T0) is False
    assert circuit.state(T0) == "closed"
    assert circuit.THRESHOLD == 5 and circuit.COOLDOWN == timedelta(minutes=5)
