"""The database transport on PostgreSQL: outbox rows become events and are marked sent; copies land in the inbox."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import psycopg
import pytest

from schakel.connectors.partners import zvh
from schakel.connectors.running import start_connector
from schakel.connectors.testing import copy_message, eventually, read_topic, write
from schakel.connectors.transports.database import OUTBOX_DDL, inbox_ddl
from schakel.schemas import Codec
from schakel.settings import Settings
from schakel.streams.topics import HubTopics

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_outbox_and_inbox_on_postgresql(
    postgres_server: str, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=f"pg-{unique}.", partitions=2, data_dir=tmp_path / "data"
    )
    outbox, inbox = f"outbox_{unique}", f"inbox_{unique}"
    with psycopg.connect(postgres_server, autocommit=True) as db:
        db.execute(OUTBOX_DDL.format(table=outbox, pk="BIGSERIAL PRIMARY KEY"))
        db.execute(inbox_ddl(inbox, postgres=True))
        record = zvh.MAPPING.example("triage")
        db.execute(f"INSERT INTO {outbox} (record) VALUES (%s)", (json.dumps(record),))  # noqa: S608
    config = {
        "outbox": {"url": postgres_server, "table": outbox, "poll_interval": 0.1},
        "inbox": {"url": postgres_server, "table": inbox},
    }
    form, message = copy_message(settings, "zvh", "bsn:999990068")

    def rows(sql: str) -> list[tuple[object, ...]]:
        with psycopg.connect(postgres_server, autocommit=True) as db:
            return list(db.execute(sql).fetchall())

    async def scenario() -> None:
        running = await start_connector("zvh", settings=settings, config=config, session_timeout_ms=6000)
        try:
            await running.wait_ready(30)
            [event_record] = await read_topic(settings, HubTopics.of(settings).ingress("zvh"), 1)
            assert Codec().decode(event_record.value).id == zvh.MAPPING.event_id("triage", record["gcos_id"])
            await eventually(lambda: rows(f"SELECT sent_at FROM {outbox}")[0][0])  # noqa: S608
            await write(settings, message)
            await eventually(lambda: rows(f"SELECT event_id FROM {inbox}"))  # noqa: S608
        finally:
            await running.stop()

    asyncio.run(scenario())
    assert rows(f"SELECT event_id, recipient FROM {inbox}") == [(form["id"], "zvh")]  # noqa: S608
