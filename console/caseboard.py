"""The ZVH process director's case board: each case from referral to closure, and which ones wait too long. Pure.

Built from what the ZVH received (its inbox: referrals, contributions, feedback) and what it sent itself (triage
decisions, agreed plans, closures). Cases are followed by case id; an event without one belongs to no case here, and
a case id with neither a referral nor a ZVH triage decision (only signals or feedback so far) is not on the board:
the case process starts with the referral.

Stages, in order: referral received -> triage (accepted, redirected or rejected) -> consultation and plan -> closed.
Feedback is listed per partner and action status. Judgement calls on the protocol (:data:`PROTOCOL`), to be set by
the ZVH's own process description:

- triage happens at the weekly triage meeting (:data:`TRIAGE_WEEKDAY`, Tuesday); a referral is due at the first
  meeting at least :data:`TRIAGE_NOTICE` after it arrived, and flagged once that day has passed without a decision;
- an accepted case without an agreed plan is flagged after four weeks; a case with a plan and no closure is flagged
  once the plan's review date has passed (or after 13 weeks without one);
- a redirected or rejected case is done at triage: it leaves the board's flags.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from schakel.console.inbox import InboxItem

__all__ = ["PROTOCOL", "TRIAGE_NOTICE", "TRIAGE_WEEKDAY", "BoardCase", "build_board", "triage_date"]

TRIAGE_WEEKDAY = 1  # Tuesday
TRIAGE_NOTICE = timedelta(days=2)
PROTOCOL = {"triaged": timedelta(weeks=4), "planned": timedelta(weeks=13)}
_DONE_AT_TRIAGE = frozenset({"redirected", "rejected"})


@dataclass(frozen=True)
class BoardCase:
    """One case as the board shows it."""

    case_id: str
    theme: str
    stage: str
    """``referred``, ``triaged``, ``planned`` or ``closed``."""
    stage_since: datetime
    referred_at: datetime | None
    triage_date: date | None
    triage_outcome: str | None
    feedback: tuple[tuple[str, str], ...]
    """(partner, action status) per feedback event, oldest first."""
    overdue: bool


def triage_date(referred: datetime) -> date:
    """The weekly triage meeting that a referral arriving at ``referred`` is due at."""
    earliest = (referred + TRIAGE_NOTICE).date()
    return earliest + timedelta(days=(TRIAGE_WEEKDAY - earliest.weekday()) % 7)


def _time(item: InboxItem) -> datetime:
    return datetime.fromisoformat(item.time)


def _field(item: InboxItem, name: str) -> str | None:
    return next((value for key, value in item.payload if key == name), None)


def _case(case_id: str, events: list[InboxItem], now: datetime) -> BoardCase:
    events.sort(key=_time)
    referral = next((e for e in events if e.event_type == "Referral"), None)
    triage = next((e for e in reversed(events) if e.event_type == "TriageDecision"), None)
    plan = next((e for e in reversed(events) if e.event_type == "ConsultationOutcome"), None)
    closed = next((e for e in reversed(events) if e.event_type == "CaseClosed"), None)
    outcome = _field(triage, "outcome") if triage else None
    due = triage_date(_time(referral)) if referral else None
    if closed:
        stage, since, overdue = "closed", _time(closed), False
    elif plan:
        review = _field(plan, "review_date")
        limit = (
            datetime.combine(date.fromisoformat(review), datetime.min.time(), now.tzinfo)
            if review
            else _time(plan) + PROTOCOL["planned"]
        )
        stage, since, overdue = "planned", _time(plan), now > limit + timedelta(days=1)
    elif triage:
        stage, since = "triaged", _time(triage)
        overdue = outcome not in _DONE_AT_TRIAGE and now > since + PROTOCOL["triaged"]
    else:
        since = _time(referral) if referral else _time(events[0])
        stage = "referred"
        overdue = due is not None and now.date() > due
    return BoardCase(
        case_id=case_id,
        theme=events[0].theme,
        stage=stage,
        stage_since=since,
        referred_at=_time(referral) if referral else None,
        triage_date=due,
        triage_outcome=outcome,
        feedback=tuple((e.source, _field(e, "status") or "-") for e in events if e.event_type == "Feedback"),
        overdue=overdue,
    )


def build_board(events: Iterable[InboxItem], now: datetime) -> list[BoardCase]:
    """Every case with a case id, flagged ones first, then the longest waiting first."""
    per_case: dict[str, dict[str, InboxItem]] = {}
    for event in events:
        if event.case_id:
            per_case.setdefault(event.case_id, {})[event.event_id] = event
    started = {"Referral", "TriageDecision"}
    cases = [
        _case(case_id, list(items.values()), now)
        for case_id, items in per_case.items()
        if any(item.event_type in started for item in items.values())
    ]
    cases.sort(key=lambda c: (not c.overdue, c.stage == "closed", c.stage_since))
    return cases
