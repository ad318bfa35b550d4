"""The lineage store's retention (wiring): each record pruned after its covenant's lineage period, and the topics
the store is fed from (``lineage`` and the partners' ``receipts.<org>``) cut behind the store.

:func:`lineage_periods` reads the periods from the covenants and the settings; :func:`prune_lineage` is what
``schakel lineage prune`` and the retention job call; :func:`cut_lineage_topic` deletes from one of those topics what
the store has ingested and pruned (``schakel lineage prune`` cuts each). How a pruned chain stays verifiable is
:mod:`schakel.lineage.pruning`'s business.

*Who cuts the topics:* ``delete_records`` needs DELETE on the topic, which only the ``lineage`` identity (the store's
ingest, the one component that knows what the store holds) and ``admin`` have
(:func:`schakel.streams.topics.access_grants`). The hub's retention job runs as ``hub``, which may write lineage but
not delete it, so it prunes the store only; ``schakel lineage prune`` (run beside ``lineage ingest``, as
``lineage``) prunes the store and then cuts the topics. Their ``retention.ms`` - the longest lineage period - bounds
what a run that never comes would leave.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schakel.consent import Policy
from schakel.lineage.ingest import DEFAULT_GROUP_ID, PRINCIPAL
from schakel.lineage.pruning import LineagePeriods, PruneResult
from schakel.lineage.record import LineageError
from schakel.lineage.store import LineageStore, open_store
from schakel.settings import Settings

__all__ = ["TopicCut", "cut_lineage_topic", "lineage_periods", "prune_lineage"]


def lineage_periods(
    settings: Settings, policy: Policy | None = None, *, retention_days: int | None = None
) -> LineagePeriods:
    """Each covenant's lineage periods (its ``lineage`` and ``consent_history``, the hub's default where it names
    none), the hub's own for records without a covenant, and the ceiling: ``retention_days`` when given, else
    ``SCHAKEL_LINEAGE_RETENTION_DAYS`` when set. ``policy`` None: the covenants of the settings."""
    if policy is None:
        from schakel.consent import load_policy

        policy = load_policy(settings.covenants_dir)
    lineage = timedelta(days=settings.retention_lineage_days)
    consent = timedelta(days=settings.retention_consent_days)
    covenants = {
        covenant.id: (covenant.retention.lineage or lineage, covenant.retention.consent_history or consent)
        for covenant in policy.covenants
    }
    days = retention_days if retention_days is not None else settings.lineage_retention_days
    if days is not None and days < 1:
        raise LineageError("a lineage retention period is at least one day")
    return LineagePeriods((lineage, consent), covenants, None if days is None else timedelta(days=days))


def prune_lineage(
    settings: Settings,
    *,
    retention_days: int | None = None,
    now: datetime | None = None,
    policy: Policy | None = None,
) -> PruneResult:
    """Prune the configured lineage store: every record past its covenant's period (see :func:`lineage_periods`)."""
    cutoffs = lineage_periods(settings, policy, retention_days=retention_days).cutoffs(now or datetime.now(UTC))
    with open_store(settings.lineage_url, settings.data_dir) as store:
        return store.prune(cutoffs)


@dataclass(frozen=True)
class TopicCut:
    """What one cut of a lineage topic did, per partition: the log start offset before and after."""

    topic: str
    before: dict[int, int]
    after: dict[int, int]
    skipped: dict[int, str]
    """Partitions left alone or cut short of the store's cut, and why."""

    @property
    def deleted(self) -> int:
        """How many offsets the cut removed from the topic."""
        return sum(self.after[p] - self.before[p] for p in self.after)


def cut_lineage_topic(
    settings: Settings, store: LineageStore, *, topic: str | None = None, principal: str = PRINCIPAL
) -> TopicCut:
    """Delete from the ``lineage`` topic (or ``topic``: a receipts topic) the records the store has ingested and
    pruned: below :meth:`LineageStore.topic_cut` in each partition, and never past what any lineage store's consumer
    group (``schakel-lineage-store*``: this store's, a second store's) has committed - a store that lags still needs
    what it has not read. A partition is left alone when the store has not read the topic it has now (a recreated
    topic: another topic id), when it does not know which topic it read (no topic id: it ingested that partition's
    last record without one - its offsets could be a deleted topic's, and a cut at them would delete a new topic's
    records it never read; its next record read with an id lifts this), or when the topic already starts at or
    after the cut."""
    from kafka import KafkaAdminClient, TopicPartition
    from kafka.admin import OffsetSpec

    from schakel.streams.topics import HubTopics

    name = topic or HubTopics.of(settings).lineage
    cuts = store.topic_cut(name)
    admin = KafkaAdminClient(**settings.kafka_client_config(principal), client_id=f"schakel-{principal}-prune")
    try:
        described: list[dict[str, Any]] = admin.describe_topics([name])
        if not described or described[0].get("error_code", 0) != 0:
            raise LineageError(f"the lineage topic {name} cannot be described")
        live_id = described[0].get("topic_id")
        live = None if live_id is None else str(live_id)
        partitions = sorted(int(p["partition_index"]) for p in described[0].get("partitions") or [])
        starts = admin.list_partition_offsets({TopicPartition(name, p): OffsetSpec.EARLIEST for p in partitions})
        before = {tp.partition: int(found.offset) for tp, found in starts.items()}
        wanted: dict[Any, int] = {}
        skipped: dict[int, str] = {}
        for partition in partitions:
            if partition not in cuts:
                skipped[partition] = "nothing of it ingested"
                continue
            low, read_from = cuts[partition]
            if read_from is None and live is not None:
                # Its offsets may be the old topic's: a recreated topic's first records would go unread.
                skipped[partition] = "the store does not know which topic it read (no topic id; recreated?)"
            elif read_from is not None and live is not None and read_from != live:
                skipped[partition] = "the store has not read this topic (recreated)"
            elif low > before[partition]:
                wanted[TopicPartition(name, partition)] = low
        for partition, committed in _committed(admin, name, sorted(tp.partition for tp in wanted)).items():
            tp = TopicPartition(name, partition)
            if committed < wanted[tp]:
                skipped[partition] = f"a lineage store's consumer group has read only up to offset {committed}"
                wanted[tp] = committed
        wanted = {tp: low for tp, low in wanted.items() if low > before[tp.partition]}
        after = dict(before)
        if wanted:
            done = admin.delete_records(wanted)
            for tp, result in done.items():
                after[tp.partition] = int(result["low_watermark"])
    finally:
        admin.close()
    return TopicCut(name, before, after, skipped)


def _committed(admin: Any, topic: str, partitions: list[int]) -> dict[int, int]:
    """Per partition, the lowest offset a lineage store's consumer group has committed on ``topic`` (a group that
    committed nothing there does not count: it has not started on this topic, and starts at its beginning)."""
    from kafka import TopicPartition

    if not partitions:
        return {}
    groups = sorted(str(g["group_id"]) for g in admin.list_groups() if str(g["group_id"]).startswith(DEFAULT_GROUP_ID))
    if not groups:
        return {}
    wanted = [TopicPartition(topic, partition) for partition in partitions]
    lowest: dict[int, int] = {}
    for offsets in admin.list_group_offsets({group: wanted for group in groups}).values():
        for tp, found in offsets.items():
            if found is not None and found.offset >= 0:
                lowest[tp.partition] = min(lowest.get(tp.partition, found.offset), int(found.offset))
    return lowest
