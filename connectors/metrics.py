"""Health and metrics of a running connector (prometheus-client), and the small HTTP endpoint that serves them.

Each runner owns a :class:`ConnectorMetrics` with its own ``CollectorRegistry``, so several connectors (or tests) in
one process never collide. Labels are the connector name and organisation code: never anything about a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["ConnectorMetrics", "Health", "serve_health"]


@dataclass
class Health:
    """What ``/healthz`` answers: whether the runner is up, and the last error class it saw (no message)."""

    connector: str
    running: bool = False
    started_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def failed(self, error: BaseException) -> None:
        self.last_error = type(error).__name__
        self.last_error_at = datetime.now(UTC)

    def as_json(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "status": "up" if self.running else "down",
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
            **self.details,
        }


class ConnectorMetrics:
    """Counters and gauges of one connector: produced/rejected (source), delivered/retried/dead-lettered (sink)."""

    def __init__(self, connector: str, organisation: str) -> None:
        self.registry = CollectorRegistry()
        labels = ["connector", "organisation"]
        self._labels = {"connector": connector, "organisation": organisation}

        def counter(name: str, doc: str) -> Any:
            return Counter(name, doc, labels, registry=self.registry).labels(**self._labels)

        self.produced = counter("schakel_connector_produced", "Partner records put on the ingress topic")
        self.rejected = counter("schakel_connector_rejected", "Partner records refused as bad input")
        self.delivered = counter("schakel_connector_delivered", "Egress copies delivered to the partner system")
        self.retried = counter("schakel_connector_retried", "Delivery attempts that failed and were retried")
        self.dead_lettered = counter("schakel_connector_dead_lettered", "Egress copies dead-lettered")
        self.duplicates = counter("schakel_connector_duplicates_dropped", "Egress copies dropped as already delivered")
        self.in_flight = Gauge(
            "schakel_connector_in_flight", "Deliveries in flight", labels, registry=self.registry
        ).labels(**self._labels)
        self.lag = Gauge(
            "schakel_connector_lag",
            "Egress records not yet consumed (sum over partitions)",
            labels,
            registry=self.registry,
        ).labels(**self._labels)

    def value(self, name: str) -> float:
        """The current value of one metric by its short name (``delivered``, ``retried``, ``lag``, ...)."""
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name in (f"schakel_connector_{name}", f"schakel_connector_{name}_total"):
                    return float(sample.value)
        raise KeyError(name)

    def exposition(self) -> bytes:
        """The Prometheus text exposition of this connector's metrics."""
        return generate_latest(self.registry)


async def serve_health(
    healths: Sequence[Health], metrics: ConnectorMetrics, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, int]:
    """Serve ``/healthz`` (JSON, 200 when every part runs, 503 otherwise) and ``/metrics``; return runner and port."""

    async def healthz(_: web.Request) -> web.Response:
        up = all(health.running for health in healths)
        body = {"status": "up" if up else "down", "parts": [health.as_json() for health in healths]}
        return web.json_response(body, status=200 if up else 503)

    async def prometheus(_: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", prometheus)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    bound = port
    sockets = getattr(server, "sockets", None)
    if sockets:
        bound = int(sockets[0].getsockname()[1])
    return runner, bound
