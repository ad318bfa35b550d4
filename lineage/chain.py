"""The hash chain that makes the lineage store tamper-evident.

**One chain per partition of the lineage topic, not one global chain.** The store is fed from a Kafka topic, and
Kafka orders records only within a partition: the interleaving of partitions as a consumer sees them differs from
run to run. A global chain would therefore depend on consumer timing, and replaying the topic into a fresh store
would give another chain. A chain per partition is a pure function of the topic's content - anyone can recompute it
from the topic and get the same hashes - and it lets several ingest workers write different partitions without a
global lock. The price: the chain orders records within a partition, not across partitions; across partitions,
records are ordered by their own times, which the chain protects as part of each record.

**The store links the chain, not the hub.** Hub workers run in parallel and restart; a hash over "the previous
record" computed in the hub would need a coordinated, crash-safe notion of "previous" across workers. Kafka already
gives one: the order of a partition is total and immutable. So the hub writes plain records, and the store links
them in partition order as it ingests - which also makes every stored link reproducible from the topic.

Records appended without a topic position (tests, a direct import) form one more chain, ``local``.

Each link is ``sha256("schakel-lineage-v1" | chain | seq | offset | previous hash | canonical record JSON)``; the
first link's previous hash is 64 zeros. Every record therefore commits to its content, its place in the chain, its
position in the topic and everything before it. A chain head (last sequence number and hash) is kept beside the
records, so that removing the last record of a chain is detected too.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

__all__ = ["GENESIS", "LOCAL_CHAIN", "LineagePosition", "chain_key", "link_hash"]

GENESIS = "0" * 64
LOCAL_CHAIN = "local"
_VERSION = b"schakel-lineage-v1"


class LineagePosition(NamedTuple):
    """Where a lineage record sits on the ``lineage`` topic."""

    topic: str
    partition: int
    offset: int


def chain_key(position: LineagePosition | None) -> str:
    """The chain a record at ``position`` belongs to: ``<topic>#<partition>``, or ``local`` without a position."""
    return LOCAL_CHAIN if position is None else f"{position.topic}#{position.partition}"


def link_hash(chain: str, seq: int, offset: int | None, previous: str, canonical_record: str) -> str:
    """The hash of one link of a chain."""
    digest = hashlib.sha256(_VERSION)
    for part in (chain, str(seq), "" if offset is None else str(offset), previous, canonical_record):
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()
