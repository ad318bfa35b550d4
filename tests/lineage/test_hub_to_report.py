"""End to end: a real hub worker decides, its lineage records land in the store, and the store answers.

Events about two people go through ``schakel run``; ``ingest`` feeds the hub's ``lineage`` topic into a store; the
art. 15 report, asked for by BSN, must list exactly the sharing the covenant policy decides for that person (computed
here independently with the consent engine), nothing about the other person, and the store must hold no personal
data at all (the scan the lead runs after the demo).
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schakel.consent import ConsentState, Outcome, load_policy
from schakel.lineage import LineageStore, open_store, scan_for_personal_data, subject_pseudonyms
from schakel.lineage.ingest import ingest
from schakel.schemas import Event, EventType, Theme
from schakel.schemas.examples import example_event
from schakel.streams.topics import LINEAGE, HubTopics
from tests.streams.conftest import Hub, hub  # noqa: F401 - the streams area's real-worker fixture

pytestmark = pytest.mark.kafka


def _person(theme: Theme) -> list[Event]:
    signal = example_event(EventType.SIGNAL, theme=theme)
    same: dict[str, Any] = {"subject": signal.subject.model_dump(mode="json"), "case_id": signal.case_id}
    referral = example_event(EventType.REFERRAL, theme=theme, **same)
    if load_policy().claim(referral) is not None:  # the example's sender may not claim this purpose: dead-lettered
        return [signal, example_event(EventType.SIGNAL, theme=theme, **same)]
    return [signal, referral]


def _expected_sharing(events: list[Event]) -> dict[str, set[str]]:
    """Recipient -> fields the policy lets through, for these events (no consent on file)."""
    policy = load_policy()
    shared: dict[str, set[str]] = defaultdict(set)
    for event in events:
        for decision in policy.decide_all(event, ConsentState(), datetime.now(UTC)):
            if decision.outcome is not Outcome.DENY:
                shared[str(decision.recipient)].update(decision.fields_sent)
    return dict(shared)


def test_the_art15_report_matches_what_the_hub_decided(hub: Hub, tmp_path: Path) -> None:  # noqa: F811
    asking, other = _person(Theme.CTER), _person(Theme.MONEY_MULE)
    hub.worker()
    for event in [*asking, *other]:
        hub.send(event)
    hub.flush()

    store: LineageStore = open_store(None, tmp_path / "lineage")
    topic = HubTopics.of(hub.settings).lineage
    config = hub.settings.kafka_client_config(LINEAGE)  # lineage ingest's own identity and group
    event_ids = {str(e.id) for e in [*asking, *other]}
    deadline = time.monotonic() + 120
    seen: set[str] = set()
    while seen != event_ids and time.monotonic() < deadline:
        assert hub.running(), hub.logs()
        ingest(store, topic=topic, kafka_config=config)
        seen = {str(r.event_id) for r in store.records()}
        time.sleep(0.5)
    time.sleep(2)  # the last decisions of an event may trail its first by a poll
    ingest(store, topic=topic, kafka_config=config)
    assert seen == event_ids, hub.logs()
    assert store.verify().ok

    bsn = asking[0].subject.bsn
    assert bsn is not None
    report = store.subject_report(subject_pseudonyms(bsn))
    shared = {p.recipient: set(p.fields_shared) for p in report.partners if p.fields_shared}
    assert shared, "the scenario must share something"
    assert shared == _expected_sharing(asking)
    assert {d.event_id for p in report.partners for d in p.decisions} == {e.id for e in asking}
    other_pseudonyms = {r.data_subject_id for r in store.records() if str(r.event_id) in {str(e.id) for e in other}}
    assert not other_pseudonyms & set(report.data_subject_ids)
    assert not any(pseudonym in report.model_dump_json() for pseudonym in other_pseudonyms)

    names = [e.subject.name for e in [*asking, *other] if e.subject.name]
    assert scan_for_personal_data(store, names=names) == []
    store.close()
