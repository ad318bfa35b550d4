"""An event is its source and its id, on the real broker with a real worker and the lineage store.

Two partners choose the same id for signals about two different people: both are delivered, both are fully in
lineage, each person's art. 15 report is complete. A partner that reuses its own id for other content about the same
person is dead-lettered as a conflict; the same event sent again is a resend, not a conflict.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schakel.consent import ConsentState, Outcome, Pseudonymizer, load_policy
from schakel.lineage import LineageRecord, LineageStore, RecordKind, open_store, subject_pseudonyms
from schakel.lineage.ingest import ingest
from schakel.retention import Opener
from schakel.schemas import Codec, Event, EventType, Organisation, Theme
from schakel.schemas.examples import example_event
from schakel.streams.records import EgressCopy
from schakel.streams.topics import ADMIN, HubTopics
from tests.streams.conftest import Hub, dead_letters, expected_copy, read_all

pytestmark = pytest.mark.kafka

Copies = dict[tuple[str, str, str], dict[str, Any]]


def _expected(hub: Hub, events: list[Event]) -> tuple[Copies, dict[tuple[str, str], set[tuple[str, str]]]]:
    """(sender, id, recipient) -> the projected copy; (sender, id) -> {(recipient, outcome)} for every candidate."""
    policy = load_policy()
    pseudonymizer = Pseudonymizer(hub.settings.pseudonym_key.get_secret_value().encode())
    copies: Copies = {}
    decided: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for event in events:
        decisions = policy.decide_all(event, ConsentState(), datetime.now(UTC))
        decided[(str(event.source), str(event.id))] = {(str(d.recipient), str(d.outcome)) for d in decisions}
        for decision in decisions:
            if decision.outcome is not Outcome.DENY:
                key = (str(event.source), str(event.id), str(decision.recipient))
                copies[key] = expected_copy(event, decision, pseudonymizer)
    return copies, decided


def _delivered(hub: Hub, until: int, timeout: float = 120.0) -> Copies:
    """Every copy on the egress topics, by (sender, id, recipient), once ``until`` are there."""
    codec, topics, opener = Codec(), HubTopics.of(hub.settings), Opener.of(hub.settings)
    deadline = time.monotonic() + timeout
    copies: Copies = {}
    while time.monotonic() < deadline:
        assert hub.running(), hub.logs()
        copies = {}
        for topic in topics.all_egress():
            for record in read_all(hub.settings, topic, quiet=0.5, timeout=10):
                copy = EgressCopy.from_record(
                    record.topic, record.key, record.value, record.headers, codec=codec, opener=opener
                )
                copies[(str(copy.form["source"]), copy.event_id, str(copy.recipient))] = copy.form
        if len(copies) >= until:
            return copies
        time.sleep(1)
    return copies


def _decisions(store: LineageStore) -> list[LineageRecord]:
    """The decision records (the hub also writes a link record for an event carrying a BSN and a case id)."""
    return [record for record in store.records() if record.kind == RecordKind.DECISION]


def _ingested(hub: Hub, store: LineageStore, records: int, timeout: float = 120.0) -> None:
    topic, config = HubTopics.of(hub.settings).lineage, hub.settings.kafka_client_config(ADMIN)
    deadline = time.monotonic() + timeout
    while len(_decisions(store)) < records and time.monotonic() < deadline:
        ingest(store, topic=topic, kafka_config=config, group_id="identity-test")
        time.sleep(0.5)


def test_two_partners_one_id_two_people_are_two_events_and_a_reused_id_is_a_conflict(hub: Hub, tmp_path: Path) -> None:
    police = example_event(EventType.SIGNAL, theme=Theme.CTER)
    municipality = example_event(
        EventType.SIGNAL, theme=Theme.MONEY_MULE, source=Organisation.GEMEENTE_SOCIAAL.value, id=str(police.id)
    )
    assert police.id == municipality.id
    assert police.subject.bsn != municipality.subject.bsn
    expected, decided = _expected(hub, [police, municipality])
    assert {recipient for _, _, recipient in expected} & {"zvh"}, "both must reach a common recipient"

    reused = police.model_copy(update={"payload": police.payload.model_copy(update={"description": "Other text."})})
    after = example_event(EventType.SIGNAL, theme=Theme.LVB)
    expected_after, decided_after = _expected(hub, [after])
    hub.worker()
    for event in (police, municipality, reused, police, after):  # police twice: a resend, not a conflict
        hub.send(event)
    hub.flush()

    delivered = _delivered(hub, len(expected) + len(expected_after))
    assert delivered == {**expected, **expected_after}, hub.logs()

    letters = dead_letters(hub.settings)
    assert [(letter.error_class, letter.event_id) for letter in letters] == [("EventIdConflict", str(police.id))]
    assert letters[0].reason == "the sender used this event id before for an event with other content"

    store = open_store(None, tmp_path / "lineage")
    candidates = sum(len(pairs) for pairs in [*decided.values(), *decided_after.values()])
    _ingested(hub, store, candidates)
    stored = _decisions(store)
    assert len(stored) == candidates, "every decision of both events is in lineage, none merged"
    by_event: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for record in stored:
        by_event.setdefault((record.sender, str(record.event_id)), set()).add((record.recipient, str(record.outcome)))
    assert by_event == {**decided, **decided_after}
    assert store.verify().ok

    trace = store.trace(police.id)
    assert set(trace.senders) == {"politie", "gemeente-sociaal"}
    assert trace.sender is None, "two senders used this id: the trace names each hop's sender, not one header"

    for person in (police, municipality):
        assert person.subject.bsn is not None
        report = store.subject_report(subject_pseudonyms(person.subject.bsn))
        decisions = {(d.recipient, str(d.outcome)) for p in report.partners for d in p.decisions}
        assert decisions == decided[(str(person.source), str(person.id))], "each person's report is complete"
        assert {d.sender for p in report.partners for d in p.decisions} == {str(person.source)}
