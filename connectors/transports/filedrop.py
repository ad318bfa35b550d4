"""File drop, for legacy systems: a directory of JSON or CSV files in, one JSON file per copy out.

Inbound layout under ``directory``: the partner writes into ``inbox/`` (atomically: write ``*.tmp`` or a dot-file,
then rename - such names are never picked up). The source claims a file by renaming it into ``work/`` (a rename is
atomic, so two readers never take the same file), and moves it to ``processed/`` once every record in it was
acknowledged by the broker, or to ``failed/`` with a ``<name>.reason.txt`` when it could not be read at all (or every
record in it was refused). Refused records of an otherwise good file are listed in ``processed/<name>.rejected.json``
(row numbers and codes, no values). A file found in ``work/`` at start-up was claimed before a crash: it is
processed again, and its records' deterministic event ids make that harmless.

A JSON file holds one object or a list of objects; a CSV file has a header row, ``,`` or ``;`` separated, UTF-8.

Outbound: the sink writes ``<directory>/<time>-<event id>.json`` (time first, so a partner that reads in name order
reads in delivery order), via a temporary dot-file and a rename. A missing directory (share not mounted) is transient.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schakel.connectors.contract import Delivery, PartnerRecord, Settlement, Sink, Source
from schakel.connectors.errors import RecordRejected, TransientDeliveryError

__all__ = ["FileDropConfig", "FileDropSink", "FileDropSource"]


class FileDropConfig(BaseModel):
    """A partner's directory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    directory: Path
    poll_interval: float = Field(default=0.5, gt=0, le=60)
    max_file_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)


def _ignored(path: Path) -> bool:
    return path.name.startswith(".") or path.suffix.lower() not in (".json", ".csv")


def parse_file(name: str, raw: bytes) -> list[dict[str, Any]]:
    """The records in one dropped file; RecordRejected (malformed-json / malformed-csv) when it cannot be read."""
    if name.lower().endswith(".json"):
        try:
            data = json.loads(raw.decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError):
            raise RecordRejected("malformed-json", "the file is not valid UTF-8 JSON") from None
        items = data if isinstance(data, list) else [data]
        if not items or not all(isinstance(item, dict) for item in items):
            raise RecordRejected("malformed-json", "the file must hold a JSON object or a list of objects")
        return items
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RecordRejected("malformed-csv", "the file is not UTF-8") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    try:
        rows = [row for row in reader if row]
    except csv.Error as error:
        raise RecordRejected("malformed-csv", f"unreadable CSV at line {reader.line_num}: {error}") from None
    if len(rows) < 2:
        raise RecordRejected("malformed-csv", "a header row and at least one record are needed")
    header = [column.strip() for column in rows[0]]
    if len(set(header)) != len(header) or any(not column for column in header):
        raise RecordRejected("malformed-csv", "the header row has empty or repeated column names")
    records = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise RecordRejected("malformed-csv", f"line {number} has {len(row)} fields, the header {len(header)}")
        records.append({column: (value if value != "" else None) for column, value in zip(header, row, strict=True)})
    return records


class FileDropSource(Source):
    """Reads ``inbox/``; ``to_event`` comes from the mapping it is given."""

    def __init__(self, config: FileDropConfig, to_event: Callable[[Mapping[str, Any]], Any]) -> None:
        self.config = config
        self._to_event = to_event
        root = config.directory
        self.inbox, self.work, self.processed, self.failed = (
            root / n for n in ("inbox", "work", "processed", "failed")
        )

    def to_event(self, data: Mapping[str, Any]) -> Any:
        return self._to_event(data)

    async def start(self) -> None:
        for folder in (self.inbox, self.work, self.processed, self.failed):
            folder.mkdir(parents=True, exist_ok=True)

    async def records(self) -> AsyncIterator[PartnerRecord]:
        recovered = sorted(p for p in self.work.iterdir() if not _ignored(p))
        while True:
            claimed = recovered or self._claim()
            recovered = []
            if not claimed:
                await asyncio.sleep(self.config.poll_interval)
                continue
            for path in claimed:
                for record in self._read(path):
                    yield record

    def _claim(self) -> list[Path]:
        claimed = []
        for path in sorted(self.inbox.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name)):
            if _ignored(path) or not path.is_file():
                continue
            target = self.work / path.name
            try:
                os.rename(path, target)
            except FileNotFoundError:  # another reader claimed it first
                continue
            claimed.append(target)
        return claimed

    def _read(self, path: Path) -> list[PartnerRecord]:
        raw = path.read_bytes()
        try:
            if len(raw) > self.config.max_file_bytes:
                raise RecordRejected("oversized-body", f"the file is larger than {self.config.max_file_bytes} bytes")
            items = parse_file(path.name, raw)
        except RecordRejected as problem:
            tracker = _FileTracker(self, path, 1)
            return [
                PartnerRecord(
                    data=None, origin="file-drop file", raw=raw, problem=problem, on_settled=tracker.callback(1)
                )
            ]
        tracker = _FileTracker(self, path, len(items))
        return [
            PartnerRecord(
                data=item,
                origin=f"file-drop record {number}",
                raw=json.dumps(item, ensure_ascii=False).encode(),
                on_settled=tracker.callback(number),
            )
            for number, item in enumerate(items, start=1)
        ]


class _FileTracker:
    """Moves a claimed file on once each of its records is settled."""

    def __init__(self, source: FileDropSource, path: Path, count: int) -> None:
        self.source, self.path, self.count = source, path, count
        self.outcomes: dict[int, Settlement] = {}

    def callback(self, number: int) -> Callable[[Settlement], Any]:
        async def settled(settlement: Settlement) -> None:
            self.outcomes[number] = settlement
            if len(self.outcomes) == self.count:
                self._finish()

        return settled

    def _finish(self) -> None:
        outcomes = self.outcomes
        if any(s.kind == "failed" for s in outcomes.values()):
            os.rename(self.path, self.source.inbox / self.path.name)  # offer it again later
            return
        rejected = {n: s.problem for n, s in sorted(outcomes.items()) if s.kind == "rejected" and s.problem}
        target_dir = self.source.failed if len(rejected) == self.count else self.source.processed
        target = target_dir / self.path.name
        if len(rejected) == self.count:
            reasons = "\n".join(f"record {n}: {p.code}: {p.reason}" for n, p in rejected.items())
            _write_atomically(target_dir / f"{self.path.name}.reason.txt", (reasons + "\n").encode())
        elif rejected:
            listing = [{"record": n, "error": p.code, "reason": p.reason} for n, p in rejected.items()]
            _write_atomically(target_dir / f"{self.path.name}.rejected.json", json.dumps(listing, indent=1).encode())
        os.replace(self.path, target)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class FileDropSink(Sink):
    """Writes one JSON file per copy into the partner's directory."""

    def __init__(
        self,
        config: FileDropConfig,
        render: Callable[[Delivery], tuple[dict[str, Any], tuple[str, ...]]] | None = None,
    ) -> None:
        self.config = config
        self._render = render

    def fields_sent(self, delivery: Delivery) -> tuple[str, ...]:
        return self._render(delivery)[1] if self._render else super().fields_sent(delivery)

    async def deliver(self, delivery: Delivery) -> None:
        directory = self.config.directory
        if not directory.is_dir():
            raise TransientDeliveryError("partner directory is not available")
        # The event id names the file; a digest of the whole idempotency key (sender, id, subject, recipient) keeps
        # two partners' events with the same id apart.
        suffix = f"-{delivery.event_id}-{hashlib.sha256(delivery.idempotency_key.encode()).hexdigest()[:12]}.json"
        if any(directory.glob(f"*{suffix}")):  # the partner has it already (idempotency key in the name)
            return
        document = self._render(delivery)[0] if self._render else dict(delivery.form)
        body = json.dumps(document, ensure_ascii=False, indent=1, default=str).encode()
        try:
            _write_atomically(directory / f"{time.time_ns():020d}{suffix}", body)
        except OSError as error:
            raise TransientDeliveryError(f"partner directory not writable ({type(error).__name__})") from None
