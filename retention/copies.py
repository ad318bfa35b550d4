"""Sealing what the hub writes, and opening it where a partner may read it (sinks, the console, ``schakel tail``).

:class:`Sealer` is the hub's side: each egress copy is sealed with its person's data key, bound to its source,
event id and recipient (the CloudEvents ``ce_source`` and ``ce_id`` headers and ``schakel-recipient``); each dead
letter's original value with its person's key, or - when the record could not be read, so no person is known -
with the key of the day (``dlq:<date>``), destroyed once the ``dlq`` topic's retention has passed. :class:`Opener`
is every reader's side; it looks the data key up in the store on each open.

Fail closed: an opener refuses an unsealed copy, except ``RetentionExpired`` - the notice the retention job sends
after the person's key is gone, which carries nothing but the recipient's own pseudonym of the person - and except
when copies are deliberately written unsealed (``SCHAKEL_ENCRYPT_COPIES=false``: the benchmark's baseline in
development; production refuses to start so, :meth:`schakel.settings.Settings.refuse_unprotected_copies`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from schakel.retention.errors import SealError
from schakel.retention.keystore import KeyStore, dead_letter_owner
from schakel.retention.sealing import (
    KEY_HEADER,
    copy_aad,
    dead_letter_aad,
    is_sealed,
    open_value,
    seal_value,
    sealer,
)
from schakel.settings import Settings

__all__ = ["UNSEALED_TYPES", "Opener", "Sealer", "copy_sealer", "seal_copy_with", "seal_dead_letter_with"]

Headers = list[tuple[str, bytes]]

UNSEALED_TYPES = frozenset({"nl.zorgveiligheid.schakel.RetentionExpired"})
"""The ``ce_type`` of copies the hub writes unsealed (no personal data, sent after the key is destroyed)."""

_RECIPIENT = "schakel-recipient"  # schakel.streams.records.RECIPIENT_HEADER (streams imports this package)
_BINDING = ("ce_source", "ce_id", _RECIPIENT)


def _header(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key == name and value is not None:
            return value.decode("utf-8", errors="replace")
    return None


def _aad(headers: Sequence[tuple[str, bytes]]) -> bytes:
    found: dict[str, bytes] = {}
    for name, value in headers:  # one pass (every copy of every event): the first of each, as _header reads it
        if name in _BINDING and value is not None and name not in found:
            found[name] = value
    source, event_id, recipient = (found.get(name, b"").decode("utf-8", errors="replace") for name in _BINDING)
    if not (source and event_id and recipient):
        raise SealError("a copy without ce_source, ce_id or schakel-recipient cannot be sealed or opened")
    return copy_aad(source, event_id, recipient)


def copy_sealer(key: tuple[str, bytes]) -> Callable[[bytes, Headers], tuple[bytes, Headers]]:
    """Seals copies with this data key (its id and the key), each bound to its own source, event id and recipient:
    for the copies of one event (the hub's :meth:`~schakel.streams.retention_wiring.RetentionKeeper.seal`), so
    the cipher is set up once per event. The key lives only as long as the function returned - no cache of keys."""
    key_id, secret = key
    seal, named = sealer(secret), (KEY_HEADER, key_id.encode())

    def seal_copy(value: bytes, headers: Headers) -> tuple[bytes, Headers]:
        return seal(value, _aad(headers)), [*headers, named]

    return seal_copy


def seal_copy_with(key: tuple[str, bytes], value: bytes, headers: Headers) -> tuple[bytes, Headers]:
    """A copy sealed with this data key (its id and the key), bound to its source, event id and recipient."""
    return copy_sealer(key)(value, headers)


def seal_dead_letter_with(
    key: tuple[str, bytes], value: bytes, topic: str, partition: int, offset: int
) -> tuple[bytes, Headers]:
    """A dead letter's original value sealed with this data key, bound to the record it came from."""
    key_id, secret = key
    return seal_value(secret, value, dead_letter_aad(topic, partition, offset)), [(KEY_HEADER, key_id.encode())]


class Sealer:
    """Seals the hub's egress copies and dead letters (``store`` None: writes them unsealed - the bench only)."""

    def __init__(self, store: KeyStore | None) -> None:
        self.store = store

    @classmethod
    def of(cls, settings: Settings) -> Sealer:
        settings.refuse_unprotected_copies()
        return cls(KeyStore.of(settings) if settings.encrypt_copies else None)

    def seal_copy(self, subject: str, value: bytes, headers: Headers) -> tuple[bytes, Headers]:
        """A copy about ``subject`` (the hub's subject pseudonym), sealed with the person's data key."""
        if self.store is None:
            return value, headers
        return seal_copy_with(self.store.key_for(subject), value, headers)

    def seal_dead_letter(
        self, subject: str | None, value: bytes, topic: str, partition: int, offset: int, at: datetime
    ) -> tuple[bytes, Headers]:
        """A dead letter's original value, sealed with its person's key or, without a person, the day's key."""
        if self.store is None or not value:
            return value, []
        return seal_dead_letter_with(
            self.store.key_for(subject if subject else dead_letter_owner(at)), value, topic, partition, offset
        )


class Opener:
    """Opens sealed copies and dead letters with the live data keys of the store."""

    def __init__(self, store: KeyStore | None, *, require_sealed: bool = True) -> None:
        self.store = store
        self.require_sealed = require_sealed

    @classmethod
    def of(cls, settings: Settings) -> Opener:
        return cls(KeyStore.of(settings), require_sealed=settings.encrypt_copies)

    def _key(self, headers: Sequence[tuple[str, bytes]]) -> bytes:
        key_id = _header(headers, KEY_HEADER)
        if key_id is None or self.store is None:
            raise SealError("a sealed value without its data key's id (or without a key store)")
        key = self.store.key(key_id)
        if key is None:
            raise SealError(f"data key {key_id} is destroyed: the person's retention ended or their data was erased")
        return key

    def open_copy(self, value: bytes, headers: Sequence[tuple[str, bytes]]) -> bytes:
        """The copy's plain bytes; :class:`SealError` when it cannot (or, unsealed, must not) be read."""
        if not is_sealed(value):
            if self.require_sealed and _header(headers, "ce_type") not in UNSEALED_TYPES:
                raise SealError("an unsealed copy: refused (only RetentionExpired notices travel unsealed)")
            return value
        return open_value(self._key(headers), value, _aad(headers))

    def open_dead_letter(self, value: bytes, headers: Sequence[tuple[str, bytes]]) -> bytes:
        """A hub dead letter's original value (empty when it had none)."""
        if not is_sealed(value):
            return value
        topic = _header(headers, "schakel-original-topic")
        partition = _header(headers, "schakel-original-partition")
        offset = _header(headers, "schakel-original-offset")
        if topic is None or partition is None or offset is None:
            raise SealError("a sealed dead letter without its original position")
        return open_value(self._key(headers), value, dead_letter_aad(topic, int(partition), int(offset)))
