"""The hub end to end against the real broker and a real worker process."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schakel.consent import Outcome, Pseudonymizer, SubjectState, load_policy, subject_key
from schakel.lineage import LineageRecord, RecordKind, records_from_bytes
from schakel.schemas import Codec, Event, EventType, Organisation, Theme
from schakel.schemas.examples import example_event, example_form
from schakel.streams.records import Message, ingress_message
from schakel.streams.topics import HubTopics
from tests.streams.conftest import Hub, dead_letters, expected_copy, lineage_records, read_all

pytestmark = pytest.mark.kafka


def _expected(hub: Hub, events: list[Event]) -> tuple[dict[tuple[str, str], dict[str, Any]], set[tuple[str, str]]]:
    """What each recipient may receive, and every (event, candidate) pair, as the consent processor decides (the
    events of one scenario are about one person, keyed by the BSN)."""
    policy = load_policy()
    pseudonymizer = Pseudonymizer(hub.settings.pseudonym_key.get_secret_value().encode())
    states: dict[str, SubjectState] = {}
    copies: dict[tuple[str, str], dict[str, Any]] = {}
    candidates: set[tuple[str, str]] = set()
    for event in events:
        subject = subject_key(event)
        state = states.get(subject, SubjectState())
        decisions, states[subject] = state.decide_all(policy, event, datetime.now(UTC), pseudonymizer.subject)
        for decision in decisions:
            candidates.add((str(event.id), str(decision.recipient)))
            if decision.outcome is not Outcome.DENY:
                copies[(str(event.id), str(decision.recipient))] = expected_copy(event, decision, pseudonymizer)
    return copies, candidates


def _scenario(theme: Theme) -> list[Event]:
    if theme is Theme.CTER:
        signal = example_event(EventType.SIGNAL, theme=Theme.CTER)
        same: dict[str, Any] = {"subject": signal.subject.model_dump(mode="json"), "case_id": signal.case_id}
        return [
            signal,
            example_event(EventType.REFERRAL, theme=Theme.CTER, **same),
            example_event(EventType.INFORMATION_CONTRIBUTION, theme=Theme.CTER, **same),
            example_event(EventType.CONSULTATION_OUTCOME, theme=Theme.CTER, **same),
        ]
    return [example_event(EventType.SIGNAL, theme=theme)]


@pytest.mark.parametrize("theme", [Theme.CTER, Theme.LVB, Theme.MONEY_MULE])
def test_each_recipient_receives_exactly_what_the_decision_allows(hub: Hub, theme: Theme) -> None:
    events = _scenario(theme)
    expected, candidates = _expected(hub, events)
    assert candidates, "the scenario must have candidate recipients"
    hub.worker()
    for event in events:
        hub.send(event)
    hub.flush()

    sink = hub.sink()
    sink.drain(until=len(expected))
    sink.close()
    assert sink.received.keys() == expected.keys(), hub.logs()
    for key, form in expected.items():
        assert sink.received[key] == form, f"copy {key} differs from the decision's projection"

    records = lineage_records(hub.settings)
    lineage = [record for record in records if record.kind is RecordKind.DECISION]
    # Beside its decisions, an event with both a BSN and a case id links the two pseudonyms of its person.
    linking = {str(event.id) for event in events if event.subject.bsn and event.case_id}
    assert {str(record.event_id) for record in records if record.kind is RecordKind.LINK} == linking
    assert len(records) == len(lineage) + len(linking)
    assert {(str(record.event_id), record.recipient) for record in lineage} == candidates
    assert Counter(record.record_id for record in lineage).most_common(1)[0][1] == 1
    for record in lineage:
        assert record.outcome in {"permit", "partial", "deny"}
        assert record.data_subject_id not in json.dumps(list(expected.values()))  # not a recipient pseudonym
    # One lineage message per event, keyed by its person, holding all of the event's records (issue 14).
    messages = read_all(hub.settings, HubTopics.of(hub.settings).lineage)
    assert len(messages) == len(events)
    for message in messages:
        held = records_from_bytes(message.value)
        assert {(r.event_id, r.data_subject_id.encode()) for r in held} == {(held[0].event_id, message.key)}


def _with_value(message: Message, value: bytes) -> Message:
    return Message(message.topic, message.key, value, message.headers)


def test_bad_input_is_dead_lettered_with_its_reason_and_the_stream_goes_on(hub: Hub) -> None:
    codec = Codec()
    good = example_event(EventType.SIGNAL, theme=Theme.MONEY_MULE)
    template = ingress_message(good, hub.settings)
    encoded = template.value
    unknown_fingerprint = encoded[:2] + struct.pack("<Q", 0xDEADBEEF) + encoded[10:]
    spoofed = example_event(EventType.SIGNAL, theme=Theme.CTER)  # source is politie ...
    spoofed_message = ingress_message(spoofed, hub.settings)
    spoofed_message = Message(
        HubTopics.of(hub.settings).ingress(Organisation.GGZ),  # ... but it arrives on ggz's ingress
        spoofed_message.key,
        spoofed_message.value,
        spoofed_message.headers,
    )
    invalid_bsn_form = example_form(EventType.SIGNAL, theme=Theme.LVB)
    invalid_bsn_form["subject"]["bsn"] = "123456789"  # fails the 11-test
    invalid_bsn = _with_value(template, codec.encode_json(invalid_bsn_form))

    bad = [
        ("garbage", _with_value(template, b"\x00garbage that is not avro at all")),
        ("truncated", _with_value(template, encoded[: len(encoded) // 2])),
        ("unknown fingerprint", _with_value(template, unknown_fingerprint)),
        ("spoofed source", spoofed_message),
        ("invalid bsn", invalid_bsn),
    ]
    for _, message in bad:
        hub.produce(message)
    hub.send(good)
    hub.flush()
    port = _free_port()
    hub.worker(metrics_port=port)

    expected, _ = _expected(hub, [good])
    sink = hub.sink()
    sink.drain(until=len(expected))
    sink.close()
    assert set(sink.received) == set(expected), hub.logs()

    letters = dead_letters(hub.settings)
    assert len(letters) == len(bad)
    by_offset = sorted(letters, key=lambda letter: (letter.topic, letter.offset))
    reasons = " | ".join(f"{letter.error_class}: {letter.reason}" for letter in by_offset)
    for letter in letters:
        assert letter.reason
        assert letter.error_class
        assert letter.topic.startswith(HubTopics.of(hub.settings).prefix + "ingress.")
        assert letter.offset >= 0
    assert any(letter.error_class == "SpoofedSource" for letter in letters), reasons
    assert invalid_bsn_form["subject"]["bsn"] not in reasons, "a dead-letter reason must not echo personal data"

    metrics = _scrape(port)
    assert _metric(metrics, "schakel_dead_lettered_total") == len(bad)
    assert _metric(metrics, "schakel_events_in_total") == len(bad) + 1
    assert _metric(metrics, "schakel_delivered_total") == len(expected)
    assert str(good.subject.bsn) not in metrics


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def _metric(text: str, name: str) -> float:
    """The sum of a counter over its labels."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


@pytest.mark.soak  # ~140 s; `make soak` (test_worker_faults.py kills a worker beside a survivor, five times)
def test_sigkill_mid_stream_loses_nothing_and_each_copy_reaches_the_sink_once(hub: Hub) -> None:
    themes = [Theme.CTER, Theme.LVB, Theme.MONEY_MULE]
    # One case id per person: example case ids repeat, and one drawn for two BSNs is (rightly) an IdentifierConflict.
    events = [
        example_event(EventType.SIGNAL, theme=themes[number % 3], case_id=f"ZVH-2026-{number:05d}")
        for number in range(2000)
    ]
    expected, _ = _expected(hub, events)
    for event in events:
        hub.send(event)
    hub.flush()

    first = hub.worker()
    sink = hub.sink()
    sink.drain(until=len(expected) // 4, quiet=0.0, timeout=120)
    assert 0 < len(sink.received) < len(expected), "the worker must be killed mid-stream"
    first.kill()
    hub.worker()
    sink.drain(until=len(expected), timeout=180)
    sink.close()

    assert sink.received.keys() == expected.keys(), hub.logs()
    assert all(sink.received[key] == form for key, form in expected.items())


def test_a_withdrawal_stops_the_signal_that_follows_it_at_once(hub: Hub) -> None:
    """Consent withdrawn, then at once a signal about the same person: the withdrawn recipient does not get it."""
    theme, sender = Theme.MONEY_MULE, Organisation.GEMEENTE_SOCIAAL.value
    first = example_event(EventType.SIGNAL, theme=theme, source=sender)
    person: dict[str, Any] = {"subject": first.subject.model_dump(mode="json"), "case_id": first.case_id}

    def consent(change: str) -> Event:
        payload = {"change": change, "grantees": ["politie"], "valid_until": None}
        return example_event(EventType.CONSENT_CHANGE, theme=theme, source=sender, payload=payload, **person)

    second = example_event(EventType.SIGNAL, theme=theme, source=sender, **person)
    events = [consent("given"), first, consent("withdrawn"), second]
    expected, _ = _expected(hub, events)
    assert (str(first.id), "politie") in expected, "with consent on file, politie may receive the first signal"
    assert (str(second.id), "politie") not in expected

    for event in events:
        hub.send(event)
    hub.flush()
    hub.worker()
    sink = hub.sink()
    sink.drain(until=len(expected))
    sink.close()

    assert (str(first.id), "politie") in sink.received
    assert (str(second.id), "politie") not in sink.received, "a withdrawn consent must stop the next delivery"
    assert sink.received.keys() == expected.keys()
    lineage = lineage_records(hub.settings)
    denial = next(r for r in lineage if r.event_id == second.id and r.recipient == "politie")
    assert denial.outcome == "deny"
    assert denial.reasons


def test_two_workers_share_the_partitions_and_deliver_everything(hub: Hub) -> None:
    events = [example_event(EventType.SIGNAL, theme=Theme.CTER, case_id=f"ZVH-2026-{n:05d}") for n in range(400)]
    expected, _ = _expected(hub, events)
    hub.worker()
    hub.worker()
    # Both in the group, each with ingress partitions of its own, before the first event: events sent while the
    # second worker joins meet a rebalance mid-stream (Faust's stall after one is test_worker_faults.py's subject).
    first, second = hub.await_group(members=2).values()
    assert not set(first) & set(second), "each ingress partition has one owner"
    for event in events:
        hub.send(event)
    hub.flush()
    sink = hub.sink()
    sink.drain(until=len(expected), timeout=180)
    sink.close()
    missing = sorted(set(expected) - set(sink.received))  # (event id, recipient): named, to tell late from lost
    assert not missing, f"{len(missing)} copies missing after 180 s, e.g. {missing[:5]}\n{hub.logs()}"
    assert set(sink.received) == set(expected)
    assert all(worker.process is not None and worker.process.poll() is None for worker in hub.workers)


def test_send_and_tail_commands_work_as_a_partner_would(hub: Hub, tmp_path: Path) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.MONEY_MULE)
    expected, _ = _expected(hub, [event])
    recipient = sorted(recipient for _, recipient in expected)[0]
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event.to_json()))
    hub.worker()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "schakel.cli", *args], env=hub.env, capture_output=True, text=True, timeout=120
        )

    sent = cli("send", "--as", str(event.source), str(event_file))
    assert sent.returncode == 0, sent.stderr
    assert str(event.id) in sent.stdout
    # `tail` shows the latest copies and exits at once, so ask until the worker has delivered this one.
    deadline = time.monotonic() + 120
    tailed = cli("tail", "--to", recipient, "--count", "1")
    while not tailed.stdout and tailed.returncode == 0 and time.monotonic() < deadline:
        time.sleep(1)
        tailed = cli("tail", "--to", recipient, "--count", "1")
    assert tailed.returncode == 0, tailed.stderr
    assert [json.loads(line) for line in tailed.stdout.splitlines()] == [expected[(str(event.id), recipient)]]

    refused = cli("send", "--as", "politie", str(tmp_path / "missing.json"))
    assert refused.returncode != 0


def test_a_withdrawal_by_case_id_stops_the_next_delivery_to_the_person(hub: Hub) -> None:
    """The ZVH records consent with BSN and case id; later a withdrawal with the case id only (keyed by the case, on
    another partition than the person). The next LVB signal gives politie no LVB indication, and no copy carries the
    hub-wide pseudonym."""
    lvb, zvh, social = Theme.LVB, Organisation.ZVH.value, Organisation.GEMEENTE_SOCIAAL.value
    first = example_event(EventType.SIGNAL, theme=lvb, source=social)
    person: dict[str, Any] = {"subject": first.subject.model_dump(mode="json"), "case_id": first.case_id}
    case_only: dict[str, Any] = {**person, "subject": {**person["subject"], "bsn": None}, "case_issuer": zvh}

    def consent(change: str, who: dict[str, Any]) -> Event:
        payload = {"change": change, "grantees": ["politie"], "grantor": zvh}
        return example_event(EventType.CONSENT_CHANGE, theme=lvb, source=zvh, payload=payload, **who)

    given = consent("given", {**person, "case_issuer": zvh})
    withdrawn = consent("withdrawn", case_only)
    second = example_event(EventType.SIGNAL, theme=lvb, source=social, **person)
    pseudonymizer = Pseudonymizer(hub.settings.pseudonym_key.get_secret_value().encode())
    assert ingress_message(withdrawn, hub.settings).key != ingress_message(given, hub.settings).key
    hub.worker()
    sink = hub.sink()
    # Between two senders the order is the hub's arrival order: each step waits until the last one was delivered
    # (its first copy, then 2 s with nothing new: the event's other copies and its state write come with it).
    for event in (given, first):
        hub.send(event)
        hub.flush()
        sink.drain(until=len(sink.received) + 1, quiet=2)
    assert "lvb_indication" in _sent(sink.received[(str(first.id), "politie")])
    hub.send(withdrawn)
    hub.flush()
    sink.drain(until=len(sink.received) + 1, quiet=2)  # the withdrawal reaches the partners, so it was applied
    hub.send(second)
    hub.flush()
    sink.drain(until=len(sink.received) + 1, quiet=2)
    sink.close()
    assert "lvb_indication" not in _sent(sink.received[(str(second.id), "politie")]), hub.logs()

    hub_pseudonym = pseudonymizer.subject(subject_key(first)).encode()
    egress = read_all(hub.settings, HubTopics.of(hub.settings).all_egress(), quiet=1)
    assert egress
    for record in egress:
        assert hub_pseudonym not in (record.key or b"") + record.value + b"".join(v for _, v in record.headers)
    lineage = lineage_records(hub.settings)
    withdrawal = [r for r in lineage if r.event_id == withdrawn.id]
    assert withdrawal, "the withdrawal is in lineage"
    assert {r.data_subject_id for r in withdrawal} == {hub_pseudonym.decode()}, "under the person, not the case"
    denial = next(r for r in lineage if r.event_id == second.id and r.recipient == "politie")
    assert "consent-withdrawn" in denial.reasons


def _sent(form: dict[str, Any]) -> set[str]:
    return {name for name, value in form["payload"].items() if value is not None}


def test_a_self_addressed_contribution_reaches_no_case_partner(hub: Hub) -> None:
    """Politie addresses a CTER contribution to ggz, rvdk and reclassering with no referral or triage for the case:
    none of them receives anything, and lineage says why."""
    contribution = example_event(
        EventType.INFORMATION_CONTRIBUTION,
        theme=Theme.CTER,
        source="politie",
        addressees=["ggz", "rvdk", "reclassering"],
        payload={"secrecy_ground": None, "deliberation_ref": None, "diagnosis": None, "in_care": None},
    )
    hub.worker()
    hub.send(contribution)
    hub.flush()
    records: list[LineageRecord] = []
    for _ in range(30):
        stored = lineage_records(hub.settings, quiet=2)
        # Beside the decisions, the event's link record (its BSN and case id are one person): not a decision.
        records = [record for record in stored if record.kind is RecordKind.DECISION]
        if len(records) >= 3:
            break
    assert {r.recipient for r in records} == {"ggz", "rvdk", "reclassering"}, hub.logs()
    for record in records:
        assert record.outcome == "deny"
        assert "not-invited" in record.reasons
    egress = read_all(hub.settings, HubTopics.of(hub.settings).all_egress(), quiet=1)
    assert egress == []
