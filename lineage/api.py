"""The compliance answers over HTTP, for the console that comes later (``schakel lineage serve``).

Routes (JSON unless said otherwise):

- ``GET  /lineage/health`` - the store's backend and record count
- ``GET  /lineage/verify`` - recompute the chains; 200 when intact, 409 with the first broken record otherwise
- ``GET  /lineage/events/{event_id}`` - the trace of one event
- ``POST /lineage/subject-report`` - body ``{"bsn": "..."}``; ``?format=html`` for the readable document
- ``GET  /lineage/disclosures?to=ORG&since=YYYY-MM-DD`` - the disclosure register
- ``POST /lineage/disclosures?to=ORG&since=YYYY-MM-DD`` - body ``{"bsn": "..."}``: the same, about one person
- ``GET  /lineage/export`` - the Logboek Dataverwerkingen export (JSON lines)
- ``POST /lineage/export`` - body ``{"bsn": "..."}``: the same, about one person

The BSN travels in a POST body, never in a URL: URLs end up in access logs and browser histories. It is pseudonymised
before the store is asked anything. The server binds to loopback by default; authentication belongs in front of it
(the console's reverse proxy), not here. Store calls run in a worker thread so a long query does not block the loop.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from aiohttp import web

from schakel.lineage.pseudonym import InvalidBsnError, subject_pseudonyms
from schakel.lineage.report import render_subject_report_html
from schakel.lineage.store import LineageStore

__all__ = ["create_app", "parse_since"]

_STORE: web.AppKey[LineageStore] = web.AppKey("store", LineageStore)
_PSEUDONYMISE: web.AppKey[Callable[[str], Sequence[str]]] = web.AppKey("pseudonymise")


def parse_since(text: str | None) -> datetime | None:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO-8601 time, in UTC; None for none (ValueError: not a time in range)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = datetime.combine(date.fromisoformat(text), datetime.min.time())
    value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before the first instant UTC can name
        raise ValueError("the time is out of range") from None


def _json(model: Any, status: int = 200) -> web.Response:
    return web.Response(text=model.model_dump_json(indent=2), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _health(request: web.Request) -> web.Response:
    store = request.app[_STORE]
    return web.json_response({"backend": store.backend, "records": await asyncio.to_thread(store.count)})


async def _verify(request: web.Request) -> web.Response:
    result = await asyncio.to_thread(request.app[_STORE].verify)
    broken = [{"chain": b.chain, "seq": b.seq, "record_id": b.record_id, "reason": b.reason} for b in result.broken]
    body = {"ok": result.ok, "checked": result.checked, "chains": result.chains, "broken": broken}
    return web.json_response(body, status=200 if result.ok else 409)


async def _trace(request: web.Request) -> web.Response:
    try:
        event_id = UUID(request.match_info["event_id"])
    except ValueError:
        return _error(400, "event id is not a UUID")
    report = await asyncio.to_thread(request.app[_STORE].trace, event_id)
    return _json(report, 200 if report.found else 404)


async def _person(request: web.Request) -> Sequence[str] | web.Response:
    """The pseudonyms of the person whose BSN is in the request body, or the error response."""
    try:
        body = await request.json()
    except ValueError:
        return _error(400, 'expected a JSON body {"bsn": "..."}')
    bsn = body.get("bsn") if isinstance(body, dict) else None
    if not isinstance(bsn, str):
        return _error(400, 'expected a JSON body {"bsn": "..."}')
    try:
        return request.app[_PSEUDONYMISE](bsn)
    except InvalidBsnError as error:
        return _error(400, str(error))


async def _subject(request: web.Request) -> web.Response:
    pseudonyms = await _person(request)
    if isinstance(pseudonyms, web.Response):
        return pseudonyms
    report = await asyncio.to_thread(request.app[_STORE].subject_report, pseudonyms)
    if request.query.get("format") == "html":
        return web.Response(text=render_subject_report_html(report), content_type="text/html")
    return _json(report)


async def _disclosures(request: web.Request) -> web.Response:
    recipient = request.query.get("to")
    if not recipient:
        return _error(400, "query parameter 'to' (an organisation code) is required")
    try:
        since = parse_since(request.query.get("since"))
    except ValueError:
        return _error(400, "'since' is not a date (YYYY-MM-DD) or ISO-8601 time")
    person = None
    if request.method == "POST":
        found = await _person(request)
        if isinstance(found, web.Response):
            return found
        person = found
    store = request.app[_STORE]
    register = await asyncio.to_thread(lambda: store.disclosures(recipient, since, person=person))
    return _json(register)


async def _export(request: web.Request) -> web.Response:
    person = None
    if request.method == "POST":
        found = await _person(request)
        if isinstance(found, web.Response):
            return found
        person = found
    buffer = io.StringIO()
    store = request.app[_STORE]
    await asyncio.to_thread(lambda: store.export_logboek(buffer, person=person))
    return web.Response(text=buffer.getvalue(), content_type="application/x-ndjson")


def create_app(
    store: LineageStore, pseudonymise: Callable[[str], Sequence[str]] = subject_pseudonyms
) -> web.Application:
    """The HTTP API over one store (``pseudonymise`` turns a BSN into the person's pseudonyms)."""
    app = web.Application()
    app[_STORE] = store
    app[_PSEUDONYMISE] = pseudonymise
    app.router.add_get("/lineage/health", _health)
    app.router.add_get("/lineage/verify", _verify)
    app.router.add_get("/lineage/events/{event_id}", _trace)
    app.router.add_post("/lineage/subject-report", _subject)
    app.router.add_get("/lineage/disclosures", _disclosures)
    app.router.add_post("/lineage/disclosures", _disclosures)
    app.router.add_get("/lineage/export", _export)
    app.router.add_post("/lineage/export", _export)
    return app
