"""Denials over time per covenant, rule and reason, and the bar chart of them (an SVG drawn on the server). Pure.

The chart is data (bars with positions and labels) that the template turns into SVG, so no script draws it and the
same numbers are shown in a table beside it for screen readers. A denial with several reasons counts once per reason
in the table; the chart counts denials (decisions) per day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from schakel.lineage import LineageRecord, RecordKind

__all__ = ["Bar", "Chart", "DenialRow", "Summary", "chart", "summarise"]


@dataclass(frozen=True)
class DenialRow:
    day: str
    policy: str
    rule: str
    reason: str
    count: int


@dataclass(frozen=True)
class Summary:
    rows: tuple[DenialRow, ...]
    per_day: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    day: str
    count: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    baseline: int
    bars: tuple[Bar, ...]
    maximum: int


def summarise(records: Iterable[LineageRecord]) -> Summary:
    rows: Counter[tuple[str, str, str, str]] = Counter()
    days: Counter[str] = Counter()
    for record in records:
        if record.kind is not RecordKind.DECISION or record.outcome != "deny":
            continue
        day = record.end_time.date().isoformat()
        days[day] += 1
        for reason in record.reasons or ("-",):
            rows[(day, record.policy_reference or "-", record.rule or "-", reason)] += 1
    return Summary(
        rows=tuple(DenialRow(*key, count) for key, count in sorted(rows.items())),
        per_day=tuple(sorted(days.items())),
    )


def chart(summary: Summary, *, width: int = 640, height: int = 200, last_days: int = 30) -> Chart:
    """Bars of denials per day, the last ``last_days`` days that had any."""
    days = summary.per_day[-last_days:]
    maximum = max((count for _, count in days), default=0)
    top, baseline = 10, height - 30
    slot = width // max(len(days), 1)
    bars = []
    for index, (day, count) in enumerate(days):
        bar_height = round((baseline - top) * count / maximum) if maximum else 0
        bars.append(Bar(index * slot + 4, baseline - bar_height, max(slot - 8, 2), bar_height, day, count))
    return Chart(width, height, baseline, tuple(bars), maximum)
