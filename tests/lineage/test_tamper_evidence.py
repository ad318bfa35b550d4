"""Changing, deleting or reordering any single stored record is found by ``verify``, which names where.

The tampering goes straight at the database, as someone with write access to the store would: a separate
connection edits a row, bypassing the store. Property-based on SQLite (cheap), example-based on both backends.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schakel.lineage import LineagePosition, LineageStore, open_store
from schakel.lineage.chain import GENESIS
from schakel.lineage.pruning import RedactedRow, record_ref, time_text
from schakel.lineage.store import ALL_COLUMNS, SQLITE_FILE, record_row
from tests.lineage.factory import T0, decision

# Columns someone might edit to rewrite history, and an edit of each that keeps the row well-formed where possible.
_EDITABLE = (
    "recipient",
    "outcome",
    "fields_sent",
    "fields_withheld",
    "end_time",
    "data_subject_id",
    "legal_basis",
    "covenant_version",
    "reasons",
    "lineage_offset",
    "hash",
    "prev_hash",
)


def _edited(column: str, value: Any) -> Any:
    if column == "lineage_offset":
        return int(value) + 1000
    if column in {"fields_sent", "fields_withheld", "legal_basis", "reasons"}:
        return json.dumps([*json.loads(value), "tampered"], separators=(",", ":"))
    if column == "end_time":
        moved = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ") + timedelta(seconds=1)
        return moved.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if column in {"hash", "prev_hash"}:
        return ("0" if value[-1] != "0" else "1").join([value[:-1], ""])
    if column == "outcome":
        return "deny" if value != "deny" else "permit"
    return f"{value}x"


class _Raw:
    """Direct access to the store's tables, behind its back."""

    def __init__(self, connection: Any, placeholder: str) -> None:
        self.connection = connection
        self.p = placeholder

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        cursor.execute(sql.replace("?", self.p), params)
        rows = cursor.fetchall() if cursor.description else []
        self.connection.commit()
        return [tuple(r) for r in rows]

    def change(self, record_id: str, column: str) -> None:
        (value,) = self.run(f"SELECT {column} FROM lineage_record WHERE record_id = ?", (record_id,))[0]  # noqa: S608
        self.run(f"UPDATE lineage_record SET {column} = ? WHERE record_id = ?", (_edited(column, value), record_id))  # noqa: S608

    def delete(self, record_id: str) -> None:
        self.run("DELETE FROM lineage_record WHERE record_id = ?", (record_id,))

    def swap(self, chain: str, first: int, second: int) -> None:
        self.run("UPDATE lineage_record SET seq = -1 WHERE chain = ? AND seq = ?", (chain, first))
        self.run("UPDATE lineage_record SET seq = ? WHERE chain = ? AND seq = ?", (first, chain, second))
        self.run("UPDATE lineage_record SET seq = ? WHERE chain = ? AND seq = -1", (second, chain))


def _fill(store: LineageStore, count: int, partitions: int) -> list[tuple[str, str, int]]:
    """Append ``count`` records over ``partitions``; return (record_id, chain, seq) of each."""
    placed = []
    per_chain: dict[int, int] = {}
    batch = []
    for i in range(count):
        partition = i % partitions
        seq = per_chain.get(partition, 0)
        per_chain[partition] = seq + 1
        record = decision(recipient=["politie", "om", "ggz", "rvdk"][i % 4], at=T0 + timedelta(minutes=i))
        batch.append((record, LineagePosition("schakel.lineage", partition, 10 + seq)))
        placed.append((record.record_id, f"schakel.lineage#{partition}", seq))
    store.append(batch)
    assert store.verify().ok
    return placed


_tamper = st.one_of(
    st.tuples(st.just("change"), st.integers(0, 1000), st.sampled_from(_EDITABLE)),
    st.tuples(st.just("delete"), st.integers(0, 1000), st.just("")),
    st.tuples(st.just("swap"), st.integers(0, 1000), st.just("")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(2, 12), partitions=st.integers(1, 3), tamper=_tamper)
def test_any_single_edit_is_detected_and_located(
    tmp_path_factory: pytest.TempPathFactory, count: int, partitions: int, tamper: tuple[str, int, str]
) -> None:
    directory = tmp_path_factory.mktemp("tamper")
    with open_store(None, directory) as store:
        placed = _fill(store, count, partitions)
        raw = _Raw(sqlite3.connect(directory / SQLITE_FILE), "?")
        _apply(raw, placed, tamper, store)


def _apply(raw: _Raw, placed: list[tuple[str, str, int]], tamper: tuple[str, int, str], store: LineageStore) -> None:
    action, index, column = tamper
    record_id, chain, seq = placed[index % len(placed)]
    if action == "swap":
        in_chain = [p for p in placed if p[1] == chain]
        if len(in_chain) < 2:
            return  # nothing to reorder in a chain of one
        other = in_chain[(in_chain.index((record_id, chain, seq)) + 1) % len(in_chain)]
        first, second = sorted((seq, other[2]))
        raw.swap(chain, first, second)
        broken = store.verify().first_broken
        assert broken is not None
        assert (broken.chain, broken.seq) == (chain, first)
        return
    if action == "delete":
        raw.delete(record_id)
        broken = store.verify().first_broken
        assert broken is not None
        assert (broken.chain, broken.seq) == (chain, seq)
        return
    raw.change(record_id, column)
    broken = store.verify().first_broken
    assert broken is not None
    assert (broken.chain, broken.seq, broken.record_id) == (chain, seq, record_id)


@pytest.mark.parametrize(
    "tamper",
    [("change", 3, "fields_sent"), ("change", 4, "recipient"), ("delete", 2, ""), ("delete", 5, ""), ("swap", 1, "")],
)
@pytest.mark.postgres
def test_tampering_is_detected_on_postgresql(
    postgres_database: str, tmp_path: Path, tamper: tuple[str, int, str]
) -> None:
    with open_store(postgres_database, tmp_path) as store, psycopg.connect(postgres_database) as connection:
        placed = _fill(store, 6, 1)
        _apply(_Raw(connection, "%s"), placed, tamper, store)


def test_a_deleted_chain_head_is_detected(tmp_path: Path) -> None:
    with open_store(None, tmp_path) as store:
        _fill(store, 3, 1)
        raw = _Raw(sqlite3.connect(tmp_path / SQLITE_FILE), "?")
        raw.run("DELETE FROM lineage_chain")
        result = store.verify()
        assert not result.ok
        assert result.first_broken is not None
        assert result.first_broken.record_id is None
        assert "head" in result.first_broken.reason


@pytest.fixture
def store_and_raw(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[LineageStore, _Raw]]:
    """A store on the backend under test, and a connection of its own to the same database."""
    if backend == "sqlite":
        with open_store(None, tmp_path) as store:
            yield store, _Raw(sqlite3.connect(tmp_path / SQLITE_FILE), "?")
        return
    url = request.getfixturevalue("postgres_database")
    with open_store(url, tmp_path) as store, psycopg.connect(url) as connection:
        yield store, _Raw(connection, "%s")


# Edits that keep every column a valid record - the same record after re-parsing - but change what a query reads.
_QUERY_EDITS = {
    "upper-case event id": "UPDATE lineage_record SET event_id = upper(event_id) WHERE seq = 1",
    "same instant, other zone": "UPDATE lineage_record SET end_time = ? WHERE seq = 1",
    "last offset raised": "UPDATE lineage_chain SET last_offset = last_offset + 100",
    "last offset lowered": "UPDATE lineage_chain SET last_offset = last_offset - 1",
}


@pytest.mark.parametrize("edit", sorted(_QUERY_EDITS))
def test_an_edit_that_changes_what_queries_read_breaks_verify(
    store_and_raw: tuple[LineageStore, _Raw], edit: str
) -> None:
    store, raw = store_and_raw
    _fill(store, 3, 1)
    (end_time,) = raw.run("SELECT end_time FROM lineage_record WHERE seq = 1")[0]
    moved = (
        datetime.fromisoformat(end_time).astimezone(timezone(timedelta(hours=-5))).isoformat(timespec="microseconds")
    )
    raw.run(_QUERY_EDITS[edit], (moved,) if "?" in _QUERY_EDITS[edit] else ())
    result = store.verify()
    assert not result.ok
    assert result.first_broken is not None
    assert result.first_broken.chain == "schakel.lineage#0"


def test_a_removed_segment_of_a_recreated_topic_is_detected(store_and_raw: tuple[LineageStore, _Raw]) -> None:
    store, raw = store_and_raw
    for round_ in range(3):  # the topic, recreated twice
        store.append([(decision(at=T0 + timedelta(minutes=round_)), LineagePosition("schakel.lineage", 0, 0))])
    assert store.verify().ok
    raw.run("DELETE FROM lineage_record WHERE chain = ?", ("schakel.lineage#0/1",))
    raw.run("DELETE FROM lineage_chain WHERE chain = ?", ("schakel.lineage#0/1",))
    broken = store.verify().first_broken
    assert broken is not None
    assert "segment 1" in broken.reason


@pytest.mark.parametrize("table", ["lineage_record", "lineage_redacted"])
def test_a_row_forged_before_the_first_position_of_a_chain_is_found(
    store_and_raw: tuple[LineageStore, _Raw], table: str
) -> None:
    """No append writes a position below 0, but a forger can: a whole record there is read by every report (and a
    skeleton there makes the store skip that record when it comes, as pruned). ``verify`` read each chain from
    position 0 on, so it said intact."""
    store, raw = store_and_raw
    _fill(store, 3, 1)
    forged = decision(recipient="om", at=T0)
    chain = "schakel.lineage#0"
    if table == "lineage_record":
        columns: tuple[str, ...] = ALL_COLUMNS
        values: tuple[Any, ...] = (chain, -1, 10, GENESIS, GENESIS, *record_row(forged))
    else:
        columns = RedactedRow._fields
        ref, end = record_ref(forged.record_id), time_text(forged.end_time)
        values = (chain, -1, 10, GENESIS, GENESIS, ref, end, forged.covenant_id, forged.event_type, 0)
    raw.run(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", values)  # noqa: S608
    if table == "lineage_record":
        assert len(store.trace(forged.event_id).hops) == 1  # what the forger wanted a report to say
    broken = store.verify().first_broken
    assert broken is not None, "verify said intact with a forged row in the chain"
    assert (broken.chain, broken.seq) == (chain, 0)
    assert "-1" in broken.reason


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_verify_beside_a_running_ingest_checks_one_moment_of_the_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """``lineage verify`` runs beside ``lineage ingest --follow`` (another process, another connection): a batch
    committed after verify read the heads and before it read the chains made an intact store look broken ("the
    chain head expects 1 records, the store has 2"). The ingest's batch is held at exactly that point."""
    url = None if backend == "sqlite" else str(request.getfixturevalue("postgres_database"))
    with open_store(url, tmp_path) as verifier, open_store(url, tmp_path) as ingest:
        ingest.append([(decision(at=T0), LineagePosition("schakel.lineage", 0, 0))])
        read_heads = verifier.heads

        def heads_then_a_batch_lands() -> dict[str, Any]:
            heads = read_heads()
            ingest.append([(decision(at=T0 + timedelta(minutes=1)), LineagePosition("schakel.lineage", 0, 1))])
            return dict(heads)

        verifier.heads = heads_then_a_batch_lands  # type: ignore[method-assign]
        result = verifier.verify()
        assert result.ok, f"an intact store was reported broken: {result.first_broken}"
        assert result.checked == 1  # the store as it was when verify began
        verifier.heads = read_heads  # type: ignore[method-assign]
        assert (verifier.verify().checked, verifier.heads()["schakel.lineage#0"].next_seq) == (2, 2)
