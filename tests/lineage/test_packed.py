"""One Kafka record per decided event: the hub packs an event's lineage records, and the store keeps one row each.

What a user of the lineage store checks: a packed message is read whole or rejected whole, with the reason; each of its
records is stored once, at the message's offset, in its order; replaying the topic stores nothing twice; a message
that is not the one the store read at an offset still means a recreated topic; pruning, ``verify`` and the topic cut
stay right with several rows at one offset.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from schakel.lineage import (
    InvalidRecordError,
    LineagePosition,
    LineageRecord,
    LineageStore,
    open_store,
    pack_records,
    records_from_bytes,
)
from schakel.lineage.ingest import ingest_batch
from schakel.lineage.pruning import Cutoffs, time_text
from schakel.lineage.record import MAX_PACKED_BYTES, MAX_PACKED_RECORDS
from tests.lineage.factory import SUBJECT_A, SUBJECT_B, T0, decision, receipt

TOPIC = "schakel.lineage"
_RECIPIENTS = ("politie", "om", "ggz", "rvdk", "reclassering")
_COVENANT = "cter-noord-holland"  # the factory's


def _event(subject: str = SUBJECT_A, recipients: tuple[str, ...] = _RECIPIENTS[:3], **kw: Any) -> list[LineageRecord]:
    """The decisions of one event about one person, as the hub packs them (one per candidate)."""
    event_id = uuid4()
    return [decision(event_id=event_id, recipient=r, subject=subject, **kw) for r in recipients]


def _packed(records: list[LineageRecord]) -> bytes:
    return pack_records([record.to_bytes() for record in records])


def _at(offset: int, records: list[LineageRecord], partition: int = 0) -> list[tuple[LineageRecord, LineagePosition]]:
    return [(record, LineagePosition(TOPIC, partition, offset)) for record in records]


def _rows(store: LineageStore) -> list[tuple[int, int | None, str]]:
    """(seq, offset, record id) of every kept row of partition 0's chain, in chain order."""
    return [
        (int(row["seq"]), row["lineage_offset"], str(row["record_id"]))
        for row in store.raw_rows()
        if row["chain"] == f"{TOPIC}#0"
    ]


# -- the wire form ----------------------------------------------------------------------------------------------------


def test_a_packed_value_holds_the_records_in_order_and_single_records_still_read() -> None:
    records = [*_event(), receipt(_event()[0])]  # any records about one person
    value = _packed(records)
    assert records_from_bytes(value) == tuple(records)
    # Canonical JSON, like a single record: anyone can recompute it from the records.
    assert value == json.dumps(json.loads(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert json.loads(value)["schakel_lineage_batch"] == 1
    assert records_from_bytes(records[0].to_bytes()) == (records[0],)
    # A pack is not a single record: the single reader refuses it rather than misread it.
    with pytest.raises(InvalidRecordError):
        LineageRecord.from_bytes(value)


def _document(records: list[LineageRecord]) -> dict[str, Any]:
    return {"records": [json.loads(record.to_bytes()) for record in records], "schakel_lineage_batch": 1}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d["records"][1].update(outcome="maybe"), "records[1]: record: outcome of a decision"),
        (lambda d: d["records"][2].update(data_subject_id="123456782"), "records[2]: data_subject_id"),
        (lambda d: d["records"][0].pop("purpose"), "records[0]: purpose: missing"),
        (lambda d: d["records"][0].update({"Jan Jansen 123456782": 1}), "records[0]: an unknown field"),
        (lambda d: d.update(records=[]), "records: too_short"),
        (lambda d: d["records"].append(d["records"][0]), "each record id once"),
        (lambda d: d.update(schakel_lineage_batch=2), "schakel_lineage_batch: this schakel reads version 1"),
        (lambda d: d.update(extra="Jan Jansen"), "an unknown field of the pack"),
        (lambda d: d.update(records="politie"), "records: tuple_type"),
        (lambda d: d.update(records=[1]), "records[0]: record: model_type"),
    ],
)
def test_a_pack_with_anything_wrong_is_rejected_whole_with_the_reason(change: Any, reason: str) -> None:
    document = _document(_event())
    change(document)
    with pytest.raises(InvalidRecordError) as raised:
        records_from_bytes(json.dumps(document).encode())
    message = str(raised.value)
    assert reason in message
    for secret in ("Jan", "123456782", "maybe"):
        assert secret not in message, "a rejection never repeats what the bytes held"


def test_a_pack_is_about_one_person_and_bounded() -> None:
    two_people = _document([*_event(SUBJECT_A), *_event(SUBJECT_B)])
    with pytest.raises(InvalidRecordError, match="about one person"):
        records_from_bytes(json.dumps(two_people).encode())
    too_many = _event(recipients=("politie",))[0]
    many = [
        decision(event_id=uuid4(), recipient=too_many.recipient, subject=SUBJECT_A)
        for _ in range(MAX_PACKED_RECORDS + 1)
    ]
    with pytest.raises(InvalidRecordError, match="records: too_long"):
        records_from_bytes(_packed(many))
    assert len(records_from_bytes(_packed(many[:MAX_PACKED_RECORDS]))) == MAX_PACKED_RECORDS
    oversized = _packed(_event())[:-1] + b" " * MAX_PACKED_BYTES + b"}"
    with pytest.raises(InvalidRecordError, match=f"larger than {MAX_PACKED_BYTES} bytes"):
        records_from_bytes(oversized)
    # A single record keeps its own, smaller limit.
    padded = _event()[0].to_bytes()[:-1] + b" " * 70_000 + b"}"
    with pytest.raises(InvalidRecordError, match="larger than 65536 bytes"):
        records_from_bytes(padded)


# -- the store --------------------------------------------------------------------------------------------------------


def test_each_record_of_a_pack_is_one_row_at_the_messages_offset_in_its_order(store: LineageStore) -> None:
    first, second = _event(), _event(recipients=_RECIPIENTS[1:])
    result = ingest_batch(
        store, [(LineagePosition(TOPIC, 0, 0), _packed(first)), (LineagePosition(TOPIC, 0, 1), _packed(second))]
    )
    assert result is not None
    assert (result.messages, result.records, result.appended, result.rejected) == (2, 7, 7, 0)
    expected = [(seq, 0 if seq < 3 else 1, r.record_id) for seq, r in enumerate([*first, *second])]
    assert _rows(store) == expected
    assert store.heads()[f"{TOPIC}#0"].last_offset == 1
    assert store.verify().ok
    assert len(store.trace(first[0].event_id).hops) == 3


def test_replaying_a_pack_stores_nothing_twice(store: LineageStore) -> None:
    packs = [_event(), _event(), _event()]
    batch = [item for offset, pack in enumerate(packs) for item in _at(offset, pack)]
    assert store.append(batch).appended == 9
    heads = store.heads()
    replay = store.append(batch)
    assert (replay.appended, replay.duplicates, replay.segments) == (0, 9, ())
    assert store.heads() == heads
    # The same message twice in one batch (a caller's overlap): stored once.
    pack = _event()
    doubled = store.append([*_at(3, pack), *_at(3, pack)])
    assert (doubled.appended, doubled.duplicates, doubled.segments) == (3, 3, ())
    assert store.verify().ok


def test_the_hub_re_emitting_an_event_stores_only_what_is_new_and_the_topic_still_replays(store: LineageStore) -> None:
    """After a restart the hub decides an event again: the same records (and, with a changed decision set, one more)
    in a new message. Only the new record is stored; replaying the whole topic later stores nothing."""
    event = _event(recipients=_RECIPIENTS[:2])
    again = [*event, decision(event_id=event[0].event_id, recipient="ggz", subject=SUBJECT_A)]
    topic = [*_at(0, event), *_at(1, again)]
    first = store.append(topic)
    assert (first.appended, first.duplicates) == (3, 2)
    assert [offset for _, offset, _ in _rows(store)] == [0, 0, 1]
    replay = store.append(topic)
    assert (replay.appended, replay.duplicates, replay.segments) == (0, 5, ())
    assert store.verify().ok


def test_another_pack_at_an_offset_the_chain_covers_is_a_recreated_topic(store: LineageStore) -> None:
    old = _event()
    store.append([*_at(0, old), *_at(1, _event())])
    # The topic was deleted and created again: offset 0 holds another event's pack now.
    new = _event()
    result = store.append(_at(0, new))
    assert (result.appended, result.segments) == (3, (f"{TOPIC}#0/1",))
    # A pack that shares a record with what is stored at the offset, but holds another, is not that message either.
    mixed = [old[0], decision(event_id=old[0].event_id, recipient="rvdk", subject=SUBJECT_A)]
    reused = store.append(_at(1, mixed))
    assert reused.segments == ()  # the new segment covers only offset 0: offset 1 is new there
    assert (reused.appended, reused.duplicates) == (1, 1)
    assert store.verify().ok


def test_a_pack_the_store_cannot_hold_in_part_is_rejected_whole(store: LineageStore) -> None:
    good = _event()
    unholdable = LineageRecord.model_construct(**{**good[1].model_dump(), "purpose": "a\x00b"})
    result = store.append(_at(0, [good[0], unholdable, good[2]]))
    assert (result.appended, result.rejected) == (0, 1)
    assert store.count() == 0
    assert store.append(_at(1, _event())).appended == 3
    assert store.verify().ok


def test_pruning_part_of_a_pack_keeps_its_offset_on_the_topic_until_all_of_it_is_pruned(
    store: LineageStore,
) -> None:
    """The topic is cut below the first offset the store still keeps a row of, so a message goes only once every
    record of it is pruned; replaying a partly pruned pack stores nothing; verify holds throughout."""
    old = _event(at=T0)
    mixed = [*_event(at=T0, recipients=_RECIPIENTS[:2])]
    mixed.append(decision(event_id=mixed[0].event_id, recipient="ggz", subject=SUBJECT_A, at=T0 + timedelta(days=30)))
    recent = _event(at=T0 + timedelta(days=30))
    batch = [*_at(0, old), *_at(1, mixed), *_at(2, recent)]
    store.append(batch)
    cut = time_text(T0 + timedelta(days=10))
    assert store.prune(Cutoffs((cut, cut), {_COVENANT: (cut, cut)})).total == 5
    assert {partition: low for partition, (low, _) in store.topic_cut(TOPIC).items()} == {0: 1}
    assert store.verify().ok
    replay = store.append(batch)
    assert (replay.appended, replay.duplicates, replay.segments) == (0, 9, ())
    later = time_text(T0 + timedelta(days=40))
    assert store.prune(Cutoffs((later, later), {_COVENANT: (later, later)})).total == 4
    assert {partition: low for partition, (low, _) in store.topic_cut(TOPIC).items()} == {0: 3}
    assert store.append(batch).appended == 0
    assert store.verify().ok


def test_swapping_two_rows_of_one_pack_is_found(store: LineageStore) -> None:
    store.append([*_at(0, _event()), *_at(1, _event())])
    chain = f"{TOPIC}#0"
    with store._lock:  # behind the store's back, as someone with write access to its database would
        for to, of in ((-1, 0), (0, 1), (1, -1)):
            store._execute("UPDATE lineage_record SET seq = ? WHERE chain = ? AND seq = ?", (to, chain, of))
    broken = store.verify().first_broken
    assert broken is not None
    assert broken.seq == 0


def test_whatever_the_hub_can_produce_fits_a_pack() -> None:
    """The hub dead-letters an event whose outputs exceed its producer's request limit; any pack it does produce is
    within the reader's limit, so lineage never rejects a pack the hub wrote for being too large."""
    from schakel.streams.records import MAX_REQUEST_BYTES

    assert MAX_PACKED_BYTES >= MAX_REQUEST_BYTES


@pytest.mark.postgres
def test_a_pack_part_of_which_another_ingest_is_storing_is_stored_whole(
    postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ingest workers write different partitions of one PostgreSQL store, and a record can come twice on two
    partitions (the hub re-emitted a decision after the topic got more partitions). The one worker's batch stores a
    record while the other's, alone in its poll, holds it in a pack: the database refused the pack's copy once the
    first committed, and the pack was rejected whole - its other records lost, the offset committed past them. The
    first worker's commit is held until the second waits on it."""
    first_copy, other = _event(recipients=("politie", "om"))
    with (
        open_store(postgres_database, tmp_path) as worker_a,
        open_store(postgres_database, tmp_path) as worker_b,
        psycopg.connect(postgres_database, autocommit=True) as observer,
    ):
        inserted, release = threading.Event(), threading.Event()
        append_locked = worker_a._append_locked

        def held_before_commit(*args: Any) -> Any:
            result = append_locked(*args)
            inserted.set()
            assert release.wait(30)
            return result

        monkeypatch.setattr(worker_a, "_append_locked", held_before_commit)
        storing = threading.Thread(target=worker_a.append, args=([(first_copy, LineagePosition(TOPIC, 1, 0))],))
        storing.start()
        assert inserted.wait(30)
        pack = pack_records([first_copy.to_bytes(), other.to_bytes()])
        results: list[Any] = []
        second = threading.Thread(
            target=lambda: results.append(
                ingest_batch(worker_b, [(LineagePosition(TOPIC, 0, 0), pack)], give_up_after=30)
            )
        )
        second.start()
        deadline = time.monotonic() + 30
        while not observer.execute("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'").fetchone():
            assert time.monotonic() < deadline, "the second worker never waited for the first"
            time.sleep(0.01)
        release.set()
        storing.join(30)
        second.join(30)
        (result,) = results
        assert result is not None
        assert (result.rejected, result.appended, result.duplicates) == (0, 1, 1)
        assert {r.record_id for r in worker_b.records()} == {first_copy.record_id, other.record_id}
        assert worker_b.verify().ok
