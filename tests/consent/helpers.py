"""Builders for the consent tests: full events of every type, consent changes, fixed times."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from schakel.schemas import Event, EventType, Organisation, field_sensitivities, parse_event

# A moment at which every shipped covenant is in force (the decisions) and a little before it (the events).
EVENT_TIME = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
BSN = "999990019"  # passes the 11-test; synthetic
OTHER_BSN = "999993653"

THEMES = {
    "case-consultation": "OTHER",
    "cter-person-centred": "CTER",
    "lvb-exploitation": "LVB",
    "money-mule-prevention": "MONEY_MULE",
}

FULL_PAYLOADS: Mapping[EventType, dict[str, Any]] = {
    EventType.SIGNAL: {
        "observed_behaviour": "Seen with recruiters near the station.",
        "ideology": "Shares extremist material.",
        "lvb_indication": "School reports a mild intellectual disability.",
        "iban": "NL91ABNA0417164300",
        "fraud_type": "phishing",
        "urgency": "high",
        "youth_context": "Lives with a guardian; youth care involved.",
        "description": "Signal from a neighbourhood officer.",
    },
    EventType.REFERRAL: {
        "reason": "Several partners worry; none can act alone.",
        "goal": "One plan, one lead partner.",
        "invited_partners": ["politie", "ggz"],
        "subject_informed": True,
        "informing_deferred_reason": "Not applicable.",
    },
    EventType.TRIAGE_DECISION: {
        "outcome": "redirected",
        "process_director": "Process director North",
        "feedback": "Better handled by the neighbourhood team.",
        "redirected_to": "Wijkteam Noord",
    },
    EventType.INFORMATION_CONTRIBUTION: {
        "contribution": "Known to us since 2024.",
        "police_record": "Two reports of threats.",
        "prosecution_status": "Conditional dismissal.",
        "probation_supervision": "Under supervision until 2027.",
        "youth_protection_measure": "Family supervision order.",
        "diagnosis": "Psychotic disorder.",
        "in_care": True,
        "secrecy_ground": "legal_duty",
        "deliberation_ref": "GGZ-DLB-2026-0042",
    },
    EventType.CONSULTATION_OUTCOME: {
        "plan": "Mentor and debt counselling; police stay alert.",
        "actions": [{"action_id": "A-1", "partner": "politie", "description": "Talk to him.", "due_date": None}],
        "lead_partner": "gemeente-veiligheid",
        "review_date": "2026-08-01",
    },
    EventType.FEEDBACK: {"action_id": "A-1", "status": "done", "note": "Talked; he was open to help."},
    EventType.CONSENT_CHANGE: {
        "change": "given",
        "grantees": ["politie"],
        "grantor": "zvh",
        "valid_until": "2027-06-01T00:00:00Z",
    },
    EventType.CASE_CLOSED: {"closed_reason": "Plan completed."},
    EventType.SUBJECT_REQUEST: {"kind": "access"},
}


def event_form(
    event_type: EventType,
    source: Organisation,
    purpose: str,
    *,
    addressees: Iterable[Organisation] = (),
    payload: Mapping[str, Any] | None = None,
    bsn: str | None = BSN,
    case_id: str | None = "ZVH-2026-0042",
    case_issuer: Organisation | None = Organisation.ZVH,
    time: datetime = EVENT_TIME,
    event_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The JSON form of an event of ``event_type`` with every governed field filled (``payload`` overrides;
    ``None`` in it drops a field). The case id is the ZVH's (``case_issuer``; None: the sender's own)."""
    merged = {**FULL_PAYLOADS[event_type], **(payload or {})}
    return {
        "id": str(event_id or uuid.uuid4()),
        "type": event_type.value,
        "source": source.value,
        "time": time.isoformat(),
        "subject": {"bsn": bsn, "name": "Sam de Vries", "birth_date": "2007-03-14", "pseudonym": None},
        "case_id": case_id,
        "case_issuer": case_issuer.value if case_id is not None and case_issuer is not None else None,
        "purpose": purpose,
        "theme": THEMES.get(purpose, "OTHER"),
        "addressees": [a.value for a in addressees],
        "payload": merged,
    }


def full_event(event_type: EventType, source: Organisation, purpose: str, **kwargs: Any) -> Event:
    """A valid event with every governed field carrying a value (see :func:`event_form`)."""
    return parse_event(event_form(event_type, source, purpose, **kwargs))


def all_fields(event_type: EventType) -> tuple[str, ...]:
    """Every governed field of the type, in catalogue order."""
    return tuple(field_sensitivities(event_type))


def consent_change(
    source: Organisation,
    grantees: Iterable[Organisation],
    purpose: str,
    *,
    change: str = "given",
    time: datetime = EVENT_TIME,
    valid_until: datetime | None = None,
    grantor: Organisation | str | None = "sender",
    bsn: str | None = BSN,
    case_id: str | None = "ZVH-2026-0042",
) -> Event:
    """A ConsentChange event; its grantor is by default its sender (the party that recorded the consent given to
    itself); ``None`` names no grantor."""
    named = source if grantor == "sender" else grantor
    return full_event(
        EventType.CONSENT_CHANGE,
        source,
        purpose,
        time=time,
        bsn=bsn,
        case_id=case_id,
        payload={
            "change": change,
            "grantees": [g.value for g in grantees],
            "grantor": Organisation(named).value if named is not None else None,
            "valid_until": valid_until.isoformat() if valid_until else None,
        },
    )
