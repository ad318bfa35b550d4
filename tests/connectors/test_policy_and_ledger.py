"""The retry policy's backoff and the sink's idempotency store (no broker needed)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schakel.connectors.ledger import DeliveryLedger
from schakel.connectors.mapping import RecordMapping
from schakel.connectors.partners import politie
from schakel.connectors.retry import Backoff, RetryPolicy


@settings(max_examples=60)
@given(
    attempt=st.integers(min_value=1, max_value=40),
    initial=st.floats(min_value=0.01, max_value=5),
    cap=st.floats(min_value=0.01, max_value=60),
    jitter=st.floats(min_value=0, max_value=1),
)
def test_backoff_stays_between_the_jittered_step_and_the_cap(
    attempt: int, initial: float, cap: float, jitter: float
) -> None:
    policy = RetryPolicy(initial_backoff=initial, max_backoff=cap, jitter=jitter, multiplier=2.0)
    step = min(cap, initial * 2.0 ** (attempt - 1))
    wait = policy.backoff(attempt, random.Random(attempt))
    assert step * (1 - jitter) - 1e-9 <= wait <= step + 1e-9


def test_backoff_grows_exponentially_until_the_cap() -> None:
    policy = RetryPolicy(initial_backoff=0.5, multiplier=2.0, max_backoff=4.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.worst_case_seconds() == 0.5 + 1.0 + 2.0 + 4.0 + 4.0 + 4.0 + 4.0


def test_jitter_spreads_the_waits_of_sinks_that_failed_together() -> None:
    policy = RetryPolicy(initial_backoff=1.0, jitter=0.5)
    waits = {round(policy.backoff(3, random.Random(seed)), 6) for seed in range(20)}
    assert len(waits) > 10


def test_every_policy_the_config_allows_waits_at_most_its_cap() -> None:
    """The step was ``initial * multiplier ** attempt`` before the cap: a long-failing record (a source's waits are
    never given up) or a policy the config allows (1000 attempts, multiplier 10) overflowed - the source's record was
    no longer put to wait, and a sink with that policy could not even build its consumer."""
    policy = RetryPolicy(max_attempts=1000, multiplier=10.0, max_backoff=30.0, jitter=0.0)
    assert policy.backoff(2000) == 30.0
    assert policy.worst_case_seconds() == pytest.approx(0.5 + 5.0 + 30.0 * 997)
    backoff = Backoff()
    assert max(backoff.failed("record") for _ in range(5000)) <= backoff.policy.max_backoff


def test_the_maximum_counts_every_attempt() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.gives_up_after(n) for n in (1, 2, 3)] == [False, False, True]


def test_the_ledger_remembers_deliveries_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "sink" / "deliveries.sqlite3"
    ledger = DeliveryLedger(path)
    ledger.record("e-1", "politie", "delivered", 1)
    ledger.record("e-2", "politie", "dead-lettered", 8)
    ledger.close()
    reopened = DeliveryLedger(path)
    assert reopened.delivered("e-1", "politie")
    assert not reopened.delivered("e-1", "om"), "the key is event id + recipient"
    assert not reopened.delivered("e-2", "politie"), "a dead-lettered copy must get through when resent"
    reopened.record("e-2", "politie", "delivered", 1)
    reopened.record("e-2", "politie", "dead-lettered", 3)  # a late dead letter never undoes a delivery
    assert reopened.delivered("e-2", "politie")
    assert reopened.counts() == {"delivered": 2}
    reopened.close()


def test_the_ledger_tracks_whether_the_receipt_was_written(tmp_path: Path) -> None:
    ledger = DeliveryLedger(tmp_path / "deliveries.sqlite3")
    ledger.record("e-1", "ggz", "delivered", 1)
    assert not ledger.receipt_written("e-1", "ggz")
    ledger.mark_receipt("e-1", "ggz")
    assert ledger.receipt_written("e-1", "ggz")
    ledger.close()


def test_a_record_offered_twice_becomes_the_same_event() -> None:
    mapping: RecordMapping = politie.MAPPING
    record = mapping.example("registratie")
    first, second = mapping.to_event(record), mapping.to_event(dict(record))
    assert first.id == second.id
    other = mapping.to_event({**record, "registratienummer": "another-reference"})
    assert other.id != first.id
