"""When a person's data ends: the retention clock, pure (no I/O, no clock of its own).

The hub keeps, per person (the subject it keys by), the facts the clock needs (:class:`SubjectFacts`): when the
last event about them arrived, whether any event named a case, when the case was closed, and the longest periods of
the covenants that permitted a copy about them (:mod:`schakel.consent.retention` says why the longest).

1. A closed case: the person's copies end ``delivered_after_close`` after the (latest) ``CaseClosed``.
2. A case that is open: no end - the case's partners still work with the copies.
3. Signals that never became a case (no event named a case id): they end ``signal_without_case`` after the last
   event about the person; a new signal restarts the clock.

*Judgement calls.* An event after ``CaseClosed`` does not reopen the case (a late ``Feedback`` must not keep a
person's data forever); only a later ``CaseClosed`` moves the clock, and the later copies end with the rest. The
time of a ``CaseClosed`` is when the hub processed it, not the ``time`` its sender wrote (a sender's clock must not
shorten or lengthen the period).
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
    after_close: timedelta
    without_case: timedelta

    @property
    def due_at(self) -> datetime | None:
        """When the person's data ends, or None while their case is open."""
        if self.case_closed_at is not None:
            return self.case_closed_at + self.after_close
        if self.has_case:
            return None
        return self.last_event_at + self.without_case


def after_event(
    before: SubjectFacts | None,
    *,
    at: datetime,
    names_case: bool,
    closes_case: bool,
    after_close: timedelta,
    without_case: timedelta,
) -> SubjectFacts:
    """The facts once an event about the person (processed ``at``) is taken into account."""
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
        after_close=max(before.after_close, after_close),
        without_case=max(before.without_case, without_case),
    )
