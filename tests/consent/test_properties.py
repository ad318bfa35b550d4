"""Property-based tests over random covenants, events, consent histories, recipients and times.

Five properties, 2,000 examples each in `make soak` - 10,000 - and 1,000 each in `make test` (marker ``thorough``,
see tests/conftest.py; the covenants also draw which parties may record
a rule's consent, which themes each purpose allows; the histories who recorded each change and for which grantor;
the scenario which partners the ZVH invited to the case):

1. no field outside the applied rule is ever sent, and the applied rule really matches and is in force;
2. no decision without a rule is a permit - checked against a brute-force reference implementation that scans every
   rule of every covenant (the engine's index, caches and tie-breaks must agree with it exactly);
3. withdrawal is monotonic, whoever records it: it never changes a decision for a moment before it, never turns a
   denial into a delivery, and after it no delivery rests on the withdrawn consent;
4. decisions are deterministic (same inputs, fresh or warm caches, one at a time or all candidates at once);
5. the BSN never appears in a decision or a projected copy for a recipient whose rule does not name it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schakel.consent import (
    CONTROLLER,
    SECRECY_GROUNDS,
    Conditions,
    ConsentState,
    Covenant,
    Decision,
    Outcome,
    Policy,
    Pseudonymizer,
    Rule,
    project,
    subject_key,
)
from schakel.schemas import Event, EventType, Organisation, Theme, parse_event
from tests.conftest import sized

from .helpers import BSN, FULL_PAYLOADS, all_fields, event_form

pytestmark = pytest.mark.thorough

ORGS = tuple(Organisation)
TYPES = tuple(
    t for t in EventType if t not in (EventType.SIGNAL_BUNDLE, EventType.RETENTION_EXPIRED)
)  # the hub makes them
PURPOSES = ("p-alpha", "p-beta")
THEMES = (Theme.CTER, Theme.LVB, Theme.OTHER)  # not MONEY_MULE: a money-mule signal needs an IBAN
REQUIRED = {
    EventType.SIGNAL: {"urgency"},
    EventType.REFERRAL: {"reason"},
    EventType.TRIAGE_DECISION: {"outcome"},
    EventType.INFORMATION_CONTRIBUTION: set(),
    EventType.CONSULTATION_OUTCOME: {"plan"},
    EventType.FEEDBACK: {"action_id", "status"},
    EventType.CONSENT_CHANGE: {"change", "grantees", "grantor"},
    EventType.CASE_CLOSED: {"closed_reason"},
    EventType.SUBJECT_REQUEST: {"kind"},
}
BASES = {
    "general": ("AVG 6(1)(e)", "Wpg 20", "Wjsg 39f"),
    "bsn": ("Wabb 10",),
    "health": ("AVG 9(2)(g)", "Wpg 5"),
    "belief": ("AVG 9(2)(g)", "Wpg 5"),
    "criminal": ("AVG 10", "Wpg 20", "Wjsg 39f"),
    "youth": ("Jeugdwet 7.4.0", "Wpg 20", "Wjsg 39f"),
}
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
START = datetime(2025, 1, 1, tzinfo=UTC)
KEY = b"property-test-pseudonym-key-0123456789"
EXAMPLES = sized(thorough=2000, quick=1000)
SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}


# ---------------------------------------------------------------------------------------------------- strategies
# Each rule, covenant, event and consent change is drawn as ONE integer and decoded field by field (type, senders,
# fields, flags, ...): data generation, not the engine, dominates these tests, and a draw costs far more than the
# decoding. Hypothesis still shrinks each integer towards 0, i.e. towards the smallest rule, event or change.


class _Bits:
    """Takes values off an integer: ``take(n)`` is a value in ``range(n)``."""

    def __init__(self, value: int) -> None:
        self.value = value

    def take(self, n: int) -> int:
        self.value, part = divmod(self.value, n)
        return part

    def subset(self, items: tuple[Any, ...], *, min_size: int = 0, max_size: int | None = None) -> list[Any]:
        mask = self.take(2 ** len(items))
        chosen = [item for bit, item in enumerate(items) if mask >> bit & 1]
        if len(chosen) < min_size:
            chosen = [items[mask % len(items)]]
        return chosen[:max_size] if max_size is not None else chosen


_WORDS = st.integers(0, 2**96 - 1)


def _rule(index: int, bits: _Bits) -> Rule:
    event_type = TYPES[bits.take(len(TYPES))]
    senders = bits.subset(ORGS, min_size=1, max_size=3)
    recipients = bits.subset(ORGS, min_size=1, max_size=4)
    purpose = PURPOSES[bits.take(len(PURPOSES))]
    fields = bits.subset(all_fields(event_type))
    flags = bits.take(4)
    grounds = bits.subset(SECRECY_GROUNDS) if event_type is EventType.INFORMATION_CONTRIBUTION else []
    recorded_by: list[str] = []
    if flags & 1 or "consent" in grounds:
        recorded_by = [CONTROLLER] if bits.take(3) else []
        recorded_by += [org.value for org in bits.subset(ORGS, max_size=2)]
        recorded_by = recorded_by or [CONTROLLER]
    return Rule.model_construct(  # known-valid values: skip validation, generation dominates the run time
        id=str(index + 1),
        title=f"rule {index + 1}",
        event_types=(event_type,),
        senders=tuple(senders),
        recipients=tuple(recipients),
        purpose=purpose,
        fields=tuple(fields),
        legal_basis=dict(BASES),
        conditions=Conditions(
            consent=bool(flags & 1),
            consent_recorded_by=tuple(recorded_by),
            invited=bool(flags & 2),
            secrecy_grounds=tuple(grounds),
        ),
    )


@st.composite
def covenants(draw: st.DrawFn) -> tuple[Covenant, ...]:
    result = []
    for number in range(1 + draw(st.integers(0, 1))):
        head = _Bits(draw(_WORDS))
        count = 1 + head.take(5)
        valid_from = date(2025, 1, 1) + timedelta(days=head.take(730))
        length = head.take(1000)
        result.append(
            Covenant.model_construct(
                id=f"c{number}",
                version=f"{number:012x}",
                source=f"c{number}.yaml",
                title_nl="c",
                title_en="c",
                valid_from=valid_from,
                valid_until=None if length >= 900 else valid_from + timedelta(days=length),
                partners={"all": ORGS},
                purposes={p: p for p in PURPOSES},
                purpose_themes={p: tuple(head.subset(THEMES, min_size=1)) for p in PURPOSES},
                rules=tuple(_rule(i, _Bits(draw(_WORDS))) for i in range(count)),
            )
        )
    return tuple(result)


def _event_form(
    event_type: EventType,
    source: Organisation,
    purpose: str,
    present: list[str],
    addressees: list[Organisation],
    secrecy_ground: str | None,
    event_time: datetime,
    bsn: str,
    theme: Theme,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        name: (value if name in present or name in REQUIRED[event_type] else None)
        for name, value in FULL_PAYLOADS[event_type].items()
    }
    if event_type is EventType.TRIAGE_DECISION:
        payload["outcome"] = "accepted"
    if event_type is EventType.INFORMATION_CONTRIBUTION:
        payload["secrecy_ground"] = secrecy_ground
    form = event_form(event_type, source, purpose, addressees=addressees, payload=payload, time=event_time, bsn=bsn)
    for name in ("name", "birth_date"):
        if f"subject.{name}" not in present:
            form["subject"][name] = None
    if "subject.bsn" not in present:
        form["subject"]["bsn"] = None
    form["theme"] = theme.value
    return form


@st.composite
def events(draw: st.DrawFn, policy_rules: list[Rule]) -> Event:
    """An event, most of the time of a type, sender and purpose that some rule names."""
    bits = _Bits(draw(_WORDS))
    if policy_rules and bits.take(5) > 0:
        rule = policy_rules[bits.take(len(policy_rules))]
        event_type, purpose = rule.event_types[0], rule.purpose
        source = rule.senders[bits.take(len(rule.senders))]
    else:
        event_type, source = TYPES[bits.take(len(TYPES))], ORGS[bits.take(len(ORGS))]
        purpose = (*PURPOSES, "p-gamma")[bits.take(3)]
    present = bits.subset(all_fields(event_type))
    addressees = bits.subset(ORGS, max_size=3) if bits.take(2) else []
    ground = (None, *SECRECY_GROUNDS)[bits.take(4)]
    moment = START + timedelta(seconds=bits.take(600 * 86400))
    theme = THEMES[bits.take(len(THEMES))]
    return parse_event(_event_form(event_type, source, purpose, present, addressees, ground, moment, BSN, theme))


@dataclass(frozen=True)
class Change:
    time: datetime
    grantees: tuple[Organisation, ...]
    purpose: str
    given: bool
    valid_until: datetime | None
    event: Event
    recorded_by: Organisation
    grantor: Organisation | None


@st.composite
def changes(
    draw: st.DrawFn,
    grantee: Organisation | None = None,
    purpose: str | None = None,
    *,
    withdrawn: bool = False,
    recorded_by: Organisation | None = None,
) -> Change:
    bits = _Bits(draw(_WORDS))
    moment = START + timedelta(seconds=bits.take(600 * 86400))
    grantees = bits.subset(ORGS, min_size=1, max_size=3)
    if grantee is not None and grantee not in grantees:
        grantees.append(grantee)
    chosen_purpose = PURPOSES[bits.take(len(PURPOSES))]
    purpose = purpose or chosen_purpose
    given = not withdrawn and bits.take(2) == 1
    expires = bits.take(2) == 1
    valid_until = moment + timedelta(days=bits.take(200)) if given and expires else None
    source = recorded_by if recorded_by is not None else ORGS[bits.take(len(ORGS))]
    grantor: Organisation | None = (source, source, ORGS[bits.take(len(ORGS))], None)[bits.take(4)]
    form = event_form(
        EventType.CONSENT_CHANGE,
        source,
        purpose,
        time=moment,
        payload={
            "change": "given" if given else "withdrawn",
            "grantees": [g.value for g in grantees],
            "grantor": grantor.value if grantor is not None else None,
            "valid_until": valid_until.isoformat() if valid_until else None,
        },
    )
    return Change(moment, tuple(grantees), purpose, given, valid_until, parse_event(form), source, grantor)


def _state(history: list[Change]) -> ConsentState:
    state = ConsentState()
    for change in history:
        state = state.apply(change.event)
    return state


# ------------------------------------------------------------------------------------------ the brute-force reference


def _counts(change: Change, rule: Rule, controller: Organisation) -> bool:
    """A withdrawal from anyone; a consent only from its own grantor, where the rule names that grantor."""
    if not change.given:
        return True
    named = rule.conditions.consent_recorded_by
    return change.grantor == change.recorded_by and (
        (CONTROLLER in named and change.grantor == controller) or (str(change.grantor) in named)
    )


def _reference_consent(
    history: list[Change], grantee: Organisation, purpose: str, at: datetime, rule: Rule, controller: Organisation
) -> bool:
    relevant = [
        c
        for c in history
        if grantee in c.grantees and c.purpose == purpose and c.time <= at and _counts(c, rule, controller)
    ]
    if not relevant:
        return False
    latest = max(relevant, key=lambda c: (c.time, str(c.event.id)))
    return latest.given and (latest.valid_until is None or at < latest.valid_until)


def _in_force(covenant: Covenant, at: datetime) -> bool:
    start = datetime.combine(covenant.valid_from, time(0), tzinfo=AMSTERDAM)
    if at < start:
        return False
    if covenant.valid_until is None:
        return True
    return at < datetime.combine(covenant.valid_until + timedelta(days=1), time(0), tzinfo=AMSTERDAM)


def _value(event: Event, name: str) -> Any:
    if name.startswith("subject."):
        return getattr(event.subject, name.removeprefix("subject."))
    return getattr(event.payload, name)


def _claimable(covenants: tuple[Covenant, ...], event: Event) -> bool:
    """Some covenant has a rule for this type, sender and purpose, and lets the purpose carry the event's theme."""
    return any(
        event.type in rule.event_types
        and event.source in rule.senders
        and rule.purpose == event.purpose
        and event.theme in covenant.purpose_themes.get(rule.purpose, ())
        for covenant in covenants
        for rule in covenant.rules
    )


def _satisfied(
    covenant: Covenant,
    rule: Rule,
    event: Event,
    recipient: Organisation,
    history: list[Change],
    at: datetime,
    invited: frozenset[Organisation],
) -> bool:
    if not (
        event.type in rule.event_types
        and event.source in rule.senders
        and recipient in rule.recipients
        and recipient != event.source
        and rule.purpose == event.purpose
        and _in_force(covenant, at)
    ):
        return False
    if rule.conditions.invited and recipient not in invited:
        return False
    if rule.conditions.secrecy_grounds:
        ground = _value(event, "secrecy_ground")
        if ground is None or ground not in rule.conditions.secrecy_grounds:
            return False
        if ground == "conflict_of_duties" and not _value(event, "deliberation_ref"):
            return False
        if ground == "consent" and not _reference_consent(history, recipient, event.purpose, at, rule, event.source):
            return False
    return not rule.conditions.consent or _reference_consent(history, recipient, event.purpose, at, rule, event.source)


def _reference(
    covenants: tuple[Covenant, ...],
    event: Event,
    recipient: Organisation,
    history: list[Change],
    at: datetime,
    invited: frozenset[Organisation],
) -> tuple[Outcome, tuple[str, ...], Rule | None]:
    present = [n for n in all_fields(event.type) if _value(event, n) is not None]
    best: Rule | None = None
    best_count = -1
    if not _claimable(covenants, event):
        return Outcome.DENY, (), None
    for covenant in sorted(covenants, key=lambda c: (c.source, c.id)):
        for rule in covenant.rules:
            if _satisfied(covenant, rule, event, recipient, history, at, invited):
                count = len(set(present) & set(rule.fields))
                if count > best_count:
                    best, best_count = rule, count
    if best is None:
        return Outcome.DENY, (), None
    sent = tuple(n for n in present if n in best.fields)
    return (Outcome.PERMIT if len(sent) == len(present) else Outcome.PARTIAL), sent, best


Scenario = tuple[tuple[Covenant, ...], Event, Organisation, list[Change], datetime, frozenset[Organisation]]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    covs = draw(covenants())
    all_rules = [rule for covenant in covs for rule in covenant.rules]
    event = draw(events(all_rules))
    named = [r for rule in all_rules for r in rule.recipients if event.type in rule.event_types]
    bits = _Bits(draw(_WORDS))
    recipient = named[bits.take(len(named))] if named and bits.take(2) else ORGS[bits.take(len(ORGS))]
    history = [draw(changes()) for _ in range(bits.take(4))]
    for _ in range(bits.take(3)):  # often, changes about exactly this recipient and purpose ...
        # ... recorded half of the time by the event's sender (the controller), else by anyone
        recorder = event.source if bits.take(2) else None
        history.append(draw(changes(grantee=recipient, purpose=event.purpose, recorded_by=recorder)))
    at = START + timedelta(days=bits.take(1600) - 200, minutes=bits.take(1440))
    invited = frozenset(bits.subset(ORGS, max_size=4)) | ({recipient} if bits.take(2) else set())
    return covs, event, recipient, history, at, invited


def _applied_rule(covenants: tuple[Covenant, ...], decision: Decision) -> Rule:
    (covenant,) = [c for c in covenants if c.id == decision.covenant_id]
    return covenant.rule(decision.rule or "")


# ---------------------------------------------------------------------------------------------------- the properties


@settings(max_examples=EXAMPLES, **SETTINGS)  # type: ignore[arg-type]
@given(scenarios())
def test_no_field_outside_the_applied_rule_is_ever_sent(
    scenario: Scenario,
) -> None:
    covs, event, recipient, history, at, invited = scenario
    decision = Policy(covs).decide(event, recipient, _state(history), at, invited=invited)
    if decision.outcome is Outcome.DENY:
        assert decision.fields_sent == ()
        return
    rule = _applied_rule(covs, decision)
    assert set(decision.fields_sent) <= set(rule.fields)
    assert set(decision.fields_sent).isdisjoint(decision.fields_withheld)
    assert all(_value(event, name) is not None for name in decision.fields_sent)
    (covenant,) = [c for c in covs if c.id == decision.covenant_id]
    assert _satisfied(covenant, rule, event, recipient, history, at, invited)


@settings(max_examples=EXAMPLES, **SETTINGS)  # type: ignore[arg-type]
@given(scenarios())
def test_no_decision_without_a_rule_is_a_permit(
    scenario: Scenario,
) -> None:
    covs, event, recipient, history, at, invited = scenario
    decision = Policy(covs).decide(event, recipient, _state(history), at, invited=invited)
    outcome, sent, rule = _reference(covs, event, recipient, history, at, invited)
    assert decision.outcome is outcome
    assert decision.fields_sent == sent
    if rule is None:
        assert decision.outcome is Outcome.DENY
        assert decision.legal_basis == ()
    else:
        assert decision.rule is not None
        applied = _applied_rule(covs, decision)
        assert len(set(applied.fields) & set(sent)) == len(sent)


@settings(max_examples=EXAMPLES, **SETTINGS)  # type: ignore[arg-type]
@given(scenarios(), st.data())
def test_withdrawal_is_monotonic(scenario: Scenario, data: st.DataObject) -> None:
    covs, event, recipient, history, at, invited = scenario
    withdrawal = data.draw(changes(grantee=recipient, purpose=event.purpose, withdrawn=True))
    policy = Policy(covs)
    before = _state(history)
    after = before.apply(withdrawal.event)
    old = policy.decide(event, recipient, before, at, invited=invited)
    new = policy.decide(event, recipient, after, at, invited=invited)
    if at < withdrawal.time:
        assert new == old  # never rewrites what was decided for an earlier moment
    if old.outcome is Outcome.DENY:
        assert new.outcome is Outcome.DENY  # never turns a denial into a delivery
    renewed = any(
        c.given and recipient in c.grantees and c.purpose == event.purpose and withdrawal.time <= c.time <= at
        for c in history
    )
    if at >= withdrawal.time and not renewed and new.delivers:
        rule = _applied_rule(covs, new)
        assert not rule.conditions.consent
        assert not (rule.conditions.secrecy_grounds and _value(event, "secrecy_ground") == "consent")


@settings(max_examples=EXAMPLES, **SETTINGS)  # type: ignore[arg-type]
@given(scenarios(), st.data())
def test_decisions_are_deterministic(scenario: Scenario, data: st.DataObject) -> None:
    covs, event, recipient, history, at, invited = scenario
    other = data.draw(events([rule for covenant in covs for rule in covenant.rules]))
    state = _state(history)
    warm = Policy(covs)
    first = warm.decide(event, recipient, state, at, invited=invited)
    warm.decide(other, recipient, state, at)  # another event in between (the engine caches the last one read)
    assert warm.decide(event, recipient, state, at, invited=invited) == first
    fresh = Policy(covs)
    assert fresh.decide(event, recipient, _state(list(reversed(history))), at, invited=invited) == first
    everyone = warm.decide_all(event, state, at, invited=invited)
    assert everyone == tuple(fresh.decide(event, r, state, at, invited=invited) for r in fresh.candidates(event, at))


@settings(max_examples=EXAMPLES, **SETTINGS)  # type: ignore[arg-type]
@given(scenarios())
def test_the_bsn_never_reaches_a_recipient_whose_rule_does_not_name_it(
    scenario: Scenario,
) -> None:
    covs, event, _, history, at, invited = scenario
    policy = Policy(covs)
    pseudonyms = Pseudonymizer(KEY)
    for decision in policy.decide_all(event, _state(history), at, invited=invited):
        rule = _applied_rule(covs, decision) if decision.rule is not None else None
        if rule is not None and "subject.bsn" in rule.fields and decision.outcome is not Outcome.DENY:
            continue
        assert "subject.bsn" not in decision.fields_sent
        assert BSN not in json.dumps(decision.to_json()) + repr(decision)
        if decision.delivers:
            copy = project(event, decision, pseudonyms)
            assert copy["subject"]["bsn"] is None
            assert BSN not in json.dumps(copy)
            assert copy["subject"]["pseudonym"] == pseudonyms.for_recipient(subject_key(event), decision.recipient)
