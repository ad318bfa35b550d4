"""Database: poll a partner's outbox table (the transactional-outbox pattern) and insert into its inbox table.

SQLite by default (``sqlite:///path/to/db``), PostgreSQL when configured (``postgresql://...``, psycopg 3).

Outbox (the partner writes a row in the same transaction as its own change)::

    outbox(id INTEGER PRIMARY KEY, record TEXT /* a JSON object */, created_at TEXT,
           sent_at TEXT NULL, failed_reason TEXT NULL)

The source reads rows with ``sent_at IS NULL AND failed_reason IS NULL`` in id order and sets ``sent_at`` only after
the broker acknowledged the event (so a crash re-reads the row; its deterministic event id makes that harmless). A row
the mapping refuses gets ``failed_reason`` (a code and a sentence, no values) and a dead-letter record.

Every committed row is read, whatever the commit order: each poll selects *all* unsent rows in id order (never
"above the highest id seen" - with concurrent writers a lower id can commit after a higher one), less the rows this
source has in flight or resting. A row the broker did not take rests for a growing wait
(:class:`~schakel.connectors.retry.Backoff`) instead of being offered again at once. A record longer than
``max_record_bytes`` is never fetched (the query returns its length only) and is refused as ``oversized-body``; what a
record may hold is :mod:`schakel.connectors.intake`'s business.

Judgement call: one source per outbox table. On PostgreSQL the poll says ``FOR UPDATE SKIP LOCKED``, so it never
waits on a row another transaction holds; the marks (``sent_at``, ``failed_reason``) are what keep a row from being
sent twice, and a second reader on the same table would only produce duplicates the hub drops by event id.

Inbox (the sink's side)::

    inbox(id INTEGER PRIMARY KEY, idempotency_key TEXT, event_id TEXT, recipient TEXT, event_type TEXT, document TEXT,
          received_at TEXT)

The sink inserts one row per copy unless a row with that idempotency key is there already (the key the partner can
rely on: sender, event id, subject and recipient - two partners may choose the same event id). An unreachable
database, or one that is not there (the file is missing), is transient.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from schakel.connectors.contract import Delivery, PartnerRecord, Settlement, Sink, Source
from schakel.connectors.errors import RecordRejected, TransientDeliveryError
from schakel.connectors.intake import check_size, load_json_object
from schakel.connectors.retry import Backoff
from schakel.schemas import MAX_EVENT_BYTES

__all__ = ["OUTBOX_DDL", "DatabaseConfig", "InboxTableSink", "OutboxSource", "inbox_ddl"]

_log = logging.getLogger(__name__)

OUTBOX_DDL = (
    "CREATE TABLE IF NOT EXISTS {table} (id {pk}, record TEXT NOT NULL, created_at TEXT, "
    "sent_at TEXT, failed_reason TEXT)"
)


def inbox_ddl(table: str, postgres: bool = False) -> str:
    pk = "BIGSERIAL PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (id {pk}, idempotency_key TEXT NOT NULL, event_id TEXT NOT NULL, "
        "recipient TEXT NOT NULL, "
        "event_type TEXT, document TEXT NOT NULL, received_at TEXT NOT NULL)"
    )


class DatabaseConfig(BaseModel):
    """A partner database: ``sqlite:///path`` or ``postgresql://user@host/db`` (password separately)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    password: SecretStr | None = None
    table: str = Field(default="outbox", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    poll_interval: float = Field(default=0.5, gt=0, le=60)
    batch: int = Field(default=100, ge=1, le=10_000)
    max_record_bytes: int = Field(
        default=MAX_EVENT_BYTES,
        ge=1024,
        description="Largest outbox record read; checked in the query, before reading.",
    )

    @property
    def postgres(self) -> bool:
        return self.url.startswith(("postgresql://", "postgres://"))

    @property
    def sqlite_path(self) -> Path:
        if not self.url.startswith("sqlite:///"):
            raise ValueError("not a sqlite:/// url")
        return Path(self.url.removeprefix("sqlite:///"))  # sqlite:///relative, sqlite:////absolute


class _Database:
    """The few statements the transports need, on SQLite or PostgreSQL. Queries use ``?`` placeholders."""

    def __init__(self, config: DatabaseConfig, *, create: bool) -> None:
        self.config = config
        self._create = create
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None
        self._connecting = asyncio.Lock()

    async def connect(self) -> None:
        if self.config.postgres:
            import psycopg

            password = self.config.password.get_secret_value() if self.config.password else None
            self._pg = await psycopg.AsyncConnection.connect(self.config.url, password=password, autocommit=True)
        else:
            path = self.config.sqlite_path
            if not self._create and not path.exists():
                raise sqlite3.OperationalError("database file is missing")
            uri = f"file:{quote(str(path.resolve()))}?mode={'rwc' if self._create else 'rw'}"
            self._sqlite = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=5.0)
            self._sqlite.text_factory = bytes  # a TEXT cell holding invalid UTF-8 is one row's problem, not the query's

    async def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        pg, self._pg = self._pg, None  # forgotten before the wait: a connection opened meanwhile stays the current one
        if pg is not None:
            await pg.close()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._sqlite is None and self._pg is None:
            # One connection, however many tasks (the poll, the marks) found none: the statements of one source run
            # on one session, one at a time, and none is left open unclosed.
            async with self._connecting:
                if self._sqlite is None and self._pg is None:
                    await self.connect()
        if self._pg is not None:
            async with self._pg.cursor() as cursor:
                await cursor.execute(sql.replace("?", "%s"), params)
                return list(await cursor.fetchall()) if cursor.description else []
        assert self._sqlite is not None
        return list(self._sqlite.execute(sql, params).fetchall())


class OutboxSource(Source):
    """Polls the partner's outbox table; ``to_event`` comes from the mapping it is given."""

    def __init__(self, config: DatabaseConfig, to_event: Callable[[Mapping[str, Any]], Any]) -> None:
        self.config = config
        self.max_input_bytes = config.max_record_bytes
        self._to_event = to_event
        self._db = _Database(config, create=False)
        self._in_flight: set[int] = set()  # handed to the runtime, not settled yet: not offered again
        self._resting: dict[int, float] = {}  # the broker did not take them: offered again after a wait
        self._backoff = Backoff()

    def to_event(self, data: Mapping[str, Any]) -> Any:
        return self._to_event(data)

    async def stop(self) -> None:
        await self._db.close()

    def _offered(self, row_id: int) -> bool:
        if row_id in self._in_flight:
            return False
        resting = self._resting.get(row_id)
        if resting is not None:
            if resting > time.monotonic():
                return False
            del self._resting[row_id]
        return True

    async def records(self) -> AsyncIterator[PartnerRecord]:
        table = self.config.table
        limit = self.config.max_record_bytes
        while True:
            try:
                rows = await self._db.execute(
                    f"SELECT id, CASE WHEN length(record) <= ? THEN record END, length(record) FROM {table} "  # noqa: S608 - table name validated by DatabaseConfig
                    f"WHERE sent_at IS NULL AND failed_reason IS NULL ORDER BY id LIMIT ?{self._lock_clause}",
                    (limit, self.config.batch + len(self._in_flight) + len(self._resting)),
                )
            except Exception as error:  # the partner database is away: try again later
                _log.warning("outbox %s unreadable (%s); retrying", table, type(error).__name__)
                await self._db.close()
                await asyncio.sleep(self.config.poll_interval)
                continue
            fresh = [row for row in rows if self._offered(int(row[0]))][: self.config.batch]
            if not fresh:
                await asyncio.sleep(self.config.poll_interval)
                continue
            for row_id, text, length in fresh:
                self._in_flight.add(int(row_id))
                yield self._record(int(row_id), text, int(length or 0))

    @property
    def _lock_clause(self) -> str:
        return " FOR UPDATE SKIP LOCKED" if self.config.postgres else ""

    def _record(self, row_id: int, text: Any, length: int) -> PartnerRecord:
        async def settled(settlement: Settlement) -> None:
            # The row stays in flight until its mark is written: a poll in between would read it unmarked and offer
            # it again (seen in CI as an outbox row sent twice).
            try:
                now = datetime.now(UTC).isoformat()
                if settlement.kind == "accepted":
                    self._backoff.settled(row_id)
                    await self._db.execute(f"UPDATE {self.config.table} SET sent_at = ? WHERE id = ?", (now, row_id))  # noqa: S608
                elif settlement.kind == "rejected" and settlement.problem is not None:
                    self._backoff.settled(row_id)
                    reason = f"{settlement.problem.code}: {settlement.problem.reason}"[:500]
                    await self._db.execute(
                        f"UPDATE {self.config.table} SET failed_reason = ? WHERE id = ?",  # noqa: S608 - table name validated by DatabaseConfig
                        (reason, row_id),
                    )
                else:
                    self._resting[row_id] = time.monotonic() + self._backoff.failed(row_id)
            finally:
                self._in_flight.discard(row_id)

        origin = f"outbox row {row_id}"
        if text is None:
            limit = self.config.max_record_bytes
            too_long = RecordRejected("oversized-body", f"the record holds {length} characters, more than {limit}")
            return PartnerRecord(data=None, origin=origin, problem=too_long, on_settled=settled)
        raw = b""
        try:
            raw = text.encode("utf-8", errors="surrogatepass") if isinstance(text, str) else bytes(text)
            check_size(raw, self.config.max_record_bytes)
            data = load_json_object(raw)
        except RecordRejected as problem:
            return PartnerRecord(data=None, origin=origin, raw=raw, problem=problem, on_settled=settled)
        except Exception as error:  # whatever else a row can make a reader raise: refuse the row, go on
            unreadable = RecordRejected("malformed-json", f"the record could not be read ({type(error).__name__})")
            return PartnerRecord(data=None, origin=origin, raw=raw, problem=unreadable, on_settled=settled)
        return PartnerRecord(data=data, origin=origin, raw=raw, on_settled=settled)


class InboxTableSink(Sink):
    """Inserts one row per copy into the partner's inbox table."""

    def __init__(
        self,
        config: DatabaseConfig,
        render: Callable[[Delivery], tuple[dict[str, Any], tuple[str, ...]]] | None = None,
    ) -> None:
        self.config = config
        self._render = render
        self._db = _Database(config, create=False)

    def fields_sent(self, delivery: Delivery) -> tuple[str, ...]:
        return self._render(delivery)[1] if self._render else super().fields_sent(delivery)

    async def stop(self) -> None:
        await self._db.close()

    async def deliver(self, delivery: Delivery) -> None:
        document = self._render(delivery)[0] if self._render else dict(delivery.form)
        table = self.config.table
        try:
            await self._db.execute(
                f"INSERT INTO {table} (idempotency_key, event_id, recipient, event_type, document, received_at) "  # noqa: S608
                f"SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE idempotency_key = ?)",
                (
                    delivery.idempotency_key,
                    delivery.event_id,
                    delivery.recipient,
                    delivery.event_type,
                    json.dumps(document, ensure_ascii=False, default=str),
                    datetime.now(UTC).isoformat(),
                    delivery.idempotency_key,
                ),
            )
        except Exception as error:
            await self._db.close()
            raise TransientDeliveryError(f"partner database unavailable ({type(error).__name__})") from None
        if not self.config.postgres:  # a fresh SQLite connection per copy: sees the file going away and back
            await self._db.close()
