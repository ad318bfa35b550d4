"""Hypothesis strategies for the event catalogue, for any package's property tests.

``event_forms()`` draws valid events in their JSON form (every type, or the one given), ``events()`` the same as
models, ``projected_forms()`` JSON forms as the consent processor makes them for a recipient (governed fields
withheld as null, the BSN replaced by a pseudonym): valid for the schema, not necessarily for the ingress rules.
BSNs pass the 11-test, IBANs their checksum; all data is synthetic.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from schakel.schemas import (
    ActionStatus,
    BundleReason,
    ConsentChangeKind,
    Event,
    EventType,
    FraudType,
    Organisation,
    RestrictionChange,
    SecrecyGround,
    SubjectRequestKind,
    Theme,
    TriageOutcome,
    Urgency,
    field_sensitivities,
    format_time,
    parse_event,
)

__all__ = [
    "bsns",
    "event_forms",
    "events",
    "ibans",
    "long_texts",
    "organisations",
    "projected_forms",
    "short_texts",
    "times",
]

_WEIGHTS = range(9, 1, -1)


@st.composite
def bsns(draw: st.DrawFn) -> str:
    """Nine digits passing the 11-test (never all zeros)."""
    digits = draw(st.lists(st.integers(0, 9), min_size=8, max_size=8))
    check = sum(d * w for d, w in zip(digits, _WEIGHTS, strict=True)) % 11
    if check == 10 or (check == 0 and not any(digits)):
        digits[0] = (digits[0] + 1) % 10
        check = sum(d * w for d, w in zip(digits, _WEIGHTS, strict=True)) % 11
    if check == 10:  # rare: shift another digit until the check digit exists
        digits[1] = (digits[1] + 1) % 10
        check = sum(d * w for d, w in zip(digits, _WEIGHTS, strict=True)) % 11
    if check == 10:
        digits[1] = (digits[1] + 1) % 10
        check = sum(d * w for d, w in zip(digits, _WEIGHTS, strict=True)) % 11
    return "".join(map(str, digits)) + str(check)


@st.composite
def ibans(draw: st.DrawFn) -> str:
    """Dutch IBANs with correct check digits, in electronic form."""
    bank = draw(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=4))
    account = draw(st.text(alphabet="0123456789", min_size=10, max_size=10))
    bban = bank + account
    number = int("".join(str(int(ch, 36)) for ch in bban + "NL00"))
    return f"NL{98 - number % 97:02d}{bban}"


_CHARACTERS = st.characters(exclude_categories=["Cs"])  # any Unicode that UTF-8 can carry


def short_texts() -> st.SearchStrategy[str]:
    return st.text(_CHARACTERS, min_size=1, max_size=200)


def long_texts() -> st.SearchStrategy[str]:
    return st.text(_CHARACTERS, min_size=1, max_size=600)


def organisations() -> st.SearchStrategy[Organisation]:
    return st.sampled_from(list(Organisation))


_ZONES = [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]


def times(max_value: datetime | None = None) -> st.SearchStrategy[str]:
    """ISO-8601 times with a timezone, between 2000 and (by default) yesterday, microseconds included."""
    upper = max_value or datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1)
    return st.datetimes(min_value=datetime(2000, 1, 2), max_value=upper, timezones=st.sampled_from(_ZONES)).map(
        lambda value: value.isoformat()
    )


def _dates(low: date = date(1900, 1, 1), high: date = date(2100, 12, 31)) -> st.SearchStrategy[str]:
    return st.dates(min_value=low, max_value=high).map(date.isoformat)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def _values(enum: Any) -> st.SearchStrategy[str]:
    return st.sampled_from([member.value for member in enum])


def _unique_organisations(min_size: int = 0) -> st.SearchStrategy[list[str]]:
    return st.lists(_values(Organisation), min_size=min_size, max_size=len(Organisation), unique=True)


@st.composite
def _payload(draw: st.DrawFn, event_type: EventType, theme: Theme) -> dict[str, Any]:
    o_long, o_short = _optional(long_texts()), _optional(short_texts())
    if event_type is EventType.SIGNAL:
        return {
            "observed_behaviour": draw(o_long),
            "ideology": draw(o_long),
            "lvb_indication": draw(o_long),
            "iban": draw(ibans()) if theme is Theme.MONEY_MULE else draw(_optional(ibans())),
            "fraud_type": draw(_optional(_values(FraudType))),
            "urgency": draw(_values(Urgency)),
            "youth_context": draw(o_long),
            "description": draw(o_long),
        }
    if event_type is EventType.REFERRAL:
        informed = draw(_optional(st.booleans()))
        return {
            "reason": draw(long_texts()),
            "goal": draw(o_long),
            "invited_partners": draw(_optional(_unique_organisations())),
            "subject_informed": informed,
            "informing_deferred_reason": draw(long_texts() if informed is False else o_long),
        }
    if event_type is EventType.TRIAGE_DECISION:
        outcome = draw(_values(TriageOutcome))
        return {
            "outcome": outcome,
            "process_director": draw(o_short),
            "feedback": draw(o_long),
            "redirected_to": draw(short_texts() if outcome == "redirected" else o_short),
        }
    if event_type is EventType.INFORMATION_CONTRIBUTION:
        return {
            "contribution": draw(o_long),
            "police_record": draw(o_long),
            "prosecution_status": draw(o_long),
            "probation_supervision": draw(o_long),
            "youth_protection_measure": draw(o_long),
            "diagnosis": draw(o_long),
            "in_care": draw(_optional(st.booleans())),
            "secrecy_ground": draw(_optional(_values(SecrecyGround))),
            "deliberation_ref": draw(o_short),
        }
    if event_type is EventType.CONSULTATION_OUTCOME:
        action = st.fixed_dictionaries(
            {
                "action_id": short_texts(),
                "partner": _values(Organisation),
                "description": long_texts(),
                "due_date": _optional(_dates(date(2000, 1, 1))),
            }
        )
        return {
            "plan": draw(long_texts()),
            "actions": draw(_optional(st.lists(action, max_size=4))),
            "lead_partner": draw(_optional(_values(Organisation))),
            "review_date": draw(_optional(_dates(date(2000, 1, 1)))),
        }
    if event_type is EventType.FEEDBACK:
        return {"action_id": draw(short_texts()), "status": draw(_values(ActionStatus)), "note": draw(o_long)}
    if event_type is EventType.CONSENT_CHANGE:
        return {
            "change": draw(_values(ConsentChangeKind)),
            "grantees": draw(_unique_organisations(min_size=1)),
            "grantor": draw(_optional(_values(Organisation))),
            "valid_until": draw(_optional(times(max_value=datetime(2099, 12, 31)))),
        }
    if event_type is EventType.CASE_CLOSED:
        return {"closed_reason": draw(long_texts())}
    if event_type is EventType.SIGNAL_BUNDLE:
        signal = st.fixed_dictionaries(
            {
                "event_id": st.uuids().map(str),
                "source": _values(Organisation),
                "theme": _values(Theme),
                "urgency": _optional(_values(Urgency)),
                "time": times(),
            }
        )
        return {"reason": draw(_values(BundleReason)), "signals": draw(st.lists(signal, min_size=1, max_size=4))}
    confirms = draw(_optional(st.uuids().map(str)))
    if draw(st.booleans()):
        return {"kind": draw(_values(SubjectRequestKind)), "restriction": None, "confirms": confirms}
    return {"kind": None, "restriction": draw(_values(RestrictionChange)), "confirms": confirms}


_PURPOSES = st.sampled_from(["case-consultation", "cter-person-centred", "lvb-exploitation", "money-mule-prevention"])
_CASE_IDS = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}\Z")


@st.composite
def event_forms(draw: st.DrawFn, event_type: EventType | None = None) -> dict[str, Any]:
    """A valid event in JSON form (of ``event_type``, or of any type)."""
    chosen = event_type or draw(st.sampled_from(list(EventType)))
    theme = draw(st.sampled_from(list(Theme)))
    has_bsn = draw(st.booleans())
    subject = {
        "bsn": draw(bsns()) if has_bsn else None,
        "name": draw(_optional(short_texts())),
        "birth_date": draw(_optional(_dates(date(1900, 1, 1), date.today() - timedelta(days=1)))),
        "pseudonym": None,
    }
    return {
        "id": str(draw(st.uuids())),
        "type": chosen.value,
        "source": draw(_values(Organisation)),
        "time": draw(times()),
        "subject": subject,
        "case_id": draw(_CASE_IDS if not has_bsn else _optional(_CASE_IDS)),
        "purpose": draw(_PURPOSES),
        "theme": theme.value,
        "addressees": draw(_unique_organisations()),
        "payload": draw(_payload(chosen, theme)),
    }


def events(event_type: EventType | None = None) -> st.SearchStrategy[Event]:
    """A valid :class:`Event` (of ``event_type``, or of any type)."""
    return event_forms(event_type).map(parse_event)


@st.composite
def projected_forms(draw: st.DrawFn, event_type: EventType | None = None) -> dict[str, Any]:
    """A canonical JSON form as a recipient gets it: some governed fields withheld (null), a pseudonym for the BSN."""
    form = draw(events(event_type)).to_json()
    governed = sorted(field_sensitivities(form["type"]))
    withheld = draw(st.sets(st.sampled_from(governed)))
    for name in withheld:
        if name.startswith("subject."):
            form["subject"][name.removeprefix("subject.")] = None
        else:
            form["payload"][name] = None
    if "subject.bsn" in withheld:
        form["subject"]["pseudonym"] = draw(st.from_regex(r"\A[A-Za-z0-9_-]{8,40}\Z"))
    form["time"] = format_time(datetime.fromisoformat(form["time"]))
    return form
