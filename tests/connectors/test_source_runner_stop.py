"""The source runtime's stop, without a broker (an in-memory producer that acknowledges at once): a runner that
ended reads nothing more from the partner system."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from schakel.connectors import _kafka
from schakel.connectors.contract import ConnectorConfig
from schakel.connectors.partners import rvdk
from schakel.connectors.source_runner import SourceRunner
from schakel.connectors.transports.filedrop import FileDropConfig, FileDropSource
from schakel.settings import Settings


class _Producer:
    """Takes every record and acknowledges it at once; refuses once stopped (as aiokafka does)."""

    def __init__(self) -> None:
        self.sent = 0
        self.stopped = False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, topic: str, **_: Any) -> asyncio.Future[None]:
        if self.stopped:
            raise RuntimeError("the producer is closed")
        self.sent += 1
        acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acknowledged.set_result(None)
        return acknowledged

    async def send_and_wait(self, topic: str, **kwargs: Any) -> None:
        await (await self.send(topic, **kwargs))


def _good(reference: str) -> bytes:
    record = rvdk.MAPPING.example()
    record[rvdk.MAPPING.reference_field] = reference
    return json.dumps(record).encode()


async def _until(check: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


def test_a_cancelled_source_runner_claims_no_more_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``run`` ends on ``stop()`` or when cancelled. Cancelled, it stopped the transport and the producer but left its
    read loop running: that loop went on claiming the partner's files into ``work/`` after the runner had ended, and
    failed each against the closed producer - a file dropped after the stop sat in ``work/`` being retried by a
    runner no one could stop, where a new runner in the same process never looked."""
    producer = _Producer()
    monkeypatch.setattr(_kafka, "producer", lambda *_, **__: producer)
    source = FileDropSource(FileDropConfig(directory=tmp_path / "drop", poll_interval=0.02), rvdk.MAPPING.to_event)
    runner = SourceRunner(rvdk.CONNECTOR, ConnectorConfig(), Settings(), source=source)

    async def scenario() -> None:
        running = asyncio.create_task(runner.run())
        await asyncio.wait_for(runner.ready.wait(), 10)
        (source.inbox / "before.json").write_bytes(_good("before"))
        await _until(lambda: (source.processed / "before.json").exists())  # the runner is reading
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert producer.stopped
        (source.inbox / "after.json").write_bytes(_good("after"))
        await asyncio.sleep(0.5)  # some twenty-five polls of a runner that would still be reading
        assert [p.name for p in source.inbox.iterdir()] == ["after.json"], "a runner that ended claimed a file"
        assert list(source.work.iterdir()) == []
        assert producer.sent == 1

    asyncio.run(scenario())
