"""Pruning the lineage store without losing its tamper evidence: each pruned prefix of a chain leaves an anchor.

The AVG's storage limitation reaches lineage too: a record older than the lineage retention period
(``SCHAKEL_LINEAGE_RETENTION_DAYS``) is removed by ``schakel lineage prune`` or by the retention job
(:meth:`schakel.lineage.LineageStore.prune`). The chains (:mod:`schakel.lineage.chain`) must stay verifiable after
that, and ``verify`` must still find a change to any record that remains. How:

1. **Only a prefix of a chain is pruned**: the records before the first one whose ``end_time`` is at or after the
   cut-off. *Why not every old record:* a hole in the middle of a chain cannot be told from a deleted record. A chain
   is in topic order, which is nearly time order (the hub writes a record when it decides); an old record behind a
   newer one waits for the next run.
2. **The pruned prefix leaves an anchor**: the chain, the sequence number of the first record kept, the hash and
   topic offset of the last record pruned (the pruned segment's chain head), the cut-off, how many records went,
   and the hash of the chain's previous anchor. The anchor's own hash (:func:`anchor_hash`) covers all of it, so the
   anchors of a chain form a chain of their own, starting from :data:`~schakel.lineage.chain.GENESIS`.
3. **``verify`` starts a chain at its newest anchor** instead of at position 0 with the genesis hash: the first
   record kept must link to the anchored hash. Removing an anchor (the chain then "starts" at a position after 0),
   a record after it, or changing either is found. An anchor's pruned records themselves are gone: what the anchor
   proves is that the kept records continue exactly the chain that was cut there. As with the heads, publish the
   anchors (``lineage verify`` prints them) where the store's administrators cannot write, to catch a forged anchor.
4. **Re-ingesting a pruned record is a replay, not news**: a record at an offset the newest anchor covers, older than
   the anchor's cut-off, is counted as a duplicate and not stored again (a recreated topic's new records are newer
   than every cut-off, so they still start a new segment).

``link`` records are pruned like any other: a record kept after its person's link was pruned is still found under
its own identifier, and every later event that names both identifiers writes the link again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from schakel.lineage.chain import GENESIS

__all__ = ["ANCHOR_VERSION", "Anchor", "PruneResult", "anchor_hash", "check_anchors"]

ANCHOR_VERSION = b"schakel-lineage-anchor-v1"


@dataclass(frozen=True)
class Anchor:
    """Where a chain was cut: the records before ``seq`` are gone; the last of them had ``head_hash``."""

    chain: str
    seq: int
    """The sequence number of the first record kept (= how many records the chain ever pruned)."""
    head_hash: str
    """The hash of the last pruned record: the first kept record links to it."""
    last_offset: int | None
    """The topic offset of the last pruned record (None: it had none, or nothing had one)."""
    cutoff: str
    """Records that ended before this time (the store's time text) were pruned."""
    pruned: int
    """How many records this pruning removed."""
    prev_anchor: str
    """The hash of the chain's anchor before this one (:data:`GENESIS` for the first)."""
    hash: str


def anchor_hash(
    chain: str, seq: int, head_hash: str, last_offset: int | None, cutoff: str, pruned: int, prev_anchor: str
) -> str:
    """The hash of one anchor (length-prefixed parts, like a chain link)."""
    digest = hashlib.sha256(ANCHOR_VERSION)
    parts = (chain, str(seq), head_hash, "" if last_offset is None else str(last_offset), cutoff, str(pruned))
    for part in (*parts, prev_anchor):
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()


def check_anchors(anchors: Sequence[Anchor]) -> str | None:
    """Why one chain's anchors (in ``seq`` order) do not form a chain of their own, or None when they do."""
    previous, last_seq = GENESIS, 0
    for anchor in anchors:
        expected = anchor_hash(
            anchor.chain,
            anchor.seq,
            anchor.head_hash,
            anchor.last_offset,
            anchor.cutoff,
            anchor.pruned,
            anchor.prev_anchor,
        )
        if anchor.hash != expected:
            return f"the anchor at position {anchor.seq} does not match its hash"
        if anchor.prev_anchor != previous:
            return f"the anchor at position {anchor.seq} does not link to the anchor before it"
        if anchor.seq - anchor.pruned != last_seq or anchor.pruned < 1:
            return f"the anchor at position {anchor.seq} does not continue where the one before it ended"
        previous, last_seq = anchor.hash, anchor.seq
    return None


@dataclass(frozen=True)
class PruneResult:
    """What one pruning did: records removed, per chain."""

    cutoff: str
    pruned: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.pruned.values())
