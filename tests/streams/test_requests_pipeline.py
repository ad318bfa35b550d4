"""Subject requests end to end: the real broker, a real hub worker, requests and confirmations as partners send them.

An erasure is forwarded to exactly the partners that received data about the person and closes when each confirmed;
once granted, the person's entries in the hub's tables end in tombstones and no raw copy about them opens. A
restriction stops a following signal's delivery (lineage says why) until it is lifted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from schakel.consent import ConsentState, Outcome, Pseudonymizer, Reason, case_key, load_policy, subject_key
from schakel.lineage import REQUEST_CONFIRM_RECORD_NAME, LineageRecord, RequestState
from schakel.lineage.requests import request_statuses
from schakel.retention import Opener, SealError
from schakel.schemas import Event, EventType, Organisation, Theme
from schakel.schemas.examples import example_event
from schakel.streams.records import header
from schakel.streams.topics import HUB_TABLES, HubTopics
from tests.streams.conftest import DedupSink, Hub, changelog_tails, dead_letters, lineage_records, read_all

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
        records = lineage_records(hub.settings)
        if until(records) or time.monotonic() > deadline:
            return records


def _copies_of(sink: DedupSink, event: Event) -> set[str]:
    return {recipient for event_id, recipient in sink.received if event_id == str(event.id)}


def test_an_erasure_is_forwarded_and_confirmed_and_a_restriction_holds_until_lifted(hub: Hub) -> None:
    erased_person, restricted_person = _person(), _person()
    first_a, first_b = _signal(erased_person), _signal(restricted_person)
    consent_a = example_event(EventType.CONSENT_CHANGE, Theme.LVB, **erased_person)  # an entry in `subjects`
    decisions = load_policy().decide_all(first_a, ConsentState(), datetime.now(UTC))
    received = {str(d.recipient) for d in decisions if d.outcome is not Outcome.DENY}
    partners = received - {"zvh"}  # the contact point acts on a request itself
    assert partners
    consented = {
        str(d.recipient)
        for d in load_policy().decide_all(consent_a, ConsentState(), datetime.now(UTC))
        if d.outcome is not Outcome.DENY
    }
    erased_partners = (received | consented) - {"zvh"}

    hub.worker()
    sink = hub.sink()
    for event in (first_a, consent_a, first_b):
        hub.send(event)
    hub.flush()
    base = 2 * len(received) + len(consented)
    sink.drain(until=base, timeout=180)
    assert len(sink.received) == base, hub.logs()

    # The contact point's requests: forwarded to exactly the partners that received data.
    erasure = _request(erased_person, kind="erasure")
    restriction = _request(restricted_person, restriction="restrict")
    for event in (erasure, restriction):
        hub.send(event)
    hub.flush()
    sink.drain(until=base + len(erased_partners) + len(partners), timeout=120)
    assert _copies_of(sink, erasure) == erased_partners, hub.logs()
    assert _copies_of(sink, restriction) == partners
    forwarded = sink.received[(str(erasure.id), sorted(erased_partners)[0])]
    assert forwarded["payload"]["kind"] == "erasure"

    # Each partner confirms the erasure; a signal about the restricted person is not delivered.
    confirmations = [
        _request(erased_person, source=partner, kind="erasure", confirms=str(erasure.id)) for partner in erased_partners
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
        return len(confirmed) == len(erased_partners) and len(decided) == 2 * len(decisions)

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
    sink.drain(until=base + len(erased_partners) + 2 * len(partners), timeout=120)
    assert _copies_of(sink, lift) == partners
    after = _signal(restricted_person)
    hub.send(after)
    hub.flush()
    sink.drain(until=base + len(erased_partners) + 2 * len(partners) + len(received), timeout=120)
    sink.close()
    assert _copies_of(sink, after) == received, hub.logs()

    # The granted erasure retired the person from the hub: every entry under their pseudonyms (the BSN's, the
    # case's) ends in a tombstone on its table's changelog, and no raw copy about them opens any more; the
    # restricted person's entries and copies stay.
    pseudonymizer = Pseudonymizer(hub.settings.pseudonym_key.get_secret_value().encode())

    def keys_of(event: Event) -> set[bytes]:
        return {pseudonymizer.subject(k).encode() for k in (subject_key(event), case_key(event)) if k is not None}

    mine, theirs = keys_of(first_a), keys_of(first_b)

    def owner(key: bytes) -> bytes:
        return key.split(b"/", 1)[0]  # event-ids: "<pseudonym>/<source>/<event id>"

    def held(found: dict[str, dict[tuple[int, bytes], Any]], keys: set[bytes]) -> dict[str, list[Any]]:
        return {table: [r for (_, key), r in tails.items() if owner(key) in keys] for table, tails in found.items()}

    opener = Opener.of(hub.settings)

    def raw_copies(event: Event) -> list[Any]:
        return [
            r
            for topic in topics.all_egress()
            for r in read_all(hub.settings, topic, quiet=0.5, timeout=10)
            if header(r.headers, "ce_id") == str(event.id)
        ]

    def opens(record: Any) -> bool:
        try:
            opener.open_copy(record.value, record.headers)
        except SealError:
            return False
        return True

    deadline = time.monotonic() + 60
    while True:
        found = held(changelog_tails(hub.settings), mine)
        if all(r.value is None for rs in found.values() for r in rs) or time.monotonic() > deadline:
            break
        time.sleep(1)
    for table in HUB_TABLES:
        assert found[table], f"the person had entries in {table}"
    for table, records_ in found.items():
        assert all(r.value is None for r in records_), f"{table}: a live entry of the erased person is left"
    assert len({r.key for r in found["links"]}) == 2, "the case's link and the person's reverse link"
    kept = held(changelog_tails(hub.settings, ("links",)), theirs)["links"]
    assert kept, "the restricted person has links too"
    assert all(r.value is not None for r in kept), "the other person's entries stay"
    erased_copies, kept_copies = raw_copies(first_a), raw_copies(first_b)
    assert erased_copies
    assert kept_copies
    assert not any(opens(r) for r in erased_copies), "a raw copy about the erased person no longer opens"
    assert all(opens(r) for r in kept_copies)
