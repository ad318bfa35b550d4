"""Simulated partner systems, for the tests and the demo: an HTTP service, a directory, or a database.

Every simulated system keeps its state on disk under one state directory, so the process that runs the connector
(``schakel connectors run ORG --simulate``) and the process that drives the demo or a test can both use it:
``submit`` makes the partner system emit a record, ``received`` reads what the hub delivered to it (in arrival
order; each system honours the idempotency key the sink passes on, as real partner systems should),
``set_available`` takes it down and
brings it back. ``connector_config`` is the connector configuration that points at this system.

- :class:`SimulatedHttpPartner`: posts signed records (Standard Webhooks) to the connector's webhook; runs an HTTP
  service that receives the hub's POSTs (verifying their signature and freshness), logging each to
  ``received.jsonl``; answers 503 while down.
- :class:`SimulatedFileDropPartner`: drops JSON (or any raw) files into the connector's ``inbox/``; receives files in
  ``from-hub/`` (renamed away while down: "the share is not mounted").
- :class:`SimulatedDatabasePartner`: writes outbox rows in ``outbox.sqlite3``; receives rows in ``inbox.sqlite3``
  (renamed away while down: "the database server is down").
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from schakel.connectors.errors import RecordRejected
from schakel.connectors.mapping import RecordMapping
from schakel.connectors.signing import signed_headers, verify
from schakel.connectors.transports.database import OUTBOX_DDL, inbox_ddl

__all__ = [
    "SimulatedDatabasePartner",
    "SimulatedFileDropPartner",
    "SimulatedHttpPartner",
    "SimulatedPartner",
    "Submission",
]


@dataclass(frozen=True)
class Submission:
    """What happened when the simulated partner emitted a record: accepted, or refused with a code and reason."""

    accepted: bool
    status: int | None = None
    error: str | None = None
    reason: str | None = None
    event_id: str | None = None
    handle: str | None = None  # where an asynchronous transport's answer will be: a file name, an outbox row id


class SimulatedPartner(ABC):
    """A partner system for one organisation, with its state in ``state_dir``."""

    kind: str = "abstract"

    def __init__(self, mapping: RecordMapping, state_dir: Path) -> None:
        self.mapping = mapping
        self.organisation = mapping.organisation.value
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Start what must run for the system to receive (the HTTP service). Default: nothing."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Stop what :meth:`start` started."""

    @abstractmethod
    def connector_config(self) -> dict[str, Any]:
        """The connector configuration (JSON-able) that points at this system."""

    @abstractmethod
    async def submit(self, record: Mapping[str, Any]) -> Submission:
        """Emit one record in the partner's own words, as the real system would."""

    @abstractmethod
    async def submit_raw(self, raw: bytes, *, name: str = "record.json") -> Submission:
        """Emit raw bytes (malformed input tests): a body, a file, or an outbox row's text."""

    def refusal(self, submission: Submission) -> tuple[str, str] | None:
        """The code and reason the hub refused a submission with, once known (None: not refused, or not yet). A
        synchronous transport answers at once; a file drop writes a reason file, an outbox marks the row."""
        if submission.status is not None and not submission.accepted:
            return submission.error or "", submission.reason or ""
        return None

    @abstractmethod
    def received(self) -> list[dict[str, Any]]:
        """Every copy the hub delivered to this system, in arrival order (the system keeps each copy once)."""

    @abstractmethod
    def set_available(self, available: bool) -> None:
        """Take the receiving side down (False) or bring it back (True)."""

    def example(self, word: str | None = None, **overrides: Any) -> dict[str, Any]:
        """A plausible record of this partner (see :meth:`RecordMapping.example`)."""
        return self.mapping.example(word, **overrides)

    def _settings_file(self) -> Path:
        return self.state_dir / "simulation.json"

    def _state(self, defaults: dict[str, Any]) -> dict[str, Any]:
        """The simulation's fixed facts (ports, secrets), created once and shared by every process."""
        path = self._settings_file()
        if path.exists():
            return dict(json.loads(path.read_text()))
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(defaults, indent=1))
        try:
            os.link(temporary, path)  # first writer wins, atomically
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
        return dict(json.loads(path.read_text()))


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SimulatedHttpPartner(SimulatedPartner):
    """A partner with an HTTP API: it calls the hub's webhook, and the hub POSTs to it."""

    kind = "http"

    def __init__(
        self, mapping: RecordMapping, state_dir: Path, *, webhook_port: int = 0, service_port: int = 0
    ) -> None:
        super().__init__(mapping, state_dir)
        self.facts = self._state(
            {
                "webhook_port": webhook_port or free_port(),
                "service_port": service_port or free_port(),
                "webhook_secret": secrets.token_hex(16),
                "delivery_secret": secrets.token_hex(16),
            }
        )
        self._runner: web.AppRunner | None = None
        self._log = state_dir / "received.jsonl"
        self._down = state_dir / "down"
        self._latency = state_dir / "latency"
        self._seen: set[str | None] | None = None

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.facts['webhook_port']}/events"

    def connector_config(self) -> dict[str, Any]:
        return {
            "webhook": {"port": self.facts["webhook_port"], "secret": self.facts["webhook_secret"]},
            "delivery": {
                "url": f"http://127.0.0.1:{self.facts['service_port']}/hub-berichten",
                "secret": self.facts["delivery_secret"],
            },
        }

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hub-berichten", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", int(self.facts["service_port"])).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        if self._down.exists():
            return web.json_response({"error": "maintenance"}, status=503)
        body = await request.read()
        try:
            verify([self.facts["delivery_secret"]], request.headers, body, now=time.time())
        except RecordRejected as refused:
            return web.json_response({"error": refused.code}, status=401)
        if self._latency.exists():
            await asyncio.sleep(float(self._latency.read_text() or 0))
        document = json.loads(body)
        key = request.headers.get("Idempotency-Key")
        if self._seen is None:
            self._seen = {entry.get("idempotency_key") for entry in self._entries()}
        entry = {"idempotency_key": key, "duplicate": key in self._seen, "document": document}
        self._seen.add(key)
        with open(self._log, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return web.json_response({"ontvangen": True, "herhaling": entry["duplicate"]}, status=200)

    def set_latency(self, seconds: float) -> None:
        """Make the partner's service answer this much slower (a slow partner)."""
        self._latency.write_text(str(seconds))

    def _entries(self) -> list[dict[str, Any]]:
        if not self._log.exists():
            return []
        lines = self._log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def attempts(self) -> int:
        """Every POST the service accepted, repeats (same Idempotency-Key) included."""
        return len(self._entries())

    async def submit(self, record: Mapping[str, Any]) -> Submission:
        return await self.post(json.dumps(dict(record), ensure_ascii=False).encode())

    async def submit_raw(self, raw: bytes, *, name: str = "record.json") -> Submission:  # noqa: ARG002
        return await self.post(raw)

    def signed(
        self, body: bytes, *, keys: list[str] | None = None, message_id: str | None = None, at: int | None = None
    ) -> dict[str, str]:
        """The Standard Webhooks headers for ``body``: signed with the partner's secret (or ``keys``), a fresh
        message id (or ``message_id``), now (or ``at``, Unix seconds)."""
        return signed_headers(
            keys if keys is not None else [self.facts["webhook_secret"]],
            message_id or f"msg_{secrets.token_hex(12)}",
            int(time.time()) if at is None else at,
            body,
        )

    async def post(self, body: bytes, *, headers: Mapping[str, str] | None = None) -> Submission:
        """POST ``body`` to the connector's webhook with ``headers`` (default: signed fresh with the partner's
        secret; pass ``{}`` for none)."""
        headers = {"Content-Type": "application/json", **(self.signed(body) if headers is None else headers)}
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.webhook_url, data=body, headers=headers) as response,
        ):
            answer = await response.json(content_type=None)
            status = response.status
        if status == 202:
            return Submission(True, status, event_id=answer.get("event_id"))
        return Submission(False, status, error=answer.get("error"), reason=answer.get("reason"))

    def received(self) -> list[dict[str, Any]]:
        """What the partner system holds: each copy once (like a real API, it honours the Idempotency-Key)."""
        return [entry["document"] for entry in self._entries() if not entry.get("duplicate")]

    def set_available(self, available: bool) -> None:
        if available:
            self._down.unlink(missing_ok=True)
        else:
            self._down.touch()


class SimulatedFileDropPartner(SimulatedPartner):
    """A legacy partner that exchanges files: it drops files for the hub and picks up the hub's files."""

    kind = "file-drop"

    def __init__(self, mapping: RecordMapping, state_dir: Path) -> None:
        super().__init__(mapping, state_dir)
        self.to_hub = state_dir / "to-hub"
        self.from_hub = state_dir / "from-hub"
        self._offline = state_dir / "from-hub.offline"
        (self.to_hub / "inbox").mkdir(parents=True, exist_ok=True)
        if not self._offline.exists():
            self.from_hub.mkdir(parents=True, exist_ok=True)

    def connector_config(self) -> dict[str, Any]:
        return {"inbound": {"directory": str(self.to_hub)}, "outbound": {"directory": str(self.from_hub)}}

    async def submit(self, record: Mapping[str, Any]) -> Submission:
        reference = str(record.get(self.mapping.reference_field, secrets.token_hex(6)))
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{reference}.json"
        return await self.submit_raw(json.dumps(dict(record), ensure_ascii=False).encode(), name=name)

    async def submit_raw(self, raw: bytes, *, name: str = "record.json") -> Submission:
        inbox = self.to_hub / "inbox"
        temporary = inbox / f".{name}.tmp"
        temporary.write_bytes(raw)
        os.replace(temporary, inbox / name)
        return Submission(True, handle=name)

    async def submit_sparse(self, size: int, *, name: str) -> Submission:
        """Drop a file of ``size`` bytes that takes no disk space (an over-limit file without writing one)."""
        inbox = self.to_hub / "inbox"
        temporary = inbox / f".{name}.tmp"
        with open(temporary, "wb") as handle:
            handle.truncate(size)
        os.replace(temporary, inbox / name)
        return Submission(True, handle=name)

    def refusal(self, submission: Submission) -> tuple[str, str] | None:
        if submission.handle is None or self.outcome(submission.handle) != "failed":
            return super().refusal(submission)
        text = (self.to_hub / "failed" / f"{submission.handle}.reason.txt").read_text(encoding="utf-8")
        _, code, reason = text.splitlines()[0].split(": ", 2)
        return code, reason

    def received(self) -> list[dict[str, Any]]:
        folder = self.from_hub if self.from_hub.exists() else self._offline
        if not folder.exists():
            return []
        files = sorted(p for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
        return [json.loads(p.read_text(encoding="utf-8")) for p in files]

    def outcome(self, name: str) -> str | None:
        """Where the connector put a dropped file: ``processed``, ``failed``, or None while it is still pending."""
        for folder in ("processed", "failed"):
            if (self.to_hub / folder / name).exists():
                return folder
        return None

    def set_available(self, available: bool) -> None:
        if available and self._offline.exists() and not self.from_hub.exists():
            os.rename(self._offline, self.from_hub)
        elif not available and self.from_hub.exists():
            os.rename(self.from_hub, self._offline)


class SimulatedDatabasePartner(SimulatedPartner):
    """A partner whose case system writes an outbox table and reads an inbox table (SQLite files)."""

    kind = "database"

    def __init__(self, mapping: RecordMapping, state_dir: Path) -> None:
        super().__init__(mapping, state_dir)
        self.outbox = state_dir / "outbox.sqlite3"
        self.inbox = state_dir / "inbox.sqlite3"
        self._offline = state_dir / "inbox.sqlite3.offline"
        with sqlite3.connect(self.outbox) as db:
            db.execute(OUTBOX_DDL.format(table="outbox", pk="INTEGER PRIMARY KEY AUTOINCREMENT"))
        if not self._offline.exists():
            with sqlite3.connect(self.inbox) as db:
                db.execute(inbox_ddl("inbox"))

    def connector_config(self) -> dict[str, Any]:
        return {
            "outbox": {"url": f"sqlite:///{self.outbox}", "table": "outbox"},
            "inbox": {"url": f"sqlite:///{self.inbox}", "table": "inbox"},
        }

    async def submit(self, record: Mapping[str, Any]) -> Submission:
        return await self.submit_raw(json.dumps(dict(record), ensure_ascii=False).encode())

    async def submit_raw(self, raw: bytes, *, name: str = "record.json") -> Submission:  # noqa: ARG002
        """An outbox row holding ``raw`` - as text when it is UTF-8, else as the bytes themselves (a partner's
        database can hold anything in a column)."""
        try:
            value: str | bytes = raw.decode("utf-8")
        except UnicodeDecodeError:
            value = raw

        def write() -> int:
            with sqlite3.connect(self.outbox, timeout=10) as db:
                cursor = db.execute(
                    "INSERT INTO outbox (record, created_at) VALUES (?, ?)", (value, datetime.now(UTC).isoformat())
                )
                return int(cursor.lastrowid or 0)

        row_id = await asyncio.to_thread(write)
        return Submission(True, handle=str(row_id))

    def refusal(self, submission: Submission) -> tuple[str, str] | None:
        if submission.handle is None:
            return super().refusal(submission)
        with sqlite3.connect(self.outbox, timeout=10) as db:
            row = db.execute("SELECT failed_reason FROM outbox WHERE id = ?", (int(submission.handle),)).fetchone()
        if not row or not row[0]:
            return None
        code, _, reason = str(row[0]).partition(": ")
        return code, reason

    def outbox_rows(self) -> list[dict[str, Any]]:
        """The outbox as the partner sees it: id, sent_at, failed_reason per row."""
        with sqlite3.connect(self.outbox, timeout=10) as db:
            rows = db.execute("SELECT id, sent_at, failed_reason FROM outbox ORDER BY id").fetchall()
        return [{"id": r[0], "sent_at": r[1], "failed_reason": r[2]} for r in rows]

    def received(self) -> list[dict[str, Any]]:
        path = self.inbox if self.inbox.exists() else self._offline
        if not path.exists():
            return []
        with sqlite3.connect(path, timeout=10) as db:
            rows = db.execute("SELECT document FROM inbox ORDER BY id").fetchall()
        return [json.loads(row[0]) for row in rows]

    def set_available(self, available: bool) -> None:
        if available and self._offline.exists() and not self.inbox.exists():
            os.rename(self._offline, self.inbox)
        elif not available and self.inbox.exists():
            os.rename(self.inbox, self._offline)
