"""The data-key store: each person's data key (wrapped), the retention clock's facts, who received copies.

SQLite by default (``<data dir>/keys.sqlite3``, WAL, shared by the hub's workers, the sinks, the console and
``schakel retention`` on one machine). PostgreSQL is not built: the store's interface is small (one key per owner,
the facts, the recipients) and a PostgreSQL implementation would follow the lineage store's pattern, but it could
not be tested here in this round - ``SCHAKEL_KEYSTORE_URL`` other than a file path is refused, never ignored.

*Why a database and not a compacted Kafka topic:* destroying a key must be final at once. A tombstone on a
compacted topic leaves the old record on disk until the log cleaner runs, and every consumer that read it holds a
copy; a row deleted in one database (with ``secure_delete`` on) is gone for every reader that looks the key up.

Owners: a person (the subject the hub keys by) or a day of dead letters that had no person (``dlq:2026-12-02``).
Every data key is stored only wrapped by the key-encryption key (:class:`~schakel.retention.sealing.Kek`); the
store never holds a key in the clear. Readers look a key up by its id on every open and keep no cache: a shredded
key is unreadable to every process from the moment its row is deleted.

The hub records per person (:meth:`KeyStore.key_for_event`, which also hands out their key) what the retention
clock needs (:mod:`schakel.retention.schedule`) and each recipient with the recipient's own pseudonym of the person -
what ``RetentionExpired`` tells that partner.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schakel.retention.errors import KeyStoreError, SealError
from schakel.retention.schedule import SubjectFacts, after_event
from schakel.retention.sealing import Kek, new_data_key
from schakel.settings import Settings

__all__ = ["DLQ_OWNER", "DueSubject", "KeyStore", "StoreStatus", "dead_letter_owner"]

_log = logging.getLogger("schakel.retention")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (
    key_id TEXT PRIMARY KEY, owner TEXT NOT NULL UNIQUE, kek_id TEXT NOT NULL, wrapped BLOB NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subjects (
    subject TEXT PRIMARY KEY, last_event_at TEXT NOT NULL, has_case INTEGER NOT NULL, case_closed_at TEXT,
    after_close_s INTEGER, without_case_s INTEGER, due_at TEXT);
CREATE INDEX IF NOT EXISTS subjects_due ON subjects(due_at);
CREATE TABLE IF NOT EXISTS recipients (
    subject TEXT NOT NULL, recipient TEXT NOT NULL, pseudonym TEXT NOT NULL, PRIMARY KEY (subject, recipient));
"""

DLQ_OWNER = "dlq:"
"""The prefix of a day's dead-letter key: ``dlq:YYYY-MM-DD``."""

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


class KeyStore:
    """One data-key store, opened with the current key-encryption key and any earlier ones (for reading)."""

    def __init__(
        self,
        path: Path,
        kek: Kek,
        previous: Sequence[Kek] = (),
        defaults: tuple[timedelta, timedelta] = (timedelta(days=1825), timedelta(days=180)),
    ) -> None:
        self.path = path
        self.defaults = defaults
        """The periods (after close, without a case) for a person no covenant set one for (the settings')."""
        self.kek = kek
        self._keks = {k.id: k for k in (kek, *previous)}
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as error:
            raise KeyStoreError(f"cannot open the data-key store {path}: {type(error).__name__}") from None

    @classmethod
    def of(cls, settings: Settings) -> KeyStore:
        """The store the settings name, with their key-encryption keys."""
        url = settings.keystore_url
        if url is not None and "://" in url and not url.startswith("sqlite:///"):
            raise KeyStoreError("only a SQLite key store (a file path or sqlite:///path) is built; see the README")
        path = Path(url.removeprefix("sqlite://")) if url else settings.data_dir / "keys.sqlite3"
        return cls(
            path,
            Kek.derive(settings.kek.get_secret_value()),
            [Kek.derive(k.get_secret_value()) for k in settings.kek_previous],
            (timedelta(days=settings.retention_after_close_days), timedelta(days=settings.retention_signal_days)),
        )

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- keys -------------------------------------------------------------------------------------------------------

    def key_for(self, owner: str) -> tuple[str, bytes]:
        """The id and the key of ``owner``'s data key, made when it has none (or had one that was shredded)."""
        found = self._existing_key(owner)
        if found is not None:
            return found
        with self._write() as db:
            made = self._make_key(db, owner)
        made = made or self._existing_key(owner)
        if made is None:
            raise KeyStoreError("a data key just made is not in the store")
        return made

    def _existing_key(self, owner: str) -> tuple[str, bytes] | None:
        row = self._db.execute("SELECT key_id, kek_id, wrapped FROM data_keys WHERE owner = ?", (owner,)).fetchone()
        return None if row is None else (str(row[0]), self._unwrap(str(row[0]), str(row[1]), bytes(row[2])))

    def _make_key(self, db: sqlite3.Connection, owner: str) -> tuple[str, bytes] | None:
        """A new data key for ``owner`` (its id and the key), or None when another process stored one first (the
        owner is unique: then that one is the owner's key, read it)."""
        key_id, key = uuid.uuid4().hex, new_data_key()
        stored = db.execute(
            "INSERT OR IGNORE INTO data_keys VALUES (?, ?, ?, ?, ?)",
            (key_id, owner, self.kek.id, self.kek.wrap(key_id, key), _iso(datetime.now(UTC))),
        ).rowcount
        return (key_id, key) if stored == 1 else None

    def key(self, key_id: str) -> bytes | None:
        """The data key with this id, or None when it was shredded (or never existed)."""
        row = self._db.execute("SELECT kek_id, wrapped FROM data_keys WHERE key_id = ?", (key_id,)).fetchone()
        return None if row is None else self._unwrap(key_id, str(row[0]), bytes(row[1]))

    def _unwrap(self, key_id: str, kek_id: str, wrapped: bytes) -> bytes:
        kek = self._keks.get(kek_id)
        if kek is None:
            raise SealError(f"data key {key_id} is wrapped by key-encryption key {kek_id}, which is not configured")
        return kek.unwrap(key_id, wrapped)

    def rekey(self) -> int:
        """Re-wrap every data key not wrapped by the current key-encryption key; the number re-wrapped. No topic is
        touched: a sealed value names its data key, not the KEK."""
        rows = self._db.execute("SELECT key_id, kek_id, wrapped FROM data_keys WHERE kek_id != ?", (self.kek.id,))
        rewrapped = [
            (self.kek.id, self.kek.wrap(key_id, self._unwrap(key_id, kek_id, bytes(wrapped))), key_id)
            for key_id, kek_id, wrapped in rows.fetchall()
        ]
        with self._write() as db:
            db.executemany("UPDATE data_keys SET kek_id = ?, wrapped = ? WHERE key_id = ?", rewrapped)
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
        and, with SQLite's full synchronous mode, one fsync - per event at most: a key must never be lost after a
        copy sealed with it was produced)."""
        key = self._existing_key(subject)
        before = self._facts(subject)
        facts = after_event(
            before,
            at=at,
            names_case=names_case,
            closes_case=closes_case,
            after_close=after_close,
            without_case=without_case,
        )
        known = self.recipients(subject) if recipients and before is not None else {}  # none without facts
        new = {recipient: pseudonym for recipient, pseudonym in recipients.items() if recipient not in known}
        unchanged = before is not None and not new and replace(facts, last_event_at=before.last_event_at) == before
        if key is not None and unchanged and before is not None and facts.last_event_at - before.last_event_at < _QUIET:
            return key
        due = facts.due_at(self.defaults)
        made: tuple[str, bytes] | None = None
        with self._write() as db:
            if key is None:
                made = self._make_key(db, subject)
            db.execute(
                "INSERT OR REPLACE INTO subjects VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    subject,
                    _iso(facts.last_event_at),
                    int(facts.has_case),
                    _iso(facts.case_closed_at) if facts.case_closed_at else None,
                    _seconds(facts.after_close),
                    _seconds(facts.without_case),
                    _iso(due) if due else None,
                ),
            )
            db.executemany(
                "INSERT OR IGNORE INTO recipients VALUES (?, ?, ?)",
                [(subject, recipient, pseudonym) for recipient, pseudonym in new.items()],
            )
        made = key or made or self._existing_key(subject)  # a key just made is not read back, nor unwrapped
        if made is None:
            raise KeyStoreError("a data key just made is not in the store")
        return made

    def _facts(self, subject: str) -> SubjectFacts | None:
        row = self._db.execute(
            "SELECT last_event_at, has_case, case_closed_at, after_close_s, without_case_s FROM subjects "
            "WHERE subject = ?",
            (subject,),
        ).fetchone()
        if row is None:
            return None
        return SubjectFacts(
            last_event_at=datetime.fromisoformat(row[0]),
            has_case=bool(row[1]),
            case_closed_at=datetime.fromisoformat(row[2]) if row[2] else None,
            after_close=timedelta(seconds=row[3]) if row[3] is not None else None,
            without_case=timedelta(seconds=row[4]) if row[4] is not None else None,
        )

    def facts(self, subject: str) -> SubjectFacts | None:
        """What the clock knows about ``subject`` (None: nothing, or shredded)."""
        return self._facts(subject)

    def due(self, now: datetime) -> list[DueSubject]:
        """Every person whose retention ended at or before ``now``."""
        rows = self._db.execute(
            "SELECT subject, due_at FROM subjects WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at",
            (_iso(now),),
        ).fetchall()
        return [DueSubject(str(s), datetime.fromisoformat(d), self.recipients(str(s))) for s, d in rows]

    def recipients(self, subject: str) -> dict[str, str]:
        """Each recipient of a copy about ``subject`` and its pseudonym of the person."""
        rows = self._db.execute("SELECT recipient, pseudonym FROM recipients WHERE subject = ?", (subject,))
        return {str(recipient): str(pseudonym) for recipient, pseudonym in rows.fetchall()}

    # -- shredding --------------------------------------------------------------------------------------------------

    def shred_subject(self, subject: str, reason: str) -> int:
        """Destroy ``subject``'s data key and forget what the store knew about them; the number of keys destroyed.

        From this moment no process can open a copy about the person. ``reason`` is a code (``retention-expired``,
        ``erasure``) for the log, which never names the person."""
        with self._write() as db:
            destroyed = db.execute("DELETE FROM data_keys WHERE owner = ?", (subject,)).rowcount
            db.execute("DELETE FROM subjects WHERE subject = ?", (subject,))
            db.execute("DELETE FROM recipients WHERE subject = ?", (subject,))
        _log.info("shredded %d data key(s) (%s)", destroyed, reason)
        return destroyed

    def shred_dead_letter_days(self, before: datetime) -> int:
        """Destroy the keys of dead letters without a person from the days that ended before ``before``."""
        cutoff = f"{DLQ_OWNER}{before.astimezone(UTC).date().isoformat()}"
        with self._write() as db:
            return db.execute("DELETE FROM data_keys WHERE owner LIKE 'dlq:%' AND owner < ?", (cutoff,)).rowcount

    # -- status -----------------------------------------------------------------------------------------------------

    def status(self, now: datetime) -> StoreStatus:
        one = self._db.execute
        next_due = one("SELECT MIN(due_at) FROM subjects WHERE due_at > ?", (_iso(now),)).fetchone()[0]
        return StoreStatus(
            subjects=one("SELECT COUNT(*) FROM subjects").fetchone()[0],
            data_keys=one("SELECT COUNT(*) FROM data_keys WHERE owner NOT LIKE 'dlq:%'").fetchone()[0],
            due=one("SELECT COUNT(*) FROM subjects WHERE due_at <= ?", (_iso(now),)).fetchone()[0],
            next_due_at=datetime.fromisoformat(next_due) if next_due else None,
            dead_letter_days=one("SELECT COUNT(*) FROM data_keys WHERE owner LIKE 'dlq:%'").fetchone()[0],
            keks=dict(one("SELECT kek_id, COUNT(*) FROM data_keys GROUP BY kek_id").fetchall()),
        )


def dead_letter_owner(at: datetime) -> str:
    """The owner of the data key for dead letters without a person on ``at``'s day (UTC)."""
    return f"{DLQ_OWNER}{at.astimezone(UTC).date().isoformat()}"


def _seconds(period: timedelta | None) -> int | None:
    return None if period is None else int(period.total_seconds())


def _iso(moment: datetime) -> str:
    """A UTC time as fixed-width ISO text, so that text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
