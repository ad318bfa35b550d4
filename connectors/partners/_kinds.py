"""The three shapes a shipped partner connector takes: HTTP, file drop, database. Each partner module picks one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from schakel.connectors.contract import Connector, ConnectorConfig, Sink, Source
from schakel.connectors.mapping import RecordMapping
from schakel.connectors.simulation import (
    SimulatedDatabasePartner,
    SimulatedFileDropPartner,
    SimulatedHttpPartner,
    SimulatedPartner,
)
from schakel.connectors.transports.database import DatabaseConfig, InboxTableSink, OutboxSource
from schakel.connectors.transports.filedrop import FileDropConfig, FileDropSink, FileDropSource
from schakel.connectors.transports.http import HttpPostSink, OutboundHttpConfig, WebhookConfig, WebhookSource
from schakel.schemas import Event, Theme


class PartnerConfig(ConnectorConfig):
    """Settings every shipped partner connector has."""

    default_theme: Theme | None = Field(default=None, description="Theme of records that do not name one.")


class HttpPartnerConfig(PartnerConfig):
    """A partner with an HTTP API: records come in on a signed webhook, copies go out as POSTs."""

    webhook: WebhookConfig
    delivery: OutboundHttpConfig


class FileDropPartnerConfig(PartnerConfig):
    """A partner that exchanges files: records come from ``inbound.directory``, copies go to ``outbound.directory``."""

    inbound: FileDropConfig
    outbound: FileDropConfig


class DatabasePartnerConfig(PartnerConfig):
    """A partner database: records come from its outbox table, copies go into its inbox table."""

    outbox: DatabaseConfig
    inbox: DatabaseConfig


def _mapper(mapping: RecordMapping, config: PartnerConfig) -> Any:
    def to_event(data: Mapping[str, Any]) -> Event:
        return mapping.to_event(data, default_theme=config.default_theme)

    return to_event


def _connector(
    mapping: RecordMapping,
    config_model: type[PartnerConfig],
    description: str,
    name: str | None,
    source: Callable[[Any], Source],
    sink: Callable[[Any], Sink],
    simulation: Callable[[Path], SimulatedPartner],
) -> Connector[Any]:
    return Connector(
        name=name or mapping.organisation.value,
        organisation=mapping.organisation.value,
        description=description,
        config_model=config_model,
        source=source,
        sink=sink,
        simulation=simulation,
    )


def http_connector(
    mapping: RecordMapping, config_model: type[HttpPartnerConfig], description: str, *, name: str | None = None
) -> Connector[Any]:
    """A connector over the HTTP transport; ``name`` defaults to the organisation code."""
    return _connector(
        mapping,
        config_model,
        description,
        name,
        source=lambda config: WebhookSource(config.webhook, _mapper(mapping, config)),
        sink=lambda config: HttpPostSink(config.delivery, mapping.render),
        simulation=lambda state_dir: SimulatedHttpPartner(mapping, state_dir),
    )


def filedrop_connector(
    mapping: RecordMapping, config_model: type[FileDropPartnerConfig], description: str, *, name: str | None = None
) -> Connector[Any]:
    """A connector over the file-drop transport; ``name`` defaults to the organisation code."""
    return _connector(
        mapping,
        config_model,
        description,
        name,
        source=lambda config: FileDropSource(config.inbound, _mapper(mapping, config)),
        sink=lambda config: FileDropSink(config.outbound, mapping.render),
        simulation=lambda state_dir: SimulatedFileDropPartner(mapping, state_dir),
    )


def database_connector(
    mapping: RecordMapping, config_model: type[DatabasePartnerConfig], description: str, *, name: str | None = None
) -> Connector[Any]:
    """A connector over the database outbox transport; ``name`` defaults to the organisation code."""
    return _connector(
        mapping,
        config_model,
        description,
        name,
        source=lambda config: OutboxSource(config.outbox, _mapper(mapping, config)),
        sink=lambda config: InboxTableSink(config.inbox, mapping.render),
        simulation=lambda state_dir: SimulatedDatabasePartner(mapping, state_dir),
    )
