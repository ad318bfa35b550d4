"""When a person's data ends: the retention clock, pure (no I/O, no clock of its own).

The hub keeps, per person (the subject it keys by), the facts the clock needs (:class:`SubjectFacts`): when the
last event about them arrived, whether any event named a case, when the case was closed, and the longest periods of
the covenants that permitted a copy about them (:mod:`schakel.consent.retention` says why the longest).

1. A closed case: the person's copies end ``delivered_after_close`` after the (latest) ``CaseClosed``.
2. A case that is open: no end - the case's partners still work with the copies.
3. Signals that never became a case (no event named a case id): they end ``signal_without_case`` after the last
   event about the person; a new signal restarts the clock.

*Judgement calls.* An event with no permitted copy neither lengthens nor shortens the periods; a person about whom
no copy was ever permitted (say, a consent change delivered to no one) takes the hub's defaults. An event after
``CaseClosed`` does not reopen the case (a late ``Feedback`` must not keep a person's data forever); only a later
``CaseClosed`` moves the clock, and the later copies end with the rest. The time of a ``CaseClosed`` is when the hub
processed it, not the ``time`` its sender wrote (a sender's clock must not shorten or lengthen the period).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

__all__ = ["SubjectFacts", "after_event"]


@dataclass(frozen=True)
class SubjectFacts:
    """What the retention clock knows about one person."""

    last_event_at: datetime
    has_case: bool
    case_closed_at: datetime | None
    after_close: timedelta | None
    """The longest ``delivered_after_close`` of the covenants that permitted a copy; None while none did."""
    without_case: timedelta | None

    def due_at(self, defaults: tuple[timedelta, timedelta]) -> datetime | None:
        """When the person's data ends, or None while their case is open. ``defaults`` (after close, without a
        case) stand in for a period no covenant set yet - a person about whom no copy was ever permitted."""
        if self.case_closed_at is not None:
            return self.case_closed_at + (self.after_close or defaults[0])
        if self.has_case:
            return None
        return self.last_event_at + (self.without_case or defaults[1])


def after_event(
    before: SubjectFacts | None,
    *,
    at: datetime,
    names_case: bool,
    closes_case: bool,
    after_close: timedelta | None,
    without_case: timedelta | None,
) -> SubjectFacts:
    """The facts once an event about the person (processed ``at``) is taken into account; ``after_close`` and
    ``without_case`` are the longest periods of the covenants that permitted a copy of it (None: no copy)."""
    if before is None:
        return SubjectFacts(
            last_event_at=at,
            has_case=names_case or closes_case,
            case_closed_at=at if closes_case else None,
            after_close=after_close,
            without_case=without_case,
        )
    return replace(
        before,
        last_event_at=max(before.last_event_at, at),
        has_case=before.has_case or names_case or closes_case,
        case_closed_at=at if closes_case else before.case_closed_at,
        after_close=_longest(before.after_close, after_close),
        without_case=_longest(before.without_case, without_case),
    )


def _longest(known: timedelta | None, new: timedelta | None) -> timedelta | None:
    return new if known is None else known if new is None else max(known, new)
