"""The data-key store: each person's data key (wrapped), the retention clock's facts, who received copies.

Two backends behind one :class:`KeyStore` and the same SQL (a :class:`_Backend` holds what differs: the
connection, the placeholder, how a write transaction starts, the byte type, and how writers about one person are
serialised):

- **SQLite** by default (``<data dir>/keys.sqlite3``, or ``SCHAKEL_KEYSTORE_URL`` a file path or
  ``sqlite:///path``): WAL, ``synchronous=FULL``, shared by the hub's workers, the sinks, the console and ``schakel
  retention`` on one machine.
- **PostgreSQL** when ``SCHAKEL_KEYSTORE_URL`` is ``postgresql://...`` (or ``postgres://``): for workers, sinks and
  the console on several machines (Kubernetes: the ``schakel-keystore-db`` secret). Synchronous commit (the server's
  default; do not turn it off for this database).

Any other URL is refused with what to write instead - never ignored for a default.

*Why a database and not a compacted Kafka topic:* destroying a key must be final at once. A tombstone on a
compacted topic leaves the old record on disk until the log cleaner runs, and every consumer that read it holds a
copy; a row deleted in one database is gone for every reader that looks the key up.

**How final a destroyed key is.** Readers look a key up by its id on every open and keep no cache, so a key is
unreadable to every process from the moment the transaction that deletes its row commits: in SQLite the next read
sees the commit; in PostgreSQL every statement of a reader (autocommit, READ COMMITTED) takes a new snapshot after
it. What stays on disk, honestly: SQLite runs with ``secure_delete``, which overwrites the deleted row in the
database file, but a copy of the page can stay in the WAL file until the next checkpoint. PostgreSQL marks the row
dead; its bytes stay in the table's page until VACUUM (autovacuum) reclaims it and the page is reused, and in the WAL,
replicas and backups for as long as those are kept. Every one of those copies is the key *wrapped* by the
key-encryption key, so it opens nothing without ``SCHAKEL_KEK`` (and its predecessors): the operator's part is to keep
backups and archived WAL of this database no longer than the shortest retention period, or to rotate the KEK
(``schakel retention rekey``) and destroy the old one after that period.

**Concurrency.** Several hub workers, sinks and the console share one store. A key is made with ``INSERT ... ON
CONFLICT DO NOTHING`` and then read back, so two workers making the same owner's key at once get the same key (the
owner is unique; the loser's insert does nothing). Writes about one person (:meth:`KeyStore.key_for_event`,
:meth:`KeyStore.shred_subject`) read what they change again inside their transaction, after taking the person's
write lock: SQLite's single write lock (``BEGIN IMMEDIATE``), PostgreSQL's transaction advisory lock on the person
(``pg_advisory_xact_lock``), so a worker deciding the person's event and one dead-lettering a record about them never
lose each other's facts or recipients. (A person's first event skips that second read: its facts are inserted only if
no row appeared meanwhile, and read again and merged if one did - one statement fewer on the hub's most common write.)
Within a process one connection is used behind a lock; a PostgreSQL connection that was lost is opened again on the
next call. A database error is a :class:`KeyStoreError` naming the store, never a person: the hub dead-letters the
record (fail closed), a reader refuses to open.

**Cost on the hub's hot path** (``python -m tests.bench keystore`` reports calls/s and this process's CPU per call).
A new person's event is one commit, and that commit is most of its cost: on SQLite ~0.3 ms of the ~0.6 ms of CPU
(writing the WAL frames of the three tables and their indexes) and nearly all of its wall time (the fsync that
``synchronous=FULL`` asks for). What was cut: the read under the lock for a first event (above); the KEK's cipher is
set up once per :class:`~schakel.retention.sealing.Kek`, not per unwrap; the key id is ``secrets.token_hex`` (a
uuid4's width, cheaper). *Judgement calls, measured and left:* ``WITHOUT ROWID`` tables (fewer b-trees per commit)
showed no difference in commit CPU beyond the noise, and would give old and new stores different schemas; folding
the three INSERTs into one statement needs data-modifying CTEs, which SQLite lacks. On PostgreSQL each statement is a
round trip and ~0.1-0.2 ms of psycopg's CPU in the client; psycopg's pipeline mode (the first event's BEGIN, lock
and INSERTs sent together, the rowcounts read at the sync) would cut most of that - not done, as SQLite has no
counterpart and the SQL path would fork.

Owners: a person (the subject the hub keys by) or a day of dead letters that had no person (``dlq:2026-12-02``).
Every data key is stored only wrapped by the key-encryption key (:class:`~schakel.retention.sealing.Kek`); the
store never holds a key in the clear.

**Who received data about a person** is tracked here, and only here: :meth:`KeyStore.key_for_event` records each
recipient of a copy with the recipient's own pseudonym of the person; the retention job tells exactly those
partners (``RetentionExpired``), and the hub forwards a person's erasure or restriction request to exactly those
partners (:mod:`schakel.streams.requests_wiring`). *Why here and not in the hub's Faust table ``subject-requests``,
which also held a list until issue 16:*

- the retention job runs on the leader worker (or from cron, outside the hub) and needs the recipients of every due
  person: a Faust table partition is readable only by the worker that owns it, while the store is read by any
  process; and the notice needs each partner's pseudonym, which only the store kept;
- the request handler, on the person's partition, reads the same rows: the hub's own writes about the person are
  committed before the event's copies are produced (:mod:`schakel.streams.retention_wiring`), and only the person's
  partition writes their recipients, so a request decided after an event sees that event's recipients - also right
  after a rebalance, without waiting for a changelog to be restored;
- durability: a row is committed (fsync) before a copy sealed with the person's key is produced; the list ends with
  the key, in the same transaction (shredding), which is exactly when no partner can be told anything more;
- one list cannot disagree with another. The cost: a contact point's request reads the store once (they are rare;
  every event already reads it for the key).

Known limit: without a key store (copies unsealed: the benchmark's baseline in development only) no recipients are
known, and the hub refuses to forward a request (dead letter, :mod:`schakel.streams.requests_wiring`).
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schakel.retention.errors import KeyStoreError, SealError
from schakel.retention.schedule import SubjectFacts, after_event
from schakel.retention.sealing import Kek, new_data_key
from schakel.settings import Settings

__all__ = ["DLQ_OWNER", "DueSubject", "KeyStore", "StoreStatus", "dead_letter_owner"]

_log = logging.getLogger("schakel.retention")

SQLITE_FILE = "keys.sqlite3"

# {bytes}: the byte type; {ordered}: text compared with < (fixed-width ISO times, day owners) - byte order in both.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS data_keys (
        key_id TEXT PRIMARY KEY, owner {ordered} NOT NULL UNIQUE, kek_id TEXT NOT NULL, wrapped {bytes} NOT NULL,
        created_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS subjects (
        subject TEXT PRIMARY KEY, last_event_at TEXT NOT NULL, has_case INTEGER NOT NULL, case_closed_at TEXT,
        after_close_s BIGINT, without_case_s BIGINT, due_at {ordered})""",
    "CREATE INDEX IF NOT EXISTS subjects_due ON subjects (due_at)",
    """CREATE TABLE IF NOT EXISTS recipients (
        subject TEXT NOT NULL, recipient TEXT NOT NULL, pseudonym TEXT NOT NULL, PRIMARY KEY (subject, recipient))""",
)

DLQ_OWNER = "dlq:"
"""The prefix of a day's dead-letter key: ``dlq:YYYY-MM-DD``."""
_DLQ_LIKE = f"{DLQ_OWNER}%"

# A later event within this span does not rewrite a person's row when nothing else changed: the clock's
# periods are days to years, and one write per event would be the hub's slowest step.
_QUIET = timedelta(minutes=1)


@dataclass(frozen=True)
class DueSubject:
    """A person whose retention has ended, and who received copies about them (recipient -> their pseudonym)."""

    subject: str
    due_at: datetime
    recipients: Mapping[str, str]


@dataclass(frozen=True)
class StoreStatus:
    subjects: int
    data_keys: int
    due: int
    next_due_at: datetime | None
    dead_letter_days: int
    keks: Mapping[str, int]


@dataclass(frozen=True)
class _Backend:
    """What differs between SQLite and PostgreSQL; the SQL is otherwise the same."""

    name: str
    where: str
    """Where the store is, without credentials (for messages)."""
    connect: Callable[[], Any]
    errors: tuple[type[Exception], ...]
    placeholder: str = "?"
    begin: str = "BEGIN IMMEDIATE"  # SQLite's one write lock, up front: writers queue, readers go on (WAL)
    bytes_type: str = "BLOB"
    ordered_text: str = "TEXT"
    lock_subject: str | None = None
    """Serialises writers about one person (None: ``begin`` already serialises every writer)."""
    lock_schema: str | None = None

    def sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)


def _sqlite(path: Path) -> _Backend:
    def connect() -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA secure_delete=ON")
        return db

    return _Backend("sqlite", str(path), connect, (sqlite3.Error, OSError))


def _postgres(url: str) -> _Backend:
    import psycopg

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)

    return _Backend(
        "postgresql",
        _redacted(url),
        connect,
        (psycopg.Error,),
        placeholder="%s",
        begin="BEGIN",
        bytes_type="BYTEA",
        ordered_text='TEXT COLLATE "C"',
        lock_subject="SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
        lock_schema="SELECT pg_advisory_xact_lock(6242316)",  # workers starting at once create the tables once
    )


def _backend(location: Path | str) -> _Backend:
    """The backend of ``SCHAKEL_KEYSTORE_URL`` (or a path): a file path or ``sqlite:///path``, or ``postgresql://``."""
    if isinstance(location, Path):
        return _sqlite(location)
    if location.startswith(("postgresql://", "postgres://")):
        return _postgres(location)
    if location.startswith("sqlite:"):  # as SCHAKEL_LINEAGE_URL takes it: sqlite:///absolute or sqlite:relative
        return _sqlite(Path(location.removeprefix("sqlite:").removeprefix("//")))
    if "://" not in location:
        return _sqlite(Path(location))
    scheme = location.partition(":")[0]
    raise KeyStoreError(
        f"SCHAKEL_KEYSTORE_URL: a {scheme!r} key store is not supported; set a file path or sqlite:///path (SQLite), "
        "or postgresql://user@host/database (PostgreSQL), or leave it unset for SQLite in the data directory"
    )


class KeyStore:
    """One data-key store, opened with the current key-encryption key and any earlier ones (for reading).

    ``location``: a :class:`~pathlib.Path` (a SQLite file) or a URL as ``SCHAKEL_KEYSTORE_URL`` takes it."""

    def __init__(
        self,
        location: Path | str,
        kek: Kek,
        previous: Sequence[Kek] = (),
        defaults: tuple[timedelta, timedelta] = (timedelta(days=1825), timedelta(days=180)),
    ) -> None:
        self._backend = _backend(location)
        self.defaults = defaults
        """The periods (after close, without a case) for a person no covenant set one for (the settings')."""
        self.kek = kek
        self._keks = {k.id: k for k in (kek, *previous)}
        self._lock = threading.RLock()
        self._db: Any = None
        with self._write(self._backend.lock_schema) as run:
            for statement in _SCHEMA:
                run(statement.format(bytes=self._backend.bytes_type, ordered=self._backend.ordered_text))

    @classmethod
    def of(cls, settings: Settings) -> KeyStore:
        """The store the settings name, with their key-encryption keys."""
        return cls(
            settings.keystore_url or settings.data_dir / SQLITE_FILE,
            Kek.derive(settings.kek.get_secret_value()),
            [Kek.derive(k.get_secret_value()) for k in settings.kek_previous],
            (timedelta(days=settings.retention_after_close_days), timedelta(days=settings.retention_signal_days)),
        )

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._backend.name

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- plumbing ---------------------------------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[Callable[..., Any]]:
        """The connection (opened again when it was lost) behind the lock; database errors as KeyStoreError."""
        with self._lock:
            try:
                if self._db is None or getattr(self._db, "closed", False):
                    self._db = self._backend.connect()
                db = self._db

                def run(sql: str, params: Sequence[Any] = ()) -> Any:
                    cursor = db.cursor()
                    cursor.execute(self._backend.sql(sql), tuple(params))
                    return cursor

                yield run
            except self._backend.errors as error:
                raise KeyStoreError(
                    f"the data-key store ({self._backend.name}, {self._backend.where}) failed: {type(error).__name__}"
                ) from None

    @contextmanager
    def _write(self, lock: str | None = None, *lock_params: Any) -> Iterator[Callable[..., Any]]:
        """One committed transaction (rolled back when anything fails), after ``lock`` when given."""
        with self._session() as run:
            run(self._backend.begin)
            try:
                if lock is not None:
                    run(lock, lock_params)
                yield run
            except BaseException:
                if not getattr(self._db, "closed", False):
                    run("ROLLBACK")
                raise
            run("COMMIT")

    def _write_about(self, subject: str) -> AbstractContextManager[Callable[..., Any]]:
        """A transaction that writes about ``subject``, serialised with every other writer about them."""
        lock = self._backend.lock_subject
        return self._write(lock, subject) if lock else self._write()

    # -- keys -------------------------------------------------------------------------------------------------------

    def key_for(self, owner: str) -> tuple[str, bytes]:
        """The id and the key of ``owner``'s data key, made when it has none (or had one that was shredded)."""
        with self._session() as run:
            found = self._existing_key(run, owner)
        if found is not None:
            return found
        with self._write() as run:
            made = self._make_key(run, owner)
        if made is None:
            with self._session() as run:
                made = self._existing_key(run, owner)  # the one another process made first
        if made is None:
            raise KeyStoreError("a data key just made is not in the store")
        return made

    def _existing_key(self, run: Callable[..., Any], owner: str) -> tuple[str, bytes] | None:
        row = run("SELECT key_id, kek_id, wrapped FROM data_keys WHERE owner = ?", (owner,)).fetchone()
        return None if row is None else (str(row[0]), self._unwrap(str(row[0]), str(row[1]), bytes(row[2])))

    def _make_key(self, run: Callable[..., Any], owner: str) -> tuple[str, bytes] | None:
        """A new key for ``owner``; None when another process made one first (read that one)."""
        key_id, key = secrets.token_hex(16), new_data_key()  # random, as a uuid4's hex (never derived from the owner)
        made = run(
            "INSERT INTO data_keys VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (key_id, owner, self.kek.id, self.kek.wrap(key_id, key), _iso(datetime.now(UTC))),
        ).rowcount
        return (key_id, key) if made == 1 else None

    def key(self, key_id: str) -> bytes | None:
        """The data key with this id, or None when it was shredded (or never existed)."""
        with self._session() as run:
            row = run("SELECT kek_id, wrapped FROM data_keys WHERE key_id = ?", (key_id,)).fetchone()
        return None if row is None else self._unwrap(key_id, str(row[0]), bytes(row[1]))

    def _unwrap(self, key_id: str, kek_id: str, wrapped: bytes) -> bytes:
        kek = self._keks.get(kek_id)
        if kek is None:
            raise SealError(f"data key {key_id} is wrapped by key-encryption key {kek_id}, which is not configured")
        return kek.unwrap(key_id, wrapped)

    def rekey(self) -> int:
        """Re-wrap every data key not wrapped by the current key-encryption key; the number re-wrapped. No topic is
        touched: a sealed value names its data key, not the KEK. A key shredded meanwhile stays shredded (the
        update finds no row)."""
        with self._session() as run:
            rows = run("SELECT key_id, kek_id, wrapped FROM data_keys WHERE kek_id != ?", (self.kek.id,)).fetchall()
        rewrapped = [
            (self.kek.id, self.kek.wrap(key_id, self._unwrap(key_id, kek_id, bytes(wrapped))), key_id)
            for key_id, kek_id, wrapped in rows
        ]
        with self._write() as run:
            for row in rewrapped:
                run("UPDATE data_keys SET kek_id = ?, wrapped = ? WHERE key_id = ?", row)
        return len(rewrapped)

    # -- the retention clock ----------------------------------------------------------------------------------------

    def key_for_event(
        self,
        subject: str,
        *,
        at: datetime,
        names_case: bool,
        closes_case: bool,
        after_close: timedelta | None,
        without_case: timedelta | None,
        recipients: Mapping[str, str],
    ) -> tuple[str, bytes]:
        """Record an event about ``subject`` (and the recipients of its copies, with their pseudonyms); the id and
        the key of the person's data key (made when they have none).

        Read from the store each time (a rebalance may have moved the person to another worker and back); written
        only when something the clock or the notice needs changed, in one transaction with a new key (one commit -
        and one fsync - per event at most: a key must never be lost after a copy sealed with it was produced). The
        transaction reads the person's rows again under their write lock, so concurrent writers lose nothing - except
        for a person the first read knew nothing about, where the facts' ``INSERT ... ON CONFLICT DO NOTHING`` under
        the lock is that check (it inserts nothing when anyone wrote about them meanwhile; then the rows are read
        again and merged). Statements: a repeated event that changes nothing 1 (the read); a first event 6 (the
        read, BEGIN, the facts, the recipients, the key, COMMIT; on PostgreSQL 7 with the person's lock)."""

        def plan(run: Callable[..., Any]) -> tuple[tuple[str, bytes] | None, SubjectFacts, dict[str, str], bool, bool]:
            key, before, known = self._person(run, subject)
            facts = after_event(
                before,
                at=at,
                names_case=names_case,
                closes_case=closes_case,
                after_close=after_close,
                without_case=without_case,
            )
            new = {recipient: pseudonym for recipient, pseudonym in recipients.items() if recipient not in known}
            quiet = (
                key is not None
                and before is not None
                and not new
                and replace(facts, last_event_at=before.last_event_at) == before
                and facts.last_event_at - before.last_event_at < _QUIET
            )
            unknown = key is None and before is None and not known
            return key, facts, new, quiet, unknown

        with self._session() as run:
            key, facts, new, quiet, unknown = plan(run)
        if key is not None and quiet:
            return key
        with self._write_about(subject) as run:
            # A person the read knew nothing about (their first event): no second read under the lock - the facts'
            # plain INSERT tells whether anyone wrote about them since (then it inserts nothing, and the facts are
            # read again and merged as for anyone known). Recipients and the key are inserted only if absent either
            # way, so a writer that got in between loses nothing.
            if not (unknown and self._insert_facts(run, subject, facts)):
                key, facts, new, quiet, _ = plan(run)
                if not quiet:
                    self._upsert_facts(run, subject, facts)
            self._add_recipients(run, subject, new)
            if key is None:
                key = self._make_key(run, subject) or self._existing_key(run, subject)
        if key is None:
            raise KeyStoreError("a data key just made is not in the store")
        return key

    def _facts_row(self, subject: str, facts: SubjectFacts) -> tuple[Any, ...]:
        due = facts.due_at(self.defaults)
        return (
            subject,
            _iso(facts.last_event_at),
            int(facts.has_case),
            _iso(facts.case_closed_at) if facts.case_closed_at else None,
            _seconds(facts.after_close),
            _seconds(facts.without_case),
            _iso(due) if due else None,
        )

    def _insert_facts(self, run: Callable[..., Any], subject: str, facts: SubjectFacts) -> bool:
        """The person's first facts; False (nothing written) when they have a row already."""
        return int(run(f"{_INSERT_FACTS} DO NOTHING", self._facts_row(subject, facts)).rowcount) == 1

    def _upsert_facts(self, run: Callable[..., Any], subject: str, facts: SubjectFacts) -> None:
        run(f"{_INSERT_FACTS} {_UPDATE_FACTS}", self._facts_row(subject, facts))

    def _add_recipients(self, run: Callable[..., Any], subject: str, new: Mapping[str, str]) -> None:
        """Each recipient not yet recorded, with its pseudonym (one already recorded keeps its own)."""
        if new:
            rows = ", ".join("(?, ?, ?)" for _ in new)
            run(
                f"INSERT INTO recipients VALUES {rows} ON CONFLICT DO NOTHING",  # noqa: S608 - placeholders only
                [value for recipient, pseudonym in new.items() for value in (subject, recipient, pseudonym)],
            )

    def _person(
        self, run: Callable[..., Any], subject: str
    ) -> tuple[tuple[str, bytes] | None, SubjectFacts | None, dict[str, str]]:
        """The person's key, facts and recipients in one round trip (the hub asks on every event)."""
        rows = run(_PERSON, (subject, subject, subject)).fetchall()
        first = rows[0]
        key = None if first[0] is None else (str(first[0]), self._unwrap(str(first[0]), str(first[1]), bytes(first[2])))
        recipients = {str(row[8]): str(row[9]) for row in rows if row[8] is not None}
        return key, _facts_of(first[3:8]), recipients

    def _facts(self, run: Callable[..., Any], subject: str) -> SubjectFacts | None:
        return _facts_of(run(f"SELECT {_FACTS} FROM subjects AS s WHERE subject = ?", (subject,)).fetchone())  # noqa: S608 - constant

    def facts(self, subject: str) -> SubjectFacts | None:
        """What the clock knows about ``subject`` (None: nothing, or shredded)."""
        with self._session() as run:
            return self._facts(run, subject)

    def due(self, now: datetime) -> list[DueSubject]:
        """Every person whose retention ended at or before ``now``."""
        with self._session() as run:
            rows = run(
                "SELECT subject, due_at FROM subjects WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at",
                (_iso(now),),
            ).fetchall()
            return [DueSubject(str(s), datetime.fromisoformat(d), self._recipients(run, str(s))) for s, d in rows]

    def recipients(self, subject: str) -> dict[str, str]:
        """Each recipient of a copy about ``subject`` and its pseudonym of the person: the one record of who received
        data about them (retention notices, and where a subject request is forwarded)."""
        with self._session() as run:
            return self._recipients(run, subject)

    def _recipients(self, run: Callable[..., Any], subject: str) -> dict[str, str]:
        rows = run("SELECT recipient, pseudonym FROM recipients WHERE subject = ?", (subject,)).fetchall()
        return {str(recipient): str(pseudonym) for recipient, pseudonym in rows}

    # -- shredding --------------------------------------------------------------------------------------------------

    def shred_subject(self, subject: str, reason: str) -> int:
        """Destroy ``subject``'s data key and forget what the store knew about them; the number of keys destroyed.

        From the moment this returns (the deletion is committed) no process can open a copy about the person.
        ``reason`` is a code (``retention-expired``, ``erasure``) for the log, which never names the person."""
        with self._write_about(subject) as run:
            destroyed = self._shred(run, subject)
        _log.info("shredded %d data key(s) (%s)", destroyed, reason)
        return destroyed

    def shred_retired(self, subject: str, reason: str, *, now: datetime, told: Collection[str]) -> int | None:
        """:meth:`shred_subject` for the retention job, which read the person as due and the partners to tell, then
        waited for the broker: only if, under the person's write lock, they are still due at ``now`` and no partner
        but ``told`` received a copy about them. None (nothing destroyed) when an event about them came meanwhile -
        it restarted their clock, or went to a partner that has not been told; a later run retires them."""
        with self._write_about(subject) as run:
            row = run("SELECT due_at FROM subjects WHERE subject = ?", (subject,)).fetchone()
            restarted = row is not None and (row[0] is None or str(row[0]) > _iso(now))  # as :meth:`due` reads it
            untold = set(self._recipients(run, subject)) - set(told)
            if restarted or untold:
                return None
            destroyed = self._shred(run, subject)
        _log.info("shredded %d data key(s) (%s)", destroyed, reason)
        return destroyed

    def shred_erased(self, subject: str, *, told: Collection[str]) -> dict[str, str]:
        """:meth:`shred_subject` for a granted erasure, whose request went to the partners ``told``: under the
        person's write lock, the partners that received a copy about them and are not in ``told`` (each with its
        pseudonym of the person) - then nothing is destroyed, and the caller tells them and asks again; when there
        are none ({}), the key is destroyed in the same transaction. Unlike :meth:`shred_retired` the person's clock
        does not matter: the person asked."""
        with self._write_about(subject) as run:
            untold = {r: p for r, p in self._recipients(run, subject).items() if r not in told}
            if untold:
                return untold
            destroyed = self._shred(run, subject)
        _log.info("shredded %d data key(s) (erasure)", destroyed)
        return {}

    def _shred(self, run: Callable[..., Any], subject: str) -> int:
        destroyed = int(run("DELETE FROM data_keys WHERE owner = ?", (subject,)).rowcount)
        run("DELETE FROM subjects WHERE subject = ?", (subject,))
        run("DELETE FROM recipients WHERE subject = ?", (subject,))
        return destroyed

    def shred_dead_letter_days(self, before: datetime) -> int:
        """Destroy the keys of dead letters without a person from the days that ended before ``before``."""
        cutoff = dead_letter_owner(before)
        with self._write() as run:
            return int(run("DELETE FROM data_keys WHERE owner LIKE ? AND owner < ?", (_DLQ_LIKE, cutoff)).rowcount)

    # -- status -----------------------------------------------------------------------------------------------------

    def status(self, now: datetime) -> StoreStatus:
        moment = _iso(now)
        with self._session() as run:

            def one(sql: str, *params: Any) -> Any:
                return run(sql, params).fetchone()[0]

            next_due = one("SELECT MIN(due_at) FROM subjects WHERE due_at > ?", moment)
            return StoreStatus(
                subjects=int(one("SELECT COUNT(*) FROM subjects")),
                data_keys=int(one("SELECT COUNT(*) FROM data_keys WHERE owner NOT LIKE ?", _DLQ_LIKE)),
                due=int(one("SELECT COUNT(*) FROM subjects WHERE due_at <= ?", moment)),
                next_due_at=datetime.fromisoformat(next_due) if next_due else None,
                dead_letter_days=int(one("SELECT COUNT(*) FROM data_keys WHERE owner LIKE ?", _DLQ_LIKE)),
                keks={
                    str(k): int(n) for k, n in run("SELECT kek_id, COUNT(*) FROM data_keys GROUP BY kek_id").fetchall()
                },
            )


_FACTS = "s.last_event_at, s.has_case, s.case_closed_at, s.after_close_s, s.without_case_s"
_PERSON = (
    f"SELECT k.key_id, k.kek_id, k.wrapped, {_FACTS}, r.recipient, r.pseudonym FROM (SELECT 1 AS one) AS p "  # noqa: S608 - constant
    "LEFT JOIN data_keys AS k ON k.owner = ? LEFT JOIN subjects AS s ON s.subject = ? "
    "LEFT JOIN recipients AS r ON r.subject = ?"
)
_INSERT_FACTS = "INSERT INTO subjects VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subject)"
_UPDATE_FACTS = (
    "DO UPDATE SET last_event_at = excluded.last_event_at, has_case = excluded.has_case, "
    "case_closed_at = excluded.case_closed_at, after_close_s = excluded.after_close_s, "
    "without_case_s = excluded.without_case_s, due_at = excluded.due_at"
)


def _facts_of(row: Sequence[Any] | None) -> SubjectFacts | None:
    """The clock's facts from the columns of :data:`_FACTS` (None: no row)."""
    if row is None or row[0] is None:
        return None
    return SubjectFacts(
        last_event_at=datetime.fromisoformat(row[0]),
        has_case=bool(row[1]),
        case_closed_at=datetime.fromisoformat(row[2]) if row[2] else None,
        after_close=timedelta(seconds=row[3]) if row[3] is not None else None,
        without_case=timedelta(seconds=row[4]) if row[4] is not None else None,
    )


def dead_letter_owner(at: datetime) -> str:
    """The owner of the data key for dead letters without a person on ``at``'s day (UTC)."""
    return f"{DLQ_OWNER}{at.astimezone(UTC).date().isoformat()}"


def _seconds(period: timedelta | None) -> int | None:
    return None if period is None else int(period.total_seconds())


def _iso(moment: datetime) -> str:
    """A UTC time as fixed-width ISO text, so that text order is time order: ``2026-12-02T15:46:00.000000+00:00``."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return f"{scheme}{sep}{rest.partition('?')[0]}"
