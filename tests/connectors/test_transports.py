"""The transports' own behaviour with bad input, against the real broker: the signed webhook's 4xx answers, CSV files
claimed, split and moved, outbox rows marked only after the broker acked; and the health and metrics endpoint."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from schakel.connectors.running import RunningConnector, start_connector
from schakel.connectors.simulation import SimulatedDatabasePartner, SimulatedFileDropPartner, SimulatedHttpPartner
from schakel.connectors.testing import eventually, read_topic
from schakel.schemas import MAX_EVENT_BYTES, Codec
from schakel.settings import Settings
from schakel.streams.records import header
from schakel.streams.topics import HubTopics

pytestmark = pytest.mark.kafka


@pytest.fixture
def hub(kafka_bootstrap: str, unique: str, tmp_path: Path) -> Settings:
    return Settings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=f"tr-{unique}.", partitions=2, data_dir=tmp_path / "data"
    )


@asynccontextmanager
async def _running(name: str, settings: Settings, **kwargs: Any) -> AsyncIterator[RunningConnector]:
    running = await start_connector(
        name, settings=settings, simulate=settings.data_dir / "simulation", session_timeout_ms=6000, **kwargs
    )
    try:
        await running.wait_ready(30)
        yield running
    finally:
        await running.stop()


def test_the_webhook_answers_bad_input_with_4xx_and_a_reason(hub: Settings) -> None:
    async def scenario() -> None:
        async with _running("politie", hub, sink=False) as running:
            partner = running.simulation
            assert isinstance(partner, SimulatedHttpPartner)
            record = partner.example()
            body = json.dumps(record).encode()
            wrong = await partner.post(body, headers=partner.signed(body, keys=["not-the-partner-secret"]))
            missing = await partner.post(body, headers={})
            oversized_body = json.dumps({**record, "toelichting": "x" * (MAX_EVENT_BYTES + 1)}).encode()
            oversized = await partner.post(oversized_body)
            not_an_object = await partner.submit_raw(b"[1, 2, 3]")
            good = await partner.submit(record)
            again = await partner.submit(record)  # a partner re-sending the record: a new message, the same event id
            records = await read_topic(hub, HubTopics.of(hub).ingress("politie"), 2)
        assert (wrong.status, wrong.error) == (401, "bad-signature")
        assert (missing.status, missing.error) == (401, "bad-signature")
        assert (oversized.status, oversized.error) == (413, "oversized-body")
        assert (not_an_object.status, not_an_object.error) == (400, "malformed-json")
        for refused in (wrong, missing, oversized, not_an_object):
            assert refused.reason
        assert good.accepted
        assert again.accepted
        assert len(records) == 2, "only the two good posts reached the topic"
        assert {str(Codec().decode(r.value).id) for r in records} == {good.event_id} == {again.event_id}

    asyncio.run(scenario())


def test_csv_files_are_claimed_split_and_moved_and_bad_rows_dead_lettered(hub: Settings) -> None:
    topics = HubTopics.of(hub)
    csv_good = (
        b"soort;berichtnummer;bsn;parketnummer;thema;feiten;urgentie;stand_van_zaken\n"
        b"signaal;OM-1;999990019;15-000001-26;overig;Bedreiging buurman.;hoog;\n"
        b"vervolgingsinformatie;OM-2;999990019;15-000001-26;overig;;;Zaak aangehouden.\n"
        b"beschikking;OM-3;999990019;15-000001-26;overig;;;\n"
    )
    csv_broken = b'soort;berichtnummer;bsn\nsignaal;OM-4;999990019;extra;velden\n"open quote;x;y\n'

    async def scenario() -> None:
        async with _running("om", hub, sink=False) as running:
            partner = running.simulation
            assert isinstance(partner, SimulatedFileDropPartner)
            await partner.submit_raw(csv_good, name="export-1.csv")
            await partner.submit_raw(csv_broken, name="export-2.csv")
            events = await read_topic(hub, topics.ingress("om"), 2)
            letters = await read_topic(hub, topics.dlq, 2)
            await eventually(lambda: partner.outcome("export-1.csv") and partner.outcome("export-2.csv"))
        decoded = [Codec().decode(r.value) for r in events]
        assert [e.type.value for e in decoded] == ["Signal", "InformationContribution"]
        assert {e.case_id for e in decoded} == {"15-000001-26"}
        assert sorted(header(r.headers, "schakel-error-class") or "" for r in letters) == [
            "malformed-csv",
            "unknown-event-type",
        ]
        for letter in letters:
            assert b"999990019" not in b"".join(value for _, value in letter.headers)
        assert partner.outcome("export-1.csv") == "processed"
        rejected = json.loads((partner.to_hub / "processed" / "export-1.csv.rejected.json").read_text())
        assert [(r["record"], r["error"]) for r in rejected] == [(3, "unknown-event-type")]
        assert partner.outcome("export-2.csv") == "failed"
        assert "malformed-csv" in (partner.to_hub / "failed" / "export-2.csv.reason.txt").read_text()
        assert list((partner.to_hub / "inbox").iterdir()) == []
        assert list((partner.to_hub / "work").iterdir()) == []

    asyncio.run(scenario())


def test_outbox_rows_are_marked_sent_only_once_the_broker_has_them(hub: Settings) -> None:
    topics = HubTopics.of(hub)

    async def scenario() -> None:
        async with _running("zvh", hub, sink=False) as running:
            partner = running.simulation
            assert isinstance(partner, SimulatedDatabasePartner)
            first, second = partner.example("triage"), partner.example("afsluiting")
            await partner.submit(first)
            await partner.submit_raw(b"{not json")
            await partner.submit(second)
            rows = await eventually(
                lambda: (
                    all(r["sent_at"] or r["failed_reason"] for r in partner.outbox_rows())
                    and len(partner.outbox_rows()) == 3
                    and partner.outbox_rows()
                )
            )
            events = await read_topic(hub, topics.ingress("zvh"), 2)
        assert [bool(r["sent_at"]) for r in rows] == [True, False, True]
        assert rows[1]["failed_reason"].startswith("malformed-json")
        assert {Codec().decode(r.value).type.value for r in events} == {"TriageDecision", "CaseClosed"}

    asyncio.run(scenario())


def test_health_and_metrics_are_served(hub: Settings) -> None:
    async def scenario() -> None:
        async with _running("rvdk", hub, metrics_port=0) as running:
            assert running.metrics_port
            async with aiohttp.ClientSession() as session:
                base = f"http://127.0.0.1:{running.metrics_port}"
                async with session.get(f"{base}/healthz") as answer:
                    health = await answer.json()
                    status = answer.status
                async with session.get(f"{base}/metrics") as answer:
                    metrics = await answer.text()
        assert status == 200
        assert health["status"] == "up"
        assert {part["connector"] for part in health["parts"]} == {"rvdk-source", "rvdk-sink"}
        for name in ("delivered", "retried", "dead_lettered", "lag"):
            assert f"schakel_connector_{name}" in metrics

    asyncio.run(scenario())
