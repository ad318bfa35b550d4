"""File drop, for legacy systems: a directory of JSON or CSV files in, one JSON file per copy out.

Inbound layout under ``directory``: the partner writes into ``inbox/`` (atomically: write ``*.tmp`` or a dot-file,
then rename - such names are never picked up). The source claims a file by renaming it into ``work/`` under a unique
name (``<random>~<name>``: a rename is atomic, so two readers never take the same file, and a partner re-using a file
name while the first is still in flight never replaces it), and moves it to ``processed/`` once every record in it was
acknowledged by the broker, or to ``failed/`` with a ``<name>.reason.txt`` when it could not be read at all (or every
record in it was refused). Refused records of an otherwise good file are listed in ``processed/<name>.rejected.json``
(record numbers, codes and reasons, no values). A name already taken in ``processed/`` or ``failed/`` gets a random
suffix: nothing there is ever replaced. A file found in ``work/`` at start-up was claimed before a crash - or by a
second reader still running (a rolling update): it is processed again, and its records' deterministic event ids make
that harmless. A claimed file that left ``work/`` before this reader read or moved it was moved on by the other
reader: it is skipped, not refused as unreadable (no false dead letter), and a warning says so. A file the broker
could not take stays in ``work/`` and is offered again after a growing wait
(:class:`~schakel.connectors.retry.Backoff`), never at once.

Nothing outside the drop folder is read or written:

- only *regular files directly in* ``inbox/`` are claimed; the name is filtered before anything else is looked at,
  then ``lstat`` (never ``stat``) decides - a symbolic link, a folder, a FIFO or a device is never claimed or
  followed, and a broken link cannot stop the source;
- a claimed file is opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked again with ``fstat`` (a file swapped for a
  link between the check and the rename is refused as ``not-a-file``), and its size is checked *before* it is read
  (``max_file_bytes``; a file that grows while being read is refused too);
- reason, listing and outgoing files are written to a random dot-name created with ``O_CREAT | O_EXCL |
  O_NOFOLLOW`` and linked into place without replacing anything, in folders that must be real directories (into a
  ``processed/`` or ``failed/`` that became a symbolic link nothing is written: the file stays in ``work/`` and the
  reason is logged).

A JSON file holds one object or a list of objects; a CSV file has a header row, ``,`` or ``;`` separated, UTF-8
(see :mod:`schakel.connectors.intake` for everything a file is refused for).

Outbound: the sink writes ``<directory>/<time>-<event id>-<key digest>.json`` (time first, so a partner that reads in
name order reads in delivery order; the digest of the whole idempotency key keeps two senders' events with one id
apart), via a temporary dot-file and a link. A missing directory (share not mounted) is transient.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import logging
import os
import secrets
import stat
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schakel.connectors.contract import Delivery, PartnerRecord, Settlement, Sink, Source
from schakel.connectors.errors import ConnectorError, RecordRejected, TransientDeliveryError
from schakel.connectors.intake import load_csv_records, load_json_records
from schakel.connectors.retry import Backoff

__all__ = ["FileDropConfig", "FileDropSink", "FileDropSource", "parse_file"]

_log = logging.getLogger(__name__)
_SEPARATOR = "~"
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class FileDropConfig(BaseModel):
    """A partner's directory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    directory: Path
    poll_interval: float = Field(default=0.5, gt=0, le=60)
    max_file_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest file read; checked before reading. A file holds many records: each event is bounded by "
        "the schemas' MAX_EVENT_BYTES when it is encoded.",
    )


def _ignored(name: str) -> bool:
    return name.startswith(".") or not name.lower().endswith((".json", ".csv"))


def _original_name(path: Path) -> str:
    """The partner's file name of a claimed file (``work/<random>~<name>``)."""
    _, separator, name = path.name.partition(_SEPARATOR)
    return name if separator else path.name


def parse_file(name: str, raw: bytes) -> list[dict[str, Any]]:
    """The records in one dropped file; RecordRejected (malformed-json / malformed-csv) when it cannot be read."""
    if name.lower().endswith(".json"):
        return load_json_records(raw)
    return load_csv_records(raw)


class FileDropSource(Source):
    """Reads ``inbox/``; ``to_event`` comes from the mapping it is given."""

    def __init__(self, config: FileDropConfig, to_event: Callable[[Mapping[str, Any]], Any]) -> None:
        self.config = config
        self.max_input_bytes = config.max_file_bytes
        self._to_event = to_event
        root = config.directory
        self.inbox, self.work, self.processed, self.failed = (
            root / n for n in ("inbox", "work", "processed", "failed")
        )
        self._backoff = Backoff()
        self._due: dict[Path, float] = {}  # files in work/ the broker did not take, and when to offer them again

    def to_event(self, data: Mapping[str, Any]) -> Any:
        return self._to_event(data)

    async def start(self) -> None:
        for folder in (self.inbox, self.work, self.processed, self.failed):
            folder.mkdir(parents=True, exist_ok=True)
            _owned(folder)

    async def records(self) -> AsyncIterator[PartnerRecord]:
        recovered = sorted(
            (p for p in self.work.iterdir() if not _ignored(_original_name(p))),
            key=lambda p: _original_name(p),
        )
        while True:
            claimed = recovered + self._due_now() + self._claim()
            recovered = []
            if not claimed:
                await asyncio.sleep(self.config.poll_interval)
                continue
            for path in claimed:
                for record in self._read(path):
                    yield record

    def retry_later(self, path: Path) -> None:
        """The broker did not take a record of ``path``: offer the file again after a growing wait."""
        self._due[path] = time.monotonic() + self._backoff.failed(path)

    def _due_now(self) -> list[Path]:
        now = time.monotonic()
        due = sorted((when, path) for path, when in self._due.items() if when <= now)
        for _, path in due:
            del self._due[path]
        return [path for _, path in due]

    def _claim(self) -> list[Path]:
        try:
            entries = list(os.scandir(self.inbox))
        except FileNotFoundError:
            raise ConnectorError("the drop folder's inbox/ is gone") from None
        candidates = []
        for entry in entries:
            if _ignored(entry.name):  # names first: nothing is looked at for a name that is not ours to read
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode):  # never a symbolic link, a folder, a FIFO or a device
                candidates.append((info.st_mtime_ns, entry.name))
        claimed = []
        for _, name in sorted(candidates):
            target = self.work / f"{secrets.token_hex(8)}{_SEPARATOR}{name}"
            try:
                os.rename(self.inbox / name, target)
            except FileNotFoundError:  # another reader claimed it first
                continue
            claimed.append(target)
        return claimed

    def _read_bytes(self, path: Path) -> bytes:
        limit = self.config.max_file_bytes
        try:
            descriptor = os.open(path, _READ_FLAGS)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise RecordRejected("not-a-file", "the name is a symbolic link, not a regular file") from None
            raise
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode):
                raise RecordRejected("not-a-file", "the name is not a regular file")
            if info.st_size > limit:
                raise RecordRejected("oversized-body", f"the file is larger than {limit} bytes")
            chunks: list[bytes] = []
            size = 0
            while chunk := os.read(descriptor, min(1024 * 1024, limit + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise RecordRejected("oversized-body", f"the file is larger than {limit} bytes")
            return b"".join(chunks)
        finally:
            os.close(descriptor)

    def _read(self, path: Path) -> list[PartnerRecord]:
        raw = b""
        try:
            raw = self._read_bytes(path)
            items = parse_file(_original_name(path), raw)
        except FileNotFoundError:  # claimed, then moved on by another reader of this folder (module docstring)
            self._backoff.settled(path)
            _log.warning("a claimed file left work/ before it was read: another reader took it on; skipped")
            return []
        except RecordRejected as problem:
            return [self._refused(path, raw, problem)]
        except Exception as error:  # whatever else a file can make a reader raise: refuse the file, go on
            unreadable = RecordRejected("unreadable-file", f"the file could not be read ({type(error).__name__})")
            return [self._refused(path, raw, unreadable)]
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

    def _refused(self, path: Path, raw: bytes, problem: RecordRejected) -> PartnerRecord:
        tracker = _FileTracker(self, path, 1)
        return PartnerRecord(
            data=None, origin="file-drop file", raw=raw, problem=problem, on_settled=tracker.callback(1)
        )


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
            self.source.retry_later(self.path)  # stays in work/; offered again after a wait
            return
        self.source._backoff.settled(self.path)
        rejected = {n: s.problem for n, s in sorted(outcomes.items()) if s.kind == "rejected" and s.problem}
        everything_refused = len(rejected) == self.count
        target_dir = self.source.failed if everything_refused else self.source.processed
        try:
            placed = _place(self.path, target_dir, _original_name(self.path))
        except FileNotFoundError:
            if os.path.lexists(self.path):
                raise
            _log.warning("a claimed file left work/ before it was moved: another reader moved it on")
            return
        if everything_refused:
            reasons = "".join(f"record {n}: {p.code}: {_one_line(p.reason)}\n" for n, p in rejected.items())
            _write_new(target_dir, f"{placed.name}.reason.txt", reasons.encode())
        elif rejected:
            listing = [{"record": n, "error": p.code, "reason": p.reason} for n, p in rejected.items()]
            _write_new(target_dir, f"{placed.name}.rejected.json", json.dumps(listing, indent=1).encode())


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _owned(folder: Path) -> None:
    """A folder the hub writes into must be a real directory, not a symbolic link to somewhere else."""
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        raise ConnectorError(f"the drop folder's {folder.name}/ is gone") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ConnectorError(f"the drop folder's {folder.name}/ is not a directory (a symbolic link?)")


def _place(source: Path, directory: Path, name: str, *, owned: bool = True) -> Path:
    """Move ``source`` to ``directory/name`` without replacing anything there (a random suffix when it is taken).
    ``owned``: the directory is one of the drop folder's own, which must not be a symbolic link."""
    if owned:
        _owned(directory)
    stem, dot, suffix = name.rpartition(".")
    for attempt in range(100):
        candidate = name if attempt == 0 else (f"{stem}-{secrets.token_hex(4)}{dot}{suffix}" if dot else None)
        target = directory / (candidate or f"{name}-{secrets.token_hex(4)}")
        try:
            os.link(source, target, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links (some network shares): check, then rename
            if os.path.lexists(target):
                continue
            os.rename(source, target)
            return target
        os.unlink(source)
        return target
    raise ConnectorError(f"no free name in {directory.name}/")


def _write_new(directory: Path, name: str, data: bytes, *, owned: bool = True) -> Path:
    """Write ``data`` to a new file ``directory/name`` (or a free variant): an exclusive random temporary, then
    :func:`_place`. Never follows or replaces a link planted at a predictable name."""
    temporary = directory / f".{secrets.token_hex(12)}.tmp"
    descriptor = os.open(temporary, _CREATE_FLAGS, 0o640)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        return _place(temporary, directory, name, owned=owned)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


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
            _write_new(directory, f"{time.time_ns():020d}{suffix}", body, owned=False)
        except (OSError, ConnectorError) as error:
            raise TransientDeliveryError(f"partner directory not writable ({type(error).__name__})") from None
