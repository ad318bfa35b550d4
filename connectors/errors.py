"""The connectors package's errors, all under :class:`schakel.errors.SchakelError`.

Two families. A *partner's bad input* (:class:`RecordRejected`) is settled per record: the webhook answers 4xx with
the reason, a file or outbox row is dead-lettered; nothing else stops. A *delivery failure* is how a sink tells the
runtime what happened, faststream-style: :class:`TransientDeliveryError` (and any unexpected exception) means "try
again later" - the runtime retries with backoff; :class:`PermanentDeliveryError` means "this will never work" - the
runtime dead-letters at once. Messages name codes, fields, files and offsets, never a value about a person.
"""

from __future__ import annotations

__all__ = [
    "ConnectorConfigError",
    "ConnectorError",
    "ConnectorNotFound",
    "DeliveryError",
    "PermanentDeliveryError",
    "RecordRejected",
    "TransientDeliveryError",
]

from schakel.errors import SchakelError


class ConnectorError(SchakelError):
    """Base class of the connectors package's errors."""


class ConnectorNotFound(ConnectorError):  # noqa: N818 - reads as the outcome it names
    """No installed connector has that name (the message lists the installed ones)."""


class ConnectorConfigError(ConnectorError):
    """A connector's configuration is missing or invalid (the message names the file and the fields)."""


class RecordRejected(ConnectorError):  # noqa: N818 - reads as the outcome it names
    """A partner record cannot become an event. ``code`` is machine-readable, ``reason`` a sentence for the partner.

    Codes used by the shipped transports and mappings: ``malformed-json``, ``malformed-csv``, ``bad-signature``,
    ``oversized-body``, ``unknown-event-type``, ``invalid-record``.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class DeliveryError(ConnectorError):
    """A sink could not deliver one egress copy."""


class TransientDeliveryError(DeliveryError):
    """The partner system is slow, down or busy: the runtime retries with exponential backoff and jitter."""


class PermanentDeliveryError(DeliveryError):
    """The partner system refused the copy for good (e.g. HTTP 400): the runtime dead-letters it without retrying."""
