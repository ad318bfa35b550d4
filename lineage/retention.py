"""The lineage store's retention: prune what is older than ``SCHAKEL_LINEAGE_RETENTION_DAYS`` (wiring).

:func:`prune_lineage` is what ``schakel lineage prune`` and the retention job call; how a pruned chain stays
verifiable is :mod:`schakel.lineage.pruning`'s business.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schakel.lineage.pruning import PruneResult
from schakel.lineage.record import LineageError
from schakel.lineage.store import open_store
from schakel.settings import Settings

__all__ = ["lineage_cutoff", "prune_lineage"]


def lineage_cutoff(retention_days: int, now: datetime) -> datetime:
    """Records that ended before this time are past a retention of ``retention_days``."""
    if retention_days < 1:
        raise LineageError("a lineage retention period is at least one day")
    return now.astimezone(UTC) - timedelta(days=retention_days)


def prune_lineage(
    settings: Settings, *, retention_days: int | None = None, now: datetime | None = None
) -> PruneResult | None:
    """Prune the configured lineage store to its retention period (``retention_days`` overrides the setting);
    None when no retention period is set (lineage is then kept without limit)."""
    days = retention_days if retention_days is not None else settings.lineage_retention_days
    if days is None:
        return None
    cutoff = lineage_cutoff(days, now or datetime.now(UTC))
    with open_store(settings.lineage_url, settings.data_dir) as store:
        return store.prune(cutoff)
