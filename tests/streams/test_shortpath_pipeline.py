"""The short path on the real broker: a case's follow-up events are decided at the ingress step, the sender's order
per person holds, and a conflict at the link step does not keep the person off the short path
(``schakel.streams.shortpath``; its pure rules: test_shortpath.py)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from schakel.consent import Outcome, Pseudonymizer, SubjectState, case_key, load_policy, subject_key
from schakel.lineage import LineageRecord, RecordKind
from schakel.schemas import Event, EventType, Organisation, Theme
from schakel.schemas.examples import example_event
from schakel.streams.topics import ADMIN, HubTopics
from tests.streams.conftest import DedupSink, Hub, changelog_tails, dead_letters, expected_copy, lineage_records

pytestmark = pytest.mark.kafka

THEME, SENDER = Theme.MONEY_MULE, Organisation.GEMEENTE_SOCIAAL.value


def _expected(hub: Hub, events: list[Event]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each permitted (event, recipient) copy as the consent processor decides, the events taken in order per
    person (the events here carry a BSN: the person is the BSN's)."""
    policy = load_policy()
    pseudonymizer = Pseudonymizer(hub.settings.pseudonym_key.get_secret_value().encode())
    states: dict[str, SubjectState] = {}
    copies: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        subject = subject_key(event)
        state = states.get(subject, SubjectState())
        decisions, states[subject] = state.decide_all(policy, event, datetime.now(UTC), pseudonymizer.subject)
        for decision in decisions:
            if decision.outcome is not Outcome.DENY:
                copies[(str(event.id), str(decision.recipient))] = expected_copy(event, decision, pseudonymizer)
    return copies


def _same_case(first: Event, event_type: EventType = EventType.SIGNAL, **more: Any) -> Event:
    """Another event (a new id) about ``first``'s person and case, from the same sender."""
    same: dict[str, Any] = {"subject": first.subject.model_dump(mode="json"), "case_id": first.case_id}
    return example_event(event_type, theme=THEME, source=SENDER, **same, **more)


def _consent(first: Event, change: str) -> Event:
    payload = {"change": change, "grantees": ["politie"], "valid_until": None}
    return _same_case(first, EventType.CONSENT_CHANGE, payload=payload)


def _long_path_records(hub: Hub) -> int:
    """How many records the hub's ``hub-link`` step has been given (every event that took the long path)."""
    consumer = KafkaConsumer(**hub.settings.kafka_client_config(ADMIN))
    try:
        link = HubTopics.of(hub.settings).link
        ends = consumer.end_offsets([TopicPartition(link, p) for p in range(hub.settings.partitions)])
    finally:
        consumer.close()
    return sum(ends.values())


def _decision_lineage(hub: Hub, event: Event) -> list[LineageRecord]:
    records = lineage_records(hub.settings, quiet=1)
    return [r for r in records if r.event_id == event.id and r.kind is RecordKind.DECISION]


def test_a_cases_follow_up_events_are_decided_at_ingress(hub: Hub) -> None:
    """The case's first event links BSN and case on the long path; its follow-ups (same BSN and case id, new ids)
    are decided at once: ``hub-link`` gets none of them, and each recipient gets what the decision allows."""
    first = example_event(EventType.SIGNAL, theme=THEME, source=SENDER, case_id="ZVH-2026-71001")
    follow_ups = [_same_case(first) for _ in range(4)]
    expected = _expected(hub, [first, *follow_ups])
    assert any(event_id == str(follow_ups[0].id) for event_id, _ in expected), "the follow-ups are delivered"
    hub.worker()
    sink = hub.sink()
    hub.send(first)
    hub.flush()
    sink.drain(until=sum(1 for event_id, _ in expected if event_id == str(first.id)), quiet=2)
    assert _long_path_records(hub) == 1, "the case's first event takes the long path"

    for event in follow_ups:
        hub.send(event)
    hub.flush()
    sink.drain(until=len(expected))
    sink.close()
    assert sink.received.keys() == expected.keys(), hub.logs()
    assert all(sink.received[key] == form for key, form in expected.items())
    assert _long_path_records(hub) == 1, "no follow-up went through hub-link"
    for event in follow_ups:
        decisions = _decision_lineage(hub, event)
        assert {r.recipient for r in decisions} >= {
            recipient for event_id, recipient in expected if event_id == str(event.id)
        }
        pseudonymizer = Pseudonymizer(hub.settings.pseudonym_key.get_secret_value().encode())
        assert {r.data_subject_id for r in decisions} == {pseudonymizer.subject(subject_key(first))}


def test_a_signal_behind_a_withdrawal_on_the_long_path_is_not_delivered(hub: Hub) -> None:
    """Consent given as the case's first event, the withdrawal right behind it (both on the long path while the case
    is not linked yet), then - once the consent's copies are out, so the case is linked - a signal: the withdrawal
    counts for it, whichever path each took."""
    people = [
        example_event(EventType.SIGNAL, theme=THEME, source=SENDER, case_id=f"ZVH-2026-7200{n}") for n in range(3)
    ]
    given = [_consent(first, "given") for first in people]
    withdrawn = [_consent(first, "withdrawn") for first in people]
    signals = [_same_case(first) for first in people]
    events = [event for trio in zip(given, withdrawn, signals, strict=True) for event in trio]
    expected = _expected(hub, events)
    assert all((str(signal.id), "politie") not in expected for signal in signals)
    hub.worker()
    sink = hub.sink()
    for pair in zip(given, withdrawn, strict=True):
        for event in pair:
            hub.send(event)
    hub.flush()
    sink.drain(until=sum(1 for event_id, _ in expected if event_id == str(given[0].id)), quiet=0)
    for signal in signals:
        hub.send(signal)
    hub.flush()
    sink.drain(until=len(expected))
    sink.close()
    assert all((str(signal.id), "politie") not in sink.received for signal in signals), hub.logs()
    assert sink.received.keys() == expected.keys()
    for signal in signals:
        denial = next(r for r in _decision_lineage(hub, signal) if r.recipient == "politie")
        assert denial.outcome == "deny"
        assert "consent-withdrawn" in denial.reasons


def test_a_conflict_at_the_link_step_does_not_keep_the_person_off_the_short_path(hub: Hub) -> None:
    """Person B names a case linked to person A: dead-lettered at the link step. B's own case's next event is still
    decided at the ingress step - B's pending mark was cleared by the dead letter's notice."""
    a = example_event(EventType.SIGNAL, theme=THEME, source=SENDER, case_id="ZVH-2026-73001")
    b = example_event(EventType.SIGNAL, theme=THEME, source=SENDER, case_id="ZVH-2026-73002")
    assert a.subject.bsn != b.subject.bsn
    conflict = example_event(
        EventType.SIGNAL, theme=THEME, source=SENDER, subject=b.subject.model_dump(mode="json"), case_id=a.case_id
    )
    follow_up = _same_case(b)
    expected = _expected(hub, [a, b, follow_up])
    hub.worker()
    sink = hub.sink()
    for event in (a, b):
        hub.send(event)
    hub.flush()
    sink.drain(until=sum(1 for event_id, _ in expected if event_id != str(follow_up.id)), quiet=2)
    hub.send(conflict)
    hub.flush()
    deadline = time.monotonic() + 60
    found = dead_letters(hub.settings, quiet=1)
    while not found and time.monotonic() < deadline:
        found = dead_letters(hub.settings, quiet=1)
    assert [dead.error_class for dead in found] == ["IdentifierConflict"], hub.logs()
    pseudonymizer = Pseudonymizer(hub.settings.pseudonym_key.get_secret_value().encode())
    person_b = pseudonymizer.subject(subject_key(b)).encode()
    # The notice reaches B's partition a moment after the dead letter: wait until B's reverse link shows nothing
    # pending (what the ingress step reads), then send B's follow-up.
    while time.monotonic() < deadline:
        tails = changelog_tails(hub.settings, ("links",))["links"]
        entry = next((r.value for (_, key), r in tails.items() if key == person_b), None)
        if entry is not None and "pending" not in json.loads(entry):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"B's reverse link still holds a pending position\n{hub.logs()}")
    before = _long_path_records(hub)
    assert before == 3, "a, b and the conflict took the long path"
    hub.send(follow_up)
    hub.flush()
    sink.drain(until=len(expected))
    sink.close()
    assert sink.received.keys() == expected.keys(), hub.logs()
    assert _long_path_records(hub) == before, "B's follow-up was decided at the ingress step"


def _partition(key: bytes, partitions: int) -> int:
    """The partition the hub's producer gives ``key`` (Kafka's default partitioner: murmur2)."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


def _pending(hub: Hub, person: bytes) -> list[str] | None:
    """The positions the person's reverse link holds as pending, as the changelog has it (None: no entry)."""
    tails = changelog_tails(hub.settings, ("links",))["links"]
    entry = next((r.value for (_, key), r in tails.items() if key == person), None)
    return None if entry is None else list(json.loads(entry).get("pending", []))


def test_a_forward_reported_refused_but_stored_keeps_the_persons_next_event_behind_it(hub: Hub, tmp_path: Path) -> None:
    """A person's consent for the police is given under case 1 (linked). Their withdrawal comes under a new case 2,
    so it takes the long path - and its forward to ``hub-link`` is reported refused though the partition's leader
    had taken it: ``hub-link`` is out of reach for a while, the withdrawal dead-lettered, and stored all the same.
    The person's next signal, under case 1, must not overtake the withdrawal: the police must not receive it."""
    given = _consent(example_event(EventType.SIGNAL, theme=THEME, source=SENDER, case_id="ZVH-2026-74001"), "given")
    payload = {"change": "withdrawn", "grantees": ["politie"], "valid_until": None}
    pseudonymizer = Pseudonymizer(hub.settings.pseudonym_key.get_secret_value().encode())

    def link_partition(event: Event) -> int:
        return _partition(pseudonymizer.subject(str(case_key(event))).encode(), hub.settings.partitions)

    # The new case on the first one's hub-link partition: the events of two cases may pass each other between
    # hub-link's partitions (known limit, hub.py's docstring) - not what this test is about.
    withdrawn = next(
        event
        for event in (
            example_event(
                EventType.CONSENT_CHANGE,
                theme=THEME,
                source=SENDER,
                subject=given.subject.model_dump(mode="json"),
                case_id=f"ZVH-2026-{number}",
                payload=payload,
            )
            for number in range(74002, 74100)
        )
        if link_partition(event) == link_partition(given)
    )
    signal = _same_case(given)
    assert (str(signal.id), "politie") in _expected(hub, [given, signal]), "without the withdrawal, delivered"
    expected = _expected(hub, [given, withdrawn, signal])
    assert (str(signal.id), "politie") not in expected
    release = tmp_path / "release"
    hub.worker(
        module="tests.streams.held_worker",
        env={
            "SCHAKEL_TEST_HOLD": HubTopics.of(hub.settings).link,
            "SCHAKEL_TEST_HOLD_AFTER": "1",  # the case's first event goes through
            "SCHAKEL_TEST_HOLD_FIRST": "failed",
            "SCHAKEL_TEST_RELEASE": str(release),
        },
    )
    sink = hub.sink()
    person = pseudonymizer.subject(subject_key(given)).encode()
    hub.send(given)
    hub.flush()
    deadline = time.monotonic() + 90
    while _pending(hub, person) != [] and time.monotonic() < deadline:  # linked, nothing pending
        time.sleep(0.5)
    assert _pending(hub, person) == [], hub.logs()

    hub.send(withdrawn)
    hub.flush()
    while not dead_letters(hub.settings, quiet=1) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [dead.event_id for dead in dead_letters(hub.settings, quiet=1)] == [str(withdrawn.id)], hub.logs()
    settled = time.monotonic() + 10  # what a notice to the person step would have cleared by now
    while _pending(hub, person) != [] and time.monotonic() < settled:
        time.sleep(0.5)
    hub.send(signal)
    hub.flush()
    sink.drain(until=len(expected), timeout=10)  # a signal decided at once would be delivered meanwhile

    release.touch()  # hub-link is back, with the withdrawal's forward in it
    sink.drain(until=len(expected))
    sink.close()
    assert (str(signal.id), "politie") not in sink.received, "the signal overtook the withdrawal"
    assert sink.received.keys() == expected.keys(), hub.logs()


@dataclass
class _Held:
    """A person with consent for the police given under case C, and case D linked, whose withdrawal is pending on
    the long path and held: ``hub-link``'s partition of D out of reach until ``release`` exists, C's in reach."""

    given: Event
    opened: Event
    withdrawn: Event
    person: bytes
    release: Path
    deadline: float
    sink: DedupSink


def _withdrawal_held(hub: Hub, tmp_path: Path, numbers: range, env: dict[str, str] | None = None) -> _Held:
    """Send the events of :class:`_Held` (case numbers from ``numbers``) to a held worker, and wait until D is linked
    with the withdrawal pending and held. ``env``: more of the held worker's settings."""
    pseudonymizer = Pseudonymizer(hub.settings.pseudonym_key.get_secret_value().encode())
    partitions = hub.settings.partitions
    first = example_event(EventType.SIGNAL, theme=THEME, source=SENDER, case_id=f"ZVH-2026-{numbers[0]}")
    given = _consent(first, "given")
    opened = next(  # case D's first event: a signal, on another hub-link partition than C's
        event
        for event in (
            example_event(
                EventType.SIGNAL,
                theme=THEME,
                source=SENDER,
                subject=given.subject.model_dump(mode="json"),
                case_id=f"ZVH-2026-{number}",
            )
            for number in numbers[1:]
        )
        if _partition(_link_key(hub, event), partitions) != _partition(_link_key(hub, given), partitions)
    )
    withdrawn = _consent(opened, "withdrawn")
    release = tmp_path / "release"
    hub.worker(
        module="tests.streams.held_worker",
        env={
            "SCHAKEL_TEST_HOLD": HubTopics.of(hub.settings).link,
            "SCHAKEL_TEST_HOLD_PARTITION": f"{_partition(_link_key(hub, opened), partitions)}/{partitions}",
            "SCHAKEL_TEST_HOLD_AFTER": "1",  # D's first event goes through and links D
            "SCHAKEL_TEST_RELEASE": str(release),
            **(env or {}),
        },
    )
    sink = hub.sink()
    person = pseudonymizer.subject(subject_key(given)).encode()
    hub.send(given)
    hub.flush()
    deadline = time.monotonic() + 90
    while _pending(hub, person) != [] and time.monotonic() < deadline:  # C linked, nothing pending
        time.sleep(0.5)
    assert _pending(hub, person) == [], hub.logs()

    # The withdrawal right behind D's first event: pending behind it, so on the long path, and held.
    hub.send(opened)
    hub.send(withdrawn)
    hub.flush()
    copies = _expected(hub, [given, opened])
    sink.drain(until=len(copies), quiet=2)
    assert (str(opened.id), "politie") in sink.received, hub.logs()
    cases = {_link_key(hub, given).decode(), _link_key(hub, opened).decode()}
    while time.monotonic() < deadline:  # D linked too (its first event decided), the withdrawal still pending
        tails = changelog_tails(hub.settings, ("links",))["links"]
        entry: dict[str, Any] = next((json.loads(r.value) for (_, key), r in tails.items() if key == person), {})
        if set(entry.get("cases", ())) == cases and len(entry.get("pending", ())) == 1:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"D not linked with the withdrawal pending\n{hub.logs()}")
    assert not _decision_lineage(hub, withdrawn), "the withdrawal is held on hub-link"
    return _Held(given, opened, withdrawn, person, release, deadline, sink)


def _link_key(hub: Hub, event: Event) -> bytes:
    """The ``hub-link`` key of the event's case (its pseudonym)."""
    pseudonymizer = Pseudonymizer(hub.settings.pseudonym_key.get_secret_value().encode())
    return pseudonymizer.subject(str(case_key(event))).encode()


def _denied_for_withdrawn_consent(hub: Hub, signal: Event) -> None:
    denial = next(r for r in _decision_lineage(hub, signal) if r.recipient == "politie")
    assert denial.outcome == "deny"
    assert "consent-withdrawn" in denial.reasons


def test_an_event_held_behind_another_cases_pending_withdrawal_does_not_overtake_it(hub: Hub, tmp_path: Path) -> None:
    """A person's consent for the police is given under case C; their case D is linked too, and a withdrawal under D
    is pending on the long path, held there: ``hub-link``'s partition of D is out of reach for a while, C's is not.
    The person's next signal, under C, must wait behind the withdrawal: once D's partition is back, the police get no
    copy of it, and its lineage shows the consent withdrawn."""
    held = _withdrawal_held(hub, tmp_path, range(75001, 75100))
    signal = _same_case(held.given)
    assert (str(signal.id), "politie") in _expected(hub, [held.given, held.opened, signal]), "without it, delivered"
    expected = _expected(hub, [held.given, held.opened, held.withdrawn, signal])
    assert (str(signal.id), "politie") not in expected

    hub.send(signal)
    hub.flush()
    held.sink.drain(until=len(expected) + 1, timeout=10)  # a signal passing C's partition would be delivered meanwhile

    held.release.touch()  # D's hub-link partition is back, with the withdrawal in it
    held.sink.drain(until=len(expected))
    held.sink.close()
    assert (str(signal.id), "politie") not in held.sink.received, "the signal overtook the withdrawal"
    assert held.sink.received.keys() == expected.keys(), hub.logs()
    _denied_for_withdrawn_consent(hub, signal)
    while _pending(hub, held.person) != [] and time.monotonic() < held.deadline + 30:
        time.sleep(0.5)
    assert _pending(hub, held.person) == [], "the signal passed through is no longer pending"


def test_a_held_event_whose_pass_through_is_reported_refused_still_settles(hub: Hub, tmp_path: Path) -> None:
    """As above, and the signal's forward behind the withdrawal is reported refused though stored (the partition
    out of reach past the producer's timeout): the signal is dead-lettered, and its notice follows it on D's
    partition. Once D's partition is back the signal still comes after the withdrawal, nothing of the person stays
    pending, and their next signal under C is decided at the ingress step - denied for the police too."""
    held = _withdrawal_held(hub, tmp_path, range(76001, 76100), {"SCHAKEL_TEST_HOLD_FAIL": "2"})
    signal, follow_up = _same_case(held.given), _same_case(held.given)
    expected = _expected(hub, [held.given, held.opened, held.withdrawn, signal, follow_up])
    assert (str(signal.id), "politie") not in expected
    assert (str(follow_up.id), "politie") not in expected

    hub.send(signal)
    hub.flush()
    while not dead_letters(hub.settings, quiet=1) and time.monotonic() < held.deadline:
        time.sleep(0.5)
    assert [dead.event_id for dead in dead_letters(hub.settings, quiet=1)] == [str(signal.id)], hub.logs()
    held.sink.drain(until=len(expected), timeout=10)
    assert (str(signal.id), "politie") not in held.sink.received, "the signal overtook the withdrawal"
    assert len(_pending(hub, held.person) or []) == 2, "the notice waits behind the withdrawal, as the forward does"

    held.release.touch()  # the withdrawal, the signal's forward and its notice, in that order
    while _pending(hub, held.person) != [] and time.monotonic() < held.deadline + 30:
        time.sleep(0.5)
    assert _pending(hub, held.person) == [], hub.logs()
    before = _long_path_records(hub)
    hub.send(follow_up)
    hub.flush()
    held.sink.drain(until=len(expected))
    held.sink.close()
    assert (str(signal.id), "politie") not in held.sink.received, "the signal overtook the withdrawal"
    assert held.sink.received.keys() == expected.keys(), hub.logs()
    assert _long_path_records(hub) == before, "the follow-up was decided at the ingress step"
    _denied_for_withdrawn_consent(hub, signal)
    _denied_for_withdrawn_consent(hub, follow_up)
