"""Database: poll a partner's outbox table (the transactional-outbox pattern) and insert into its inbox table.

SQLite by default (``sqlite:///path/to/db``), PostgreSQL when configured (``postgresql://...``, psycopg 3).

Outbox (the partner writes a row in the same transaction as its own change)::

    outbox(id INTEGER PRIMARY KEY, record TEXT /* a JSON object */, created_at TEXT,
           sent_at TEXT NULL, failed_reason TEXT NULL)

The source reads rows with ``sent_at IS NULL AND failed_reason IS NULL`` in id order and sets ``sent_at`` only after
the broker acknowledged the event (so a crash re-reads the row; its deterministic event id makes that harmless). A row
the mapping refuses gets ``failed_reason`` (a code and a sentence, no values) and a dead-letter record.

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
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from schakel.connectors.contract import Delivery, PartnerRecord, Settlement, Sink, Source
from schakel.connectors.errors import RecordRejected, TransientDeliveryError

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

    async def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._pg is not None:
            await self._pg.close()
            self._pg = None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
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
        self._to_event = to_event
        self._db = _Database(config, create=False)
        self._after = 0  # highest id handed out and not offered again
        self._retry_from: int | None = None

    def to_event(self, data: Mapping[str, Any]) -> Any:
        return self._to_event(data)

    async def stop(self) -> None:
        await self._db.close()

    async def records(self) -> AsyncIterator[PartnerRecord]:
        table = self.config.table
        while True:
            if self._retry_from is not None:
                self._after, self._retry_from = min(self._after, self._retry_from), None
            try:
                rows = await self._db.execute(
                    f"SELECT id, record FROM {table} WHERE sent_at IS NULL AND failed_reason IS NULL AND id > ? "  # noqa: S608
                    "ORDER BY id LIMIT ?",
                    (self._after, self.config.batch),
                )
            except Exception as error:  # the partner database is away: try again later
                _log.warning("outbox %s unreadable (%s); retrying", table, type(error).__name__)
                await self._db.close()
                await asyncio.sleep(self.config.poll_interval)
                continue
            if not rows:
                await asyncio.sleep(self.config.poll_interval)
                continue
            for row_id, text in rows:
                self._after = max(self._after, int(row_id))
                yield self._record(int(row_id), text)

    def _record(self, row_id: int, text: Any) -> PartnerRecord:
        raw = text.encode() if isinstance(text, str) else bytes(text or b"")

        async def settled(settlement: Settlement) -> None:
            now = datetime.now(UTC).isoformat()
            if settlement.kind == "accepted":
                await self._db.execute(f"UPDATE {self.config.table} SET sent_at = ? WHERE id = ?", (now, row_id))  # noqa: S608
            elif settlement.kind == "rejected" and settlement.problem is not None:
                reason = f"{settlement.problem.code}: {settlement.problem.reason}"[:500]
                await self._db.execute(
                    f"UPDATE {self.config.table} SET failed_reason = ? WHERE id = ?",  # noqa: S608 - table name validated by DatabaseConfig
                    (reason, row_id),
                )
            else:
                self._retry_from = row_id - 1 if self._retry_from is None else min(self._retry_from, row_id - 1)

        try:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            problem = RecordRejected("malformed-json", "the outbox row's record is not a JSON object")
            return PartnerRecord(data=None, origin=f"outbox row {row_id}", raw=raw, problem=problem, on_settled=settled)
        return PartnerRecord(data=data, origin=f"outbox row {row_id}", raw=raw, on_settled=settled)


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
