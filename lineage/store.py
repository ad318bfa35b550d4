"""The lineage store: every lineage record, hash-chained, in SQLite (default) or PostgreSQL.

:func:`open_store` picks the backend: no URL means one SQLite file under the data directory (embedded, nothing to
set up); a ``postgresql://`` URL (``SCHAKEL_LINEAGE_URL``) means PostgreSQL. Both use the same tables and the same
SQL, so the two answer identically.

Writes are idempotent, which makes replaying the ``lineage`` topic harmless: a message at an offset the chain already
covers is skipped when it is the message stored there - every record the store holds at that offset is one of the
message's, and each of its records is held there, held elsewhere by ``record_id`` or pruned since - and so is a
record whose ``record_id`` is already stored (the hub may re-emit a decision after a restart: the first one stored is
the record of what happened). Skipping happens before chaining, so a replay neither changes the store nor the chain.
A *new* message at an offset the chain already covers means the topic was recreated: the partition's chain goes on
in a new segment (:mod:`schakel.lineage.chain`), and :class:`AppendResult` names it - new lineage is never dropped as
a replay. A chain head's ``last_offset`` is the offset of its last chained record, nothing else, so ``verify`` can
check it.

**Several records at one offset.** The hub packs an event's lineage records into one message
(:func:`~schakel.lineage.record.pack_records`); the store keeps one row per record, all at the message's offset, in
the message's order, one after the other in the chain. So a chain's offsets never go back (``verify``), but may
repeat; a message's records are stored together or not at all; and the topic is cut (:meth:`topic_cut`) only below
the first offset at which the store still keeps a row whole, so a message is deleted from the topic only once every
record of it is pruned.

A message the store cannot hold (a value out of range, a character a database refuses) is rejected whole - counted in
:class:`AppendResult`, kept out of the chain - and the rest of the batch is stored. Only a store that cannot be
reached raises (:class:`StoreUnavailableError`; the store reconnects on the next call), and so does one that holds a
record of the batch that it did not hold when the batch was read (:class:`StoreConflictError`: another ingest worker
stored it meanwhile): the database's refusal of a second copy is no fault of the message, and a retry skips it.

The store keeps each record as columns in one canonical text form (UTC times of fixed width, lower-case ids, compact
JSON lists: :func:`record_row`) plus its link in a chain, and the link hashes exactly those stored columns (see
:mod:`schakel.lineage.chain`). :meth:`LineageStore.verify` recomputes every chain from the stored columns and checks
that they still form a valid record in canonical form, that offsets never go back, and that each head's count, hash
and last offset match its records: a change to any column of any record, a deleted or added record (also one added
before a chain's first position, which no append writes), two swapped records or a moved head is found, and the first
broken record is named.

A person may be known by several identifiers (a BSN, case ids). The hub writes a ``link`` record when an event
carries two; :meth:`LineageStore.person` follows links from a pseudonym to all of the person's pseudonyms, and the
subject report, the disclosure register and the export use it when asked about a person.

Durability: SQLite runs in WAL mode with ``synchronous=FULL`` and PostgreSQL commits synchronously, because the
ingest loop commits Kafka offsets right after the store commits: a store commit that could be lost on power failure
would lose lineage for good.
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import json
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple
from uuid import UUID

from pydantic_core import to_json

from schakel.lineage.activities import processing_activity
from schakel.lineage.answers import (
    DisclosureRegister,
    SubjectReport,
    TraceReport,
    build_disclosure_register,
    build_subject_report,
    build_trace,
)
from schakel.lineage.chain import GENESIS, LineagePosition, chain_key, link_hash, row_text, segment_chain
from schakel.lineage.pruning import (
    Anchor,
    Cutoffs,
    PruneResult,
    RedactedRow,
    Redaction,
    check_anchors,
    check_redactions,
    record_ref,
    redaction_hash,
    skeleton_digest,
)
from schakel.lineage.pruning import time_text as _time_text
from schakel.lineage.record import REQUEST_RECORD_NAME, LineageError, LineageRecord, RecordKind
from schakel.lineage.requests import RequestStatus, request_statuses
from schakel.schemas import EventType

__all__ = [
    "SQLITE_FILE",
    "AppendResult",
    "BrokenRecord",
    "ChainHead",
    "LineageStore",
    "PruneResult",
    "StoreConflictError",
    "StoreUnavailableError",
    "UnstorableRecordError",
    "VerifyResult",
    "open_store",
]

SQLITE_FILE = "lineage.sqlite3"
_PAGE = 2000

# The record's own fields, in column order; the list-valued ones are stored as compact JSON arrays.
RECORD_COLUMNS = (
    "record_id",
    "kind",
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "status",
    "start_time",
    "end_time",
    "event_id",
    "event_type",
    "sender",
    "recipient",
    "outcome",
    "fields_sent",
    "fields_withheld",
    "purpose",
    "legal_basis",
    "covenant_id",
    "covenant_version",
    "rule",
    "reasons",
    "processing_activity_id",
    "data_subject_id",
    "data_subject_key",
    "linked_subject_id",
    "linked_subject_key",
    "source_topic",
    "source_partition",
    "source_offset",
    "derived_from",
)
_LIST_COLUMNS = frozenset({"fields_sent", "fields_withheld", "legal_basis", "reasons"})
_OPTIONAL_LIST_COLUMNS = frozenset({"derived_from"})
"""Lists stored as NULL when empty, and then left out of the hashed row: see :func:`hashed_row`."""
_LEFT_OUT_WHEN_NULL = frozenset(RECORD_COLUMNS.index(name) for name in _OPTIONAL_LIST_COLUMNS)
_INT_COLUMNS = frozenset({"source_partition", "source_offset"})
_INT64 = (-(2**63), 2**63 - 1)
_TIME_COLUMNS = frozenset({"start_time", "end_time"})
CHAIN_COLUMNS = ("chain", "seq", "lineage_offset", "prev_hash", "hash")
ALL_COLUMNS = CHAIN_COLUMNS + RECORD_COLUMNS
_ALL = ", ".join(ALL_COLUMNS)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS lineage_record (
        chain TEXT NOT NULL, seq BIGINT NOT NULL, lineage_offset BIGINT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
        record_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, trace_id TEXT, span_id TEXT, parent_span_id TEXT,
        name TEXT NOT NULL, status TEXT NOT NULL, start_time TEXT NOT NULL, end_time TEXT NOT NULL,
        event_id TEXT NOT NULL, event_type TEXT NOT NULL, sender TEXT NOT NULL, recipient TEXT NOT NULL, outcome TEXT,
        fields_sent TEXT NOT NULL, fields_withheld TEXT NOT NULL, purpose TEXT NOT NULL, legal_basis TEXT NOT NULL,
        covenant_id TEXT, covenant_version TEXT, rule TEXT, reasons TEXT NOT NULL, processing_activity_id TEXT,
        data_subject_id TEXT NOT NULL, data_subject_key TEXT NOT NULL, linked_subject_id TEXT, linked_subject_key TEXT,
        source_topic TEXT, source_partition BIGINT, source_offset BIGINT, derived_from TEXT,
        PRIMARY KEY (chain, seq))""",
    "CREATE INDEX IF NOT EXISTS lineage_record_event ON lineage_record (event_id)",
    "CREATE INDEX IF NOT EXISTS lineage_record_subject ON lineage_record (data_subject_id)",
    "CREATE INDEX IF NOT EXISTS lineage_record_linked ON lineage_record (linked_subject_id)",
    "CREATE INDEX IF NOT EXISTS lineage_record_recipient ON lineage_record (recipient, end_time)",
    "CREATE INDEX IF NOT EXISTS lineage_record_offset ON lineage_record (chain, lineage_offset)",
    "CREATE INDEX IF NOT EXISTS lineage_record_type ON lineage_record (event_type)",
    """CREATE TABLE IF NOT EXISTS lineage_chain (
        chain TEXT PRIMARY KEY, next_seq BIGINT NOT NULL, head_hash TEXT NOT NULL, last_offset BIGINT,
        segment_of TEXT NOT NULL, segment BIGINT NOT NULL, topic_id TEXT)""",
    # One row per pruning of a chain (schakel.lineage.pruning): the head of the pruned prefix, itself hash-linked.
    """CREATE TABLE IF NOT EXISTS lineage_anchor (
        chain TEXT NOT NULL, seq BIGINT NOT NULL, head_hash TEXT NOT NULL, last_offset BIGINT, cutoff TEXT NOT NULL,
        pruned BIGINT NOT NULL, prev_anchor TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (chain, seq))""",
    # A pruned record's skeleton (schakel.lineage.pruning): its link, offset, id, time, covenant and type; no body.
    """CREATE TABLE IF NOT EXISTS lineage_redacted (
        chain TEXT NOT NULL, seq BIGINT NOT NULL, lineage_offset BIGINT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
        record_ref TEXT NOT NULL UNIQUE, end_time TEXT NOT NULL, covenant_id TEXT, event_type TEXT NOT NULL,
        redaction BIGINT NOT NULL, PRIMARY KEY (chain, seq))""",
    "CREATE INDEX IF NOT EXISTS lineage_redacted_offset ON lineage_redacted (chain, lineage_offset)",
    # One mark per pruning per chain it touched: the cut-offs applied and a digest of the skeletons, hash-linked.
    """CREATE TABLE IF NOT EXISTS lineage_redaction (
        chain TEXT NOT NULL, n BIGINT NOT NULL, upto BIGINT NOT NULL, cutoffs TEXT NOT NULL, redacted BIGINT NOT NULL,
        digest TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (chain, n))""",
    "CREATE INDEX IF NOT EXISTS lineage_record_end ON lineage_record (end_time)",
)
_REDACTED_COLUMNS = RedactedRow._fields
_CONSENT_CHANGE = EventType.CONSENT_CHANGE.value
_END_TIME, _COVENANT, _EVENT_TYPE = (RECORD_COLUMNS.index(name) for name in ("end_time", "covenant_id", "event_type"))
# Columns added after chain v2, to a store that lacks them (NULL in every old row, which the hash leaves out).
_ADDED_COLUMNS = (("derived_from", "ALTER TABLE lineage_record ADD COLUMN derived_from TEXT"),)
# A store made before chain v2 lacks these; its hashes are v1, so it cannot be verified by this code.
_SCHEMA_PROBES = (
    "SELECT linked_subject_id FROM lineage_record WHERE 1 = 0",
    "SELECT segment_of, topic_id FROM lineage_chain WHERE 1 = 0",
)


class StoreUnavailableError(LineageError):
    """The lineage store cannot be opened or reached."""


class StoreConflictError(StoreUnavailableError):
    """The store holds a record of the batch now that it did not hold when the batch was read: another writer stored
    it meanwhile (PostgreSQL: ingest workers on other partitions). Nothing was stored; a retry reads the store again
    and skips it. Not the batch's fault, so never a reason to reject a message - retried like an unreachable store
    (a conflict that stays, a chain head changed behind the store's back, holds the ingest rather than dropping
    lineage)."""


class UnstorableRecordError(LineageError):
    """The database refused a record of the batch as data (not for being unreachable); nothing was stored."""


class AppendResult(NamedTuple):
    """What one :meth:`LineageStore.append` did."""

    appended: int
    duplicates: int
    rejected: int = 0
    """Messages the store cannot hold (kept out of the chain, whole): a message is the records at one topic position
    - several for a packed one - or one record without a position."""
    segments: tuple[str, ...] = ()
    """Chain segments this batch started, because the topic had been recreated."""


class ChainHead(NamedTuple):
    """The end of one chain: how many records it has, the last hash, the last topic offset ingested."""

    next_seq: int
    hash: str
    last_offset: int | None


@dataclass(frozen=True)
class BrokenRecord:
    """Where a chain breaks. ``record_id`` is None when what is missing is the end of the chain itself."""

    chain: str
    seq: int
    record_id: str | None
    reason: str

    def __str__(self) -> str:
        who = f"record {self.record_id}" if self.record_id else "the chain head"
        return f"chain {self.chain}, position {self.seq}: {who}: {self.reason}"


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of recomputing every chain."""

    checked: int
    chains: int
    broken: tuple[BrokenRecord, ...] = field(default_factory=tuple)
    """The first break of each broken chain, in chain order."""

    @property
    def ok(self) -> bool:
        return not self.broken

    @property
    def first_broken(self) -> BrokenRecord | None:
        return self.broken[0] if self.broken else None


def _storable(row: tuple[Any, ...]) -> bool:
    """Whether both databases can hold these columns as they are (64-bit integers, no NUL in a text)."""
    for value in row:
        if isinstance(value, str) and "\x00" in value:
            return False
        if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
            return False
    return True


def _time_value(text: str) -> datetime:
    return datetime.fromisoformat(text)


def record_row(record: LineageRecord) -> tuple[Any, ...]:
    """The record's columns, in :data:`RECORD_COLUMNS` order."""
    row: list[Any] = []
    for name in RECORD_COLUMNS:
        value = getattr(record, name)
        if name in _OPTIONAL_LIST_COLUMNS:
            value = to_json(list(value)).decode("utf-8") if value else None
        elif name in _LIST_COLUMNS:
            value = to_json(list(value)).decode("utf-8")
        elif name in _TIME_COLUMNS:
            value = _time_text(value)
        elif name in {"event_id", "kind"}:
            value = str(value)
        elif name in _INT_COLUMNS and value is not None:
            value = int(value)
        row.append(value)
    return tuple(row)


def hashed_row(row: Sequence[Any]) -> str:
    """The text a link hashes: :func:`row_text` of the stored columns, less ``derived_from`` when it is NULL.

    *Why:* ``derived_from`` came after chain v2; leaving it out when NULL keeps every link of a store written before
    it valid, and a record that has one commits to it. Setting or clearing it afterwards changes the hash either way.
    """
    return row_text([value for index, value in enumerate(row) if not (index in _LEFT_OUT_WHEN_NULL and value is None)])


def record_from_row(row: Sequence[Any]) -> LineageRecord:
    """Rebuild a record from its columns (:data:`RECORD_COLUMNS` order); pydantic validates it again."""
    data: dict[str, Any] = {}
    for name, value in zip(RECORD_COLUMNS, row, strict=True):
        if name in _OPTIONAL_LIST_COLUMNS:
            value = () if value is None else tuple(json.loads(value))
        elif name in _LIST_COLUMNS:
            value = tuple(json.loads(value))
        elif name in _TIME_COLUMNS:
            value = _time_value(value)
        data[name] = value
    return LineageRecord.model_validate(data)


class _Dialect:
    """What differs between SQLite and PostgreSQL: the placeholder, the write lock, the connection."""

    name = "sqlite"
    placeholder = "?"
    begin = "BEGIN IMMEDIATE"  # take SQLite's single write lock up front: heads cannot change under us
    snapshot = "BEGIN"  # WAL: the first read fixes what the transaction sees; writers go on beside it
    lock_suffix = ""
    chain_order = "chain"  # the BINARY collation: code point order, as Python's sorted() - the order appends lock in

    def sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def insert_rows(self, connection: Any, insert: str, rows: list[tuple[Any, ...]]) -> None:
        connection.cursor().executemany(insert, rows)


class _Postgres(_Dialect):
    name = "postgresql"
    placeholder = "%s"
    begin = "BEGIN"
    snapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"  # one snapshot for every statement
    lock_suffix = " FOR UPDATE"  # one writer per chain at a time; different chains proceed in parallel
    # Code point order whatever the database's collation (en_US ignores punctuation, ICU puts '_' before '.'): the
    # order appends lock chains in, so a pruning that locks them all cannot deadlock with an append.
    chain_order = 'chain COLLATE "C"'

    def insert_rows(self, connection: Any, insert: str, rows: list[tuple[Any, ...]]) -> None:  # noqa: ARG002
        # COPY moves a batch several times faster than executemany; duplicates were filtered under the head lock.
        with connection.cursor().copy(f"COPY lineage_record ({_ALL}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


class LineageStore:
    """The lineage store; open one with :func:`open_store`. Thread-safe (one connection behind a lock)."""

    def __init__(self, connect: Callable[[], Any], dialect: _Dialect, where: str) -> None:
        self._connect = connect
        self._connection: Any = connect()
        self._dialect = dialect
        self._lock = threading.RLock()
        self._in_snapshot = False
        self.where = where
        """Where the store lives, without credentials (for messages)."""
        self._create_schema()

    # -- plumbing --------------------------------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._dialect.name

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cursor = self._connection.cursor()
        cursor.execute(self._dialect.sql(sql), tuple(params))
        return cursor

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return [tuple(row) for row in self._execute(sql, params).fetchall()]

    def _create_schema(self) -> None:
        with self._lock:
            self._execute(self._dialect.begin)
            try:
                for statement in _SCHEMA:
                    self._execute(statement)
            except Exception:
                self._execute("ROLLBACK")
                raise
            self._execute("COMMIT")
            for probe in _SCHEMA_PROBES:
                try:
                    self._execute(probe)
                except Exception as error:
                    if not _is_database_error(error):
                        raise
                    raise StoreUnavailableError(
                        f"the lineage store at {self.where} was made by an older schakel (hash chain v1); "
                        "ingest the lineage topic into a new store"
                    ) from None
            for column, add in _ADDED_COLUMNS:
                try:
                    self._execute(f"SELECT {column} FROM lineage_record WHERE 1 = 0")  # noqa: S608 - a constant
                except Exception as error:
                    if not _is_database_error(error):
                        raise
                    self._execute(add)

    def _reconnect_if_closed(self) -> None:
        if not getattr(self._connection, "closed", False):
            return
        try:
            self._connection = self._connect()
        except Exception as error:
            if isinstance(error, LineageError) or _is_database_error(error):
                raise StoreUnavailableError(f"the lineage store at {self.where} cannot be reached") from None
            raise

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read inside sees the store as of one moment: one read-only transaction, with the store's lock held
        (other threads' writes through this store wait; other processes' go on, unseen). Re-entrant.

        *Why:* ``verify`` reads the heads, then each chain, page by page; an ingest or a pruning committing in
        between (``lineage ingest --follow`` runs beside it) made a chain longer than the head read before it, and
        verify reported an intact store as broken. The heads ``lineage verify`` prints are the ones it checked."""
        with self._lock:
            if self._in_snapshot:
                yield
                return
            self._reconnect_if_closed()
            try:
                self._execute(self._dialect.snapshot)
            except Exception as error:
                if _is_database_error(error):
                    raise StoreUnavailableError(f"reading the lineage store at {self.where} failed") from error
                raise
            self._in_snapshot = True
            try:
                yield
            finally:
                self._in_snapshot = False
                with contextlib.suppress(Exception):  # read only: nothing to keep; the connection may be gone
                    self._execute("ROLLBACK")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._connection.close()

    def __enter__(self) -> LineageStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------------------------------

    def append(self, items: Iterable[tuple[LineageRecord, LineagePosition | None]]) -> AppendResult:
        """Store records with their position on the topic they were read from (None when they came from none).

        Within a chain, records are chained in offset order.

        One transaction for the whole batch; when it returns, the records are durable. Replayed messages and
        records already stored are skipped (counted as duplicates) and do not enter the chain; records the store
        cannot hold are rejected. :class:`UnstorableRecordError` when the database refuses the batch as data (store
        its records one by one to find the one); :class:`StoreUnavailableError` when it cannot be reached.
        """
        # Kafka hands out each partition in offset order; sort anyway, so that a caller's order cannot make a later
        # offset hide an earlier one from the replay check (stable: records without a position keep their order).
        batch = sorted(items, key=lambda item: (chain_key(item[1]), -1 if item[1] is None else item[1].offset))
        if not batch:
            return AppendResult(0, 0)
        insert = self._dialect.sql(
            f"INSERT INTO lineage_record ({', '.join(ALL_COLUMNS)}) VALUES ({', '.join('?' * len(ALL_COLUMNS))})"  # noqa: S608 - constant column names
        )
        with self._lock:
            self._reconnect_if_closed()
            try:
                self._execute(self._dialect.begin)
                result = self._append_locked(batch, insert)
                self._execute("COMMIT")
            except BaseException as error:
                with contextlib.suppress(Exception):  # the connection may be gone; the error below says why
                    self._execute("ROLLBACK")
                if isinstance(error, Exception) and _is_unique_violation(error):
                    raise StoreConflictError(
                        f"the lineage store at {self.where} already holds a record of this batch that it did not hold "
                        "when the batch was read (another ingest stored it meanwhile); nothing of this batch was stored"
                    ) from error
                if isinstance(error, Exception) and _is_data_error(error):
                    raise UnstorableRecordError(
                        f"the lineage store at {self.where} refused a record of this batch ({type(error).__name__}); "
                        "nothing of this batch was stored"
                    ) from error
                if isinstance(error, Exception) and _is_database_error(error):
                    raise StoreUnavailableError(
                        f"writing to the lineage store at {self.where} failed ({type(error).__name__}); "
                        "nothing of this batch was stored"
                    ) from error
                raise
        return result

    def _append_locked(self, batch: list[tuple[LineageRecord, LineagePosition | None]], insert: str) -> AppendResult:
        current: dict[str, tuple[str, int]] = {}  # partition chain -> (chain of its current segment, segment)
        heads: dict[str, ChainHead] = {}
        topic_ids: dict[str, str | None] = {}  # chain -> the id of the topic it was read from, when known
        for base in sorted({chain_key(position) for _, position in batch}):  # fixed order: writers cannot deadlock
            chain, segment, head, topic_id = self._lock_current(base)
            current[base], heads[chain], topic_ids[chain] = (chain, segment), head, topic_id
        anchors = {chain: self._newest_anchor(chain) for chain, _ in current.values()}
        stored = self._existing_ids([record.record_id for record, _ in batch])
        at_offsets = self._ids_at_offsets(
            [
                (current[chain_key(position)][0], position.offset)
                for _, position in batch
                if position is not None
                and (last := heads[current[chain_key(position)][0]].last_offset) is not None
                and position.offset <= last
            ]
        )
        rows: list[tuple[Any, ...]] = []
        duplicates = rejected = 0
        started: list[str] = []
        for position, group in _messages(batch):
            base = chain_key(position)
            chain, segment = current[base]
            head = heads[chain]
            offset = None if position is None else position.offset
            topic_id = None if position is None else position.topic_id
            recreated = topic_id is not None and topic_ids[chain] not in (None, topic_id)
            if not recreated and offset is not None and head.last_offset is not None and offset <= head.last_offset:
                if _replayed(group, at_offsets.get((chain, offset), set()), stored, anchors.get(chain), offset):
                    duplicates += len(group)  # a replay: these very records are stored (or pruned since)
                    continue
                recreated = True  # a message this chain has never seen, at an offset it already covers
            if recreated:
                chain, segment = segment_chain(base, segment + 1), segment + 1
                self._execute(
                    "INSERT INTO lineage_chain (chain, next_seq, head_hash, last_offset, segment_of, segment) "
                    "VALUES (?, 0, ?, NULL, ?, ?)",
                    (chain, GENESIS, base, segment),
                )
                current[base], topic_ids[chain] = (chain, segment), topic_id
                head = heads[chain] = ChainHead(0, GENESIS, None)
                started.append(chain)
            elif topic_id is not None:
                topic_ids[chain] = topic_id
            new: dict[str, tuple[Any, ...]] = {}
            refused, skipped = False, 0
            for record in group:
                if record.record_id in stored or record.record_id in new:
                    skipped += 1
                    continue
                try:
                    row = record_row(record)
                except Exception:  # a record built around validation (model_construct) with a value that has no form
                    refused = True
                    break
                if not _storable(row):
                    refused = True
                    break
                new[record.record_id] = row
            if refused:
                rejected += 1  # a message is stored whole or not at all
                continue
            duplicates += skipped
            for record_id, row in new.items():
                digest = link_hash(chain, head.next_seq, offset, head.hash, hashed_row(row))
                rows.append((chain, head.next_seq, offset, head.hash, digest, *row))
                stored.add(record_id)
                head = ChainHead(head.next_seq + 1, digest, offset if offset is not None else head.last_offset)
            heads[chain] = head
        if rows:
            self._dialect.insert_rows(self._connection, insert, rows)
        self._connection.cursor().executemany(
            self._dialect.sql(
                "UPDATE lineage_chain SET next_seq = ?, head_hash = ?, last_offset = ?, topic_id = ? WHERE chain = ?"
            ),
            [(head.next_seq, head.hash, head.last_offset, topic_ids[chain], chain) for chain, head in heads.items()],
        )
        return AppendResult(len(rows), duplicates, rejected, tuple(started))

    def _lock_current(self, base: str) -> tuple[str, int, ChainHead, str | None]:
        """Lock a partition's chain and return its current segment: (chain, segment number, head, topic id)."""
        self._execute(
            "INSERT INTO lineage_chain (chain, next_seq, head_hash, last_offset, segment_of, segment) "
            "VALUES (?, 0, ?, NULL, ?, 0) ON CONFLICT (chain) DO NOTHING",
            (base, GENESIS, base),
        )
        # The first segment's row is the partition's lock; the newest segment is the one to append to.
        self._execute(f"SELECT chain FROM lineage_chain WHERE chain = ?{self._dialect.lock_suffix}", (base,))  # noqa: S608
        newest = (
            "SELECT chain, segment, next_seq, head_hash, last_offset, topic_id FROM lineage_chain WHERE segment_of = ? "
            "ORDER BY segment DESC LIMIT 1"
        )
        row = self._execute(newest + self._dialect.lock_suffix, (base,)).fetchone()
        head = ChainHead(int(row[2]), str(row[3]), None if row[4] is None else int(row[4]))
        return str(row[0]), int(row[1]), head, None if row[5] is None else str(row[5])

    def _existing_ids(self, record_ids: list[str]) -> set[str]:
        found: set[str] = set()
        unique = list(dict.fromkeys(record_ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._execute(
                f"SELECT record_id FROM lineage_record WHERE record_id IN ({marks})",  # noqa: S608
                chunk,
            ).fetchall()
            found.update(str(row[0]) for row in rows)
            refs = {record_ref(record_id): record_id for record_id in chunk}
            rows = self._execute(
                f"SELECT record_ref FROM lineage_redacted WHERE record_ref IN ({marks})",  # noqa: S608
                list(refs),
            ).fetchall()
            found.update(refs[str(row[0])] for row in rows)
        return found

    def _ids_at_offsets(self, positions: list[tuple[str, int]]) -> dict[tuple[str, int], set[str]]:
        """The record ids (of a pruned record: its :func:`record_ref`) stored at these (chain, offset) positions:
        several at one offset when the message there was a packed one."""
        found: dict[tuple[str, int], set[str]] = {}
        by_chain: dict[str, list[int]] = {}
        for chain, offset in positions:
            by_chain.setdefault(chain, []).append(offset)
        for chain, offsets in by_chain.items():
            unique = sorted(set(offsets))
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                rows = self._execute(
                    "SELECT lineage_offset, record_id FROM lineage_record WHERE chain = ? AND lineage_offset IN "  # noqa: S608
                    f"({marks}) UNION ALL SELECT lineage_offset, record_ref FROM lineage_redacted WHERE chain = ? "
                    f"AND lineage_offset IN ({marks})",
                    (chain, *chunk, chain, *chunk),
                ).fetchall()
                for row in rows:
                    found.setdefault((chain, int(row[0])), set()).add(str(row[1]))
        return found

    # -- tamper evidence -------------------------------------------------------------------------------------------

    def heads(self) -> dict[str, ChainHead]:
        """Every chain's head: publish these (or keep them elsewhere) to anchor the chains outside the store."""
        rows = self._query("SELECT chain, next_seq, head_hash, last_offset FROM lineage_chain ORDER BY chain")
        return {str(r[0]): ChainHead(int(r[1]), str(r[2]), None if r[3] is None else int(r[3])) for r in rows}

    def anchors(self, chain: str | None = None) -> list[Anchor]:
        """Every anchor a pruning left (or one chain's), in chain and position order (:mod:`.pruning`)."""
        where, params = ("", ()) if chain is None else (" WHERE chain = ?", (chain,))
        rows = self._query(
            "SELECT chain, seq, head_hash, last_offset, cutoff, pruned, prev_anchor, hash FROM lineage_anchor"  # noqa: S608
            f"{where} ORDER BY chain, seq",
            params,
        )
        return [
            Anchor(
                str(r[0]),
                int(r[1]),
                str(r[2]),
                None if r[3] is None else int(r[3]),
                str(r[4]),
                int(r[5]),
                str(r[6]),
                str(r[7]),
            )
            for r in rows
        ]

    def _newest_anchor(self, chain: str) -> Anchor | None:
        found = self.anchors(chain)
        return found[-1] if found else None

    def redactions(self, chain: str | None = None) -> list[Redaction]:
        """Every redaction mark a pruning left (or one chain's), in chain and number order (:mod:`.pruning`)."""
        where, params = ("", ()) if chain is None else (" WHERE chain = ?", (chain,))
        rows = self._query(
            "SELECT chain, n, upto, cutoffs, redacted, digest, prev_hash, hash FROM lineage_redaction"  # noqa: S608
            f"{where} ORDER BY chain, n",
            params,
        )
        return [
            Redaction(str(r[0]), int(r[1]), int(r[2]), str(r[3]), int(r[4]), str(r[5]), str(r[6]), str(r[7]))
            for r in rows
        ]

    def redacted_count(self) -> int:
        """How many pruned records the store keeps the skeleton of."""
        return int(self._query("SELECT COUNT(*) FROM lineage_redacted")[0][0])

    def prune(self, cutoffs: Cutoffs) -> PruneResult:
        """Redact every record past its covenant's cut-off (:class:`Cutoffs`), in every chain, leaving a redaction
        mark for each chain it touched (see :mod:`schakel.lineage.pruning`). One transaction: all, or nothing."""
        pruned: dict[str, int] = {}
        with self._lock:
            self._reconnect_if_closed()
            try:
                self._execute(self._dialect.begin)
                # Lock every chain (in code point order, as appends do): its length is the mark's ``upto``.
                order, lock = self._dialect.chain_order, self._dialect.lock_suffix
                lengths = {
                    str(r[0]): int(r[1])
                    for r in self._execute(
                        f"SELECT chain, next_seq FROM lineage_chain ORDER BY {order}{lock}"  # noqa: S608 - constants
                    ).fetchall()
                }
                due: dict[str, list[RedactedRow]] = {}
                for row in self._past(cutoffs):
                    due.setdefault(row.chain, []).append(row)
                for chain, rows in sorted(due.items()):
                    if chain not in lengths:
                        # PostgreSQL reads each statement anew: an ingest may have begun this chain and committed
                        # since the lock above (it could not lock it). Its records wait for the next pruning.
                        if self._execute("SELECT 1 FROM lineage_chain WHERE chain = ?", (chain,)).fetchone():
                            continue
                        raise LineageError(f"chain {chain} has no head; run `schakel lineage verify`")
                    pruned[chain] = self._redact(chain, sorted(rows), lengths[chain], cutoffs)
                self._execute("COMMIT")
            except BaseException as error:
                with contextlib.suppress(Exception):
                    self._execute("ROLLBACK")
                if isinstance(error, Exception) and _is_database_error(error):
                    raise StoreUnavailableError(
                        f"pruning the lineage store at {self.where} failed ({type(error).__name__}); nothing was pruned"
                    ) from error
                raise
        return PruneResult(cutoffs, pruned)

    def _past(self, cutoffs: Cutoffs) -> list[RedactedRow]:
        """The kept records past their cut-off: one query per covenant and kind (the ``end_time`` index)."""
        select = (
            "SELECT chain, seq, lineage_offset, prev_hash, hash, record_id, end_time, covenant_id, event_type "
            "FROM lineage_record WHERE end_time < ? AND event_type {} ? AND {}"
        )
        known = sorted(cutoffs.covenants)
        queries: list[tuple[str, tuple[Any, ...]]] = []
        for kind, pair_index in (("<>", 0), ("=", 1)):
            for covenant, pair in cutoffs.covenants.items():
                queries.append((select.format(kind, "covenant_id = ?"), (pair[pair_index], _CONSENT_CHANGE, covenant)))
            others = "covenant_id IS NULL"
            if known:
                others = f"(covenant_id IS NULL OR covenant_id NOT IN ({', '.join('?' * len(known))}))"
            queries.append((select.format(kind, others), (cutoffs.default[pair_index], _CONSENT_CHANGE, *known)))
        found: list[RedactedRow] = []
        for sql, params in queries:
            for r in self._execute(sql, params).fetchall():
                found.append(
                    RedactedRow(
                        str(r[0]),
                        int(r[1]),
                        None if r[2] is None else int(r[2]),
                        str(r[3]),
                        str(r[4]),
                        record_ref(str(r[5])),
                        str(r[6]),
                        None if r[7] is None else str(r[7]),
                        str(r[8]),
                        0,
                    )
                )
        return found

    def _redact(self, chain: str, rows: list[RedactedRow], upto: int, cutoffs: Cutoffs) -> int:
        """Move these records of one chain to their skeletons and leave the chain's next mark; how many went."""
        marks = self.redactions(chain)
        n = len(marks)
        previous = marks[-1].hash if marks else GENESIS
        skeletons = [row._replace(redaction=n) for row in rows]
        self._connection.cursor().executemany(
            self._dialect.sql(
                f"INSERT INTO lineage_redacted ({', '.join(_REDACTED_COLUMNS)}) "  # noqa: S608 - constant columns
                f"VALUES ({', '.join('?' * len(_REDACTED_COLUMNS))})"
            ),
            [tuple(row) for row in skeletons],
        )
        for start in range(0, len(rows), 500):
            chunk = [row.seq for row in rows[start : start + 500]]
            self._execute(
                f"DELETE FROM lineage_record WHERE chain = ? AND seq IN ({', '.join('?' * len(chunk))})",  # noqa: S608
                (chain, *chunk),
            )
        text, digest = cutoffs.to_json(), skeleton_digest(skeletons)
        self._execute(
            "INSERT INTO lineage_redaction (chain, n, upto, cutoffs, redacted, digest, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                chain,
                n,
                upto,
                text,
                len(rows),
                digest,
                previous,
                redaction_hash(chain, n, upto, text, len(rows), digest, previous),
            ),
        )
        return len(rows)

    def topic_cut(self, topic: str) -> dict[int, tuple[int, str | None]]:
        """Per partition of ``topic``: the lowest offset the topic must still keep, and the topic id it was read
        from (when known). That is the first record of the partition's current segment the store still keeps
        whole, or - when it keeps none - the offset after the last one it ingested: below it, every record is
        ingested and pruned. A partition the store has ingested nothing of is left out."""
        cuts: dict[int, tuple[int, str | None]] = {}
        rows = self._query(
            "SELECT c.segment_of, c.chain, c.last_offset, c.topic_id FROM lineage_chain c WHERE c.segment = "
            "(SELECT MAX(s.segment) FROM lineage_chain s WHERE s.segment_of = c.segment_of)"
        )
        prefix = f"{topic}#"
        for base, chain, last_offset, topic_id in rows:
            partition = str(base).removeprefix(prefix)
            if not str(base).startswith(prefix) or not partition.isdigit() or last_offset is None:
                continue
            kept = self._query("SELECT MIN(lineage_offset) FROM lineage_record WHERE chain = ?", (chain,))[0][0]
            low = int(last_offset) + 1 if kept is None else min(int(kept), int(last_offset) + 1)
            cuts[int(partition)] = (low, None if topic_id is None else str(topic_id))
        return cuts

    def _chain_rows(self, chain: str) -> Iterator[tuple[Any, ...]]:
        """A chain's kept rows in position order - every one, also at a position no append writes (below 0), so that
        ``verify`` sees what the readers see."""
        last: int | None = None
        while True:
            after, params = _after(last)
            page = self._query(
                f"SELECT {_ALL} FROM lineage_record WHERE chain = ?{after} ORDER BY seq LIMIT ?",  # noqa: S608
                (chain, *params, _PAGE),
            )
            yield from page
            if len(page) < _PAGE:
                return
            last = int(page[-1][1])

    def _redacted_rows(self, chain: str) -> Iterator[RedactedRow]:
        """A chain's skeletons in position order (every one, as :meth:`_chain_rows`)."""
        last: int | None = None
        while True:
            after, params = _after(last)
            page = self._query(
                f"SELECT {', '.join(_REDACTED_COLUMNS)} FROM lineage_redacted WHERE chain = ?{after} "  # noqa: S608
                "ORDER BY seq LIMIT ?",
                (chain, *params, _PAGE),
            )
            for r in page:
                yield RedactedRow(
                    str(r[0]),
                    int(r[1]),
                    None if r[2] is None else int(r[2]),
                    str(r[3]),
                    str(r[4]),
                    str(r[5]),
                    str(r[6]),
                    None if r[7] is None else str(r[7]),
                    str(r[8]),
                    int(r[9]),
                )
            if len(page) < _PAGE:
                return
            last = int(page[-1][1])

    def verify(self) -> VerifyResult:
        """Recompute every chain from the stored columns (kept records) and links (pruned ones); name the first
        broken record of each broken chain. The store as of one moment (:meth:`snapshot`)."""
        with self.snapshot():
            return self._verify()

    def _verify(self) -> VerifyResult:
        heads = self.heads()
        anchors: dict[str, list[Anchor]] = {}
        for anchor in self.anchors():
            anchors.setdefault(anchor.chain, []).append(anchor)
        marks: dict[str, list[Redaction]] = {}
        for mark in self.redactions():
            marks.setdefault(mark.chain, []).append(mark)
        stored = self._query(
            "SELECT DISTINCT chain FROM lineage_record UNION SELECT DISTINCT chain FROM lineage_redacted"
        )
        chains = sorted(set(heads) | set(anchors) | set(marks) | {str(r[0]) for r in stored})
        checked = 0
        broken: list[BrokenRecord] = []
        for chain in chains:
            cut = anchors.get(chain, [])
            anchor_problem = check_anchors(cut)
            if anchor_problem is not None:
                broken.append(BrokenRecord(chain, cut[0].seq, None, anchor_problem))
                continue
            redactions = marks.get(chain, [])
            mark_problem = check_redactions(redactions)
            if mark_problem is not None:
                broken.append(BrokenRecord(chain, 0, None, mark_problem))
                continue
            count, problem = self._verify_chain(chain, heads.get(chain), cut[-1] if cut else None, redactions)
            checked += count
            if problem is not None:
                broken.append(problem)
        broken.extend(self._verify_segments())
        return VerifyResult(checked=checked, chains=len(chains), broken=tuple(broken))

    def _verify_segments(self) -> list[BrokenRecord]:
        """Every partition's segments are numbered 0, 1, ... without a gap, each under its own name."""
        problems = []
        segments: dict[str, list[tuple[int, str]]] = {}
        for chain, base, segment in self._query("SELECT chain, segment_of, segment FROM lineage_chain"):
            segments.setdefault(str(base), []).append((int(segment), str(chain)))
        for base, found in sorted(segments.items()):
            for expected, (segment, chain) in enumerate(sorted(found)):
                if segment != expected or chain != segment_chain(base, segment):
                    problems.append(BrokenRecord(base, 0, None, f"segment {expected} of the chain is missing"))
                    break
        return problems

    def _verify_chain(
        self, chain: str, head: ChainHead | None, anchor: Anchor | None = None, marks: Sequence[Redaction] = ()
    ) -> tuple[int, BrokenRecord | None]:
        # A chain cut by the earlier prefix pruning starts at its newest anchor: the first record links to it.
        expected, previous, count = (0, GENESIS, 0) if anchor is None else (anchor.seq, anchor.head_hash, 0)
        last_offset: int | None = None if anchor is None else anchor.last_offset
        n_chain = len(CHAIN_COLUMNS)
        due = _Due(marks)
        skeletons: list[list[RedactedRow]] = [[] for _ in marks]
        rows: Iterator[tuple[Any, ...]] = heapq.merge(
            self._chain_rows(chain), self._redacted_rows(chain), key=lambda row: int(row[1])
        )
        for row in rows:
            count += 1
            seq, offset, prev_hash, digest = int(row[1]), row[2], row[3], row[4]
            record_id = row.record_ref if isinstance(row, RedactedRow) else str(row[n_chain])
            if seq != expected:
                return count, BrokenRecord(chain, expected, record_id, f"sequence gap: found position {seq}")
            if prev_hash != previous:
                return count, BrokenRecord(chain, seq, record_id, "does not link to the record before it")
            position = None if offset is None else int(offset)
            if isinstance(row, RedactedRow):
                # A pruned record's hash cannot be recomputed: the next link and its mark's digest vouch for it.
                if not due.redacted_by(row):
                    return count, BrokenRecord(
                        chain, seq, record_id, "it is pruned, but no pruning found it past its lineage period"
                    )
                skeletons[row.redaction].append(row)
            else:
                if link_hash(chain, seq, position, previous, hashed_row(row[n_chain:])) != digest:
                    return count, BrokenRecord(chain, seq, record_id, "its content does not match its hash")
                try:
                    canonical = record_row(record_from_row(row[n_chain:])) == tuple(row[n_chain:])
                except Exception:  # any column a writer broke: type, JSON, a validator
                    canonical = False
                if not canonical:
                    return count, BrokenRecord(chain, seq, record_id, "its columns no longer form a valid record")
                body = row[n_chain:]
                if due.past(seq, body[_COVENANT], str(body[_EVENT_TYPE]), str(body[_END_TIME])):
                    return count, BrokenRecord(
                        chain, seq, record_id, "it was past its lineage period at a pruning, but is still whole"
                    )
            # Several records share an offset when one message held them (a packed record): offsets never go back.
            if position is not None and last_offset is not None and position < last_offset:
                return count, BrokenRecord(chain, seq, record_id, "its topic offset is before the one before")
            last_offset = position if position is not None else last_offset
            previous, expected = str(digest), expected + 1
        for mark, pruned in zip(marks, skeletons, strict=True):
            if len(pruned) != mark.redacted or skeleton_digest(pruned) != mark.digest:
                first = pruned[0] if pruned else None
                return count, BrokenRecord(
                    chain,
                    first.seq if first else mark.upto,
                    first.record_ref if first else None,
                    f"the records pruning {mark.n} redacted are not the ones its mark records",
                )
        if head is None:
            return count, BrokenRecord(chain, expected, None, "the chain head is missing")
        if head.next_seq != expected or head.hash != previous:
            return count, BrokenRecord(
                chain, expected, None, f"the chain head expects {head.next_seq} records, the store has {expected}"
            )
        if head.last_offset != last_offset:
            return count, BrokenRecord(
                chain,
                expected,
                None,
                f"the chain head's last offset {head.last_offset} is not its last record's offset {last_offset}",
            )
        return count, None

    # -- reading ---------------------------------------------------------------------------------------------------

    def count(self) -> int:
        """How many records the store holds."""
        return int(self._query("SELECT COUNT(*) FROM lineage_record")[0][0])

    def _records(self, where: str, params: Sequence[Any]) -> list[LineageRecord]:
        rows = self._query(f"SELECT {', '.join(RECORD_COLUMNS)} FROM lineage_record WHERE {where}", params)  # noqa: S608
        records = []
        for row in rows:
            try:
                records.append(record_from_row(row))
            except Exception as error:
                raise LineageError(
                    f"record {row[0]} in the store is not valid any more; run `schakel lineage verify`"
                ) from error
        return records

    def records(self) -> Iterator[LineageRecord]:
        """Every record, chain by chain in chain order."""
        chains = [str(r[0]) for r in self._query("SELECT DISTINCT chain FROM lineage_record ORDER BY chain")]
        for chain in chains:
            for row in self._chain_rows(chain):
                yield record_from_row(row[len(CHAIN_COLUMNS) :])

    def raw_rows(self) -> Iterator[dict[str, Any]]:
        """Every stored row as column -> value, exactly as stored (for scans over everything the store holds)."""
        chains = [str(r[0]) for r in self._query("SELECT DISTINCT chain FROM lineage_record ORDER BY chain")]
        for chain in chains:
            for row in self._chain_rows(chain):
                yield dict(zip(ALL_COLUMNS, row, strict=True))

    def pruned_rows(self) -> Iterator[dict[str, Any]]:
        """Every pruned record's skeleton as column -> value, exactly as stored, with its ``record_ref`` also as
        ``record_id`` (for scans over everything the store holds)."""
        chains = [str(r[0]) for r in self._query("SELECT DISTINCT chain FROM lineage_redacted ORDER BY chain")]
        for chain in chains:
            for row in self._redacted_rows(chain):
                yield {"record_id": row.record_ref, **row._asdict()}

    def person(self, pseudonym: str | Sequence[str]) -> tuple[str, ...]:
        """Every pseudonym of the person with this pseudonym (or these), following ``link`` records transitively;
        the given ones first."""
        found = [pseudonym] if isinstance(pseudonym, str) else list(dict.fromkeys(pseudonym))
        known, frontier = set(found), list(found)
        while frontier:
            chunk, frontier = frontier[:250], frontier[250:]
            marks = ", ".join("?" * len(chunk))
            rows = self._query(
                "SELECT data_subject_id, linked_subject_id FROM lineage_record WHERE kind = 'link' AND "  # noqa: S608
                f"(data_subject_id IN ({marks}) OR linked_subject_id IN ({marks}))",
                (*chunk, *chunk),
            )
            for pair in rows:
                for other in pair:
                    if other is not None and str(other) not in known:
                        known.add(str(other))
                        found.append(str(other))
                        frontier.append(str(other))
        return tuple(found)

    def _about(
        self, pseudonyms: Sequence[str], where: str = "1 = 1", params: Sequence[Any] = ()
    ) -> list[LineageRecord]:
        records: list[LineageRecord] = []
        for start in range(0, len(pseudonyms), 250):
            chunk = list(pseudonyms[start : start + 250])
            records.extend(
                self._records(f"{where} AND data_subject_id IN ({', '.join('?' * len(chunk))})", (*params, *chunk))
            )
        return records

    def trace(self, event_id: UUID) -> TraceReport:
        """Every hop of one event: decisions and receipts with times, fields sent and withheld, trace ids; and the
        bundles derived from it."""
        # derived_from is a JSON list of "sender/event_id": the id, between a slash and a closing quote.
        derived = self._records("event_type = 'SignalBundle' AND derived_from LIKE ?", (f'%/{event_id}"%',))
        return build_trace(event_id, self._records("event_id = ?", (str(event_id),)), derived)

    def subject_report(self, pseudonym: str | Sequence[str]) -> SubjectReport:
        """The AVG art. 15 report for the person with this pseudonym (or these), across every pseudonym linked to
        them (pseudonymise a BSN first: :func:`schakel.lineage.pseudonym.subject_pseudonyms`)."""
        seed = [pseudonym] if isinstance(pseudonym, str) else list(dict.fromkeys(pseudonym))
        if not seed:
            raise LineageError("a subject report needs at least one pseudonym")
        ids = self.person(seed)
        return build_subject_report(ids, self._about(ids))

    def subject_requests(self, now: datetime) -> list[RequestStatus]:
        """Every data subject request in the store, with its deadline and who has not confirmed
        (:mod:`schakel.lineage.requests`)."""
        return request_statuses(self._records("event_type = ?", (EventType.SUBJECT_REQUEST.value,)), now)

    def request_record(self, request_id: UUID) -> LineageRecord | None:
        """The record of a request's arrival at the contact point (``schakel.subject.request``), or None."""
        found = self._records("event_id = ? AND name = ?", (str(request_id), REQUEST_RECORD_NAME))
        return found[0] if found else None

    def disclosures(
        self, recipient: str, since: datetime | None = None, *, person: Sequence[str] | None = None
    ) -> DisclosureRegister:
        """The disclosure register: what ``recipient`` was given, decided at or after ``since``; only about one
        person (every pseudonym linked to ``person``) when given."""
        where, params = "recipient = ? AND kind <> 'link'", [recipient]
        if since is not None:
            # Both records of a disclosure, when either is at or after ``since``: the register pairs them and keeps
            # those decided at or after it.
            where += " AND event_id IN (SELECT event_id FROM lineage_record WHERE recipient = ? AND end_time >= ?)"
            params += [recipient, _time_text(since)]
        about = self._records(where, params) if person is None else self._about(self.person(person), where, params)
        return build_disclosure_register(recipient, since, about)

    def export_logboek(
        self, out: IO[str], *, kind: RecordKind | None = None, person: Sequence[str] | None = None
    ) -> int:
        """Write every record (or every record about one person) as one Logboek Dataverwerkingen JSON object per
        line; return how many. A receipt carries the processing activity of the decision it belongs to."""
        activities = {
            (str(r[0]), str(r[1])): str(r[2])
            for r in self._query(
                "SELECT event_id, recipient, processing_activity_id FROM lineage_record "
                "WHERE kind = 'decision' AND processing_activity_id IS NOT NULL"
            )
        }
        if person is None:
            records: Iterable[LineageRecord] = self.records()
        else:
            records = self._about(self.person(person))
        written = 0
        for record in records:
            if kind is not None and record.kind is not kind:
                continue
            activity = activities.get((str(record.event_id), record.recipient)) or processing_activity(record.purpose)
            out.write(json.dumps(record.to_logboek(activity), ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            written += 1
        return written


class _Due:
    """Which records a chain's redaction marks say must be pruned (:mod:`schakel.lineage.pruning`)."""

    def __init__(self, marks: Sequence[Redaction]) -> None:
        self.marks = marks
        self.uptos = [mark.upto for mark in marks]
        self._latest: dict[tuple[str | None, bool], list[str]] = {}

    def past(self, seq: int, covenant_id: str | None, event_type: str, end_time: str) -> bool:
        """Whether a kept record at ``seq`` was past its cut-off at a pruning that reached it."""
        first = bisect.bisect_right(self.uptos, seq)  # the marks whose pruning reached this position
        if first == len(self.marks):
            return False
        key = (covenant_id, event_type == _CONSENT_CHANGE)
        latest = self._latest.get(key)
        if latest is None:  # per mark: the latest cut-off for this key of it and every later mark
            latest, running = [], ""
            for mark in reversed(self.marks):
                running = max(running, mark.cutoffs.of(covenant_id, event_type))
                latest.append(running)
            latest.reverse()
            self._latest[key] = latest
        return end_time < latest[first]

    def redacted_by(self, row: RedactedRow) -> bool:
        """Whether the mark that claims this pruned record reached it and had it past its cut-off."""
        if not 0 <= row.redaction < len(self.marks):
            return False
        mark = self.marks[row.redaction]
        return row.seq < mark.upto and row.end_time < mark.cutoffs.of(row.covenant_id, row.event_type)


def _after(last: int | None) -> tuple[str, tuple[int, ...]]:
    """The condition for the next page of a chain after position ``last`` (None: the first page, from wherever the
    chain's rows start - a row below position 0 is no append's, and ``verify`` must see it)."""
    return ("", ()) if last is None else (" AND seq > ?", (last,))


def _messages(
    batch: list[tuple[LineageRecord, LineagePosition | None]],
) -> Iterator[tuple[LineagePosition | None, list[LineageRecord]]]:
    """The batch (sorted by chain and offset) as its messages: the records at one topic position - several when the
    message was packed - or one record without a position."""
    group: list[LineageRecord] = []
    at: LineagePosition | None = None
    for record, position in batch:
        if group and (position is None or position != at):
            yield at, group
            group = []
        group.append(record)
        at = position
    if group:
        yield at, group


def _replayed(
    group: Sequence[LineageRecord], there: set[str], stored: set[str], anchor: Anchor | None, offset: int
) -> bool:
    """Whether a message at an offset the chain already covers is the one the store read there: every record the
    store holds at that offset (``there``: ids, or a pruned record's reference) is one of the message's, and each of
    the message's records is held there, held elsewhere by id (the hub re-emitted it), or pruned since."""
    ids = {record.record_id for record in group}
    if not there <= ids | {record_ref(record_id) for record_id in ids}:
        return False  # the store read another message at this offset: the topic was recreated
    return all(
        record.record_id in there
        or record_ref(record.record_id) in there
        or record.record_id in stored
        or _pruned(anchor, offset, record)
        for record in group
    )


def _pruned(anchor: Anchor | None, offset: int, record: LineageRecord) -> bool:
    """Whether a record at ``offset`` is one a pruning removed (covered by the anchor and older than its cut-off)."""
    if anchor is None or anchor.last_offset is None or offset > anchor.last_offset:
        return False
    return _time_text(record.end_time) < anchor.cutoff


def _is_unique_violation(error: Exception) -> bool:
    """A unique key the batch would repeat (a record id, a chain position): a conflict with what another writer
    stored after the batch was read, not a value the database refuses."""
    if isinstance(error, sqlite3.IntegrityError):
        return getattr(error, "sqlite_errorname", "") in {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(error, psycopg.errors.UniqueViolation)


def _is_data_error(error: Exception) -> bool:
    """The database refused a value (not: could not be reached)."""
    if isinstance(error, OverflowError | ValueError | sqlite3.IntegrityError | sqlite3.DataError):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(error, psycopg.DataError | psycopg.IntegrityError)


def _is_database_error(error: Exception) -> bool:
    """A DB-API error of either driver (psycopg is only imported when PostgreSQL is in use)."""
    if isinstance(error, sqlite3.Error):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(error, psycopg.Error)


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return f"{scheme}{sep}{rest}"


def open_store(url: str | None, data_dir: Path) -> LineageStore:
    """Open (and create if needed) the lineage store.

    ``url`` None: SQLite in ``<data_dir>/lineage.sqlite3``; ``sqlite:///path``: SQLite at that path;
    ``postgresql://...`` (or ``postgres://``): PostgreSQL.
    """
    if url is None or url.startswith("sqlite:"):
        path = data_dir / SQLITE_FILE if url is None else Path(url.removeprefix("sqlite:").removeprefix("//"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailableError(f"cannot open the SQLite lineage store at {path}: {error.strerror}") from None

        def connect_sqlite() -> sqlite3.Connection:
            try:
                connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as error:
                raise StoreUnavailableError(f"cannot open the SQLite lineage store at {path}: {error}") from None
            return connection

        return LineageStore(connect_sqlite, _Dialect(), str(path))
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg

        def connect_postgres() -> Any:
            try:
                return psycopg.connect(url, autocommit=True, connect_timeout=10)
            except psycopg.Error as error:
                raise StoreUnavailableError(
                    f"cannot reach the PostgreSQL lineage store at {_redacted(url)}: {error}"
                ) from None

        return LineageStore(connect_postgres, _Postgres(), _redacted(url))
    raise StoreUnavailableError(f"unsupported lineage store URL scheme: {url.partition(':')[0]!r}")
