"""The connector contract partner systems plug into, its runtime, and one connector per partner.

- The contract (:mod:`~schakel.connectors.contract`): :class:`Source`, :class:`Sink`, :class:`Connector`,
  :class:`ConnectorConfig`; the errors a connector raises (:class:`RecordRejected`, :class:`TransientDeliveryError`,
  :class:`PermanentDeliveryError`).
- The runtime: :class:`SourceRunner`, :class:`SinkRunner` (acks, committed offsets, retries with backoff,
  idempotent delivery, ordering, backpressure, dead letters, receipts, metrics) and :func:`resend`. Exported as
  before, but imported only when first used (:mod:`schakel.exports`): they load aiokafka, aiohttp and
  OpenTelemetry, which the contract, the registry and ``schakel connectors --help`` do not need.
- Transports (:mod:`schakel.connectors.transports`): HTTP, file drop, database outbox.
- The eight partner connectors (:mod:`schakel.connectors.partners`) and their simulated systems
  (:mod:`schakel.connectors.simulation`); :func:`start_connector` runs one, in-process, for the CLI and the demo.
- The contract test kit: :class:`schakel.connectors.testing.ConnectorContract` (import it from there; it needs pytest).
"""

from typing import TYPE_CHECKING

from schakel.connectors.contract import (
    Connector,
    ConnectorConfig,
    Delivery,
    PartnerRecord,
    Settlement,
    Sink,
    Source,
    governed_fields_with_value,
)
from schakel.connectors.errors import (
    ConnectorConfigError,
    ConnectorError,
    ConnectorNotFound,
    DeliveryError,
    PermanentDeliveryError,
    RecordRejected,
    TransientDeliveryError,
)
from schakel.connectors.ledger import DeliveryLedger
from schakel.connectors.mapping import RecordMapping, TypeMapping
from schakel.connectors.registry import ENTRY_POINT_GROUP, installed, load, load_config
from schakel.connectors.retry import RetryPolicy
from schakel.exports import deferred

if TYPE_CHECKING:
    from schakel.connectors.deadletter import ResendReport, resend
    from schakel.connectors.metrics import ConnectorMetrics, Health
    from schakel.connectors.running import RunningConnector, simulation_for, start_connector, start_simulated_partners
    from schakel.connectors.simulation import (
        SimulatedDatabasePartner,
        SimulatedFileDropPartner,
        SimulatedHttpPartner,
        SimulatedPartner,
        Submission,
    )
    from schakel.connectors.sink_runner import SinkRunner
    from schakel.connectors.source_runner import SourceRunner

_RUNTIME = {
    **dict.fromkeys(("ResendReport", "resend"), "schakel.connectors.deadletter"),
    **dict.fromkeys(("ConnectorMetrics", "Health"), "schakel.connectors.metrics"),
    **dict.fromkeys(
        ("RunningConnector", "simulation_for", "start_connector", "start_simulated_partners"),
        "schakel.connectors.running",
    ),
    **dict.fromkeys(
        (
            "SimulatedDatabasePartner",
            "SimulatedFileDropPartner",
            "SimulatedHttpPartner",
            "SimulatedPartner",
            "Submission",
        ),
        "schakel.connectors.simulation",
    ),
    "SinkRunner": "schakel.connectors.sink_runner",
    "SourceRunner": "schakel.connectors.source_runner",
}
__getattr__ = deferred(__name__, _RUNTIME)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Connector",
    "ConnectorConfig",
    "ConnectorConfigError",
    "ConnectorError",
    "ConnectorMetrics",
    "ConnectorNotFound",
    "Delivery",
    "DeliveryError",
    "DeliveryLedger",
    "Health",
    "PartnerRecord",
    "PermanentDeliveryError",
    "RecordMapping",
    "RecordRejected",
    "ResendReport",
    "RetryPolicy",
    "RunningConnector",
    "Settlement",
    "SimulatedDatabasePartner",
    "SimulatedFileDropPartner",
    "SimulatedHttpPartner",
    "SimulatedPartner",
    "Sink",
    "SinkRunner",
    "Source",
    "SourceRunner",
    "Submission",
    "TransientDeliveryError",
    "TypeMapping",
    "governed_fields_with_value",
    "installed",
    "load",
    "load_config",
    "resend",
    "simulation_for",
    "start_connector",
    "start_simulated_partners",
]
