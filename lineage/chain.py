"""The hash chain that makes the lineage store tamper-evident.

**One chain per partition of each lineage topic, not one global chain.** The store is fed from Kafka topics (``lineage``
and the partners' ``receipts.<org>``), and Kafka orders records only within a partition: the interleaving of partitions
as a consumer sees them differs from run to run. A global chain would therefore depend on consumer timing, and replaying
the topic into a fresh store would give another chain. A chain per partition is a pure function of the topic's content -
anyone can recompute it from the topic and get the same hashes - and it lets several ingest workers write different
partitions without a global lock. The price: the chain orders records within a partition, not across partitions; across
partitions, records are ordered by their own times, which the chain protects as part of each record.

**The store links the chain, not the hub.** Hub workers run in parallel and restart; a hash over "the previous
record" computed in the hub would need a coordinated, crash-safe notion of "previous" across workers. Kafka already
gives one: the order of a partition is total and immutable. So the hub writes plain records, and the store links
them in partition order as it ingests - which also makes every stored link reproducible from the topic.

Records appended without a topic position (tests, a direct import) form one more chain, ``local``.

**A recreated topic starts a new segment.** When the lineage topic is deleted and created again, it has a new topic
id and its offsets start over. The store tells that from a replay by either: a topic id other than the one the
segment was read from, or a new record at an offset the segment already covers (a replayed message there is the
record the store holds at that offset, or one it holds elsewhere by record id). Then the partition's chain continues
as a new segment, ``<topic>#<partition>/<n>`` (``/`` is not allowed in a topic name), and the old segment stays as it
was. Each segment is a chain of its own.

Each link is ``sha256("schakel-lineage-v2" | chain | seq | offset | previous hash | stored row)``, where the stored
row is the record's columns exactly as the store holds them (:func:`row_text`; a ``derived_from`` column that is
NULL is left out, so that stores written before it existed stay valid: ``schakel.lineage.store.hashed_row``); the
first link's previous hash is 64 zeros. Hashing what is stored, not a re-parsed and re-normalised record, means
that any edit that changes what a query reads (an upper-cased id, the same instant in another time zone) changes
the hash. Every record commits to its
content, its place in the chain, its position in the topic and everything before it. A chain head (last sequence
number, hash and topic offset) is kept beside the records, so that removing the last record of a chain, or moving
its offset so that new records would pass as replays, is detected too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, NamedTuple

__all__ = ["GENESIS", "LOCAL_CHAIN", "LineagePosition", "chain_key", "link_hash", "row_text", "segment_chain"]

GENESIS = "0" * 64
LOCAL_CHAIN = "local"
_VERSION = b"schakel-lineage-v2"


class LineagePosition(NamedTuple):
    """Where a lineage record sits on the topic it was read from (``lineage`` or a ``receipts.<org>``)."""

    topic: str
    partition: int
    offset: int
    topic_id: str | None = None
    """The topic's id (Kafka gives a recreated topic a new one), when the consumer knows it."""


def chain_key(position: LineagePosition | None) -> str:
    """The chain a record at ``position`` belongs to: ``<topic>#<partition>``, or ``local`` without a position."""
    return LOCAL_CHAIN if position is None else f"{position.topic}#{position.partition}"


def segment_chain(base: str, segment: int) -> str:
    """The chain name of a partition's ``segment``-th segment (the first keeps the plain ``<topic>#<partition>``)."""
    return base if segment == 0 else f"{base}/{segment}"


def row_text(values: Sequence[Any]) -> str:
    """The stored columns of a record as one text: a compact JSON array (strings, integers and nulls)."""
    return json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))


def link_hash(chain: str, seq: int, offset: int | None, previous: str, stored_row: str) -> str:
    """The hash of one link of a chain (``stored_row``: :func:`row_text` of the record's stored columns)."""
    digest = hashlib.sha256(_VERSION)
    for part in (chain, str(seq), "" if offset is None else str(offset), previous, stored_row):
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()
