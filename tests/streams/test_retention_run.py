"""Retention end to end on the real broker: a case closed with a short retention; the hub's own timer retires the
person - their copies no longer open from the raw topics, their consent state is a tombstone, every partner that
received a copy got ``RetentionExpired``, and the lineage chain still verifies. Once with the key store in SQLite (the
default), once in PostgreSQL (``SCHAKEL_KEYSTORE_URL``: the hub, the sink and the test's reader share it)."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka.partitioner.default import murmur2
from typer.testing import CliRunner

from schakel.cli import app
from schakel.consent import (
    ConsentState,
    Outcome,
    Pseudonymizer,
    case_key,
    load_policy,
    shipped_covenants_dir,
    subject_key,
)
from schakel.lineage import open_store
from schakel.lineage.ingest import ingest
from schakel.retention import KeyStore, Opener, SealError
from schakel.retention.cli import app as retention_app
from schakel.schemas import Codec, Event, EventType, Theme
from schakel.schemas.examples import example_event
from schakel.settings import settings
from schakel.streams.records import RECIPIENT_HEADER, header
from schakel.streams.topics import ADMIN, HubTopics
from tests.conftest import BACKENDS
from tests.streams.conftest import Hub, changelog_tails, read_all

pytestmark = pytest.mark.kafka

NOTICE = "nl.zorgveiligheid.schakel.RetentionExpired"


@pytest.fixture(params=BACKENDS)
def keyed_hub(request: pytest.FixtureRequest, hub: Hub) -> Hub:
    """The hub with its key store on each backend: SQLite in its data directory, or a fresh PostgreSQL database."""
    if request.param == "postgresql":
        url = str(request.getfixturevalue("postgres_database"))
        hub.env["SCHAKEL_KEYSTORE_URL"] = url
        hub.settings = hub.settings.model_copy(update={"keystore_url": url})
    return hub


def _short_covenants(directory: Path) -> Path:
    """The shipped covenants, each keeping a closed case's copies for one second."""
    directory.mkdir()
    for source in shipped_covenants_dir().glob("*.yaml"):
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
        document["retention"] = {**document["retention"], "delivered_after_close": "PT1S"}
        (directory / source.name).write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return directory


def _permitted(events: list[Event]) -> set[tuple[str, str]]:
    """(event id, recipient) of every copy the consent processor permits, in order, with the consent changes."""
    policy, state, permitted = load_policy(), ConsentState(), set()
    for event in events:
        if event.type == EventType.CONSENT_CHANGE:
            state = state.apply(event)
        for decision in policy.decide_all(event, state, datetime.now(UTC)):
            if decision.outcome is not Outcome.DENY:
                permitted.add((str(event.id), str(decision.recipient)))
    return permitted


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the producers' default partitioner (Java's murmur2) gives ``key``."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


def _wait(what: str, check: Any, hub: Hub, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert hub.running(), hub.logs()
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s:\n{hub.logs()}"
        time.sleep(0.5)


def test_a_closed_case_past_its_retention_is_shredded_purged_and_announced(
    keyed_hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = keyed_hub
    hub.env["SCHAKEL_COVENANTS_DIR"] = str(_short_covenants(tmp_path / "covenants"))
    hub.env["SCHAKEL_RETENTION_INTERVAL_SECONDS"] = "1"
    signal = example_event(EventType.SIGNAL, theme=Theme.CTER)
    same: dict[str, Any] = {"subject": signal.subject.model_dump(mode="json"), "case_id": signal.case_id}
    events = [
        signal,
        example_event(EventType.REFERRAL, theme=Theme.CTER, **same),
        example_event(EventType.CONSENT_CHANGE, theme=Theme.CTER, **same),
        example_event(EventType.INFORMATION_CONTRIBUTION, theme=Theme.CTER, **same),
    ]
    closing = example_event(EventType.CASE_CLOSED, theme=Theme.CTER, **same)
    # The same person by the police's case id only: keyed by the case, on the case's partition (its own event-ids).
    by_case = example_event(
        EventType.SIGNAL, theme=Theme.CTER, subject={**same["subject"], "bsn": None}, case_id=signal.case_id
    )
    other = example_event(EventType.SIGNAL, theme=Theme.CTER)  # another person: untouched
    pseudonymizer = Pseudonymizer(hub.settings.pseudonym_key.get_secret_value().encode())
    subject = pseudonymizer.subject(subject_key(signal))
    cases = {pseudonymizer.subject(case) for e in [*events, closing] if (case := case_key(e)) is not None}
    assert pseudonymizer.subject(subject_key(by_case)) in cases
    topics = HubTopics.of(hub.settings)

    hub.worker()
    for event in [*events, other]:
        hub.send(event)
    hub.flush()
    sink = hub.sink()
    permitted = _permitted([*events, other])
    sink.drain(until=len(permitted))
    assert set(sink.received) == permitted, hub.logs()
    ids = {str(event.id) for event in events}
    ours = {
        recipient: form["subject"]["pseudonym"]
        for (event_id, recipient), form in sink.received.items()
        if event_id in ids
    }
    assert len(ours) >= 3, "the person's events reached several partners before the case closed"
    store = KeyStore.of(hub.settings)
    assert store.backend == ("postgresql" if hub.settings.keystore_url else "sqlite")
    assert store.facts(subject) is not None
    before = len(sink.received)
    hub.send(by_case)
    hub.flush()
    sink.drain(until=before + 1)  # decided on the person's state before the case closes
    assert len(sink.received) > before, hub.logs()

    # An access request, forwarded to the partners that received data and confirmed by each: once closed, the
    # person's subject-requests entry is a tombstone (an empty book is no entry).
    access = example_event(
        EventType.SUBJECT_REQUEST,
        theme=Theme.CTER,
        source="zvh",
        purpose="case-consultation",
        payload={"kind": "access", "restriction": None, "confirms": None},
        **same,
    )
    hub.send(access)
    hub.flush()
    before = len(sink.received)
    sink.drain(until=before + len(set(ours) - {"zvh"}))
    forwarded = {recipient for event_id, recipient in sink.received if event_id == str(access.id)}
    assert forwarded == set(ours) - {"zvh"}, hub.logs()
    for partner in sorted(forwarded):
        payload = {"kind": "access", "restriction": None, "confirms": str(access.id)}
        confirmation = example_event(
            EventType.SUBJECT_REQUEST, theme=Theme.CTER, source=partner, purpose="case-consultation",
            payload=payload, **same,
        )  # fmt: skip
        hub.send(confirmation)
    hub.flush()
    requests_changelog = f"{topics.hub_app_id}-subject-requests-changelog"

    def book_closed() -> bool:
        book = [
            r for r in read_all(hub.settings, requests_changelog, quiet=0.5, timeout=10) if r.key == subject.encode()
        ]
        return len(book) >= 2 and book[-1].value is None  # written when the request went out, gone once closed

    _wait("the access request closing on the partners' confirmations", book_closed, hub)

    hub.send(closing)
    hub.flush()
    _wait("the retention job retiring the person", lambda: store.facts(subject) is None, hub)

    # Every copy about the person on every raw egress topic: nothing opens, and no personal value is in the bytes.
    opener, codec = Opener.of(hub.settings), Codec()
    personal = [value.encode() for value in (signal.subject.bsn, signal.subject.name) if value]
    notices: dict[str, str] = {}
    sealed_copies = 0
    for topic in topics.all_egress():
        recipient = topic.rsplit(".", 1)[-1]
        for record in read_all(hub.settings, topic, quiet=0.5, timeout=10):
            if recipient not in ours or record.key != ours[recipient].encode():
                continue  # another person's copy (each copy is keyed by its recipient's pseudonym of the person)
            assert not any(value in record.value for value in personal)
            if header(record.headers, "ce_type") == NOTICE:
                form = codec.decode_json(opener.open_copy(record.value, record.headers))
                notices[str(header(record.headers, RECIPIENT_HEADER))] = form["subject"]["pseudonym"]
                assert form["subject"]["bsn"] is None
                assert form["subject"]["name"] is None
                continue
            sealed_copies += 1
            with pytest.raises(SealError):
                opener.open_copy(record.value, record.headers)
    assert sealed_copies >= len(ours)
    assert notices == ours, "each partner that received a copy got RetentionExpired, under its own pseudonym"

    # The other person's copies still open.
    other_pseudonym = pseudonymizer.subject(subject_key(other))
    assert store.facts(other_pseudonym) is not None

    # Every table: each entry kept under one of the person's pseudonyms (their BSN's, each case's) ends in a
    # tombstone on its compacted changelog, on the partition that holds it; the other person's entries stay.
    mine = {value.encode() for value in (subject, *cases)}
    theirs = other_pseudonym.encode()

    def owner(key: bytes) -> bytes:
        return key.split(b"/", 1)[0]  # event-ids: "<pseudonym>/<source>/<event id>"

    def purged(found: dict[str, dict[tuple[int, bytes], Any]]) -> bool:
        return all(r.value is None for keys in found.values() for (_, key), r in keys.items() if owner(key) in mine)

    deadline = time.monotonic() + 60
    found = changelog_tails(hub.settings)
    while not purged(found) and time.monotonic() < deadline:
        time.sleep(1)
        found = changelog_tails(hub.settings)
    for table, keys in found.items():
        held = {key: record for (_, key), record in keys.items() if owner(key) in mine}
        assert held, f"the person had entries in {table}"
        assert all(record.value is None for record in held.values()), f"{table}: a live entry of the person is left"
        # Keys are pseudonyms and digests of ids: no BSN, name or case number in any key.
        for _, key in keys:
            assert not any(value in key for value in (*personal, str(signal.case_id).encode())), table
    others = [record for keys in found.values() for (_, key), record in keys.items() if owner(key) == theirs]
    assert others, "the other person has entries too"
    assert all(record.value is not None for record in others), "the other person's entries stay"
    links = found["links"]
    linked = {(partition, key) for partition, key in links if key in mine}
    assert {key for _, key in linked} >= {subject.encode()}, "the person's reverse link went"
    assert len(linked) >= 3, "the links of the person's cases went too"
    assert linked == {(partition_of(key, hub.settings.partitions), key) for _, key in linked}, (
        "each entry and its tombstone on the partition of its key"
    )

    lineage = open_store(None, tmp_path / "lineage")
    ingest(lineage, topic=topics.lineage, kafka_config=hub.settings.kafka_client_config(ADMIN), group_id="retention")
    assert lineage.verify().ok

    # Each notice is in lineage: the person's art. 15 report (`schakel lineage subject`) tells, per partner, in words,
    # that it was told to delete - why, and on which basis.
    monkeypatch.setenv("SCHAKEL_DATA_DIR", str(tmp_path / "lineage"))
    monkeypatch.setenv("SCHAKEL_TOPIC_PREFIX", hub.settings.topic_prefix)
    settings.cache_clear()
    try:
        answered = CliRunner().invoke(app, ["lineage", "subject", "--bsn", "-"], input=f"{signal.subject.bsn}\n")
        verified = CliRunner().invoke(app, ["lineage", "verify"])
    finally:
        settings.cache_clear()
    assert answered.exit_code == 0, answered.output
    assert verified.exit_code == 0, verified.output
    report = json.loads(answered.stdout)
    told = {
        account["organisation"]["code"]: sharing
        for account in report["partners"]
        for sharing in account["shared"]
        if sharing["message"]["code"] == EventType.RETENTION_EXPIRED.value
    }
    assert set(told) == set(ours), "every partner that was told to delete, and only those"
    for sharing in told.values():
        assert sharing["purpose"]["code"] == "storage-limitation"
        assert sharing["purpose"]["nl"] == "het wissen van gegevens na de bewaartermijn"
        assert [note["code"] for note in sharing["notes"]] == ["case_closed"]
        assert {label["code"] for label in sharing["data"]} == {
            "RetentionExpired.reason",
            "RetentionExpired.expired_at",
        }
    assert not [code for code in report["untranslated"] if "storage" in code or "case_closed" in code]
    shutil.rmtree(tmp_path / "covenants")


def test_schakel_retention_run_from_cron_retires_who_is_due_in_the_hubs_key_store(
    keyed_hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``schakel retention run`` (as admin, no hub worker needed) on the store the hub would use: the notice is on the
    partner's egress topic, the key is gone, and the output counts without naming anyone."""
    hub = keyed_hub
    for name in ("SCHAKEL_TOPIC_PREFIX", "SCHAKEL_DATA_DIR", "SCHAKEL_PARTITIONS", "SCHAKEL_KEYSTORE_URL"):
        if name in hub.env:
            monkeypatch.setenv(name, hub.env[name])
    settings.cache_clear()
    store = KeyStore.of(hub.settings)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    person = "a1" * 32  # a hub pseudonym: hex
    key_id, _ = store.key_for_event(
        person,
        at=moment,
        names_case=False,
        closes_case=False,
        after_close=None,
        without_case=timedelta(days=1),
        recipients={"politie": "politie-pseudonym"},
    )
    result = CliRunner().invoke(retention_app, ["run", "--at", (moment + timedelta(days=2)).isoformat()])
    settings.cache_clear()
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)  # stdout: a slow moment under load has kafka-python warn on stderr
    assert (done["people_retired"], done["notices"], done["keys_destroyed"]) == (1, 1, 1)
    assert person not in result.output
    assert store.key(key_id) is None
    (notice,) = read_all(hub.settings, HubTopics.of(hub.settings).egress("politie"), quiet=0.5, timeout=20)
    assert header(notice.headers, "ce_type") == NOTICE
    assert notice.key == b"politie-pseudonym"
