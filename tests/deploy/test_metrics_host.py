"""The metrics and health endpoints listen where ``SCHAKEL_METRICS_HOST`` says, and only there.

Loopback by default; a deployment sets the pod's address so that Prometheus can scrape (deploy/k8s). Tried with a
second loopback address (127.0.0.2, which Linux routes to lo like all of 127/8): the endpoint answers there and
refuses 127.0.0.1, so it really bound the configured address and not every interface.
"""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request

import pytest
from pydantic import ValidationError

from schakel.connectors.metrics import ConnectorMetrics, serve_health
from schakel.settings import Settings
from schakel.streams import telemetry

OTHER_LOOPBACK = "127.0.0.2"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((OTHER_LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a loopback URL the test built
            return int(response.status) == 200
    except (urllib.error.URLError, ConnectionError):
        return False


def test_the_default_is_loopback_and_a_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCHAKEL_METRICS_HOST", raising=False)
    assert str(Settings().metrics_host) == "127.0.0.1"
    monkeypatch.setenv("SCHAKEL_METRICS_HOST", "10.1.2.3")
    assert str(Settings().metrics_host) == "10.1.2.3"
    monkeypatch.setenv("SCHAKEL_METRICS_HOST", "hub.example.org")  # a name could resolve to anything
    with pytest.raises(ValidationError):
        Settings()


def test_the_hub_metrics_listen_on_the_configured_address_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHAKEL_METRICS_HOST", OTHER_LOOPBACK)
    port = _free_port()
    server = telemetry.serve_metrics(port, str(Settings().metrics_host))
    assert server is not None
    try:
        assert _answers(f"http://{OTHER_LOOPBACK}:{port}/metrics")
        assert not _answers(f"http://127.0.0.1:{port}/metrics"), "bound more than the configured address"
    finally:
        server.shutdown()
        server.server_close()


def test_a_connectors_health_listens_on_the_configured_address_only() -> None:
    async def scenario() -> tuple[bool, bool]:
        runner, port = await serve_health([], ConnectorMetrics("politie", "politie"), host=OTHER_LOOPBACK, port=0)
        try:
            there = await asyncio.to_thread(_answers, f"http://{OTHER_LOOPBACK}:{port}/healthz")
            loopback = await asyncio.to_thread(_answers, f"http://127.0.0.1:{port}/healthz")
            return there, loopback
        finally:
            await runner.cleanup()

    there, loopback = asyncio.run(scenario())
    assert there
    assert not loopback, "bound more than the configured address"
