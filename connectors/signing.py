"""Webhook signatures after the Standard Webhooks scheme (https://www.standardwebhooks.com), both directions. Pure:
no I/O; the clock is passed in.

A signed request carries three headers:

- ``webhook-id``: the message's id, the same on every retry of that message (the hub sends the delivery's
  idempotency key, ``<event id>/<recipient>``);
- ``webhook-timestamp``: Unix seconds when it was (re)sent;
- ``webhook-signature``: one or more ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, space-separated -
  one per key while keys are being rotated.

A secret in the scheme's own form (``whsec_<base64>``) is used as the key bytes it encodes; any other secret as its
UTF-8 bytes. A request is accepted when *any* of its signatures matches *any* configured key (the current one and
the previous ones still honoured), its timestamp is within :data:`TOLERANCE` seconds of the hub's clock (either way),
and its ``webhook-id`` was not accepted before (:class:`ReplayCache`).

Judgement calls:

- **Signature before time.** The timestamp is judged only after the signature proved who sent it, so an
  unauthenticated caller learns nothing about the hub's clock.
- **A retry is not a replay.** The scheme sends the same ``webhook-id`` when a partner retries; the id is remembered
  for good only once the hub *answered* it (accepted, or refused for its content). When the hub answered 503 (broker
  away) the id is forgotten, so the partner's retry is taken. A second request with an id still in flight is refused,
  but as not yet done (the webhook answers 503 ``in-flight``: retry), never as a replay - the first attempt may still
  end in a 503, and a partner told "replayed" would never send the message again.
- **The cache is bounded and fails closed.** Ids are kept for twice the tolerance (an older request is refused by
  its timestamp anyway); when the cache is full of ids that cannot yet be dropped, new requests are answered "busy"
  rather than letting an old id be forgotten and replayed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping, Sequence

from schakel.connectors.errors import ConnectorError, RecordRejected

__all__ = [
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE",
    "ReplayCache",
    "ReplayCacheFull",
    "key_bytes",
    "sign",
    "signed_headers",
    "verify",
]

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
TOLERANCE = 300
"""Seconds a request's timestamp may differ from the hub's clock (Standard Webhooks' recommended 5 minutes)."""

_MAX_ID = 256
_MAX_SIGNATURES = 8


def key_bytes(secret: str) -> bytes:
    """The HMAC key of a secret: ``whsec_<base64>`` decoded, else the secret's UTF-8 bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            raise ConnectorError("a whsec_ webhook secret is not valid base64") from None
    return secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of a message."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of a signed message: one signature per secret (several while keys rotate)."""
    if not secrets:
        raise ConnectorError("signing needs at least one secret")
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: " ".join(sign(secret, message_id, timestamp, body) for secret in secrets),
    }


def verify(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, *, now: float, tolerance: int = TOLERANCE
) -> str:
    """The message id of a correctly signed, fresh message; RecordRejected ``bad-signature`` (missing or wrong
    headers, no matching signature) or ``stale-timestamp`` otherwise. Reasons name headers, never their values."""
    message_id = headers.get(ID_HEADER, "")
    stamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not message_id or len(message_id) > _MAX_ID:
        raise RecordRejected("bad-signature", f"missing or over-long {ID_HEADER} header")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise RecordRejected("bad-signature", f"missing or malformed {TIMESTAMP_HEADER} header (Unix seconds)")
    timestamp = int(stamp)
    offered = [part.removeprefix("v1,").encode() for part in given.split() if part.startswith("v1,")]
    expected = [sign(secret, message_id, timestamp, body).removeprefix("v1,").encode() for secret in secrets]
    matched = False
    for signature in offered[:_MAX_SIGNATURES]:
        for candidate in expected:
            matched |= hmac.compare_digest(signature, candidate)  # no early exit: constant work per request
    if not matched:
        raise RecordRejected(
            "bad-signature",
            f"missing or wrong {SIGNATURE_HEADER} (v1, HMAC-SHA256 over id.timestamp.body, base64)",
        )
    if abs(now - timestamp) > tolerance:
        raise RecordRejected(
            "stale-timestamp", f"{TIMESTAMP_HEADER} is more than {tolerance} seconds away from the hub's clock"
        )
    return message_id


class ReplayCacheFull(ConnectorError):  # noqa: N818 - reads as the outcome it names
    """Every remembered id is still within its replay window: the hub cannot take a new one safely now."""


class ReplayCache:
    """The ``webhook-id`` values answered recently (bounded), and those in flight."""

    def __init__(self, capacity: int = 100_000, keep_seconds: float = 2 * TOLERANCE) -> None:
        self.capacity = capacity
        self.keep_seconds = keep_seconds
        self._seen: OrderedDict[str, float] = OrderedDict()  # id -> when it may be forgotten, in insertion order
        self._in_flight: set[str] = set()

    def claim(self, message_id: str, now: float) -> bool:
        """True when ``message_id`` is new (it is then in flight); False for a replay or a concurrent duplicate."""
        self._expire(now)
        if message_id in self._seen or message_id in self._in_flight:
            return False
        if len(self._seen) + len(self._in_flight) >= self.capacity:
            raise ReplayCacheFull("the webhook replay cache is full")
        self._in_flight.add(message_id)
        return True

    def in_flight(self, message_id: str) -> bool:
        """True while a request with ``message_id`` is being answered (its outcome not known yet)."""
        return message_id in self._in_flight

    def answered(self, message_id: str, now: float) -> None:
        """The hub answered the message (accepted or refused it): remember the id for the replay window."""
        self._in_flight.discard(message_id)
        self._seen[message_id] = now + self.keep_seconds
        self._seen.move_to_end(message_id)

    def release(self, message_id: str) -> None:
        """The hub could not take the message (503): forget it, so the partner's retry is taken."""
        self._in_flight.discard(message_id)

    def _expire(self, now: float) -> None:
        while self._seen:
            message_id, until = next(iter(self._seen.items()))
            if until > now:
                break
            del self._seen[message_id]
