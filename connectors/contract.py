"""The connector contract: one small abstract base per direction, and the object an entry point names.

A **source** turns a partner system's records into events on the partner's ingress topic; a **sink** delivers the
hub's egress copies to the partner system. Everything a connector should not have to do itself - producing and
awaiting the broker's acknowledgement, committing offsets, retries with backoff, idempotent delivery, ordering,
backpressure, dead-lettering, receipts and metrics - is done by the runtime (:class:`schakel.connectors.SourceRunner`,
:class:`schakel.connectors.SinkRunner`). A connector is therefore small: a transport and a mapping.

A partner's IT team ships a connector as its own package: a :class:`Connector` object, referenced from the entry-point
group ``schakel.connectors`` (``[project.entry-points."schakel.connectors"] my-org = "my_pkg:CONNECTOR"``), with a
pydantic config model derived from :class:`ConnectorConfig` (secrets as ``SecretStr``). ``schakel connectors new``
scaffolds exactly that, with tests that subclass :class:`schakel.connectors.testing.ConnectorContract`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from schakel.connectors.errors import RecordRejected
from schakel.connectors.retry import RetryPolicy
from schakel.lineage import event_key

if TYPE_CHECKING:
    from schakel.connectors.simulation import SimulatedPartner
    from schakel.schemas import Event

__all__ = [
    "Connector",
    "ConnectorConfig",
    "Delivery",
    "PartnerRecord",
    "Settlement",
    "Sink",
    "Source",
    "governed_fields_with_value",
]


class ConnectorConfig(BaseModel):
    """Settings every connector has; a connector's own config model derives from this one.

    Unknown keys are refused (a typo in a config file must not silently switch a setting off).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="How the sink runtime retries a delivery.")
    max_in_flight: int = Field(default=16, ge=1, le=1024, description="Deliveries (or produces) in flight at once.")
    max_batch: int = Field(default=256, ge=1, le=10_000, description="Egress records fetched per poll.")


@dataclass(frozen=True)
class Settlement:
    """How the runtime settled one partner record: accepted (broker acked), rejected (bad input) or failed (retry)."""

    kind: Literal["accepted", "rejected", "failed"]
    event_id: str | None = None
    problem: RecordRejected | None = None


@dataclass
class PartnerRecord:
    """One record read from a partner system, with the transport's callback for its settlement.

    ``data`` is the parsed record, or None when the transport could not parse it - then ``problem`` says why and
    ``raw`` holds the bytes for the dead-letter record. ``origin`` says where it came from (a file name and row, an
    outbox row id) and never holds personal data: it goes into logs and dead-letter headers.
    """

    data: Mapping[str, Any] | None
    origin: str
    raw: bytes = b""
    problem: RecordRejected | None = None
    on_settled: Callable[[Settlement], Awaitable[None]] | None = field(default=None, repr=False)

    async def settle(self, settlement: Settlement) -> None:
        """Called by the runtime exactly once per record, after the broker acked (or the record was rejected)."""
        if self.on_settled is not None:
            await self.on_settled(settlement)


class Source(ABC):
    """Turns a partner system's records into events on its ingress topic.

    Lifecycle, driven by :class:`schakel.connectors.SourceRunner`:

    1. :meth:`start` once. An exception stops the runner before anything is read.
    2. :meth:`records` once; the runner iterates it until it stops. A record is *settled* through
       :meth:`PartnerRecord.settle` only after the broker acknowledged the event (``accepted``), or the record was
       refused (``rejected``: the transport answers 4xx / moves the file to ``failed/`` / marks the outbox row), or
       the broker could not be reached (``failed``: the transport must offer the record again later). So a transport
       never marks a record done before the hub has it: a crash in between means the record is read again, and the
       deterministic event id (see :meth:`to_event`) lets the hub drop the duplicate.
    3. :meth:`to_event` per record, a pure mapping. :class:`~schakel.connectors.errors.RecordRejected` settles that
       record as rejected; nothing else is affected. Any other exception is treated the same way, with code
       ``invalid-record``.
    4. :meth:`stop` once, also after a failure.
    """

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open what the transport needs (bind the webhook port, open the database). Default: nothing."""

    @abstractmethod
    def records(self) -> AsyncIterator[PartnerRecord]:
        """Yield the partner's records as they arrive, until cancelled."""

    @abstractmethod
    def to_event(self, data: Mapping[str, Any]) -> Event:
        """Map one partner record onto the event catalogue; raise RecordRejected for bad input.

        The event id must be deterministic for the partner's record (e.g. a UUIDv5 of its own reference), so that
        a record offered twice becomes the same event twice, which the hub and every sink deduplicate.
        """

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`start` opened. Default: nothing."""


@dataclass(frozen=True)
class Delivery:
    """One egress copy to deliver to one recipient. ``form`` is the projected JSON form (withheld fields null)."""

    event_id: str
    recipient: str
    event_type: str
    form: Mapping[str, Any]
    subject_pseudonym: str | None
    """The recipient's own pseudonym of the person (as in the copy's ``subject.pseudonym``), never the hub's."""
    traceparent: str | None
    attempt: int = 1
    guidance: str | None = None
    """The course of action's reference (``id@version``) the hub attached to the copy, if any."""

    @property
    def idempotency_key(self) -> str:
        """sender + event id + subject + recipient (an event is its source and its id; see
        :func:`schakel.lineage.event_key`): pass it on to the partner system where it can deduplicate too."""
        event = event_key(str(self.form.get("source")), self.event_id, self.subject_pseudonym or "-")
        return f"{event}/{self.recipient}"


class Sink(ABC):
    """Delivers egress copies to a partner system.

    Lifecycle, driven by :class:`schakel.connectors.SinkRunner`:

    1. :meth:`start` once. An exception stops the runner before anything is consumed.
    2. :meth:`deliver` per copy and attempt. Return normally only once the partner system has the copy (its HTTP
       2xx, the file renamed into place, the row committed). Raise
       :class:`~schakel.connectors.errors.TransientDeliveryError` (or anything unexpected) when it may work later:
       the runtime retries with exponential backoff and jitter up to the policy's maximum, then dead-letters.
       Raise :class:`~schakel.connectors.errors.PermanentDeliveryError` when it never will: dead-lettered at once.
       The runtime calls it at most once at a time per subject (ordering), never again after a success (its
       idempotency store), and commits the Kafka offset only after success or dead-letter.
    3. :meth:`fields_sent` after a success, for the delivery receipt.
    4. :meth:`stop` once, also after a failure.
    """

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open what the transport needs. Default: nothing."""

    @abstractmethod
    async def deliver(self, delivery: Delivery) -> None:
        """Hand one copy to the partner system."""

    def fields_sent(self, delivery: Delivery) -> tuple[str, ...]:
        """Names of the governed fields that carried a value to the partner (default: every non-null one)."""
        return governed_fields_with_value(delivery.form)

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`start` opened. Default: nothing."""


def governed_fields_with_value(form: Mapping[str, Any]) -> tuple[str, ...]:
    """The governed field names (``subject.bsn``, ``subject.name``, ``subject.birth_date``, bare payload names)
    whose value in the JSON form is not null."""
    names: list[str] = []
    subject = form.get("subject") or {}
    for key in ("bsn", "name", "birth_date"):
        if subject.get(key) is not None:
            names.append(f"subject.{key}")
    payload = form.get("payload") or {}
    names.extend(key for key, value in payload.items() if value is not None and value != [])
    return tuple(names)


ConfigT = TypeVar("ConfigT", bound=ConnectorConfig)


@dataclass(frozen=True)
class Connector(Generic[ConfigT]):
    """What an entry point in the ``schakel.connectors`` group names: a connector and how to build its parts.

    ``organisation`` is the organisation code whose ``ingress.<org>`` / ``egress.<org>`` topics it serves.
    ``source`` and ``sink`` build the two directions from a validated config (either may be None);
    ``simulation`` builds a simulated partner system in a state directory, for tests and the demo.
    """

    name: str
    organisation: str
    description: str
    config_model: type[ConfigT]
    source: Callable[[ConfigT], Source] | None = None
    sink: Callable[[ConfigT], Sink] | None = None
    simulation: Callable[[Path], SimulatedPartner] | None = None

    def config(self, data: Mapping[str, Any]) -> ConfigT:
        """Validate a config mapping (e.g. read from YAML) into this connector's config model."""
        return self.config_model.model_validate(dict(data))
