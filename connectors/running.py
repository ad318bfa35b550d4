"""Running a connector in this process: its source and sink runners, optionally its simulated partner system.

Used by ``schakel connectors run`` and by the lead's demo::

    async with await start_connector("politie", settings=settings, simulate=state_root) as running:
        partner = running.simulation            # SimulatedPartner: submit(record), received(), set_available()
        await partner.submit(partner.example())

A simulated partner lives in ``<state_root>/<connector name>``; :func:`simulation_for` gives a handle on the same
system from another process (the demo driving ``schakel connectors run ORG --simulate`` subprocesses).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from schakel.connectors.contract import Connector, ConnectorConfig
from schakel.connectors.errors import ConnectorConfigError
from schakel.connectors.metrics import ConnectorMetrics, Health, serve_health
from schakel.connectors.registry import config_file, load, load_config
from schakel.connectors.simulation import SimulatedPartner
from schakel.connectors.sink_runner import SinkRunner
from schakel.connectors.source_runner import SourceRunner
from schakel.settings import Settings
from schakel.streams.access import provision
from schakel.streams.topics import ADMIN, HubTopics

__all__ = ["RunningConnector", "simulation_for", "start_connector", "start_simulated_partners"]

_log = logging.getLogger(__name__)


def simulation_for(connector: str | Connector[Any], state_root: Path) -> SimulatedPartner:
    """A handle on a connector's simulated partner system under ``state_root`` (any process may hold one)."""
    loaded = load(connector) if isinstance(connector, str) else connector
    if loaded.simulation is None:
        raise ConnectorConfigError(f"connector {loaded.name} ships no simulated partner system")
    return loaded.simulation(state_root / loaded.name)


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass
class RunningConnector:
    """A connector running in this process; stop it with :meth:`stop` or by leaving the ``async with``."""

    connector: Connector[Any]
    config: ConnectorConfig
    metrics: ConnectorMetrics
    source: SourceRunner | None
    sink: SinkRunner | None
    simulation: SimulatedPartner | None
    metrics_port: int | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _web: web.AppRunner | None = None

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the source listens and the sink has its partitions assigned."""
        waits = [runner.ready.wait() for runner in (self.source, self.sink) if runner is not None]
        await asyncio.wait_for(asyncio.gather(*waits), timeout)

    async def stop(self) -> None:
        for runner in (self.source, self.sink):
            if runner is not None:
                runner.stop()
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=15)
            for task in pending:
                task.cancel()
            for task in self.tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._web is not None:
            await self._web.cleanup()
        if self.simulation is not None:
            await self.simulation.stop()

    async def run_until_stopped(self) -> None:
        """Wait until a runner ends (a failure re-raises), for ``schakel connectors run``."""
        done, _ = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()

    async def __aenter__(self) -> RunningConnector:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop()


async def start_connector(
    name: str | Connector[Any],
    *,
    settings: Settings,
    config: Mapping[str, Any] | None = None,
    config_path: Path | None = None,
    simulate: Path | None = None,
    source: bool = True,
    sink: bool = True,
    metrics_port: int | None = None,
    session_timeout_ms: int = 10_000,
) -> RunningConnector:
    """Start a connector (by entry-point name, or the object).

    Its config comes from ``config`` (merged over the simulation's), ``config_path``, or its config file; with
    ``simulate``, its simulated partner system runs too, under ``simulate/<name>``. Creates the topics it needs
    and their ACLs when the admin credentials are at hand (an operator's machine); in production the hub creates
    its topics and an operator the ACLs (``schakel kafka acls apply``).

    When the start fails part way (its health port taken), whatever it started is stopped before the error is
    raised: a process that looks failed must not go on reading or delivering.
    """
    connector = load(name) if isinstance(name, str) else name
    simulation: SimulatedPartner | None = None
    data: dict[str, Any] = {}
    if simulate is not None:
        simulation = simulation_for(connector, simulate)
        data = simulation.connector_config()
    if config_path is None and config is None and simulate is None:
        config_path = config_file(settings, connector.name)
        if config_path is None:
            raise ConnectorConfigError(f"connector {connector.name} has no config file; give --config or --simulate")
    validated = (
        load_config(connector, config_path) if config_path is not None else connector.config(_merge(data, config or {}))
    )
    topics = HubTopics.of(settings)
    if settings.has_kafka_credentials(ADMIN):  # an operator's machine (local development, the demo, tests)
        await asyncio.to_thread(
            provision,
            settings,
            [
                topics.ingress(connector.organisation),
                topics.egress(connector.organisation),
                topics.dlq,
                topics.receipts(connector.organisation),
            ],
        )
    metrics = ConnectorMetrics(connector.name, connector.organisation)
    running = RunningConnector(
        connector=connector,
        config=validated,
        metrics=metrics,
        source=SourceRunner(connector, validated, settings, metrics=metrics) if source and connector.source else None,
        sink=SinkRunner(connector, validated, settings, metrics=metrics, session_timeout_ms=session_timeout_ms)
        if sink and connector.sink
        else None,
        simulation=simulation,
    )
    try:
        if simulation is not None:
            await simulation.start()
        for runner in (running.source, running.sink):
            if runner is not None:
                running.tasks.append(asyncio.create_task(runner.run()))
        if metrics_port is not None:
            healths: list[Health] = [r.health for r in (running.source, running.sink) if r is not None]
            running._web, running.metrics_port = await serve_health(
                healths, metrics, host=str(settings.metrics_host), port=metrics_port
            )
    except BaseException:  # the health port taken, say: the caller gets the error and nothing keeps running
        await running.stop()
        raise
    return running


async def start_simulated_partners(
    settings: Settings, state_root: Path, names: list[str] | None = None, **kwargs: Any
) -> dict[str, RunningConnector]:
    """Every installed connector (or those named), each with its simulated partner system, in this process.

    For the demo: ``running["politie"].simulation.submit(record)`` makes the police system emit a registration,
    ``running["ggz"].simulation.received()`` shows what reached GGZ. Stop each with ``await r.stop()``.
    """
    from schakel.connectors.registry import installed

    started: dict[str, RunningConnector] = {}
    try:
        for name in names or [entry.name for entry in installed()]:
            started[name] = await start_connector(name, settings=settings, simulate=state_root, **kwargs)
        await asyncio.gather(*(running.wait_ready() for running in started.values()))
    except BaseException:
        for running in started.values():
            await running.stop()
        raise
    return started
