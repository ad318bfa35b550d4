"""``schakel connectors resend`` reads the dead letters up to their end, or says it did not: a fetch that brings
nothing while a partition is still short of its end (a slow broker, a big topic) is no reason to report success."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from typer.testing import CliRunner

from schakel.connectors import _kafka
from schakel.connectors.deadletter import resend
from schakel.connectors.errors import ConnectorError
from schakel.settings import Settings
from schakel.streams.topics import HubTopics


class _Record:
    def __init__(self, offset: int, egress: str) -> None:
        self.offset, self.key, self.value = offset, b"k", b"v"
        self.headers = [("schakel-original-topic", egress.encode()), ("schakel-event-id", f"e{offset}".encode())]


class _StalledDlq:
    """A dead-letter topic of one partition with ``end`` letters, whose fetches bring ``delivered`` of them and then
    nothing (the broker too slow for the wait); an empty fetch still moves past an offset gap at ``gap``."""

    def __init__(self, tp: TopicPartition, egress: str, end: int, delivered: int, gap: int | None = None) -> None:
        self.tp, self.egress, self.end, self.delivered, self.gap = tp, egress, end, delivered, gap
        self.at = 0
        self.fetches = 0

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def assign(self, partitions: list[TopicPartition]) -> None: ...
    async def seek_to_beginning(self, *partitions: TopicPartition) -> None: ...

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {self.tp: self.end}

    async def position(self, tp: TopicPartition) -> int:
        return self.at

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int = 0) -> dict[TopicPartition, list[Any]]:
        self.fetches += 1
        if self.gap is not None and self.at == self.gap:  # only a gap (compacted, a transaction marker) is left
            self.at = self.end
            return {}
        if self.at >= self.delivered:
            await asyncio.sleep(min(timeout_ms / 1000, 0.05))  # the wait, shortened: nothing comes either way
            return {}
        self.at += 1
        return {self.tp: [_Record(self.at - 1, self.egress)]}


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    async def send(self, topic: str, *, key: bytes, value: bytes, headers: Any) -> asyncio.Future[None]:
        self.sent.append((topic, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return Settings(kafka_bootstrap="127.0.0.1:1", topic_prefix="rs.", data_dir=tmp_path / "data")


def _broker(monkeypatch: pytest.MonkeyPatch, dlq: _StalledDlq) -> _Producer:
    producer = _Producer()

    async def partitions(consumer: Any, topic: str, timeout: float = 30.0) -> list[TopicPartition]:
        return [dlq.tp]

    monkeypatch.setattr(_kafka, "consumer", lambda *_, **__: dlq)
    monkeypatch.setattr(_kafka, "producer", lambda *_, **__: producer)
    monkeypatch.setattr(_kafka, "partitions", partitions)
    return producer


def test_a_resend_that_stalls_before_the_end_fails_and_says_how_far_it_got(
    hub: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = HubTopics.of(hub)
    dlq = _StalledDlq(TopicPartition(topics.dlq, 0), topics.egress("politie"), end=5, delivered=2)
    producer = _broker(monkeypatch, dlq)
    with pytest.raises(ConnectorError, match="not all read") as stalled:
        asyncio.run(resend(hub, "politie", timeout=0.05))
    assert "2 read" in str(stalled.value)
    assert "2 resent" in str(stalled.value)
    assert len(producer.sent) == 2, "the copies found before the stall were not put back"

    from schakel.connectors.cli import app

    dlq.at = 0
    result = CliRunner().invoke(app, ["resend", "--to", "politie"], env={"SCHAKEL_TOPIC_PREFIX": "rs."})
    assert result.exit_code == 1
    assert "not all read" in result.output
    assert "resent 2 of 2" not in result.output


def test_an_empty_fetch_over_an_offset_gap_reads_on_to_the_end(hub: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    topics = HubTopics.of(hub)
    dlq = _StalledDlq(TopicPartition(topics.dlq, 0), topics.egress("politie"), end=5, delivered=3, gap=3)
    producer = _broker(monkeypatch, dlq)
    report = asyncio.run(resend(hub, "politie", timeout=0.05))
    assert (report.scanned, len(report.resent), len(producer.sent)) == (3, 3, 3)
