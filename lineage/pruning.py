"""Pruning the lineage store per covenant without losing its tamper evidence: a pruned record keeps only its link.

The AVG's storage limitation reaches lineage too, and every covenant names its own lineage period (``retention:
lineage`` for most records, ``consent_history`` for ``ConsentChange`` records: :mod:`schakel.consent.retention`).
``schakel lineage prune`` and the retention job prune each record after *its* covenant's period; a record without a
covenant (a dead letter, the hub's own steps) or with one the hub no longer knows is pruned after the hub's periods
(``SCHAKEL_RETENTION_LINEAGE_DAYS`` / ``SCHAKEL_RETENTION_CONSENT_DAYS``). ``SCHAKEL_LINEAGE_RETENTION_DAYS`` (or
``lineage prune --older-than``), when set, is a ceiling: no record is kept longer, whatever its covenant says.
:class:`LineagePeriods` turns the periods into one cut-off per covenant and record kind (:class:`Cutoffs`).

**Why not cut prefixes any more.** One chain (a partition of the ``lineage`` topic) interleaves records of every
covenant, so the records past their period are scattered through it: a prefix cut would keep a short-period
record for as long as a long-period record before it. Deleting a record from the middle would leave a hole that
cannot be told from a deleted record. So a pruned record is **redacted**: its row leaves ``lineage_record`` and a
skeleton stays in ``lineage_redacted`` - its place in the chain (chain, position, topic offset, previous hash, its
own hash), a hash of its record id (:func:`record_ref`), its end time, its covenant id and its event type. No
body: no pseudonym, no recipient, no fields, no purpose. *Why a table of its own rather than NULLs in place:*
every reader of records (reports, the disclosure register, the export, the personal-data scan) reads
``lineage_record`` only, so a redacted record cannot reach a report by accident and nothing has to learn to skip
it; and the record columns stay ``NOT NULL``.

**How the chain stays verifiable.** ``verify`` walks each chain over both tables in position order. A kept record is
checked as before (its hash is recomputed from its columns). A redacted record's hash can no longer be recomputed, so
it is taken as stored and checked by the chain around it: it must link to the record before it, and the next record
(whose hash covers its ``prev_hash``) or the chain head must link to it. Its skeleton is covered too: each pruning
leaves, per chain it touched, a **redaction mark** (``lineage_redaction``): the cut-offs it applied (JSON), how far
the chain reached then (``upto``), how many records it redacted and a digest over their skeletons, and the hash of
the chain's previous mark - the marks of a chain form a chain of their own from
:data:`~schakel.lineage.chain.GENESIS` (:func:`redaction_hash`). ``verify`` then finds:

- an edit to a kept record (its hash), to a redacted one's link (the next link), to its skeleton (the mark's
  digest), or to a mark (the marks' chain);
- a redacted record put back with its body ("un-pruned"), or a record that should have been pruned but was not: a
  kept record below a mark's ``upto`` that is past that mark's cut-off for its covenant breaks the chain ("past its
  lineage period but not pruned"), and the mark's count and digest no longer match;
- a record redacted that was not past its period at the mark that claims it.

As with the chain heads, publish the marks (``lineage verify`` prints them) where the store's administrators
cannot write, to catch a forged or dropped newest mark.

**Re-ingesting a pruned record is a replay, not news**: the skeleton keeps the hash of the record id and the topic
offset, so a replayed message finds its record at its offset and is counted as a duplicate; the hub re-emitting a
decision finds its record id's hash. A redacted record is never stored again.

**The topic.** Once ingested the store is the system of record, so the ``lineage`` topic need not keep what the store
pruned: :meth:`~schakel.lineage.LineageStore.topic_cut` names, per partition, the lowest offset still needed - the
first record the store still keeps whole, and never past what it has ingested - and ``schakel lineage prune`` deletes
the records below it (``delete_records``), nor past what any lineage store's consumer group has committed. The
topic's ``retention.ms`` (the longest lineage period: :meth:`LineagePeriods.longest`) is the backstop for a record
that a long-period record before it keeps on the topic. *Why not cut everything ingested:* for the records the store
still keeps whole, the topic is the independent copy from which anyone can recompute their chain
(:mod:`schakel.lineage.chain`); only what the store has pruned has no business there.

*Limits, chosen:* a skeleton is kept for good (no personal data, about 300 bytes); folding a run of skeletons into an
anchor would make the marks' digests unverifiable. A pruning writes one mark per chain it touched, so an hourly job
writes up to 24 a day per partition; ``verify`` reads them all (cheap: see ``python -m tests.bench lineage``).

Stores pruned by the earlier prefix cut keep their **anchors** (:class:`Anchor`): ``verify`` still starts such a
chain at its newest anchor, and a replay of a record an anchor covers is still a duplicate (:func:`check_anchors`).
New prunings only redact.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import NamedTuple

from schakel.lineage.chain import GENESIS
from schakel.lineage.record import LineageError

__all__ = [
    "ANCHOR_VERSION",
    "CONSENT_CHANGE",
    "REDACTION_VERSION",
    "Anchor",
    "Cutoffs",
    "LineagePeriods",
    "PruneResult",
    "RedactedRow",
    "Redaction",
    "anchor_hash",
    "check_anchors",
    "check_redactions",
    "record_ref",
    "redaction_hash",
    "skeleton_digest",
    "time_text",
]

ANCHOR_VERSION = b"schakel-lineage-anchor-v1"
REDACTION_VERSION = b"schakel-lineage-redaction-v1"
_SKELETON_VERSION = b"schakel-lineage-skeleton-v1"
CONSENT_CHANGE = "ConsentChange"
"""The event type whose records are kept for the ``consent_history`` period; every other for ``lineage``."""
_DEFAULT = "*"
"""The key of the hub's own cut-offs in :meth:`Cutoffs.to_json` (a covenant id never is ``*``)."""


def time_text(value: datetime) -> str:
    """A time as the store keeps it: fixed width (always microseconds, always ``Z``), so text order is time order."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _hash(version: bytes, parts: Iterable[str]) -> str:
    digest = hashlib.sha256(version)
    for part in parts:
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()


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
    parts = (chain, str(seq), head_hash, "" if last_offset is None else str(last_offset), cutoff, str(pruned))
    return _hash(ANCHOR_VERSION, (*parts, prev_anchor))


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


Pair = tuple[str, str]
"""(cut-off for ``lineage`` records, cut-off for ``ConsentChange`` records), as store time texts."""


@dataclass(frozen=True)
class Cutoffs:
    """The cut-offs one pruning applies: a record that ended before its cut-off is past its period."""

    default: Pair
    """For records without a covenant, or with one not in :attr:`covenants`: the hub's own periods."""
    covenants: Mapping[str, Pair] = field(default_factory=dict)

    def of(self, covenant_id: str | None, event_type: str) -> str:
        """The cut-off of a record of this covenant and event type."""
        pair = self.covenants.get(covenant_id, self.default) if covenant_id is not None else self.default
        return pair[1] if event_type == CONSENT_CHANGE else pair[0]

    @property
    def latest(self) -> str:
        """The latest cut-off of all (the shortest period)."""
        return max(max(pair) for pair in (self.default, *self.covenants.values()))

    def to_json(self) -> str:
        """The canonical text a mark keeps and hashes (sorted, compact)."""
        data = {_DEFAULT: list(self.default), **{key: list(pair) for key, pair in self.covenants.items()}}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Cutoffs:
        """The cut-offs a mark kept (LineageError when the text is not such)."""
        try:
            data = json.loads(text)
            pairs = {str(key): (str(value[0]), str(value[1])) for key, value in data.items() if len(value) == 2}
            if len(pairs) != len(data):
                raise ValueError(text)
            return cls(pairs.pop(_DEFAULT), pairs)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise LineageError("a redaction mark's cut-offs are not readable") from error


@dataclass(frozen=True)
class LineagePeriods:
    """How long lineage records are kept: per covenant and the hub's own, each as (lineage, consent history)."""

    default: tuple[timedelta, timedelta]
    covenants: Mapping[str, tuple[timedelta, timedelta]] = field(default_factory=dict)
    ceiling: timedelta | None = None
    """When set, no record is kept longer than this (``SCHAKEL_LINEAGE_RETENTION_DAYS``, ``--older-than``)."""

    def _capped(self, pair: tuple[timedelta, timedelta]) -> tuple[timedelta, timedelta]:
        if self.ceiling is None:
            return pair
        return min(pair[0], self.ceiling), min(pair[1], self.ceiling)

    def cutoffs(self, now: datetime) -> Cutoffs:
        """The cut-offs at ``now``."""
        for period in (*self.default, *(p for pair in self.covenants.values() for p in pair), self.ceiling):
            if period is not None and period <= timedelta(0):
                raise LineageError("a lineage retention period is positive")

        def at(pair: tuple[timedelta, timedelta]) -> Pair:
            lineage, consent = self._capped(pair)
            return time_text(now - lineage), time_text(now - consent)

        return Cutoffs(at(self.default), {key: at(pair) for key, pair in sorted(self.covenants.items())})

    def longest(self) -> timedelta:
        """The longest period any lineage record is kept (the ``lineage`` topic's ``retention.ms``)."""
        return max(max(self._capped(pair)) for pair in (self.default, *self.covenants.values()))


class RedactedRow(NamedTuple):
    """What a pruned record keeps (``lineage_redacted``): its link, offset, record id, time, covenant and type."""

    chain: str
    seq: int
    lineage_offset: int | None
    prev_hash: str
    hash: str
    record_ref: str
    """:func:`record_ref` of the record id (the id itself names the person's pseudonym and the recipient)."""
    end_time: str
    covenant_id: str | None
    event_type: str
    redaction: int
    """The number of the mark (per chain) of the pruning that redacted it."""


def record_ref(record_id: str) -> str:
    """What a pruned record keeps of its id: ``sha256:`` and the id's SHA-256. *Why not the id:* a record id is
    ``sender/event id/subject pseudonym/recipient/kind`` - personal data. *Why a plain hash is enough:* the event
    id in it is a random UUID that went with the body, so the reference cannot be recomputed from a pseudonym; the
    store still recognises a replayed record by it (its id hashes to the same reference)."""
    return "sha256:" + hashlib.sha256(record_id.encode("utf-8")).hexdigest()


def skeleton_digest(rows: Iterable[RedactedRow]) -> str:
    """The digest over the skeletons one pruning left in one chain (in position order), kept in its mark."""
    parts: list[str] = []
    for row in rows:
        parts += [
            str(row.seq),
            "" if row.lineage_offset is None else str(row.lineage_offset),
            row.prev_hash,
            row.hash,
            row.record_ref,
            row.end_time,
            "" if row.covenant_id is None else f"#{row.covenant_id}",
            row.event_type,
        ]
    return _hash(_SKELETON_VERSION, parts)


@dataclass(frozen=True)
class Redaction:
    """The mark one pruning left in one chain (``lineage_redaction``)."""

    chain: str
    n: int
    """The mark's number in its chain: 0, 1, ..."""
    upto: int
    """The chain's length when it was pruned: the cut-offs apply to the records before this position."""
    cutoffs_text: str
    redacted: int
    """How many records this pruning redacted."""
    digest: str
    """:func:`skeleton_digest` of those records."""
    prev_hash: str
    """The hash of the chain's mark before this one (:data:`GENESIS` for the first)."""
    hash: str

    @cached_property
    def cutoffs(self) -> Cutoffs:
        return Cutoffs.from_json(self.cutoffs_text)


def redaction_hash(chain: str, n: int, upto: int, cutoffs: str, redacted: int, digest: str, prev_hash: str) -> str:
    """The hash of one redaction mark (length-prefixed parts, like a chain link)."""
    return _hash(REDACTION_VERSION, (chain, str(n), str(upto), cutoffs, str(redacted), digest, prev_hash))


def check_redactions(marks: Sequence[Redaction]) -> str | None:
    """Why one chain's marks (in number order) do not form a chain of their own, or None when they do."""
    previous, upto = GENESIS, 0
    for expected, mark in enumerate(marks):
        digest = redaction_hash(
            mark.chain, mark.n, mark.upto, mark.cutoffs_text, mark.redacted, mark.digest, mark.prev_hash
        )
        if mark.n != expected:
            return f"redaction mark {expected} is missing"
        if mark.hash != digest:
            return f"redaction mark {mark.n} does not match its hash"
        if mark.prev_hash != previous:
            return f"redaction mark {mark.n} does not link to the mark before it"
        if mark.upto < upto or mark.redacted < 1:
            return f"redaction mark {mark.n} does not continue where the one before it ended"
        try:
            _ = mark.cutoffs
        except LineageError:
            return f"redaction mark {mark.n}'s cut-offs are not readable"
        previous, upto = mark.hash, mark.upto
    return None


@dataclass(frozen=True)
class PruneResult:
    """What one pruning did: records redacted, per chain; and the cut-offs it applied."""

    cutoffs: Cutoffs
    pruned: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.pruned.values())
