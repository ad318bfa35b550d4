"""Keyed pseudonyms of a person: one hub-wide, and one per recipient.

- :meth:`Pseudonymizer.subject` is the hub's own pseudonym of a person: the Kafka key of every event about them,
  the key of their consent state, and ``data_subject_id`` in lineage. It never leaves the hub in a delivered copy.
- :meth:`Pseudonymizer.for_recipient` is what a recipient gets instead of the BSN where no rule lets the BSN pass:
  an HMAC under a key derived per recipient, so that a recipient can link its own events about one person, but two
  partners' pseudonyms of the same person cannot be linked with each other or with the hub's.

Both take a *subject key*: :func:`subject_key` - ``bsn:<BSN>`` when the event carries a BSN, else
``case:<case_id>`` (the sender did not know the BSN; e.g. a money mule known by an account). The prefixes keep a
case id that happens to look like a BSN from colliding with one. HMAC-SHA256, truncated to 128 bits, hex.
"""

from __future__ import annotations

import hashlib
import hmac

from schakel.consent.errors import ConsentError
from schakel.schemas import Event, Organisation

__all__ = ["Pseudonymizer", "subject_key"]


def subject_key(event: Event) -> str:
    """The stable identifier of the event's person that pseudonyms are made of (never log or publish it)."""
    if event.subject.bsn:
        return f"bsn:{event.subject.bsn}"
    if event.case_id:
        return f"case:{event.case_id}"
    raise ConsentError(f"event {event.id} has neither a BSN nor a case id: its person cannot be keyed")


class Pseudonymizer:
    """Derives pseudonyms from one secret key (``SCHAKEL_PSEUDONYM_KEY``)."""

    __slots__ = ("_recipient_keys", "_root", "_subject_key")

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ConsentError("the pseudonym key must be at least 16 bytes")
        self._root = key
        self._subject_key = self._derive(b"schakel/subject")
        self._recipient_keys: dict[Organisation, bytes] = {}

    def __repr__(self) -> str:
        return "Pseudonymizer(<key hidden>)"

    def _derive(self, label: bytes) -> bytes:
        return hmac.new(self._root, label, hashlib.sha256).digest()

    def subject(self, key: str) -> str:
        """The hub-wide pseudonym of the person with this subject key."""
        return hmac.new(self._subject_key, key.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def for_recipient(self, key: str, recipient: Organisation) -> str:
        """The pseudonym of the person with this subject key as ``recipient`` sees it."""
        derived = self._recipient_keys.get(recipient)
        if derived is None:
            derived = self._derive(b"schakel/recipient/" + Organisation(recipient).value.encode("ascii"))
            self._recipient_keys[recipient] = derived
        return hmac.new(derived, key.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
