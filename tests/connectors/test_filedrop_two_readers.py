"""Two readers on one drop folder (a rolling update: the new connector starts while the old one still runs). The new
one's start-up recovery takes every file in ``work/``, also those the old one claimed; when the old one moves such a
file on first, that is no unreadable file - nothing is dead-lettered, and every file ends in ``processed/`` once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from schakel.connectors.contract import PartnerRecord, Settlement
from schakel.connectors.transports.filedrop import FileDropConfig, FileDropSource


def _source(folder: Path) -> FileDropSource:
    return FileDropSource(FileDropConfig(directory=folder, poll_interval=0.01), to_event=lambda data: data)


async def _next(records: Any) -> PartnerRecord:
    return await asyncio.wait_for(anext(records), 1)


def test_a_file_the_other_reader_moved_on_first_is_not_dead_lettered(tmp_path: Path) -> None:
    folder = tmp_path / "drop"

    async def scenario() -> None:
        old, new = _source(folder), _source(folder)
        await old.start()
        await new.start()
        for name in ("a.json", "b.json"):
            (folder / "inbox" / name).write_text(json.dumps({"melding": name}))
        old_records = old.records()
        first = await _next(old_records)  # the old reader claimed both files and reads the first
        new_records = new.records()  # the new reader starts: recovery lists both files in work/
        recovered = await _next(new_records)
        assert recovered.problem is None
        assert recovered.data == first.data  # a duplicate: harmless (the same event id)
        await first.settle(Settlement("accepted"))
        second = await _next(old_records)  # the old reader goes on with the second file and finishes it
        await second.settle(Settlement("accepted"))
        # The new reader comes to the second file, which the old one has moved on: nothing to read, nothing refused.
        try:
            after: PartnerRecord | None = await asyncio.wait_for(anext(new_records), 0.5)
        except TimeoutError:
            after = None
        assert after is None or after.problem is None, f"a false dead letter: {after.problem}"
        await recovered.settle(Settlement("accepted"))  # the new reader's copy of a file the old one moved on
        assert sorted(p.name for p in (folder / "processed").iterdir()) == ["a.json", "b.json"]
        assert not list((folder / "work").iterdir())

    asyncio.run(scenario())
    assert not list((folder / "failed").iterdir())
