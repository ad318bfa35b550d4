"""The ZVH's signal agenda end to end: the real broker, a real hub worker, bundles as the ZVH receives them."""

from __future__ import annotations

from typing import Any

import pytest

from schakel.schemas import Event, EventType, Organisation, Theme
from schakel.schemas.examples import example_event
from tests.streams.conftest import Hub, lineage_records
from tests.streams.test_pipeline import _expected

pytestmark = pytest.mark.kafka


def test_two_partners_bundle_a_third_updates_and_a_withdrawal_forgets(hub: Hub) -> None:
    first = example_event(EventType.SIGNAL, Theme.LVB, source=Organisation.POLITIE.value)
    person: dict[str, Any] = {"subject": first.subject.model_dump(mode="json"), "case_id": first.case_id}

    def signal(source: Organisation) -> Event:
        return example_event(EventType.SIGNAL, Theme.LVB, source=source.value, **person)

    second, third = signal(Organisation.GEMEENTE_SOCIAAL), signal(Organisation.POLITIE)
    withdrawal = example_event(
        EventType.CONSENT_CHANGE,
        Theme.LVB,
        source=Organisation.GEMEENTE_SOCIAAL.value,
        payload={"change": "withdrawn", "grantees": ["zvh"], "valid_until": None},
        **person,
    )
    fourth, fifth = signal(Organisation.POLITIE), signal(Organisation.GEMEENTE_SOCIAAL)
    events = [first, second, third, withdrawal, fourth, fifth]
    hub.worker()
    hub.await_group(members=1)  # the worker is in its group with its partitions: a step's time is its own
    sink = hub.sink()
    # Step by step: the hub orders one person's events per sender, not across senders (see the README). A step must
    # be done before the next is sent: a drain that merely timed out (a slow worker start on a broker loaded by the
    # tests before) would let the next sender's events race this step's and fail the test far from the cause.
    # The count due is exact, so a step is done when it is reached; only the last step waits 3 s more for a copy
    # that should not come (an earlier extra one fails the next step's count).
    sent: list[Event] = []
    steps = (([first, second], 1), ([third], 2), ([withdrawal], 2), ([fourth], 2), ([fifth], 3))
    for number, (step, bundles_due) in enumerate(steps, start=1):
        for event in step:
            hub.send(event)
        hub.flush()
        sent.extend(step)
        expected, _ = _expected(hub, sent)
        sink.drain(until=len(expected) + bundles_due, timeout=180, quiet=3.0 if number == len(steps) else 0.0)
        assert len(sink.received) == len(expected) + bundles_due, f"step {len(sent)} not done:\n{hub.logs()}"
    sink.close()

    bundles = {key: form for key, form in sink.received.items() if form["type"] == EventType.SIGNAL_BUNDLE.value}
    assert {recipient for _, recipient in bundles} == {"zvh"}, "a bundle goes to the ZVH only"
    named = {frozenset(s["event_id"] for s in form["payload"]["signals"]) for form in bundles.values()}
    ids = [str(e.id) for e in events]
    # two partners -> one bundle; a third signal updates it; after the withdrawal only the new signals count
    assert named == {frozenset(ids[0:2]), frozenset(ids[0:3]), frozenset(ids[4:6])}
    for form in bundles.values():
        assert form["subject"]["bsn"] is None
        assert form["subject"]["name"] is None
        assert form["payload"]["reason"] == "several_partners"
    zvh_pseudonym = sink.received[(str(first.id), "zvh")]["subject"]["pseudonym"]
    assert all(form["subject"]["pseudonym"] == zvh_pseudonym for form in bundles.values())

    lineage = lineage_records(hub.settings)
    bundle_records = [r for r in lineage if r.event_type == EventType.SIGNAL_BUNDLE.value]
    assert {str(r.event_id) for r in bundle_records} == {event_id for event_id, _ in bundles}
    assert all(r.recipient == "zvh" and r.rule == "signal-agenda" for r in bundle_records)
    for record in bundle_records:  # provenance: each bundle's record names the signals it was derived from
        signals = bundles[(str(record.event_id), "zvh")]["payload"]["signals"]
        assert record.derived_from == tuple(f"{s['source']}/{s['event_id']}" for s in signals)
