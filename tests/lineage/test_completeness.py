"""Completeness on real parts: hub worker, sink connectors with their simulated partners, PostgreSQL lineage store.

After a stream of events, every event has exactly one decision record per candidate recipient (the policy names the
candidates), one receipt per delivered copy, and the receipts reconcile with what each partner system received.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schakel.connectors.running import start_simulated_partners
from schakel.consent import ConsentState, Outcome, load_policy
from schakel.lineage import RecordKind, open_store
from schakel.lineage.ingest import ingest
from schakel.offsets import positions
from schakel.schemas import Event, EventType, Organisation, Theme
from schakel.schemas.examples import example_event
from schakel.streams.topics import ADMIN, HubTopics
from tests.conftest import sized
from tests.lineage import logboek_standard
from tests.streams.conftest import Hub, hub  # noqa: F401 - the streams area's real-worker fixture

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.thorough]

EVENTS = sized(thorough=1500, quick=500)
"""500 events in `make test`, 1,500 in `make soak` (marker ``thorough``)."""


def _events() -> list[Event]:
    # Each pair one its example sender may claim (a money-mule Referral from gemeente-veiligheid is not: dead-lettered).
    themes = (Theme.LVB, Theme.MONEY_MULE, Theme.CTER)
    kinds = (EventType.SIGNAL, EventType.SIGNAL, EventType.REFERRAL)
    # One case id per person: example case ids repeat, and one drawn for two BSNs is (rightly) an IdentifierConflict.
    return [example_event(kinds[n % 3], theme=themes[n % 3], case_id=f"ZVH-2026-{n:05d}") for n in range(EVENTS)]


def test_every_decision_and_every_delivery_is_on_record(
    hub: Hub,  # noqa: F811
    postgres_database: str,
    tmp_path: Path,
) -> None:
    events = _events()
    policy = load_policy()
    candidates: dict[str, set[str]] = {}
    permitted: dict[str, set[str]] = {}
    for event in events:
        decisions = policy.decide_all(event, ConsentState(), datetime.now(UTC))
        candidates[str(event.id)] = {str(d.recipient) for d in decisions}
        permitted[str(event.id)] = {str(d.recipient) for d in decisions if d.outcome is not Outcome.DENY}
    deliveries = sum(len(recipients) for recipients in permitted.values())
    assert deliveries > EVENTS // 2

    topics = HubTopics.of(hub.settings)

    async def run() -> dict[str, Counter[str]]:
        running = await start_simulated_partners(hub.settings, tmp_path / "partners")
        try:
            hub.worker()
            for event in events:
                hub.send(event)
            await asyncio.to_thread(hub.flush)
            deadline = time.monotonic() + 240
            received: dict[str, Counter[str]] = {}
            while time.monotonic() < deadline:
                assert hub.running(), hub.logs()
                received = {
                    name: Counter(str(doc.get("event_id")) for doc in r.simulation.received())
                    for name, r in running.items()
                    if r.simulation is not None
                }
                if sum(len(counter) for counter in received.values()) >= deliveries:
                    break
                await asyncio.sleep(1.0)
            # The last receipts follow their deliveries: wait until the lineage topics hold every message due - on
            # lineage one per decided event (its decisions and its link, packed), on the receipts topics a receipt
            # per delivery.
            due = sum(1 for e in events if candidates[str(e.id)] or (e.subject.bsn and e.case_id)) + deliveries
            while time.monotonic() < deadline + 60:
                held = [await asyncio.to_thread(positions, hub.settings, t) for t in topics.lineage_sources()]
                if sum(found.held for found, _ in held) >= due:
                    break
                await asyncio.sleep(0.5)
            return received
        finally:
            for connector in running.values():
                await connector.stop()

    received = asyncio.run(run())

    store = open_store(postgres_database, tmp_path)
    try:
        ingest(
            store,
            topic=topics.lineage,
            receipts={topics.receipts(org): org.value for org in Organisation},
            kafka_config=hub.settings.kafka_client_config(ADMIN),
            group_id="completeness",
        )
        records = list(store.records())
        assert store.verify().ok
        exported = io.StringIO()
        store.export_logboek(exported)
    finally:
        store.close()

    decided: dict[str, list[str]] = defaultdict(list)
    receipts: dict[str, list[str]] = defaultdict(list)
    for record in records:
        if record.kind is RecordKind.DECISION:
            decided[str(record.event_id)].append(record.recipient)
        elif record.kind is RecordKind.RECEIPT:
            receipts[str(record.event_id)].append(record.recipient)

    assert decided.keys() == candidates.keys()
    for event_id, recipients in candidates.items():
        assert sorted(decided[event_id]) == sorted(recipients), f"one decision per candidate for {event_id}"
    for event_id, recipients in permitted.items():
        assert sorted(receipts.get(event_id, [])) == sorted(recipients), f"one receipt per delivery for {event_id}"

    by_partner = {name: set(counter) for name, counter in received.items()}
    for event_id, recipients in permitted.items():
        for recipient in recipients:
            assert event_id in by_partner[recipient], f"{recipient} never received {event_id}"
    assert sum(len(ids) for ids in by_partner.values()) == deliveries
    assert sum(len(r) for r in receipts.values()) == deliveries
    # Every exported record - receipts included - carries the Logboek Dataverwerkingen required fields.
    lines = [json.loads(line) for line in exported.getvalue().splitlines()]
    assert len(lines) == len(records)
    assert sum(1 for line in lines if line["attributes"]["schakel.kind"] == "receipt") == deliveries
    assert {i: logboek_standard.problems(line) for i, line in enumerate(lines) if logboek_standard.problems(line)} == {}
