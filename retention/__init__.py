"""Retention and crypto-shredding: per-person data keys for what the hub writes to Kafka, destroyed when the
person's retention ends (or their data is erased), and the job that finds who is due.

Pure: :mod:`~schakel.retention.sealing` (AES-256-GCM, the sealed format, the key-encryption key) and
:mod:`~schakel.retention.schedule` (the retention clock). The store: :mod:`~schakel.retention.keystore`. Readers and
the hub: :mod:`~schakel.retention.copies`. The job (Kafka wiring): :mod:`schakel.retention.job`.

For an erasure request: :meth:`KeyStore.shred_subject` destroys one person's key;
:func:`schakel.retention.job.retire` does all of retention's steps for one person (tell the partners, remove the
consent state, destroy the key).
"""

from schakel.retention.copies import UNSEALED_TYPES, Opener, Sealer
from schakel.retention.errors import KeyStoreError, RetentionError, SealError
from schakel.retention.keystore import DueSubject, KeyStore, StoreStatus
from schakel.retention.schedule import SubjectFacts, after_event
from schakel.retention.sealing import KEY_HEADER, Kek, is_sealed

__all__ = [
    "KEY_HEADER",
    "UNSEALED_TYPES",
    "DueSubject",
    "Kek",
    "KeyStore",
    "KeyStoreError",
    "Opener",
    "RetentionError",
    "SealError",
    "Sealer",
    "StoreStatus",
    "SubjectFacts",
    "after_event",
    "is_sealed",
]
