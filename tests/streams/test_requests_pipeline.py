"""Subject requests end to end: the real broker, a real hub worker, requests and confirmations as partners send them.

An erasure is forwarded to exactly the partners that received data about the person and closes when each confirmed;
a restriction stops a following signal's delivery (lineage says why) until it is lifted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from schakel.consent import ConsentState, Outcome, Reason, load_policy
from schakel.lineage import REQUEST_CONFIRM_RECORD_NAME, LineageRecord, RequestState
from schakel.lineage.requests import request_statuses
from schakel.schemas import Event, EventType, Organisation, Theme
from schakel.schemas.examples import example_event
from schakel.streams.topics import HubTopics
from tests.streams.conftest import DedupSink, Hub, dead_letters, read_all

pytestmark = pytest.mark.kafka


def _person() -> dict[str, Any]:
    first = example_event(EventType.SIGNAL, Theme.LVB, source=Organisation.POLITIE.value)
    return {"subject": first.subject.model_dump(mode="json"), "case_id": first.case_id}


def _signal(person: dict[str, Any]) -> Event:
    return example_event(EventType.SIGNAL, Theme.LVB, source=Organisation.POLITIE.value, **person)


def _request(person: dict[str, Any], source: str = "zvh", **payload: Any) -> Event:
    return example_event(
        EventType.SUBJECT_REQUEST,
        Theme.LVB,
        source=source,
        purpose="case-consultation",
        payload={"kind": None, "restriction": None, "confirms": None, **payload},
        **person,
    )


def _lineage(hub: Hub, until: Callable[[list[LineageRecord]], bool], timeout: float = 120) -> list[LineageRecord]:
    deadline = time.monotonic() + timeout
    while True:
        records = [
            LineageRecord.from_bytes(r.value) for r in read_all(hub.settings, HubTopics.of(hub.settings).lineage)
        ]
        if until(records) or time.monotonic() > deadline:
            return records


def _copies_of(sink: DedupSink, event: Event) -> set[str]:
    return {recipient for event_id, recipient in sink.received if event_id == str(event.id)}


def test_an_erasure_is_forwarded_and_confirmed_and_a_restriction_holds_until_lifted(hub: Hub) -> None:
    erased_person, restricted_person = _person(), _person()
    first_a, first_b = _signal(erased_person), _signal(restricted_person)
    decisions = load_policy().decide_all(first_a, ConsentState(), datetime.now(UTC))
    received = {str(d.recipient) for d in decisions if d.outcome is not Outcome.DENY}
    partners = received - {"zvh"}  # the contact point acts on a request itself
    assert partners

    hub.worker()
    sink = hub.sink()
    for event in (first_a, first_b):
        hub.send(event)
    hub.flush()
    sink.drain(until=2 * len(received), timeout=180)
    assert len(sink.received) == 2 * len(received), hub.logs()

    # The contact point's requests: forwarded to exactly the partners that received data.
    erasure = _request(erased_person, kind="erasure")
    restriction = _request(restricted_person, restriction="restrict")
    for event in (erasure, restriction):
        hub.send(event)
    hub.flush()
    sink.drain(until=2 * len(received) + 2 * len(partners), timeout=120)
    assert _copies_of(sink, erasure) == partners, hub.logs()
    assert _copies_of(sink, restriction) == partners
    forwarded = sink.received[(str(erasure.id), sorted(partners)[0])]
    assert forwarded["payload"]["kind"] == "erasure"

    # Each partner confirms the erasure; a signal about the restricted person is not delivered.
    confirmations = [
        _request(erased_person, source=partner, kind="erasure", confirms=str(erasure.id)) for partner in partners
    ]
    withheld = _signal(restricted_person)
    by_case = _signal({"subject": {"bsn": None}, "case_id": restricted_person["case_id"]})  # the same person
    # Only the contact point files requests, and only a partner a request went to confirms it: both refused.
    outsider = next(o.value for o in Organisation if o.value not in received and o is not Organisation.ZVH)
    stray = _request(restricted_person, source=outsider, restriction="restrict", confirms=str(restriction.id))
    filed = _request(erased_person, source=Organisation.POLITIE.value, kind="access")
    for event in (*confirmations, withheld, by_case, stray, filed):
        hub.send(event)
    hub.flush()

    def settled(records: list[LineageRecord]) -> bool:
        confirmed = [r for r in records if r.name == REQUEST_CONFIRM_RECORD_NAME]
        decided = [r for r in records if r.event_id in (withheld.id, by_case.id) and r.kind.value == "decision"]
        return len(confirmed) == len(partners) and len(decided) == 2 * len(decisions)

    records = _lineage(hub, settled)
    assert settled(records), hub.logs()
    statuses = {s.request_id: s for s in request_statuses(records, datetime.now(UTC))}
    assert statuses[erasure.id].state is RequestState.CLOSED
    assert statuses[restriction.id].state is RequestState.OPEN
    assert set(statuses[restriction.id].not_confirmed) == partners
    refused = {(d.event_id, d.error_class, d.topic) for d in dead_letters(hub.settings)}
    topics = HubTopics.of(hub.settings)
    assert refused == {
        (str(stray.id), "ConfirmationNotForwarded", topics.ingress(outsider)),
        (str(filed.id), "PurposeNotClaimable", topics.ingress(Organisation.POLITIE)),
    }, hub.logs()
    assert not [r for r in records if r.event_id in (stray.id, filed.id)], "a refused event leaves no lineage"
    for signal in (withheld, by_case):  # under the BSN and under the case id alone: the restriction is the person's
        about = [r for r in records if r.event_id == signal.id and r.kind.value == "decision"]
        assert all(r.outcome == "deny" for r in about)
        assert {r.recipient for r in about if r.reasons == (Reason.PROCESSING_RESTRICTED.value,)} == received
    sink.drain(until=len(sink.received), timeout=10)
    assert _copies_of(sink, withheld) == _copies_of(sink, by_case) == set()

    # Lifting the restriction delivers the next signal again.
    lift = _request(restricted_person, restriction="lift")
    hub.send(lift)
    hub.flush()
    sink.drain(until=2 * len(received) + 3 * len(partners), timeout=120)
    assert _copies_of(sink, lift) == partners
    after = _signal(restricted_person)
    hub.send(after)
    hub.flush()
    sink.drain(until=3 * len(received) + 3 * len(partners), timeout=120)
    sink.close()
    assert _copies_of(sink, after) == received, hub.logs()
