"""The outbox reads every committed row whatever the commit order (issue 12 item 5): with concurrent writers a lower
id can commit after a higher one, which a reader that remembers "the highest id seen" never reads. Tried with two
real concurrent transactions on PostgreSQL, and with the same order of commits on SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from schakel.connectors.contract import PartnerRecord, Settlement, Source
from schakel.connectors.partners import zvh
from schakel.connectors.transports.database import OUTBOX_DDL, DatabaseConfig, OutboxSource


def _records(source: Source) -> AsyncGenerator[PartnerRecord, None]:
    return cast(AsyncGenerator[PartnerRecord, None], source.records())


async def _next(records: AsyncIterator[PartnerRecord]) -> PartnerRecord:
    return await asyncio.wait_for(anext(records), 15)


def _record(reference: str) -> str:
    record = zvh.MAPPING.example("triage")
    record[zvh.MAPPING.reference_field] = reference
    return json.dumps(record)


async def _reference(records: AsyncIterator[PartnerRecord]) -> str:
    record = await _next(records)
    assert record.data is not None
    await record.settle(Settlement("accepted", event_id="x"))
    return str(record.data[zvh.MAPPING.reference_field])


@pytest.mark.postgres
def test_a_lower_id_committed_after_a_higher_one_is_read_on_postgresql(postgres_server: str, unique: str) -> None:
    table = f"outbox_{unique}"
    with psycopg.connect(postgres_server, autocommit=True) as db:
        db.execute(OUTBOX_DDL.format(table=table, pk="BIGSERIAL PRIMARY KEY"))
    source = OutboxSource(DatabaseConfig(url=postgres_server, table=table, poll_interval=0.05), zvh.MAPPING.to_event)

    async def scenario() -> None:
        records = _records(source)
        slow = await psycopg.AsyncConnection.connect(postgres_server)  # a transaction: commits when told
        fast = await psycopg.AsyncConnection.connect(postgres_server, autocommit=True)
        try:
            await slow.execute(f"INSERT INTO {table} (record) VALUES (%s)", (_record("slow"),))  # noqa: S608 - id 1
            await fast.execute(f"INSERT INTO {table} (record) VALUES (%s)", (_record("fast"),))  # noqa: S608 - id 2
            assert await _reference(records) == "fast"
            await slow.commit()  # id 1 commits after id 2 was read
            assert await _reference(records) == "slow"
        finally:
            await slow.close()
            await fast.close()
            await records.aclose()
            await source.stop()
        with psycopg.connect(postgres_server, autocommit=True) as db:
            rows = db.execute(f"SELECT id, sent_at IS NOT NULL FROM {table} ORDER BY id").fetchall()  # noqa: S608
        assert rows == [(1, True), (2, True)]

    asyncio.run(scenario())


def test_a_lower_id_committed_after_a_higher_one_is_read_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(OUTBOX_DDL.format(table="outbox", pk="INTEGER PRIMARY KEY"))
    source = OutboxSource(DatabaseConfig(url=f"sqlite:///{path}", poll_interval=0.05), zvh.MAPPING.to_event)

    def insert(row_id: int, reference: str) -> None:
        with sqlite3.connect(path) as db:
            db.execute("INSERT INTO outbox (id, record) VALUES (?, ?)", (row_id, _record(reference)))

    async def scenario() -> None:
        records = _records(source)
        try:
            insert(5, "higher")
            assert await _reference(records) == "higher"
            insert(3, "lower")  # a writer that took id 3 earlier commits only now
            assert await _reference(records) == "lower"
        finally:
            await records.aclose()
            await source.stop()

    asyncio.run(scenario())
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT id FROM outbox WHERE sent_at IS NULL").fetchall() == []


def test_a_row_in_flight_is_not_offered_twice_and_a_failed_one_rests(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(OUTBOX_DDL.format(table="outbox", pk="INTEGER PRIMARY KEY"))
        db.execute("INSERT INTO outbox (record) VALUES (?)", (_record("one"),))
        db.execute("INSERT INTO outbox (record) VALUES (?)", (_record("two"),))
    source = OutboxSource(DatabaseConfig(url=f"sqlite:///{path}", poll_interval=0.05), zvh.MAPPING.to_event)

    async def scenario() -> None:
        records = _records(source)
        try:
            first, second = await _next(records), await _next(records)
            assert first.origin != second.origin, "a row in flight was offered again"
            await first.settle(Settlement("failed"))
            assert 1 in source._resting, "a row the broker did not take is offered again without a wait"
            source._resting[1] = 0.0  # its wait is over
            again = await _next(records)
            assert again.origin == first.origin
        finally:
            await records.aclose()
            await source.stop()

    asyncio.run(scenario())


def test_a_row_the_broker_kept_refusing_for_hours_still_rests_between_offers(tmp_path: Path) -> None:
    """At the 1025th failure the uncapped power in the backoff overflowed: the settlement raised before the row was
    put to rest, so it was offered again at once, on every poll, from then on."""
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(OUTBOX_DDL.format(table="outbox", pk="INTEGER PRIMARY KEY"))
        db.execute("INSERT INTO outbox (record) VALUES (?)", (_record("refused"),))
    source = OutboxSource(DatabaseConfig(url=f"sqlite:///{path}", poll_interval=0.02), zvh.MAPPING.to_event)

    async def scenario() -> None:
        records = _records(source)
        try:
            record = await _next(records)
            for _ in range(1024):  # its earlier failures, some thirteen hours of them at the capped wait
                source._backoff.failed(1)
            with contextlib.suppress(Exception):  # as the runtime does: a settlement that raises is logged
                await record.settle(Settlement("failed"))
            assert 1 in source._resting, "a row the broker did not take is offered again without a wait"
            with pytest.raises(TimeoutError):  # some fifteen polls: none offers it
                await asyncio.wait_for(anext(records), 0.3)
        finally:
            await source.stop()

    asyncio.run(scenario())


class _Session:
    """A stand-in for a PostgreSQL connection: counts its statements and whether it was closed."""

    def __init__(self) -> None:
        self.statements = 0
        self.closed = False

    @asynccontextmanager
    async def cursor(self) -> AsyncIterator[_Session]:
        yield self

    async def execute(self, sql: str, params: Sequence[Any]) -> None:
        self.statements += 1

    description = None

    async def close(self) -> None:
        self.closed = True


def test_the_poll_and_the_marks_share_one_postgresql_session_after_a_reconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    """After the partner database went away, the poll and the marks of rows the broker acknowledged meanwhile each
    found no connection and each opened one: one was kept, the others were dropped unclosed (still open on the
    partner's server until collected), and the poll and the marks ran on different sessions - which the in-flight
    bookkeeping assumes they never do (one session runs one statement at a time)."""
    opened: list[_Session] = []
    slow = asyncio.Event()

    async def connect(url: str, **_: Any) -> _Session:
        await slow.wait()  # the partner's server takes its time to accept
        opened.append(_Session())
        return opened[-1]

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", connect)
    source = OutboxSource(DatabaseConfig(url="postgresql://partner@127.0.0.1/outbox"), zvh.MAPPING.to_event)

    async def scenario() -> None:
        update = "UPDATE outbox SET sent_at = ? WHERE id = ?"
        statements = [
            asyncio.create_task(source._db.execute("SELECT id FROM outbox")),
            *(asyncio.create_task(source._db.execute(update, ("now", row))) for row in (1, 2)),
        ]
        for _ in range(3):  # each one reaches the connection it needs
            await asyncio.sleep(0)
        slow.set()
        await asyncio.gather(*statements)
        await source.stop()

    asyncio.run(scenario())
    assert len(opened) == 1, f"{len(opened)} sessions opened for one source"
    assert opened[0].statements == 3
    assert all(session.closed for session in opened), "a session stays open after the source stopped"


def test_a_text_cell_holding_invalid_utf8_is_refused_and_the_next_row_is_read(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(OUTBOX_DDL.format(table="outbox", pk="INTEGER PRIMARY KEY"))
        db.execute("INSERT INTO outbox (record) VALUES (CAST(x'7bff22' AS TEXT))")  # '{', 0xff, '"' typed TEXT
        db.execute("INSERT INTO outbox (record) VALUES (?)", (_record("after"),))
    source = OutboxSource(DatabaseConfig(url=f"sqlite:///{path}", poll_interval=0.05), zvh.MAPPING.to_event)

    async def scenario() -> None:
        records = _records(source)
        try:
            bad = await _next(records)
            assert bad.problem is not None
            assert bad.problem.code == "malformed-json"
            await bad.settle(Settlement("rejected", problem=bad.problem))
            assert await _reference(records) == "after"
        finally:
            await records.aclose()
            await source.stop()

    asyncio.run(scenario())


def test_a_row_is_not_offered_again_while_its_sent_mark_is_written(tmp_path: Path) -> None:
    """A poll between the broker's acknowledgement and the ``sent_at`` update reads the row unmarked: the row stays
    in flight until its mark is written (a CI run once saw a row sent twice)."""
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(OUTBOX_DDL.format(table="outbox", pk="INTEGER PRIMARY KEY"))
        db.execute("INSERT INTO outbox (record) VALUES (?)", (_record("once"),))
    source = OutboxSource(DatabaseConfig(url=f"sqlite:///{path}", poll_interval=0.02), zvh.MAPPING.to_event)
    marking, release = asyncio.Event(), asyncio.Event()
    execute = source._db.execute

    async def slow_marks(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if sql.startswith("UPDATE"):
            marking.set()
            await release.wait()  # the database is slow to write the mark
        return await execute(sql, params)

    source._db.execute = slow_marks  # type: ignore[method-assign]

    async def scenario() -> None:
        records = _records(source)
        offered: list[str] = []

        async def poll() -> None:
            async for record in records:
                offered.append(record.origin)

        try:
            first = await _next(records)
            polling = asyncio.create_task(poll())
            settling = asyncio.create_task(first.settle(Settlement("accepted", event_id="x")))
            await asyncio.wait_for(marking.wait(), 15)
            await asyncio.sleep(0.3)  # some fifteen polls while the mark is being written
            release.set()
            await settling
            await asyncio.sleep(0.1)
            polling.cancel()
            assert offered == [], "the row was offered again while its sent mark was being written"
        finally:
            await source.stop()

    asyncio.run(scenario())
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT sent_at IS NOT NULL FROM outbox").fetchall() == [(1,)]
