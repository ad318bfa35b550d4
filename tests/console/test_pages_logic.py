"""The inbox items, filters and case grouping, the case board and the denials summary (pure, no broker)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from schakel.console.agenda import agenda_proposals, proposal_of
from schakel.console.caseboard import build_board, triage_date
from schakel.console.denials import chart, summarise
from schakel.console.inbox import DecisionNote, Filters, group_cases, item_from_copy
from tests.lineage.factory import decision

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)  # a Tuesday


def _form(event_type: str = "Referral", case_id: str | None = "ZVH-1", **payload: Any) -> dict[str, Any]:
    return {
        "id": f"{event_type}-{case_id}-{sorted(payload.items())}",
        "type": event_type,
        "source": "gemeente-veiligheid",
        "time": "2026-12-01T09:00:00Z",
        "subject": {"bsn": None, "name": "Sam", "birth_date": None, "pseudonym": "p-1"},
        "case_id": case_id,
        "purpose": "cter-person-centred",
        "theme": "CTER",
        "addressees": [],
        "payload": {"reason": "r", "goal": None, "invited_partners": ["politie", "ggz"], "subject_informed": True}
        | payload,
    }


def test_an_item_shows_only_filled_fields_as_text() -> None:
    item = item_from_copy("zvh", _form(), T0)
    assert item.subject == (("name", "Sam"),)
    assert dict(item.payload) == {"reason": "r", "invited_partners": "politie, ggz", "subject_informed": "ja"}
    assert item.decision is None
    record = decision(recipient="zvh", outcome="partial", fields_withheld=("subject.bsn",))
    note = DecisionNote.of(record)
    assert item.decided(note).decision == note
    assert note.fields_withheld == ("subject.bsn",)


def test_filters() -> None:
    referral = item_from_copy("zvh", _form(), T0)
    feedback = item_from_copy("zvh", _form("Feedback", "ZVH-2"), T0)
    assert Filters.of({}).apply([referral, feedback]) == [referral, feedback]
    assert Filters.of({"type": "Feedback"}).apply([referral, feedback]) == [feedback]
    assert Filters.of({"case": "ZVH-1"}).apply([referral, feedback]) == [referral]
    assert Filters.of({"theme": "LVB"}).apply([referral, feedback]) == []


def test_cases_group_by_case_id_or_pseudonym() -> None:
    a = item_from_copy("zvh", _form(), T0)
    b = item_from_copy("zvh", _form("Feedback"), T0 + timedelta(minutes=1))
    c = item_from_copy("zvh", _form(case_id=None), T0 + timedelta(minutes=2))
    groups = group_cases([a, b, c])
    assert [g.key for g in groups] == ["person:p-1", "case:ZVH-1"]
    assert groups[1].items == (b, a)


def test_triage_date_is_the_first_tuesday_after_notice() -> None:
    assert triage_date(T0) == date(2026, 12, 8)  # Tuesday + 2 days' notice -> next Tuesday
    assert triage_date(datetime(2026, 11, 28, tzinfo=UTC)) == date(2026, 12, 1)  # Saturday -> Tuesday


def _at(form: dict[str, Any], when: datetime) -> dict[str, Any]:
    return form | {"time": when.isoformat()}


def test_board_stages_and_flags() -> None:
    events = [
        item_from_copy("zvh", _at(_form(case_id="A"), T0), T0),
        item_from_copy("zvh", _at(_form(case_id="B"), T0), T0),
        item_from_copy("zvh", _at(_form("TriageDecision", "B", outcome="accepted"), T0 + timedelta(days=7)), T0),
        item_from_copy("zvh", _at(_form("Feedback", "B", status="done"), T0 + timedelta(days=8)), T0),
        item_from_copy("zvh", _at(_form(case_id="C"), T0), T0),
        item_from_copy("zvh", _at(_form("CaseClosed", "C"), T0 + timedelta(days=3)), T0),
        item_from_copy("zvh", _at(_form("Feedback", "D", status="done"), T0), T0),
    ]
    board = {case.case_id: case for case in build_board(events, T0 + timedelta(days=9))}
    assert set(board) == {"A", "B", "C"}  # D has no referral: its case process has not started
    assert (board["A"].stage, board["A"].overdue) == ("referred", True)  # triage day 8 Dec has passed
    assert (board["B"].stage, board["B"].triage_outcome, board["B"].overdue) == ("triaged", "accepted", False)
    assert board["B"].feedback == (("gemeente-veiligheid", "done"),)
    assert (board["C"].stage, board["C"].overdue) == ("closed", False)
    early = {case.case_id: case for case in build_board(events, T0 + timedelta(days=2))}
    assert not early["A"].overdue


def test_denials_per_day_rule_and_reason() -> None:
    records = [
        decision(outcome="deny", reasons=("no-rule",), fields_withheld=("reason",)),
        decision(outcome="deny", reasons=("no-rule", "purpose-mismatch"), at=T0 + timedelta(days=1)),
        decision(outcome="permit"),
    ]
    summary = summarise(records)
    assert sum(count for _, count in summary.per_day) == 2
    assert [(row.day, row.reason, row.count) for row in summary.rows] == [
        ("2026-11-02", "no-rule", 1),
        ("2026-12-02", "no-rule", 1),
        ("2026-12-02", "purpose-mismatch", 1),
    ]
    drawn = chart(summary)
    assert [bar.count for bar in drawn.bars] == [1, 1]
    assert all(bar.height > 0 for bar in drawn.bars)
    assert chart(summarise([])).bars == ()


def _bundle(bundle_id: str, pseudonym: str, time: str, *signals: tuple[str, str]) -> dict[str, Any]:
    return {
        "id": bundle_id,
        "type": "SignalBundle",
        "source": "zvh",
        "time": time,
        "subject": {"bsn": None, "name": None, "birth_date": None, "pseudonym": pseudonym},
        "case_id": None,
        "purpose": "case-consultation",
        "theme": "LVB",
        "addressees": [],
        "payload": {
            "reason": "several_partners",
            "signals": [
                {
                    "event_id": event_id,
                    "source": source,
                    "theme": "LVB",
                    "urgency": None,
                    "time": f"2026-11-0{n}T09:00Z",
                }
                for n, (event_id, source) in enumerate(signals, start=1)
            ],
        },
    }


def test_a_bundle_item_carries_its_signals_and_another_item_none() -> None:
    item = item_from_copy("zvh", _bundle("b-1", "p-1", "2026-12-01T09:00Z", ("e-1", "politie"), ("e-2", "om")), T0)
    assert item.bundle is not None
    assert [s.event_id for s in item.bundle.signals] == ["e-1", "e-2"]
    assert item.bundle.partners == ("politie", "om")
    assert item.bundle.urgencies == ()
    assert item_from_copy("zvh", _form(), T0).bundle is None


def test_the_board_keeps_the_latest_proposal_per_person() -> None:
    first = proposal_of(_bundle("b-1", "p-1", "2026-12-01T09:00Z", ("e-1", "politie"), ("e-2", "om")))
    third = proposal_of(_bundle("b-2", "p-1", "2026-12-01T10:00Z", ("e-1", "politie"), ("e-2", "om"), ("e-3", "ggz")))
    other = proposal_of(_bundle("b-3", "p-2", "2026-12-01T09:30Z", ("e-4", "politie"), ("e-5", "om")))
    assert first is not None
    assert third is not None
    assert other is not None
    # A withdrawal makes the next bundle smaller: still the latest one counts.
    after = proposal_of(_bundle("b-4", "p-1", "2026-12-01T11:00Z", ("e-3", "ggz"), ("e-6", "politie")))
    assert after is not None
    assert agenda_proposals([third, first, other]) == [third, other]
    assert agenda_proposals([after, third, first, other]) == [after, other]
