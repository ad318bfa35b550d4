"""The HTTP API the console will use: the same answers as the command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application, Request

from schakel.lineage import InvalidBsnError, LineageStore, is_bsn
from schakel.lineage.api import create_app
from tests.lineage.factory import SUBJECT_A, SUBJECT_B, decision, receipt

BSN = "111222333"


def _pseudonymise(bsn: str) -> tuple[str, ...]:
    """A stand-in for the hub's keyed pseudonym: the API must look up what this returns, and only that."""
    if not is_bsn(bsn):
        raise InvalidBsnError("the given BSN is not valid (nine digits passing the 11-test)")
    return (SUBJECT_A,) if bsn == BSN else (SUBJECT_B,)


def _run(store: LineageStore, scenario: Callable[[TestClient[Request, Application]], Awaitable[None]]) -> None:
    async def main() -> None:
        async with TestClient(TestServer(create_app(store, pseudonymise=_pseudonymise))) as client:
            await scenario(client)

    asyncio.run(main())


def test_the_answers_over_http(store: LineageStore) -> None:
    mine = decision(recipient="politie")
    theirs = decision(subject=SUBJECT_B, recipient="om")
    store.append([(mine, None), (receipt(mine), None), (theirs, None)])

    async def scenario(client: TestClient[Request, Application]) -> None:
        health = await client.get("/lineage/health")
        assert (await health.json())["records"] == 3
        verify = await client.get("/lineage/verify")
        assert verify.status == 200
        assert (await verify.json())["ok"] is True
        trace = await client.get(f"/lineage/events/{mine.event_id}")
        assert [h["kind"] for h in (await trace.json())["hops"]] == ["decision", "receipt"]
        assert (await client.get("/lineage/events/00000000-0000-0000-0000-000000000000")).status == 404
        assert (await client.get("/lineage/events/nope")).status == 400
        report = await client.post("/lineage/subject-report", json={"bsn": BSN})
        body = await report.json()
        assert [p["recipient"] for p in body["partners"]] == ["politie"]
        html = await client.post("/lineage/subject-report?format=html", json={"bsn": BSN})
        assert html.content_type == "text/html"
        assert "De politie" in await html.text()
        invalid = await client.post("/lineage/subject-report", json={"bsn": "123456789"})
        assert invalid.status == 400
        assert "123456789" not in await invalid.text()
        register = await client.get("/lineage/disclosures", params={"to": "om", "since": "2026-01-01"})
        assert [d["event_id"] for d in (await register.json())["disclosures"]] == [str(theirs.event_id)]
        assert (await client.get("/lineage/disclosures")).status == 400
        too_early = {"to": "om", "since": "0001-01-01T00:00:00+01:00"}
        assert (await client.get("/lineage/disclosures", params=too_early)).status == 400
        export = await client.get("/lineage/export")
        lines = [json.loads(line) for line in (await export.text()).splitlines()]
        assert len(lines) == 3
        about = await client.post("/lineage/export", json={"bsn": BSN})
        assert len((await about.text()).splitlines()) == 2
        register = await client.post("/lineage/disclosures", params={"to": "politie"}, json={"bsn": BSN})
        assert [d["event_id"] for d in (await register.json())["disclosures"]] == [str(mine.event_id)]
        assert (await client.post("/lineage/disclosures", params={"to": "om"}, json={"bsn": BSN})).status == 200
        assert (await client.post("/lineage/export", json={"bsn": "123456789"})).status == 400

    _run(store, scenario)
