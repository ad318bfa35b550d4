"""Sealing copies with a person's data key: AES-256-GCM, pure (no I/O), the format every reader opens.

What is sealed. The hub writes two kinds of record that hold personal data and that Kafka keeps until its
retention: copies on ``egress.<org>`` and the original values in dead letters on ``dlq``. Kafka cannot delete one
person's records from the middle of a topic, so each such value is encrypted with a data key of its person; when
the person's retention ends the key is destroyed, and every copy in every topic is unreadable at once
(crypto-shredding).

*Judgement call - the whole value, not the personal fields only.* The value is sealed whole (the Avro bytes of the
copy), and the facts a consumer routes by stay readable in headers that carry no personal data: the CloudEvents
``ce_id``/``ce_type``/``ce_source``/``ce_time``, the recipient, the subject's hub pseudonym, the outcome, the course
of action. Why: the catalogue labels fields ``plain`` that can still carry personal data (a free-text note, a case
id, a date), a field-wise format would need a second schema per type and a decoder of half-encrypted records, and
no consumer needs a payload value without also being entitled to the key. A copy is then either wholly readable
with its person's live key or not at all.

Format of a sealed value: ``SKS1`` (4 bytes, never the start of Avro single-object ``C3 01`` or Confluent ``00``),
a 12-byte random nonce, the ciphertext and its 16-byte tag. The data key's id travels in the header
``schakel-data-key`` (random, not derived from the person). The associated data binds the copy to where it
belongs: ``copy/<source>/<event id>/<recipient>`` for a copy (a sealed value moved to another recipient's topic or
under another event id does not open), ``dlq/<topic>/<partition>/<offset>`` for a dead letter's original value.

Data keys are 32 random bytes, stored only wrapped (AES-256-GCM) by a key-encryption key (KEK) derived from the
setting ``SCHAKEL_KEK`` with HKDF-SHA256; the wrapped key's associated data is its key id, so a wrapped key cannot
be swapped for another's. A KEK has an id (a hash of the derived key) that each wrapped key records: rotation
re-wraps data keys under the new KEK without touching any topic.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from schakel.retention.errors import SealError

__all__ = [
    "KEY_HEADER",
    "SEALED",
    "Kek",
    "copy_aad",
    "dead_letter_aad",
    "is_sealed",
    "new_data_key",
    "open_value",
    "seal_value",
    "sealer",
]

SEALED = b"SKS1"
"""The first bytes of every sealed value."""

KEY_HEADER = "schakel-data-key"
"""The header naming the data key a value is sealed with."""

_NONCE = 12


def new_data_key() -> bytes:
    """A fresh random AES-256 data key."""
    return AESGCM.generate_key(bit_length=256)


def copy_aad(source: str, event_id: str, recipient: str) -> bytes:
    """The associated data of a copy: it opens only as this event's copy for this recipient."""
    return f"copy/{source}/{event_id}/{recipient}".encode()


def dead_letter_aad(topic: str, partition: int, offset: int) -> bytes:
    """The associated data of a dead letter's original value: it opens only as the record it came from."""
    return f"dlq/{topic}/{partition}/{offset}".encode()


def is_sealed(value: bytes | None) -> bool:
    return bool(value) and value[: len(SEALED)] == SEALED  # type: ignore[index]


def seal_value(key: bytes, plain: bytes, aad: bytes) -> bytes:
    """``plain`` sealed with ``key``, bound to ``aad``."""
    return sealer(key)(plain, aad)


def sealer(key: bytes) -> Callable[[bytes, bytes], bytes]:
    """:func:`seal_value` with ``key`` for several values (the copies of one event): the cipher is set up once, and
    held only as long as the function returned. Each value still gets its own random nonce."""
    cipher = AESGCM(key)

    def seal(plain: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return SEALED + nonce + cipher.encrypt(nonce, plain, aad)

    return seal


def open_value(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """The plain value of ``sealed``; :class:`SealError` when it is not sealed with ``key`` for ``aad``."""
    if not is_sealed(sealed) or len(sealed) < len(SEALED) + _NONCE + 16:
        raise SealError("the value is not a sealed copy")
    nonce = sealed[len(SEALED) : len(SEALED) + _NONCE]
    try:
        return AESGCM(key).decrypt(nonce, sealed[len(SEALED) + _NONCE :], aad)
    except InvalidTag:
        raise SealError("the sealed value does not open with its data key here (wrong key, place or bytes)") from None


@dataclass(frozen=True)
class Kek:
    """A key-encryption key: derived from a secret setting, identified by a hash, never shown."""

    key: bytes
    id: str
    _cipher: AESGCM = field(init=False, repr=False, compare=False)
    """Set up once: every event's key look-up unwraps with it (the KEK, not a data key - no data key is kept)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cipher", AESGCM(self.key))

    @classmethod
    def derive(cls, secret: str) -> Kek:
        if len(secret) < 16:
            raise SealError("a key-encryption key must be a secret of at least 16 characters")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"schakel kek v1").derive(secret.encode())
        return cls(key=key, id=hashlib.sha256(b"kek-id:" + key).hexdigest()[:16])

    def wrap(self, key_id: str, data_key: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._cipher.encrypt(nonce, data_key, key_id.encode())

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        try:
            return self._cipher.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], key_id.encode())
        except InvalidTag:
            raise SealError(f"data key {key_id} does not unwrap with key-encryption key {self.id}") from None

    def __repr__(self) -> str:
        return f"Kek(id={self.id!r})"
