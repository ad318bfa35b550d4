"""A hub worker SIGKILLed five times during 10,000 events while a second worker runs (``make soak``): the survivor
takes the partitions over, nothing is lost, and a consent withdrawn before the first kill still holds after the last.

It failed until issue 14 was found (6,151 and 6,098 copies missing in two runs). Faust's bookkeeping committed
partitions past records no agent had processed - at the first rebalance between the two workers, the first few
hundred records of ``hub-link`` partitions without a committed offset - and its read mark, moved by records of the
previous generation, dropped a partition's records after a later rebalance, so the survivor stalled ("Stream has not
started processing", "Has not committed"). ``schakel.streams.commits`` now commits only over the records the hub
settled, from the offset each partition was taken up at, and keeps no read mark for the hub's partitions.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from schakel.schemas import Event, EventType, Organisation, Theme
from schakel.schemas.examples import example_event
from tests.streams.conftest import Hub
from tests.streams.faults import expected, signals

pytestmark = [pytest.mark.kafka, pytest.mark.soak]

_KILLS = 5


def _withdrawn_consent() -> tuple[list[Event], Event]:
    """Consent given to the police, a signal it may receive, the consent withdrawn; and a later signal about the
    same person that the police must not receive."""
    theme, sender = Theme.MONEY_MULE, Organisation.GEMEENTE_SOCIAAL.value
    first = example_event(EventType.SIGNAL, theme=theme, source=sender)
    person: dict[str, Any] = {"subject": first.subject.model_dump(mode="json"), "case_id": first.case_id}

    def consent(change: str) -> Event:
        payload = {"change": change, "grantees": ["politie"], "valid_until": None}
        return example_event(EventType.CONSENT_CHANGE, theme=theme, source=sender, payload=payload, **person)

    later = example_event(EventType.SIGNAL, theme=theme, source=sender, **person)
    return [consent("given"), first, consent("withdrawn")], later


def test_a_worker_killed_five_times_beside_a_survivor_loses_nothing(hub: Hub) -> None:
    before, later = _withdrawn_consent()
    events = [*before, *signals(10_000)]
    permitted, _ = expected([*events, later])
    assert (str(before[1].id), "politie") in permitted, "with consent on file, the police may receive the first"
    assert (str(later.id), "politie") not in permitted

    survivor, victim = hub.worker(), hub.worker()
    for event in events:
        hub.send(event)
    hub.flush()
    sink = hub.sink()
    try:
        for kill in range(_KILLS):
            sink.drain(until=len(permitted) * (kill + 1) // (_KILLS + 2), quiet=0.0, timeout=600)
            assert len(sink.received) < len(permitted), f"kill {kill + 1} must come mid-stream"
            victim.kill()
            if kill < _KILLS - 1:
                time.sleep(2.0)
                victim.start()
        # The survivor alone from here: it takes the killed worker's partitions over (after its session expires).
        hub.send(later)
        hub.flush()
        sink.drain(until=len(permitted), timeout=900)
    finally:
        sink.close()

    assert survivor.process is not None
    assert survivor.process.poll() is None, "the survivor must never have stopped"
    missing = permitted - sink.received.keys()
    assert not missing, f"{len(missing)} copies lost\n{hub.logs()}"
    assert sink.received.keys() == permitted
    assert (str(later.id), "politie") not in sink.received, "the withdrawal must hold after the kills"
