"""Keyed pseudonyms of a person: one hub-wide, and one per recipient.

- :meth:`Pseudonymizer.subject` is the hub's own pseudonym of a person: the Kafka key of every event about them,
  the key of their consent state, and ``data_subject_id`` in lineage. It never leaves the hub in a delivered copy.
- :meth:`Pseudonymizer.for_recipient` is what a recipient gets instead of the BSN where no rule lets the BSN pass:
  an HMAC under a key derived per recipient, so that a recipient can link its own events about one person, but two
  partners' pseudonyms of the same person cannot be linked with each other or with the hub's.

Both take a *subject key*: :func:`subject_key` - ``bsn:<BSN>`` when the event carries a BSN, else
:func:`case_key`, ``case:<issuer>:<case_id>`` (the sender did not know the BSN; e.g. a money mule known by an
account). A case id is namespaced by the organisation that issued it (the envelope's ``case_issuer``, or else the
sender), so two issuers' equal case ids never name one person. The prefixes keep a case id that happens to look like
a BSN from colliding with one. HMAC-SHA256, truncated to 128 bits, hex.

A delivered copy must not carry the hub-wide pseudonym (recipients could link their pseudonyms of one person
through it), yet the connector runtime that delivers the copy writes a delivery receipt about the person into
lineage. :meth:`Pseudonymizer.seal` gives it an opaque per-copy reference instead: the hub pseudonym encrypted
under a key derived from the pseudonym key, with a nonce derived from the copy (event id and recipient) - different
for every copy, so two recipients' references cannot be linked, and the same for a redelivered copy. Only a holder
of the pseudonym key (the hub and the connector runtime) can :meth:`~Pseudonymizer.unseal` it. The cipher is built
from HMAC-SHA256 alone (a keyed pad over the 16 bytes, then a tag over nonce and ciphertext): no extra dependency.

Hot path: each derived key is a :class:`_Mac`, HMAC-SHA256 (RFC 2104) with its inner and outer padded keys hashed
once; one MAC is then two copies of a hash state, about a third of the CPU of ``hmac.new`` (whose OpenSSL 3 context
setup costs more than the hashing itself). A copy takes five MACs (its pseudonym and its sealed reference), an event a
few more. ``tests/consent/test_projection.py`` checks the values against the ``hmac`` module's.
"""

from __future__ import annotations

import hashlib
import hmac

from schakel.consent.errors import ConsentError
from schakel.schemas import Event, Organisation

__all__ = ["Pseudonymizer", "case_key", "subject_key"]


def case_key(event: Event) -> str | None:
    """``case:<issuer>:<case_id>`` for an event with a case id (issuer: ``case_issuer``, else the sender)."""
    if not event.case_id:
        return None
    issuer = event.case_issuer if event.case_issuer is not None else event.source
    return f"case:{Organisation(issuer).value}:{event.case_id}"


def subject_key(event: Event) -> str:
    """The stable identifier of the event's person that pseudonyms are made of (never log or publish it)."""
    if event.subject.bsn:
        return f"bsn:{event.subject.bsn}"
    key = case_key(event)
    if key is not None:
        return key
    raise ConsentError(f"event {event.id} has neither a BSN nor a case id: its person cannot be keyed")


_BLOCK = 64  # SHA-256's block size
_INNER = bytes(byte ^ 0x36 for byte in range(256))
_OUTER = bytes(byte ^ 0x5C for byte in range(256))


class _Mac:
    """HMAC-SHA256 under one key of at most a block (the derived keys are 32 bytes), the padded keys hashed once."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            raise ValueError("a key longer than the hash block")
        padded = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(padded.translate(_INNER))
        self._outer = hashlib.sha256(padded.translate(_OUTER))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


class Pseudonymizer:
    """Derives pseudonyms from one secret key (``SCHAKEL_PSEUDONYM_KEY``)."""

    __slots__ = ("_nonce_key", "_pad_key", "_recipient_keys", "_root", "_subject_key", "_tag_key")

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ConsentError("the pseudonym key must be at least 16 bytes")
        self._root = key
        self._subject_key = _Mac(self._derive(b"schakel/subject"))
        self._nonce_key = _Mac(self._derive(b"schakel/seal/nonce"))
        self._pad_key = _Mac(self._derive(b"schakel/seal/pad"))
        self._tag_key = _Mac(self._derive(b"schakel/seal/tag"))
        self._recipient_keys: dict[Organisation, _Mac] = {}

    def __repr__(self) -> str:
        return "Pseudonymizer(<key hidden>)"

    def _derive(self, label: bytes) -> bytes:
        return hmac.new(self._root, label, hashlib.sha256).digest()

    def subject(self, key: str) -> str:
        """The hub-wide pseudonym of the person with this subject key."""
        return self._subject_key.digest(key.encode("utf-8"))[:16].hex()

    def for_recipient(self, key: str, recipient: Organisation) -> str:
        """The pseudonym of the person with this subject key as ``recipient`` sees it."""
        derived = self._recipient_keys.get(recipient)
        if derived is None:
            derived = _Mac(self._derive(b"schakel/recipient/" + Organisation(recipient).value.encode("ascii")))
            self._recipient_keys[recipient] = derived
        return derived.digest(key.encode("utf-8"))[:16].hex()

    def seal(self, pseudonym: str, copy_id: str) -> str:
        """An opaque reference to the hub pseudonym for one copy (``copy_id``: event id and recipient)."""
        plain = bytes.fromhex(pseudonym)
        nonce = self._nonce_key.digest(copy_id.encode("utf-8"))[:16]
        pad = self._pad_key.digest(nonce)[: len(plain)]
        if len(pad) != len(plain):
            raise ValueError("a pseudonym longer than the pad")
        cipher = (int.from_bytes(plain) ^ int.from_bytes(pad)).to_bytes(len(plain))
        tag = self._tag_key.digest(nonce + cipher)[:16]
        return (nonce + cipher + tag).hex()

    def unseal(self, reference: str) -> str:
        """The hub pseudonym a :meth:`seal` reference stands for; ConsentError if it was not sealed with this key."""
        try:
            raw = bytes.fromhex(reference)
        except ValueError:
            raise ConsentError("a subject reference must be hex") from None
        if len(raw) != 48:
            raise ConsentError("a subject reference has 48 bytes")
        nonce, cipher, tag = raw[:16], raw[16:32], raw[32:]
        expected = self._tag_key.digest(nonce + cipher)[:16]
        if not hmac.compare_digest(tag, expected):
            raise ConsentError("the subject reference was not sealed with this pseudonym key")
        pad = self._pad_key.digest(nonce)[:16]
        return (int.from_bytes(cipher) ^ int.from_bytes(pad)).to_bytes(16).hex()
