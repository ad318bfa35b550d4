"""The file-drop source reads nothing outside its drop folder and loses nothing (issue 12, items 2 and 3), tried at
the transport level the way a hostile partner or a careless share would: symbolic links (to a file outside, broken,
at the predictable names the hub writes), a re-used file name while the first is in flight, a huge sparse file, and a
record the broker did not take."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest

from schakel.connectors.contract import PartnerRecord, Settlement, Source
from schakel.connectors.partners import rvdk
from schakel.connectors.transports.filedrop import FileDropConfig, FileDropSource

SECRET = b"SCHAKEL_PSEUDONYM_KEY=not-for-partners\nSCHAKEL_KAFKA_SASL_PASSWORD=hunter2\n"


def _source(root: Path, **config: Any) -> FileDropSource:
    return FileDropSource(FileDropConfig(directory=root, poll_interval=0.05, **config), rvdk.MAPPING.to_event)


def _records(source: Source) -> AsyncGenerator[PartnerRecord, None]:
    return cast(AsyncGenerator[PartnerRecord, None], source.records())


async def _take(records: AsyncIterator[PartnerRecord], count: int) -> list[PartnerRecord]:
    return [await asyncio.wait_for(anext(records), 10) for _ in range(count)]


def _good(reference: str = "r1") -> bytes:
    record = rvdk.MAPPING.example()
    record[rvdk.MAPPING.reference_field] = reference
    return json.dumps(record).encode()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "environ"
    secret.parent.mkdir()
    secret.write_bytes(SECRET)
    return secret


def test_links_in_inbox_are_never_claimed_or_followed_and_do_not_stop_the_source(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "drop"

    async def scenario() -> None:
        source = _source(root)
        await source.start()
        inbox = source.inbox
        (inbox / "leak.json").symlink_to(outside)
        (inbox / "broken.json").symlink_to(tmp_path / "nowhere.json")
        (inbox / ".broken.json.tmp").symlink_to(tmp_path / "nowhere.json")
        (inbox / "folder.json").mkdir()
        os.mkfifo(inbox / "pipe.json")
        (inbox / "good.json").write_bytes(_good())
        records = _records(source)
        [record] = await _take(records, 1)
        assert record.data is not None
        assert record.problem is None
        await record.settle(Settlement("accepted", event_id="x"))
        assert (source.processed / "good.json").exists()
        assert sorted(p.name for p in inbox.iterdir()) == [
            ".broken.json.tmp",
            "broken.json",
            "folder.json",
            "leak.json",
            "pipe.json",
        ]
        assert list(source.work.iterdir()) == []
        await records.aclose()

    asyncio.run(scenario())


def test_a_link_in_work_is_refused_without_being_read(tmp_path: Path, outside: Path) -> None:
    """A link swapped in between the claim's lstat and the rename ends up in work/: O_NOFOLLOW refuses it."""
    root = tmp_path / "drop"

    async def scenario() -> None:
        source = _source(root)
        await source.start()
        (source.work / f"{'0' * 16}~leak.json").symlink_to(outside)
        records = _records(source)
        [record] = await _take(records, 1)
        assert record.problem is not None
        assert record.problem.code == "not-a-file"
        assert record.raw == b""
        await record.settle(Settlement("rejected", problem=record.problem))
        assert (source.failed / "leak.json").is_symlink()
        assert "not-a-file" in (source.failed / "leak.json.reason.txt").read_text()
        assert outside.read_bytes() == SECRET
        await records.aclose()

    asyncio.run(scenario())


def test_links_planted_at_the_names_the_hub_writes_are_not_followed(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "drop"

    async def scenario() -> None:
        source = _source(root)
        await source.start()
        (source.failed / ".bad.json.reason.txt.tmp").symlink_to(outside)  # the old predictable temporary name
        (source.failed / "bad.json.reason.txt").symlink_to(outside)  # the final name
        (source.inbox / "bad.json").write_bytes(b"{not json")
        records = _records(source)
        [record] = await _take(records, 1)
        assert record.problem is not None
        await record.settle(Settlement("rejected", problem=record.problem))
        assert outside.read_bytes() == SECRET, "the reason file was written through a planted link"
        reasons = [p for p in source.failed.iterdir() if ".reason" in p.name and not p.is_symlink()]
        assert len(reasons) == 1
        assert reasons[0].read_text().startswith("record 1: malformed-json")
        assert [p.name for p in source.failed.iterdir() if p.name.startswith(".") and not p.is_symlink()] == []
        await records.aclose()

    asyncio.run(scenario())


def test_a_reused_file_name_never_replaces_the_file_in_flight(tmp_path: Path) -> None:
    root = tmp_path / "drop"

    async def scenario() -> None:
        source = _source(root)
        await source.start()
        records = _records(source)
        (source.inbox / "export.json").write_bytes(_good("first"))
        [first] = await _take(records, 1)
        (source.inbox / "export.json").write_bytes(_good("second"))  # the partner re-uses the name
        [second] = await _take(records, 1)
        assert first.data is not None
        assert second.data is not None
        assert first.data[rvdk.MAPPING.reference_field] == "first"
        assert second.data[rvdk.MAPPING.reference_field] == "second"
        assert len(list(source.work.iterdir())) == 2
        await second.settle(Settlement("accepted", event_id="2"))
        assert len(list(source.work.iterdir())) == 1, "the second file's bookkeeping moved the first"
        await first.settle(Settlement("accepted", event_id="1"))
        processed = sorted(json.loads(p.read_bytes())[rvdk.MAPPING.reference_field] for p in source.processed.iterdir())
        assert processed == ["first", "second"]
        assert list(source.work.iterdir()) == []
        await records.aclose()

    asyncio.run(scenario())


def test_the_size_is_checked_before_reading(tmp_path: Path) -> None:
    root = tmp_path / "drop"

    async def scenario() -> None:
        source = _source(root, max_file_bytes=64 * 1024)
        await source.start()
        sparse = source.inbox / ".huge.json.tmp"
        with open(sparse, "wb") as handle:
            handle.truncate(2 * 1024**3)  # 2 GB, sparse: reading it would take the process to 2 GB
        os.rename(sparse, source.inbox / "huge.json")
        records = _records(source)
        [record] = await _take(records, 1)
        assert record.problem is not None
        assert record.problem.code == "oversized-body"
        assert record.raw == b"", "the file was read although it is over the limit"
        await records.aclose()

    asyncio.run(scenario())


def test_a_file_the_broker_did_not_take_stays_in_work_and_waits(tmp_path: Path) -> None:
    root = tmp_path / "drop"

    async def scenario() -> None:
        source = _source(root)
        await source.start()
        (source.inbox / "export.json").write_bytes(_good())
        records = _records(source)
        [record] = await _take(records, 1)
        await record.settle(Settlement("failed"))
        [claimed] = list(source.work.iterdir())
        assert list(source.inbox.iterdir()) == [], "offered again at once through inbox/"
        assert claimed in source._due, "not waiting for its backoff"
        source._due[claimed] = 0.0  # its wait is over
        [again] = await _take(records, 1)
        assert again.data == record.data
        await again.settle(Settlement("accepted", event_id="x"))
        assert (source.processed / "export.json").exists()
        await records.aclose()

    asyncio.run(scenario())


def test_a_file_the_broker_kept_refusing_for_hours_is_still_offered_again(tmp_path: Path) -> None:
    """A record the broker keeps refusing (an outage of half a day, a record it never takes) makes its file wait ever
    longer, up to the cap. The wait was computed as ``initial * 2 ** attempt`` before the cap: at the 1025th failure
    the power overflowed, the settlement raised (the runtime logs that and goes on), and the file was no longer
    waiting for anything - it sat in ``work/`` and was never offered again until a restart."""
    root = tmp_path / "drop"

    async def scenario() -> None:
        source = _source(root)
        await source.start()
        (source.inbox / "export.json").write_bytes(_good())
        records = _records(source)
        [record] = await _take(records, 1)
        [claimed] = list(source.work.iterdir())
        for _ in range(1024):  # its earlier failures, some thirteen hours of them at the capped wait
            source._backoff.failed(claimed)
        with contextlib.suppress(Exception):  # as the runtime does: a settlement that raises is logged, not fatal
            await record.settle(Settlement("failed"))
        assert claimed in source._due, "the file is waiting for nothing: never offered again"
        assert source._due[claimed] - time.monotonic() <= source._backoff.policy.max_backoff
        source._due[claimed] = 0.0  # its wait is over
        [again] = await _take(records, 1)
        await again.settle(Settlement("accepted", event_id="x"))
        assert (source.processed / "export.json").exists()
        await records.aclose()

    asyncio.run(scenario())


def test_a_source_whose_inbox_is_gone_stops_and_says_so(tmp_path: Path) -> None:
    from schakel.connectors.errors import ConnectorError

    root = tmp_path / "drop"

    async def scenario() -> None:
        source = _source(root)
        await source.start()
        source.inbox.rmdir()  # the share was unmounted
        with pytest.raises(ConnectorError, match="inbox/ is gone"):
            await _take(_records(source), 1)

    asyncio.run(scenario())
