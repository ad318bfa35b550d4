"""HTTP: an inbound webhook (aiohttp) that verifies a per-partner HMAC-SHA256 signature, and an outbound POST.

Inbound: ``POST <path>`` with a JSON object and ``X-Schakel-Signature: sha256=<hex HMAC-SHA256 of the body>``. The
answer waits until the broker acknowledged the event: ``202 {"event_id": ...}``. Bad input is answered with a 4xx and
a JSON reason, and affects nothing else: ``413 oversized-body``, ``401 bad-signature``, ``400 malformed-json``,
``422 unknown-event-type`` / ``invalid-record``; ``503`` when the broker could not take it (retry later).
Judgement call: webhook rejections are not dead-lettered - the partner has the reason in its answer, and an
unauthenticated body is nothing the hub should keep.

Outbound: ``POST`` of the partner's JSON document with ``Idempotency-Key`` (event id/recipient), the same signature
header (when a secret is configured) and ``traceparent``. 2xx is delivered; 408, 425, 429, 5xx and network errors are
transient (retried); any other 4xx is permanent (dead-lettered).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from schakel.connectors.contract import Delivery, PartnerRecord, Settlement, Sink, Source
from schakel.connectors.errors import PermanentDeliveryError, TransientDeliveryError

__all__ = ["SIGNATURE_HEADER", "HttpPostSink", "OutboundHttpConfig", "WebhookConfig", "WebhookSource", "sign"]

SIGNATURE_HEADER = "X-Schakel-Signature"
_TRANSIENT_STATUS = frozenset({408, 425, 429})


def sign(secret: str | bytes, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


class WebhookConfig(BaseModel):
    """Where the inbound webhook listens, and the partner's signing secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535, description="0: any free port (tests).")
    path: str = "/events"
    secret: SecretStr = Field(description="The partner's HMAC-SHA256 key.")
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    answer_timeout: float = Field(default=30.0, gt=0, description="Seconds to wait for the broker before 503.")


class OutboundHttpConfig(BaseModel):
    """Where the sink POSTs, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    secret: SecretStr | None = None
    timeout: float = Field(default=10.0, gt=0)


def _problem(status: int, code: str, reason: str) -> web.Response:
    return web.json_response({"error": code, "reason": reason}, status=status)


class WebhookSource(Source):
    """A source fed by partner POSTs; ``to_event`` comes from the mapping it is given."""

    dead_letters_rejects = False

    def __init__(self, config: WebhookConfig, to_event: Callable[[Mapping[str, Any]], Any]) -> None:
        self.config = config
        self._to_event = to_event
        self._queue: asyncio.Queue[PartnerRecord] = asyncio.Queue(maxsize=64)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def to_event(self, data: Mapping[str, Any]) -> Any:
        return self._to_event(data)

    async def start(self) -> None:
        app = web.Application(client_max_size=self.config.max_body_bytes * 2)
        app.router.add_post(self.config.path, self._receive)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) if server is not None else None
        self.port = int(sockets[0].getsockname()[1]) if sockets else self.config.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def records(self) -> AsyncIterator[PartnerRecord]:
        while True:
            yield await self._queue.get()

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "up"})

    async def _receive(self, request: web.Request) -> web.Response:
        limit = self.config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return _problem(413, "oversized-body", f"the body is larger than {limit} bytes")
        body = await request.content.read(limit + 1)
        if len(body) > limit:
            return _problem(413, "oversized-body", f"the body is larger than {limit} bytes")
        given = request.headers.get(SIGNATURE_HEADER, "")
        expected = sign(self.config.secret.get_secret_value(), body)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return _problem(401, "bad-signature", f"missing or wrong {SIGNATURE_HEADER} (HMAC-SHA256 of the body)")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _problem(400, "malformed-json", "the body is not valid JSON")
        if not isinstance(data, dict):
            return _problem(400, "malformed-json", "the body must be one JSON object")
        settled: asyncio.Future[Settlement] = asyncio.get_running_loop().create_future()

        async def on_settled(settlement: Settlement) -> None:
            if not settled.done():
                settled.set_result(settlement)

        await self._queue.put(PartnerRecord(data=data, origin="webhook", raw=body, on_settled=on_settled))
        try:
            outcome = await asyncio.wait_for(settled, self.config.answer_timeout)
        except TimeoutError:
            return _problem(503, "unavailable", "the hub could not take the record in time; retry")
        if outcome.kind == "accepted":
            return web.json_response({"event_id": outcome.event_id}, status=202)
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
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout))

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
        if self.config.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.config.secret.get_secret_value(), body)
        if delivery.traceparent:
            headers["traceparent"] = delivery.traceparent
        try:
            async with self._session.post(self.config.url, data=body, headers=headers) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransientDeliveryError(f"partner unreachable ({type(error).__name__})") from None
        if 200 <= status < 300:
            return
        if status in _TRANSIENT_STATUS or status >= 500:
            raise TransientDeliveryError(f"partner answered HTTP {status}")
        raise PermanentDeliveryError(f"partner answered HTTP {status}")
