"""HTTP: an inbound webhook (aiohttp) signed after the Standard Webhooks scheme, and an outbound POST signed the same
way (:mod:`schakel.connectors.signing`).

Inbound: ``POST <path>`` with one JSON object and the ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``
headers. The answer waits until the broker acknowledged the event: ``202 {"event_id": ...}``. Bad input is answered
with a 4xx and a JSON reason, and affects nothing else: ``413 oversized-body``, ``401 bad-signature`` /
``stale-timestamp``, ``403 unknown-client`` (mutual TLS), ``409 replayed`` (a ``webhook-id`` already answered), ``408
slow-body``, ``400 malformed-json``, ``422 unknown-event-type`` / ``invalid-record``; ``503`` when the broker could not
take it (retry later: the ``webhook-id`` is then not remembered), and ``503 in-flight`` for a ``webhook-id`` still
being received (a retry that overtook its first attempt: that one may yet end in a 503, so this is not "done").

The server cannot be held open: the request headers must arrive within ``header_timeout`` seconds of the connection
(else it is closed), the body within ``body_timeout`` (read incrementally, refused as soon as it passes
``max_body_bytes``), at most ``max_connections`` connections are open at once (further ones are closed at once), and
every connection serves one request. Optional mutual TLS (``tls``): with ``client_ca_file`` set, a client must
present a certificate from that CA whose subject is one of ``client_subjects`` - the subjects that identify this
partner - or it is answered ``403 unknown-client``.

Judgement call: webhook rejections are not dead-lettered - the partner has the reason in its answer, and an
unauthenticated body is nothing the hub should keep.

Outbound: ``POST`` of the partner's JSON document with ``Idempotency-Key`` (sender/event id/subject/recipient), the
Standard Webhooks headers (``webhook-id`` = the idempotency key; one signature per configured secret) and
``traceparent``. Redirects are never followed (the body and its signature go to the configured URL only), TLS is
verified (``ca_file`` for a private CA), and plain ``http://`` is allowed to loopback only. 2xx is delivered; a 3xx,
408, 425, 429, 5xx and network errors are transient (retried, then dead-lettered with the status as reason); any
other 4xx is permanent.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from schakel.addresses import is_loopback
from schakel.connectors.contract import Delivery, PartnerRecord, Settlement, Sink, Source
from schakel.connectors.errors import PermanentDeliveryError, RecordRejected, TransientDeliveryError
from schakel.connectors.intake import load_json_object
from schakel.connectors.signing import ReplayCache, ReplayCacheFull, signed_headers, verify
from schakel.schemas import MAX_EVENT_BYTES

__all__ = ["HttpPostSink", "OutboundHttpConfig", "WebhookConfig", "WebhookSource", "WebhookTls", "certificate_subject"]

_TRANSIENT_STATUS = frozenset({408, 425, 429})
_CHUNK = 64 * 1024


class WebhookTls(BaseModel):
    """TLS for the inbound webhook; with ``client_ca_file``, mutual TLS mapping client certificates to the partner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_subjects: tuple[str, ...] = Field(
        default=(), description="Certificate subjects (RFC 4514, e.g. 'CN=bvh-koppeling,O=Politie') of this partner."
    )

    @model_validator(mode="after")
    def _subjects_with_ca(self) -> WebhookTls:
        if self.client_ca_file is not None and not self.client_subjects:
            raise ValueError("client_ca_file needs client_subjects: the certificate subjects that are this partner")
        return self

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        if self.client_ca_file is not None:
            context.load_verify_locations(cafile=self.client_ca_file)
            context.verify_mode = ssl.CERT_REQUIRED
        return context


class WebhookConfig(BaseModel):
    """Where the inbound webhook listens, the partner's signing secrets, and the server's limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535, description="0: any free port (tests).")
    path: str = "/events"
    secret: SecretStr = Field(description="The partner's HMAC-SHA256 key (whsec_<base64> or any text).")
    previous_secrets: tuple[SecretStr, ...] = Field(default=(), description="Keys still honoured during a rotation.")
    max_body_bytes: int = Field(default=MAX_EVENT_BYTES, ge=1024, description="The schemas' maximum event size.")
    answer_timeout: float = Field(default=30.0, gt=0, description="Seconds to wait for the broker before 503.")
    header_timeout: float = Field(default=10.0, gt=0, le=300, description="Seconds for the request headers.")
    body_timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds for the whole body.")
    max_connections: int = Field(default=64, ge=1, le=10_000)
    replay_cache_size: int = Field(default=100_000, ge=100)
    tls: WebhookTls | None = None

    def secrets(self) -> list[str]:
        return [s.get_secret_value() for s in (self.secret, *self.previous_secrets)]


class OutboundHttpConfig(BaseModel):
    """Where the sink POSTs, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    secret: SecretStr | None = None
    additional_secrets: tuple[SecretStr, ...] = Field(default=(), description="Also sign with these (key rotation).")
    timeout: float = Field(default=10.0, gt=0)
    ca_file: Path | None = Field(default=None, description="CA bundle for the partner's certificate (private CA).")

    @field_validator("url")
    @classmethod
    def _https_or_loopback(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return url
        if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
            return url
        raise ValueError("the delivery url must be https:// (plain http:// only to a loopback address)")

    def secrets(self) -> list[str]:
        if self.secret is None:
            return []
        return [s.get_secret_value() for s in (self.secret, *self.additional_secrets)]


def certificate_subject(peercert: Mapping[str, Any] | None) -> str | None:
    """A peer certificate's subject as an RFC 4514 string (``CN=...,O=...``, most specific first), or None."""
    if not peercert or not peercert.get("subject"):
        return None
    short = {
        "commonName": "CN",
        "organizationName": "O",
        "organizationalUnitName": "OU",
        "countryName": "C",
        "localityName": "L",
        "stateOrProvinceName": "ST",
    }
    parts = [f"{short.get(key, key)}={value}" for rdn in peercert["subject"] for key, value in rdn]
    return ",".join(reversed(parts))


def _problem(status: int, code: str, reason: str) -> web.Response:
    response = web.json_response({"error": code, "reason": reason}, status=status)
    response.force_close()
    return response


class _Guard(asyncio.Protocol):
    """Wraps aiohttp's protocol per connection: admits at most ``max_connections`` and closes a connection whose
    request headers have not arrived within ``header_timeout``."""

    def __init__(self, inner: asyncio.Protocol, source: WebhookSource) -> None:
        self._inner = inner
        self._source = source
        self._admitted = False
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        if len(self._source._open) >= self._source.config.max_connections:
            transport.close()
            return
        self._admitted = True
        self._source._open[transport] = self
        self._timer = asyncio.get_running_loop().call_later(self._source.config.header_timeout, self._too_slow)
        self._inner.connection_made(transport)

    def request_started(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _too_slow(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        if self._timer is not None:
            self._timer.cancel()
        if self._transport is not None:
            self._source._open.pop(self._transport, None)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._admitted:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._admitted else None

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()


class WebhookSource(Source):
    """A source fed by partner POSTs; ``to_event`` comes from the mapping it is given."""

    dead_letters_rejects = False

    def __init__(self, config: WebhookConfig, to_event: Callable[[Mapping[str, Any]], Any]) -> None:
        self.config = config
        self.max_input_bytes = config.max_body_bytes
        self._to_event = to_event
        self._queue: asyncio.Queue[PartnerRecord] = asyncio.Queue(maxsize=64)
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._open: dict[asyncio.BaseTransport, _Guard] = {}
        self._replays = ReplayCache(capacity=config.replay_cache_size)
        self.port: int | None = None

    def to_event(self, data: Mapping[str, Any]) -> Any:
        return self._to_event(data)

    async def start(self) -> None:
        app = web.Application(middlewares=[self._one_request_per_connection])
        app.router.add_post(self.config.path, self._receive)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        server = self._runner.server
        assert server is not None
        context = self.config.tls.context() if self.config.tls else None
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Guard(server(), self),
            self.config.host,
            self.config.port,
            ssl=context,
            ssl_handshake_timeout=self.config.header_timeout if context else None,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def records(self) -> AsyncIterator[PartnerRecord]:
        while True:
            yield await self._queue.get()

    @web.middleware
    async def _one_request_per_connection(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        guard = self._open.get(request.transport) if request.transport is not None else None
        if guard is not None:
            guard.request_started()
        try:
            response = await handler(request)
        except web.HTTPException as answer:  # 404, 405, ...: also the connection's last answer
            answer.force_close()
            raise
        response.force_close()
        return response

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "up"})

    async def _body(self, request: web.Request) -> bytes:
        limit = self.config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise RecordRejected("oversized-body", f"the body is larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while chunk := await request.content.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise RecordRejected("oversized-body", f"the body is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _client_refused(self, request: web.Request) -> web.Response | None:
        tls = self.config.tls
        if tls is None or tls.client_ca_file is None:
            return None
        peercert = request.transport.get_extra_info("peercert") if request.transport is not None else None
        if certificate_subject(peercert) not in tls.client_subjects:
            return _problem(403, "unknown-client", "the client certificate is not one of this partner's")
        return None

    async def _receive(self, request: web.Request) -> web.Response:
        refused = self._client_refused(request)
        if refused is not None:
            return refused
        try:
            body = await asyncio.wait_for(self._body(request), self.config.body_timeout)
        except RecordRejected as problem:
            return _problem(413, problem.code, problem.reason)
        except TimeoutError:
            return _problem(408, "slow-body", f"the body did not arrive within {self.config.body_timeout} seconds")
        now = time.time()
        try:
            message_id = verify(self.config.secrets(), request.headers, body, now=now)
        except RecordRejected as problem:
            return _problem(401, problem.code, problem.reason)
        try:
            fresh = self._replays.claim(message_id, now)
        except ReplayCacheFull:
            return _problem(503, "busy", "the hub is taking too many webhooks at once; retry")
        if not fresh:
            if self._replays.in_flight(message_id):  # not done yet: its first attempt may still end in a 503
                return _problem(503, "in-flight", "this webhook-id is still being received; retry")
            return _problem(409, "replayed", "this webhook-id was already received")
        answer = await self._take(body)
        if answer.status == 503:
            self._replays.release(message_id)
        else:
            self._replays.answered(message_id, time.time())
        return answer

    async def _take(self, body: bytes) -> web.Response:
        try:
            data = load_json_object(body)
        except RecordRejected as problem:
            return _problem(400, problem.code, problem.reason)
        settled: asyncio.Future[Settlement] = asyncio.get_running_loop().create_future()

        async def on_settled(settlement: Settlement) -> None:
            if not settled.done():
                settled.set_result(settlement)

        record = PartnerRecord(data=data, origin="webhook", raw=body, on_settled=on_settled)
        deadline = asyncio.get_running_loop().time() + self.config.answer_timeout
        try:
            await asyncio.wait_for(self._queue.put(record), self.config.answer_timeout)
            outcome = await asyncio.wait_for(settled, max(0.0, deadline - asyncio.get_running_loop().time()))
        except TimeoutError:
            return _problem(503, "unavailable", "the hub could not take the record in time; retry")
        if outcome.kind == "accepted":
            response = web.json_response({"event_id": outcome.event_id}, status=202)
            response.force_close()
            return response
        if outcome.kind == "rejected" and outcome.problem is not None:
            return _problem(422, outcome.problem.code, outcome.problem.reason)
        return _problem(503, "unavailable", "the hub could not take the record; retry")


class HttpPostSink(Sink):
    """Delivers by POSTing the partner's document; ``render`` turns a delivery into (document, fields carried)."""

    def __init__(
        self,
        config: OutboundHttpConfig,
        render: Callable[[Delivery], tuple[dict[str, Any], tuple[str, ...]]] | None = None,
    ) -> None:
        self.config = config
        self._render = render
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        context = ssl.create_default_context(cafile=self.config.ca_file) if self.config.ca_file else True
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.timeout),
            connector=aiohttp.TCPConnector(ssl=context),
        )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def document(self, delivery: Delivery) -> dict[str, Any]:
        return self._render(delivery)[0] if self._render else dict(delivery.form)

    def fields_sent(self, delivery: Delivery) -> tuple[str, ...]:
        return self._render(delivery)[1] if self._render else super().fields_sent(delivery)

    async def deliver(self, delivery: Delivery) -> None:
        if self._session is None:
            await self.start()
        assert self._session is not None
        body = json.dumps(self.document(delivery), ensure_ascii=False, default=str).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": delivery.idempotency_key}
        secrets = self.config.secrets()
        if secrets:
            headers.update(signed_headers(secrets, delivery.idempotency_key, int(time.time()), body))
        if delivery.traceparent:
            headers["traceparent"] = delivery.traceparent
        try:
            async with self._session.post(
                self.config.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransientDeliveryError(f"partner unreachable ({type(error).__name__})") from None
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            raise TransientDeliveryError(f"partner answered HTTP {status}, a redirect (redirects are not followed)")
        if status in _TRANSIENT_STATUS or status >= 500:
            raise TransientDeliveryError(f"partner answered HTTP {status}")
        raise PermanentDeliveryError(f"partner answered HTTP {status}")
