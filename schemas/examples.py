"""Realistic, valid example events with synthetic data, for tests, the demo and connector development.

The BSNs are synthetic: drawn from a fixed pool of numbers that pass the 11-test, none of them issued to a person as
far as this project knows (they follow the 11-test pattern only). Names and texts are invented.

>>> event = example_event(EventType.SIGNAL, theme=Theme.MONEY_MULE)
>>> event.payload.iban
'NL91ABNA0417164300'
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from schakel.schemas._catalogue import EventType, Organisation, Theme
from schakel.schemas._models import Event, format_time, parse_event
from schakel.schemas._rules import is_valid_bsn

__all__ = ["PURPOSES", "SYNTHETIC_NAMES", "example_event", "example_form", "synthetic_bsn"]

PURPOSES: Mapping[Theme, str] = {
    Theme.CTER: "cter-person-centred",
    Theme.LVB: "lvb-exploitation",
    Theme.MONEY_MULE: "money-mule-prevention",
    Theme.OTHER: "case-consultation",
}

_SOURCES: Mapping[EventType, Organisation] = {
    EventType.SIGNAL: Organisation.POLITIE,
    EventType.REFERRAL: Organisation.GEMEENTE_VEILIGHEID,
    EventType.TRIAGE_DECISION: Organisation.ZVH,
    EventType.INFORMATION_CONTRIBUTION: Organisation.GGZ,
    EventType.CONSULTATION_OUTCOME: Organisation.ZVH,
    EventType.FEEDBACK: Organisation.RECLASSERING,
    EventType.CONSENT_CHANGE: Organisation.GEMEENTE_SOCIAAL,
    EventType.CASE_CLOSED: Organisation.ZVH,
    EventType.SUBJECT_REQUEST: Organisation.ZVH,
    EventType.SIGNAL_BUNDLE: Organisation.ZVH,
}

SYNTHETIC_NAMES = ("Sam de Vries", "Noor Jansen", "Daan Bakker", "Lotte Visser", "Milan Smit", "Sara Meijer")


def synthetic_bsn(rng: random.Random | None = None) -> str:
    """A nine-digit number that passes the 11-test, starting with 9 so that it is easy to recognise as synthetic."""
    rng = rng or random.Random()
    while True:
        candidate = "9" + "".join(str(rng.randrange(10)) for _ in range(8))
        if is_valid_bsn(candidate):
            return candidate


def _payload(event_type: EventType, theme: Theme, today: date) -> dict[str, Any]:
    if event_type is EventType.SIGNAL:
        payload: dict[str, Any] = {
            "observed_behaviour": "Carries large amounts of cash; recruited by older youths.",
            "urgency": "high",
            "description": "Signal from the neighbourhood police officer.",
        }
        if theme is Theme.MONEY_MULE:
            payload |= {"iban": "NL91ABNA0417164300", "fraud_type": "purchase_fraud"}
        elif theme is Theme.CTER:
            payload |= {"ideology": "Shares extremist content in closed groups."}
        elif theme is Theme.LVB:
            payload |= {"lvb_indication": "School reports indicate a mild intellectual disability."}
        return payload
    if event_type is EventType.REFERRAL:
        return {
            "reason": "Signals from several partners; no single partner can act alone.",
            "goal": "Agree one plan with one lead partner.",
            "invited_partners": ["politie", "ggz", "gemeente-sociaal"],
            "subject_informed": True,
        }
    if event_type is EventType.TRIAGE_DECISION:
        return {"outcome": "accepted", "process_director": "Process director North", "feedback": "On the agenda."}
    if event_type is EventType.INFORMATION_CONTRIBUTION:
        return {
            "contribution": "Known to the outpatient team.",
            "diagnosis": "Anxiety disorder.",
            "in_care": True,
            "secrecy_ground": "consent",
            "deliberation_ref": "GGZ-DLB-2026-0042",
        }
    if event_type is EventType.CONSULTATION_OUTCOME:
        return {
            "plan": "Debt counselling and a mentor; police stay alert to recruitment.",
            "actions": [
                {
                    "action_id": "A-1",
                    "partner": "gemeente-sociaal",
                    "description": "Start debt counselling.",
                    "due_date": (today + timedelta(days=14)).isoformat(),
                },
                {"action_id": "A-2", "partner": "politie", "description": "Talk to the person.", "due_date": None},
            ],
            "lead_partner": "gemeente-sociaal",
            "review_date": (today + timedelta(days=42)).isoformat(),
        }
    if event_type is EventType.FEEDBACK:
        return {"action_id": "A-1", "status": "in_progress", "note": "First appointment made."}
    if event_type is EventType.CONSENT_CHANGE:
        # Recorded by its sender, gemeente-sociaal, to whom the person gave it (the grantor).
        return {
            "change": "given",
            "grantees": ["ggz", "gemeente-sociaal"],
            "grantor": "gemeente-sociaal",
            "valid_until": None,
        }
    if event_type is EventType.CASE_CLOSED:
        return {"closed_reason": "Plan completed; no new signals for six months."}
    if event_type is EventType.SIGNAL_BUNDLE:
        signal = {"event_id": str(uuid.UUID(int=1, version=4)), "theme": theme.value, "urgency": "high"}
        return {
            "reason": "several_partners",
            "signals": [
                {**signal, "source": "politie", "time": f"{today.isoformat()}T08:00:00Z"},
                {
                    **signal,
                    "event_id": str(uuid.UUID(int=2, version=4)),
                    "source": "gemeente-sociaal",
                    "time": f"{today.isoformat()}T09:00:00Z",
                },
            ],
        }
    return {"kind": "access"}


def example_form(
    event_type: EventType | str = EventType.SIGNAL,
    theme: Theme | str = Theme.MONEY_MULE,
    *,
    seed: int | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """The JSON form of a valid example event. ``overrides`` replace top-level fields; a ``payload`` override is
    merged into the example payload (give a key with ``None`` to drop a field)."""
    event_type, theme = EventType(event_type), Theme(theme)
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    form: dict[str, Any] = {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)) if seed is not None else str(uuid.uuid4()),
        "type": event_type.value,
        "source": _SOURCES[event_type].value,
        "time": format_time(now),
        "subject": {
            "bsn": synthetic_bsn(rng),
            "name": rng.choice(SYNTHETIC_NAMES),
            "birth_date": "2006-03-14",
            "pseudonym": None,
        },
        "case_id": f"ZVH-2026-{rng.randrange(10000):04d}",
        "purpose": PURPOSES[theme],
        "theme": theme.value,
        "addressees": [],
        "payload": _payload(event_type, theme, now.date()),
    }
    payload_overrides = overrides.pop("payload", None)
    form |= overrides
    if payload_overrides:
        form["payload"] = {**form["payload"], **payload_overrides}
    return form


def example_event(
    event_type: EventType | str = EventType.SIGNAL,
    theme: Theme | str = Theme.MONEY_MULE,
    *,
    seed: int | None = None,
    **overrides: Any,
) -> Event:
    """A valid example event of ``event_type`` (see :func:`example_form` for ``overrides``)."""
    return parse_event(example_form(event_type, theme, seed=seed, **overrides))
