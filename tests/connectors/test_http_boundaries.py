"""The HTTP transport's boundaries (issue 10 item 4, issue 12 items 4 and 6), tried at the transport level against
real local aiohttp servers and raw sockets: Standard Webhooks signatures (freshness, replays, key rotation) in and
out, no redirects followed, and a webhook server that slow or many connections cannot hold open."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import ValidationError

from schakel.connectors.contract import Delivery, PartnerRecord, Settlement
from schakel.connectors.errors import RecordRejected, TransientDeliveryError
from schakel.connectors.signing import ID_HEADER, SIGNATURE_HEADER, ReplayCache, signed_headers, verify
from schakel.connectors.transports.http import (
    HttpPostSink,
    OutboundHttpConfig,
    WebhookConfig,
    WebhookSource,
    WebhookTls,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "the-key-before-the-rotation"


def _delivery() -> Delivery:
    form = {"id": "6f1c1d7e-3a51-4b8e-9a4c-5c6b7a2f0d10", "type": "Signal", "payload": {}, "subject": {}}
    return Delivery("6f1c1d7e-3a51-4b8e-9a4c-5c6b7a2f0d10", "politie", "Signal", form, None, None)


@asynccontextmanager
async def _server(routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]) -> AsyncIterator[str]:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


# -- outbound --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_delivery_and_is_not_followed(status: int) -> None:
    seen: list[tuple[str, str]] = []

    async def scenario() -> None:
        async def elsewhere(request: web.Request) -> web.Response:
            seen.append((request.method, request.path))
            return web.json_response({"ok": True})

        async with _server({"/login": elsewhere, "/other": elsewhere}) as other:

            async def redirect(request: web.Request) -> web.Response:
                seen.append((request.method, request.path))
                target = "/login" if status in (301, 302, 303) else f"{other}/other"
                return web.Response(status=status, headers={"Location": target})

            async with _server({"/hub-berichten": redirect}) as base:
                sink = HttpPostSink(OutboundHttpConfig(url=f"{base}/hub-berichten", secret=SECRET))
                await sink.start()
                try:
                    with pytest.raises(TransientDeliveryError) as failed:
                        await sink.deliver(_delivery())
                finally:
                    await sink.stop()
        assert f"HTTP {status}" in str(failed.value)
        assert "redirect" in str(failed.value)

    asyncio.run(scenario())
    assert seen == [("POST", "/hub-berichten")], "the redirect was followed"


def test_outbound_deliveries_are_signed_with_every_key_during_a_rotation() -> None:
    received: list[dict[str, str]] = []

    async def scenario() -> None:
        async def partner(request: web.Request) -> web.Response:
            body = await request.read()
            try:
                verify([OLD_SECRET], request.headers, body, now=time.time())  # the partner knows only the old key
            except RecordRejected as refused:
                return web.json_response({"error": refused.code}, status=401)
            received.append(dict(request.headers))
            return web.json_response({"ok": True})

        async with _server({"/in": partner}) as base:
            config = OutboundHttpConfig(url=f"{base}/in", secret=SECRET, additional_secrets=(OLD_SECRET,))
            sink = HttpPostSink(config)
            await sink.start()
            try:
                await sink.deliver(_delivery())
            finally:
                await sink.stop()

    asyncio.run(scenario())
    [headers] = received
    assert headers[ID_HEADER] == _delivery().idempotency_key
    assert len(headers[SIGNATURE_HEADER].split()) == 2


@pytest.mark.parametrize("url", ["http://partner.example/in", "http://10.0.0.8/in", "ftp://127.0.0.1/in", "/in"])
def test_plain_http_is_refused_except_to_loopback(url: str) -> None:
    with pytest.raises(ValidationError):
        OutboundHttpConfig(url=url)
    assert OutboundHttpConfig(url="https://partner.example/in")
    assert OutboundHttpConfig(url="http://127.0.0.1:8080/in")


# -- inbound ---------------------------------------------------------------------------------------------------------


@asynccontextmanager
async def _webhook(**config: Any) -> AsyncIterator[tuple[WebhookSource, str]]:
    """A webhook source whose records are all accepted (the runtime's part, without a broker)."""
    source = WebhookSource(WebhookConfig(secret=SECRET, previous_secrets=(OLD_SECRET,), **config), lambda data: data)
    await source.start()

    async def accept_all() -> None:
        async for record in source.records():
            await record.settle(Settlement("accepted", event_id="e"))

    taker = asyncio.create_task(accept_all())
    try:
        yield source, f"http://127.0.0.1:{source.port}/events"
    finally:
        taker.cancel()
        await source.stop()


async def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as answer:
        return answer.status, await answer.json(content_type=None)


BODY = json.dumps({"soort": "registratie"}).encode()


def test_stale_and_future_timestamps_are_refused() -> None:
    async def scenario() -> None:
        async with _webhook() as (_, url):
            # A minute beyond the 300 s tolerance either way: a request answered seconds later on a loaded machine is
            # still as far off (one second's margin once let the future one through).
            now = int(time.time())
            stale = await _post(url, BODY, signed_headers([SECRET], "msg_1", now - 360, BODY))
            future = await _post(url, BODY, signed_headers([SECRET], "msg_2", now + 360, BODY))
            fresh = await _post(url, BODY, signed_headers([SECRET], "msg_3", now - 200, BODY))
        assert (stale[0], stale[1]["error"]) == (401, "stale-timestamp")
        assert (future[0], future[1]["error"]) == (401, "stale-timestamp")
        assert fresh[0] == 202

    asyncio.run(scenario())


def test_a_seen_webhook_id_is_refused_as_a_replay() -> None:
    async def scenario() -> None:
        async with _webhook() as (_, url):
            headers = signed_headers([SECRET], "msg_once", int(time.time()), BODY)
            first = await _post(url, BODY, headers)
            replay = await _post(url, BODY, headers)
            resigned = await _post(url, BODY, signed_headers([SECRET], "msg_once", int(time.time()) + 1, BODY))
        assert first[0] == 202
        assert (replay[0], replay[1]["error"]) == (409, "replayed")
        assert (resigned[0], resigned[1]["error"]) == (409, "replayed")

    asyncio.run(scenario())


def test_signatures_over_id_timestamp_and_body_with_key_rotation() -> None:
    async def scenario() -> None:
        async with _webhook() as (_, url):
            now = int(time.time())
            old_key = await _post(url, BODY, signed_headers([OLD_SECRET], "msg_a", now, BODY))
            several = await _post(url, BODY, signed_headers(["unknown-key", SECRET], "msg_b", now, BODY))
            headers = signed_headers([SECRET], "msg_c", now, BODY)
            other_id = await _post(url, BODY, {**headers, ID_HEADER: "msg_d"})
            other_body = await _post(url, BODY + b" ", headers)
            unknown_key = await _post(url, BODY, signed_headers(["unknown-key"], "msg_e", now, BODY))
            old_scheme = await _post(url, BODY, {"X-Schakel-Signature": "sha256=00"})
        assert old_key[0] == 202
        assert several[0] == 202
        for refused in (other_id, other_body, unknown_key, old_scheme):
            assert (refused[0], refused[1]["error"]) == (401, "bad-signature")

    asyncio.run(scenario())


def test_a_retry_while_the_first_attempt_is_in_flight_is_not_told_the_message_is_done() -> None:
    """The README tells a partner that 409 ``replayed`` means "for us the message is done; do not resend it" and
    that after a 503 it should retry. A retry that arrives while the first attempt still waits for the broker (the
    partner's client gave up on it) was answered 409 - and the first attempt then ended in a 503: a partner that did
    as told stopped, and the record never reached the hub."""

    async def scenario() -> None:
        source = WebhookSource(WebhookConfig(secret=SECRET), lambda data: data)
        await source.start()
        holding, broker_away = asyncio.Event(), asyncio.Event()
        taken: list[PartnerRecord] = []

        async def runtime() -> None:
            async for record in source.records():
                if not holding.is_set():  # the first attempt: the broker is slow, then does not take it
                    holding.set()
                    await broker_away.wait()
                    await record.settle(Settlement("failed"))
                else:
                    taken.append(record)
                    await record.settle(Settlement("accepted", event_id="e"))

        taker = asyncio.create_task(runtime())
        url = f"http://127.0.0.1:{source.port}/events"
        headers = signed_headers([SECRET], "msg_retried", int(time.time()), BODY)
        try:
            first = asyncio.create_task(_post(url, BODY, headers))
            await asyncio.wait_for(holding.wait(), 10)
            answers = [await _post(url, BODY, headers)]  # the partner's retry, the first attempt still in flight
            broker_away.set()
            assert (await first)[0] == 503
            while answers[-1][0] == 503 and len(answers) < 5:  # a partner doing as the README says
                answers.append(await _post(url, BODY, headers))
        finally:
            taker.cancel()
            await source.stop()
        assert [status for status, _ in answers][-1] == 202, f"the partner was told {answers[0]} and stopped"
        assert len(taken) == 1
        assert answers[0][1]["error"] == "in-flight"

    asyncio.run(scenario())


def test_a_503_forgets_the_id_so_the_partner_can_retry() -> None:
    cache = ReplayCache(capacity=10)
    assert cache.claim("m", 0.0)
    assert not cache.claim("m", 0.0), "a concurrent duplicate was taken"
    cache.release("m")
    assert cache.claim("m", 1.0)
    cache.answered("m", 1.0)
    assert not cache.claim("m", 2.0)
    assert cache.claim("m", 1.0 + cache.keep_seconds + 1), "an id is kept past its window (the cache only grows)"


def test_a_full_replay_cache_refuses_instead_of_forgetting() -> None:
    from schakel.connectors.signing import ReplayCacheFull

    cache = ReplayCache(capacity=2)
    for message_id in ("a", "b"):
        assert cache.claim(message_id, 0.0)
        cache.answered(message_id, 0.0)
    with pytest.raises(ReplayCacheFull):
        cache.claim("c", 1.0)
    assert not cache.claim("a", 1.0)


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server closed the connection (EOF); the bound is only there so a broken server fails the test."""
    try:
        while await asyncio.wait_for(reader.read(1024), 20):
            pass
    except (ConnectionError, TimeoutError):
        return False
    return True


def test_slow_headers_are_not_waited_for() -> None:
    async def scenario() -> None:
        async with _webhook(header_timeout=0.5) as (source, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", source.port)
            writer.write(b"POST /events HTTP/1.1\r\nHost: x\r\n")  # and never the rest
            await writer.drain()
            assert await _closed_by_server(reader)
            writer.close()

    asyncio.run(scenario())


def test_every_connection_serves_one_request_even_a_404() -> None:
    """After its one answer the server closes the connection, so a kept-alive connection cannot dribble a second
    request's headers past the header timeout."""

    async def scenario() -> None:
        async with _webhook(header_timeout=60) as (source, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", source.port)
            writer.write(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(4096), 20)
            assert answer.startswith(b"HTTP/1.1 404")
            assert await _closed_by_server(reader)
            writer.close()

    asyncio.run(scenario())


def test_a_slow_body_is_answered_408() -> None:
    async def scenario() -> None:
        async with _webhook(body_timeout=0.5) as (source, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", source.port)
            writer.write(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(4096), 20)
            writer.close()
        assert answer.startswith(b"HTTP/1.1 408")
        assert b"slow-body" in answer

    asyncio.run(scenario())


def test_a_chunked_body_over_the_limit_is_refused_while_it_is_read() -> None:
    async def scenario() -> None:
        async with _webhook(max_body_bytes=4096) as (_, url):

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(100):
                    yield b"x" * 1024

            async with aiohttp.ClientSession() as session, session.post(url, data=chunks()) as answer:
                status, problem = answer.status, await answer.json(content_type=None)
        assert (status, problem["error"]) == (413, "oversized-body")

    asyncio.run(scenario())


def test_connections_over_the_limit_are_closed_at_once() -> None:
    async def scenario() -> None:
        async with _webhook(max_connections=2, header_timeout=60) as (source, url):
            held = [await asyncio.open_connection("127.0.0.1", source.port) for _ in range(2)]
            for _, writer in held:
                writer.write(b"POST /events HTTP/1.1\r\n")
                await writer.drain()
            await asyncio.sleep(0)  # let the server take both
            reader, writer = await asyncio.open_connection("127.0.0.1", source.port)
            assert await _closed_by_server(reader)
            writer.close()
            for _, held_writer in held:
                held_writer.close()
            await asyncio.gather(*(held_writer.wait_closed() for _, held_writer in held), return_exceptions=True)
            status = None
            for attempt in range(50):  # until the server has noticed the two closes
                try:
                    status, _ = await _post(url, BODY, signed_headers([SECRET], f"m{attempt}", int(time.time()), BODY))
                except aiohttp.ClientError:
                    status = None
                if status == 202:
                    break
                await asyncio.sleep(0.1)
            assert status == 202

    asyncio.run(scenario())


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificates(folder: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and two client certificates (this partner's, another one's)."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=test-ca", cwd=folder
    )
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, subject in (
        ("server", "/CN=127.0.0.1"),
        ("partner", "/O=Politie/CN=bvh-koppeling"),
        ("other", "/O=OM/CN=x"),
    ):
        _openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=folder)
        extra = ["-extfile", "server.ext"] if name == "server" else []
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "1", *extra, cwd=folder,
        )  # fmt: skip


def test_mutual_tls_maps_the_client_certificate_to_the_partner(tmp_path: Path) -> None:
    _certificates(tmp_path)
    tls = WebhookTls(
        cert_file=tmp_path / "server.crt",
        key_file=tmp_path / "server.key",
        client_ca_file=tmp_path / "ca.crt",
        client_subjects=("CN=bvh-koppeling,O=Politie",),
    )

    def client(name: str | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=tmp_path / "ca.crt")
        if name:
            context.load_cert_chain(tmp_path / f"{name}.crt", tmp_path / f"{name}.key")
        return context

    async def post(url: str, context: ssl.SSLContext) -> int:
        headers = signed_headers([SECRET], f"msg_{id(context)}", int(time.time()), BODY)
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=BODY, headers=headers, ssl=context) as answer,
        ):
            return answer.status

    async def scenario() -> None:
        async with _webhook(tls=tls) as (_, url):
            url = url.replace("http://", "https://")
            assert await post(url, client("partner")) == 202
            assert await post(url, client("other")) == 403
            with pytest.raises(aiohttp.ClientError):
                await post(url, client(None))

    asyncio.run(scenario())


def test_outbound_tls_is_verified(tmp_path: Path) -> None:
    _certificates(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    received: list[bytes] = []

    async def scenario() -> None:
        async def partner(request: web.Request) -> web.Response:
            received.append(await request.read())
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_post("/in", partner)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
        await site.start()
        url = f"https://127.0.0.1:{runner.addresses[0][1]}/in"
        try:
            untrusting = HttpPostSink(OutboundHttpConfig(url=url, secret=SECRET))
            await untrusting.start()
            try:
                with pytest.raises(TransientDeliveryError, match="unreachable"):
                    await untrusting.deliver(_delivery())
            finally:
                await untrusting.stop()
            assert received == [], "a copy went to a partner whose certificate was not verified"
            trusting = HttpPostSink(OutboundHttpConfig(url=url, secret=SECRET, ca_file=tmp_path / "ca.crt"))
            await trusting.start()
            try:
                await trusting.deliver(_delivery())
            finally:
                await trusting.stop()
        finally:
            await runner.cleanup()
        assert len(received) == 1

    asyncio.run(scenario())
