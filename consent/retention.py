"""Retention periods: how long what the hub keeps about a person may live, per covenant.

A covenant names up to four periods under ``retention`` (each optional; a missing one is the hub's default from
the settings, ``SCHAKEL_RETENTION_*_DAYS``)::

    retention:
      note: "Vijf jaar na afsluiting van de casus (CaseClosed), daarna vernietiging."   # for readers
      delivered_after_close: P5Y     # the copies delivered about a person, counted from the case's CaseClosed
      signal_without_case: P6M       # a person about whom only signals came and no case was ever opened,
                                     # counted from the last event about them
      consent_history: P5Y           # ConsentChange records in lineage (lineage pruning)
      lineage: P7Y                   # every other lineage record (lineage pruning)

A period is an ISO 8601 duration (``P5Y``, ``P6M``, ``P2W``, ``P30D``, ``PT12H``, ``PT30S``, combinations such as
``P1Y6M``) or a whole number of days. *Why fixed lengths* (a year is 365 days, a month 30): the clock the retention
job runs is an instant plus a length, with no calendar; the difference from calendar arithmetic is a few days over
years, always towards destroying earlier, never later. Bounds: at least one second (the tests' short periods)
and at most :data:`MAX_PERIOD` (30 years) - a longer one is a typo.

Which covenant binds a person's copies: each copy was permitted by one covenant; the hub keeps for each person the
*longest* period among the covenants that permitted a copy about them (``schakel.retention``). *Why the longest:*
one data key protects all of a person's copies, and destroying it at the shortest period would destroy copies
another covenant still lawfully keeps; the covenants of one case are agreed together in the ZVH.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

__all__ = ["MAX_PERIOD", "PERIOD_NAMES", "Retention", "parse_period"]

MAX_PERIOD = timedelta(days=30 * 365)
"""The longest retention period a covenant or the settings may name."""

PERIOD_NAMES = ("delivered_after_close", "signal_without_case", "consent_history", "lineage")

_ISO = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
_DAYS_PER = {"years": 365, "months": 30, "weeks": 7, "days": 1}
_SECONDS_PER = {"hours": 3600, "minutes": 60, "seconds": 1}


def parse_period(value: object) -> timedelta:
    """A retention period from an ISO 8601 duration or a whole number of days; ValueError saying why otherwise."""
    if type(value) is int:
        period = timedelta(days=value)
    elif isinstance(value, str):
        match = _ISO.match(value.strip().upper())
        if match is None:
            raise ValueError("must be an ISO 8601 duration such as P5Y, P6M, P30D or PT30S, or a number of days")
        parts = {name: int(number) for name, number in match.groupdict().items() if number is not None}
        if any(number > 100_000 for number in parts.values()):
            raise ValueError(f"must be at most {MAX_PERIOD.days} days")
        days = sum(parts.get(name, 0) * length for name, length in _DAYS_PER.items())
        seconds = sum(parts.get(name, 0) * length for name, length in _SECONDS_PER.items())
        period = timedelta(days=days, seconds=seconds)
    else:
        raise ValueError("must be an ISO 8601 duration (text) or a whole number of days")
    if period < timedelta(seconds=1):
        raise ValueError("must be positive (at least one second)")
    if period > MAX_PERIOD:
        raise ValueError(f"must be at most {MAX_PERIOD.days} days (30 years)")
    return period


@dataclass(frozen=True)
class Retention:
    """A covenant's retention periods; None where the covenant names none (the hub's default applies)."""

    note: str | None = None
    delivered_after_close: timedelta | None = None
    signal_without_case: timedelta | None = None
    consent_history: timedelta | None = None
    lineage: timedelta | None = None

    def with_defaults(self, defaults: Retention) -> Retention:
        """These periods, each missing one taken from ``defaults``."""
        return Retention(
            note=self.note,
            delivered_after_close=self.delivered_after_close or defaults.delivered_after_close,
            signal_without_case=self.signal_without_case or defaults.signal_without_case,
            consent_history=self.consent_history or defaults.consent_history,
            lineage=self.lineage or defaults.lineage,
        )
