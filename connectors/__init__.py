"""The connector contract partner systems plug into, its runtime, and one connector per partner.

- The contract (:mod:`~schakel.connectors.contract`): :class:`Source`, :class:`Sink`, :class:`Connector`,
  :class:`ConnectorConfig`; the errors a connector raises (:class:`RecordRejected`, :class:`TransientDeliveryError`,
  :class:`PermanentDeliveryError`). These, the mappings, the retry policy, the ledger and the registry are what this
  package exports.
- The runtime, imported from its own modules: :class:`~schakel.connectors.source_runner.SourceRunner`,
  :class:`~schakel.connectors.sink_runner.SinkRunner` (acks, committed offsets, retries with backoff, idempotent
  delivery, ordering, backpressure, dead letters, receipts, metrics: :mod:`~schakel.connectors.metrics`) and
  :func:`~schakel.connectors.deadletter.resend`. Not exported here: they load aiokafka, aiohttp and OpenTelemetry,
  which the contract, the registry and ``schakel connectors --help`` do not need.
- Transports (:mod:`schakel.connectors.transports`): HTTP, file drop, database outbox.
- The eight partner connectors (:mod:`schakel.connectors.partners`) and their simulated systems
  (:mod:`schakel.connectors.simulation`); :func:`schakel.connectors.running.start_connector` runs one, in-process,
  for the CLI and the demo.
- The contract test kit: :class:`schakel.connectors.testing.ConnectorContract` (import it from there; it needs pytest).
"""

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

__all__ = [
    "ENTRY_POINT_GROUP",
    "Connector",
    "ConnectorConfig",
    "ConnectorConfigError",
    "ConnectorError",
    "ConnectorNotFound",
    "Delivery",
    "DeliveryError",
    "DeliveryLedger",
    "PartnerRecord",
    "PermanentDeliveryError",
    "RecordMapping",
    "RecordRejected",
    "RetryPolicy",
    "Settlement",
    "Sink",
    "Source",
    "TransientDeliveryError",
    "TypeMapping",
    "governed_fields_with_value",
    "installed",
    "load",
    "load_config",
]
