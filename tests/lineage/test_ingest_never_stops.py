"""Ingest never stops on a record: whatever bytes reach the lineage topic, each message is stored, a duplicate or
rejected, the rest of the batch is stored, and the chains stay intact.

Property-based at the store (:func:`ingest_batch`, what the consumer loop does with one polled batch): random bytes
and random mutations of valid records - the triggers found in review among them - and packed values (the hub's one
message per event: valid, with one mutated record, or broken as a pack), on SQLite (200 batches) and PostgreSQL (40
batches), up to 12 messages each; a message is stored whole or rejected whole. Then two tests through a real broker
topic: bad records, and bad packs, in the middle of a batch do not stop ingest, and the offsets are committed past
them.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from schakel.lineage import (
    InvalidRecordError,
    LineagePosition,
    LineageRecord,
    LineageStore,
    StoreUnavailableError,
    open_store,
    pack_records,
    records_from_bytes,
)
from schakel.lineage.ingest import ingest, ingest_batch
from schakel.settings import Settings
from schakel.streams.topics import ADMIN
from tests.lineage.factory import decision, receipt

# What review found stops ingest, and its relatives: values out of range, characters a database refuses, names.
_NASTY_VALUES: list[Any] = [
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    2**63,
    -1,
    2**64 + 7,
    1e308,
    "a\x00b",
    "Jan Jansen 123456782",
    "jan-jansen-111222333",
    "",
    None,
    [],
    {},
    True,
    "A" * 70_000,
    "\ud800",
]
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=6,
)
_FIELDS = sorted(LineageRecord.model_fields)


def _valid(index: int) -> LineageRecord:
    made = decision(subject=f"{index:04d}" * 8)
    return receipt(made) if index % 2 else made


@st.composite
def _message(draw: st.DrawFn) -> bytes:
    """Random bytes, a valid record, or a valid record with one field changed, removed or one key added; or a packed
    value (the hub's: one event's records) that is valid, has one such record, or is broken as a pack."""
    choice = draw(st.sampled_from(["bytes", "valid", "mutated", "mutated", "mutated", "packed", "packed"]))
    if choice == "bytes":
        return draw(st.binary(max_size=200))
    if choice == "packed":
        return draw(_pack())
    record = _valid(draw(st.integers(0, 5000)))
    if choice == "valid":
        return record.to_bytes()
    return _mutated(draw, record)


@st.composite
def _pack(draw: st.DrawFn) -> bytes:
    """One event's decisions packed (a replay of an earlier one now and then: the subject and event repeat), maybe
    with one record mutated, maybe broken as a pack: empty, a record twice, two people, another version."""
    index = draw(st.integers(0, 40))
    event = uuid.UUID(int=index)
    records = [
        decision(event_id=event, subject=f"{index:04d}" * 8, recipient=recipient)
        for recipient in draw(st.lists(st.sampled_from(["politie", "om", "ggz", "rvdk"]), min_size=1, unique=True))
    ]
    values = [record.to_bytes() for record in records]
    how = draw(st.sampled_from(["valid", "valid", "mutated", "empty", "twice", "two people", "version"]))
    if how == "mutated":
        at = draw(st.integers(0, len(values) - 1))
        values[at] = _mutated(draw, records[at])
    elif how == "empty":
        values = []
    elif how == "twice":
        values.append(values[0])
    elif how == "two people":
        values.append(_valid(5001 + index).to_bytes())
    packed = pack_records(values)
    return packed.replace(b'"schakel_lineage_batch":1', b'"schakel_lineage_batch":2') if how == "version" else packed


def _mutated(draw: st.DrawFn, record: LineageRecord) -> bytes:
    data: dict[str, Any] = json.loads(record.to_bytes())
    how = draw(st.sampled_from(["set", "set", "drop", "add"]))
    if how == "drop":
        data.pop(draw(st.sampled_from(_FIELDS)), None)
    elif how == "add":
        data[draw(st.sampled_from(["Jan Jansen 123456782", "extra", "x\x00"]))] = draw(_json_values)
    else:
        value = draw(st.sampled_from(_NASTY_VALUES) | _json_values)
        data[draw(st.sampled_from(_FIELDS))] = value
    text = json.dumps(data, ensure_ascii=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")


def _check_batch(store: LineageStore, values: list[bytes], offset: int) -> int:
    positions = [LineagePosition("schakel.lineage", 0, offset + i) for i in range(len(values))]
    before = store.count()
    readable = [len(records_from_bytes(value)) for value in values if _readable(value)]
    result = ingest_batch(store, zip(positions, values, strict=True))
    assert result is not None
    assert result.messages == len(values)
    # A message is stored whole (each record appended or a duplicate) or rejected whole.
    assert (result.records, len(values) - result.rejected) == (sum(readable), len(readable))
    assert result.appended + result.duplicates == result.records
    assert store.count() == before + result.appended
    assert result.segments == []
    verified = store.verify()
    assert verified.ok, verified.first_broken
    return offset + len(values)


def _readable(value: bytes) -> bool:
    try:
        records_from_bytes(value)
    except InvalidRecordError:
        return False
    return True


_batches = st.lists(_message(), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(_batches, min_size=1, max_size=1))
def test_any_bytes_on_the_topic_are_stored_or_rejected_sqlite(
    store_factory: Callable[[str], LineageStore], batches: list[list[bytes]]
) -> None:
    store = store_factory("sqlite")
    offset = 0
    for values in batches:
        offset = _check_batch(store, values, offset)


@pytest.mark.postgres
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(_batches, min_size=1, max_size=1))
def test_any_bytes_on_the_topic_are_stored_or_rejected_postgresql(
    store_factory: Callable[[str], LineageStore], batches: list[list[bytes]]
) -> None:
    store = store_factory("postgresql")
    offset = 0
    for values in batches:
        offset = _check_batch(store, values, offset)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("start_time", "0001-01-01T00:00:00+05:00"),
        ("source_offset", 2**63),
        ("purpose", "a\x00b"),
        ("Jan Jansen 123456782", 1),
    ],
)
def test_each_trigger_found_in_review_is_rejected_and_the_rest_is_stored(
    backend: str, store_factory: Callable[[str], LineageStore], field: str, value: Any
) -> None:
    store = store_factory(backend)
    first, last = _valid(1), _valid(2)
    bad = {**json.loads(_valid(3).to_bytes()), field: value}
    values = [first.to_bytes(), json.dumps(bad).encode(), last.to_bytes()]
    result = ingest_batch(store, zip([LineagePosition("t", 0, i) for i in range(3)], values, strict=True))
    assert result is not None
    assert (result.appended, result.rejected) == (2, 1)
    assert store.verify().ok


def test_the_rejection_names_no_key_or_value_from_the_record() -> None:
    data = {**json.loads(_valid(1).to_bytes()), "Jan Jansen 123456782": "x", "purpose": "jan-jansen-111222333 x"}
    with pytest.raises(InvalidRecordError) as raised:
        LineageRecord.from_bytes(json.dumps(data).encode())
    message = str(raised.value)
    assert "Jan" not in message
    assert "123456782" not in message
    assert "111222333" not in message
    assert "purpose" in message
    assert "an unknown field" in message


def _one_partition_topic(config: dict[str, Any], topic: str) -> None:
    admin = KafkaAdminClient(**config)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()


@pytest.mark.kafka
def test_bad_records_in_the_middle_of_a_batch_do_not_stop_ingest(
    kafka_bootstrap: str, unique: str, store_factory: Callable[[str], LineageStore]
) -> None:
    config = Settings().kafka_client_config(ADMIN)
    topic = f"test.lineage.poison.{unique}"
    _one_partition_topic(config, topic)
    good = [_valid(i) for i in range(6)]
    template: dict[str, Any] = json.loads(good[0].to_bytes())
    bad = [
        json.dumps({**template, "start_time": "0001-01-01T00:00:00+05:00"}).encode(),
        json.dumps({**template, "source_offset": 2**63}).encode(),
        json.dumps({**template, "event_type": "Signal\x00"}).encode(),
        b"\xff\xfe not json",
    ]
    producer = KafkaProducer(**config)
    try:
        for value in [*(r.to_bytes() for r in good[:3]), *bad, *(r.to_bytes() for r in good[3:])]:
            producer.send(topic, key=b"k", value=value)
        producer.flush()
    finally:
        producer.close()
    store = store_factory("sqlite")

    first = ingest(store, topic=topic, kafka_config=config, group_id=unique)
    assert (first.messages, first.appended, first.rejected) == (10, 6, 4)
    assert store.count() == 6
    assert store.verify().ok
    # The offsets were committed past the bad records: the same group has nothing left to read.
    again = ingest(store, topic=topic, kafka_config=config, group_id=unique)
    assert again.messages == 0


@pytest.mark.kafka
def test_a_bad_pack_in_the_middle_of_a_batch_is_rejected_whole_and_ingest_goes_on(
    kafka_bootstrap: str, unique: str, store_factory: Callable[[str], LineageStore], caplog: pytest.LogCaptureFixture
) -> None:
    config = Settings().kafka_client_config(ADMIN)
    topic = f"test.lineage.packed.{unique}"
    _one_partition_topic(config, topic)
    event = uuid.uuid4()
    good = [decision(event_id=event, recipient=r) for r in ("politie", "om", "ggz")]
    template: dict[str, Any] = json.loads(good[1].to_bytes())
    bad_inner = [good[0].to_bytes(), json.dumps({**template, "source_offset": 2**63}).encode(), good[2].to_bytes()]
    values = [
        pack_records([r.to_bytes() for r in good]),
        pack_records(bad_inner),  # one record out of range: none of the three is stored
        pack_records([]),
        pack_records([good[0].to_bytes(), good[0].to_bytes()]),
        b'{"records":[' + b" " * 1_000_001 + b'],"schakel_lineage_batch":1}',  # larger than any producer request
        pack_records([r.to_bytes() for r in good]),  # the hub re-emitted the event after a restart
        _valid(7).to_bytes(),
    ]
    producer = KafkaProducer(**config, max_request_size=2_000_000)
    try:
        for value in values:
            producer.send(topic, key=b"k", value=value)
        producer.flush()
    finally:
        producer.close()
    store = store_factory("sqlite")
    with caplog.at_level(logging.WARNING, logger="schakel.lineage.ingest"):
        first = ingest(store, topic=topic, kafka_config=config, group_id=unique)
    assert (first.messages, first.records, first.appended, first.duplicates, first.rejected) == (7, 7, 4, 3, 4)
    assert store.count() == 4
    assert store.verify().ok
    rejections = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert [line.split(" offset ")[1].split(":")[0] for line in rejections] == ["1", "2", "3", "4"]
    assert "records[1]: source_offset" in rejections[0]
    assert ingest(store, topic=topic, kafka_config=config, group_id=unique).messages == 0


@pytest.mark.postgres
def test_a_store_that_went_away_is_retried_until_it_answers(postgres_database: str, tmp_path: Path) -> None:
    with open_store(postgres_database, tmp_path) as store, psycopg.connect(postgres_database, autocommit=True) as admin:
        assert store.append([(_valid(1), LineagePosition("t", 0, 0))]).appended == 1
        # The server drops the store's connection (a restart, a failover): the next batch waits and reconnects.
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        result = ingest_batch(store, [(LineagePosition("t", 0, 1), _valid(2).to_bytes())], give_up_after=60)
        assert result is not None
        assert result.appended == 1
        assert store.count() == 2
        assert store.verify().ok


def test_an_unreachable_store_stops_a_batch_import_after_its_patience(tmp_path: Path) -> None:
    with open_store(None, tmp_path) as store:
        store.close()  # a store that cannot answer at all
        with pytest.raises(StoreUnavailableError):
            ingest_batch(store, [(LineagePosition("t", 0, 0), _valid(1).to_bytes())], give_up_after=0)


def test_ingest_logs_positions_and_field_names_never_keys_or_values(
    store_factory: Callable[[str], LineageStore], caplog: pytest.LogCaptureFixture
) -> None:
    store = store_factory("sqlite")
    data = {**json.loads(_valid(1).to_bytes()), "Jan Jansen 123456782": "x", "purpose": "jan-jansen-111222333"}
    with caplog.at_level(logging.WARNING, logger="schakel.lineage.ingest"):
        ingest_batch(store, [(LineagePosition("schakel.lineage", 2, 41), json.dumps(data).encode())])
    (line,) = [r.getMessage() for r in caplog.records]
    assert "partition 2 offset 41" in line
    assert "purpose" in line
    for secret in ("Jan", "jansen", "123456782", "111222333"):
        assert secret not in line
