"""Every rule of every shipped covenant, one example each way: what it lets pass, and what it refuses.

Each case builds an event of the rule's type with every governed field filled, from each of the rule's senders to
each of its recipients, satisfies the rule's conditions, and checks the decision; then breaks one thing at a time
(the purpose, the time, the invitation, the consent and who recorded it, the secrecy ground) and checks the denial
and its reason.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from schakel.consent import (
    CONTROLLER,
    Conditions,
    ConsentState,
    Covenant,
    Outcome,
    Policy,
    Reason,
    Rule,
    load_covenants,
    regime_of,
)
from schakel.consent.legal import GENERAL, LEGAL_BASES
from schakel.schemas import Event, EventType, Organisation

from .helpers import AT, EVENT_TIME, all_fields, consent_change, full_event

_SHIPPED = load_covenants()
_Case = tuple[Covenant, Rule, EventType, Organisation, Organisation]
_RAW: list[_Case] = [
    (covenant, rule, event_type, sender, recipient)
    for covenant in _SHIPPED
    for rule in covenant.rules
    for event_type in rule.event_types
    for sender in rule.senders
    for recipient in rule.recipients
    if sender != recipient
]


def _params(cases: list[_Case]) -> list[Any]:
    return [pytest.param(*case, id=f"{case[0].id}-{case[1].id}-{case[2]}-{case[3]}-{case[4]}") for case in cases]


_CASES = _params(_RAW)


def _recorder(rule: Rule, sender: Organisation) -> Organisation:
    """A party whose consent counts for ``rule`` (the sender where the controller may record it)."""
    named = rule.conditions.consent_recorded_by
    return sender if CONTROLLER in named else Organisation(named[0])


def _satisfying(
    rule: Rule, event_type: EventType, sender: Organisation, recipient: Organisation
) -> tuple[Event, ConsentState, frozenset[Organisation]]:
    """An event, consent state and invited partners that meet every condition of ``rule``."""
    payload: dict[str, object] = {}
    consent = ConsentState()
    grounds = rule.conditions.secrecy_grounds
    if grounds:
        payload["secrecy_ground"] = grounds[0]
    if rule.conditions.consent or "consent" in grounds[:1]:
        consent = consent.apply(consent_change(_recorder(rule, sender), [recipient], rule.purpose))
    invited = frozenset({recipient}) if rule.conditions.invited else frozenset()
    event = full_event(event_type, sender, rule.purpose, payload=payload)
    return event, consent, invited


def test_the_four_covenants_ship() -> None:
    assert {c.id for c in _SHIPPED} == {"zvh-casusoverleg", "cter", "lvb-uitbuiting", "geldezels"}
    assert all(len(c.version) == 12 for c in _SHIPPED)
    covered = {(case[0].id, case[1].id) for case in _RAW}
    assert covered == {(c.id, r.id) for c in _SHIPPED for r in c.rules}


@pytest.mark.parametrize(("covenant", "rule", "event_type", "sender", "recipient"), _CASES)
def test_rule_permits_its_fields_and_no_others(
    policy: Policy, covenant: Covenant, rule: Rule, event_type: EventType, sender: Organisation, recipient: Organisation
) -> None:
    event, consent, invited = _satisfying(rule, event_type, sender, recipient)
    decision = policy.decide(event, recipient, consent, AT, invited=invited)

    assert decision.outcome in (Outcome.PERMIT, Outcome.PARTIAL)
    applied = policy.covenant(decision.covenant_id or "").rule(decision.rule or "")
    # The shipped covenants layer rules as supersets: where another rule wins, it sends at least this rule's fields.
    assert set(rule.fields) <= set(applied.fields)
    # Every governed field is present, but where the type allows only one of two (a SubjectRequest's kind and
    # restriction): the decision names present fields only.
    present = _present(event)
    assert set(decision.fields_sent) == set(applied.fields) & present
    assert set(decision.fields_withheld) == present - set(applied.fields)
    assert (decision.outcome is Outcome.PARTIAL) == bool(decision.fields_withheld)
    # Every basis in the decision belongs to the sender's regime, and there is a general one.
    regime = regime_of(sender)
    assert decision.legal_basis
    assert all(regime in LEGAL_BASES[c].regimes for c in decision.legal_basis)
    assert any(GENERAL in LEGAL_BASES[c].categories for c in decision.legal_basis)
    if "subject.bsn" not in applied.fields:
        assert Reason.BSN_PSEUDONYMISED in decision.reasons
    assert decision.covenant_ref == f"{decision.covenant_id}@{policy.covenant(decision.covenant_id or '').version}"


@pytest.mark.parametrize(("covenant", "rule", "event_type", "sender", "recipient"), _CASES)
def test_rule_refuses_another_purpose(
    policy: Policy, covenant: Covenant, rule: Rule, event_type: EventType, sender: Organisation, recipient: Organisation
) -> None:
    event, consent, invited = _satisfying(rule, event_type, sender, recipient)
    stray = event.model_copy(update={"purpose": "research-statistics"})
    decision = policy.decide(stray, recipient, consent, AT, invited=invited)
    assert decision.outcome is Outcome.DENY
    assert decision.fields_sent == ()
    assert decision.reasons == (Reason.PURPOSE_UNKNOWN,)
    assert decision.rule is None


@pytest.mark.parametrize(("covenant", "rule", "event_type", "sender", "recipient"), _CASES)
def test_rule_refuses_outside_the_covenants_term(
    policy: Policy, covenant: Covenant, rule: Rule, event_type: EventType, sender: Organisation, recipient: Organisation
) -> None:
    event, consent, invited = _satisfying(rule, event_type, sender, recipient)
    before = covenant.in_force_from - timedelta(seconds=1)
    decision = policy.decide(event, recipient, consent, before, invited=invited)
    assert decision.outcome is Outcome.DENY
    assert Reason.COVENANT_NOT_IN_FORCE in decision.reasons
    if covenant.valid_until is not None:
        after = policy.decide(event, recipient, consent, covenant.in_force_until, invited=invited)
        assert after.outcome is Outcome.DENY
        assert after.reasons == (Reason.COVENANT_NOT_IN_FORCE,)


_CONDITIONAL = _params([case for case in _RAW if case[1].conditions != Conditions()])


@pytest.mark.parametrize(("covenant", "rule", "event_type", "sender", "recipient"), _CONDITIONAL)
def test_rule_refuses_when_its_condition_fails(
    policy: Policy, covenant: Covenant, rule: Rule, event_type: EventType, sender: Organisation, recipient: Organisation
) -> None:
    event, consent, invited = _satisfying(rule, event_type, sender, recipient)
    only_this_rule = set(rule.fields) - {
        f
        for other_cov, other in policy.rules_for(event_type, sender, recipient, rule.purpose)
        if (other_cov.id, other.id) != (covenant.id, rule.id)
        and not other.conditions.consent
        and not other.conditions.invited
        and not other.conditions.secrecy_grounds
        for f in other.fields
    }
    broken: list[tuple[Event, ConsentState, Reason]] = []
    if rule.conditions.invited:
        # Addressing the recipient is the sender's claim: it does not invite.
        addressed = event.model_copy(update={"addressees": (recipient,)})
        decision = policy.decide(addressed, recipient, consent, AT, invited=frozenset())
        assert Reason.NOT_INVITED in decision.reasons, decision
        assert not set(decision.fields_sent) & only_this_rule
    if rule.conditions.consent:
        broken.append((event, ConsentState(), Reason.CONSENT_MISSING))
        withdrawn = consent.apply(
            consent_change(
                _recorder(rule, sender),
                [recipient],
                rule.purpose,
                change="withdrawn",
                time=EVENT_TIME + timedelta(hours=1),
            )
        )
        broken.append((event, withdrawn, Reason.CONSENT_WITHDRAWN))
        allowed = {sender} if CONTROLLER in rule.conditions.consent_recorded_by else set()
        allowed |= {Organisation(o) for o in rule.conditions.consent_recorded_by if o != CONTROLLER}
        for other in sorted(set(Organisation) - allowed):
            wrong = ConsentState().apply(consent_change(other, [recipient], rule.purpose))
            broken.append((event, wrong, Reason.CONSENT_WRONG_PARTY))
        unnamed = ConsentState().apply(consent_change(_recorder(rule, sender), [recipient], rule.purpose, grantor=None))
        broken.append((event, unnamed, Reason.CONSENT_WRONG_PARTY))
    if rule.conditions.secrecy_grounds:
        payload = event.payload.model_copy(update={"secrecy_ground": None})
        broken.append((event.model_copy(update={"payload": payload}), consent, Reason.SECRECY_GROUND_MISSING))
        refused = [
            g for g in ("consent", "legal_duty", "conflict_of_duties") if g not in rule.conditions.secrecy_grounds
        ]
        for ground in refused:
            payload = event.payload.model_copy(update={"secrecy_ground": ground})
            broken.append((event.model_copy(update={"payload": payload}), consent, Reason.SECRECY_GROUND_NOT_ACCEPTED))
        if "conflict_of_duties" in rule.conditions.secrecy_grounds:
            payload = event.payload.model_copy(
                update={"secrecy_ground": "conflict_of_duties", "deliberation_ref": None}
            )
            broken.append((event.model_copy(update={"payload": payload}), consent, Reason.DELIBERATION_MISSING))
    assert broken or rule.conditions.invited
    for bad_event, bad_consent, reason in broken:
        decision = policy.decide(bad_event, recipient, bad_consent, AT, invited=invited)
        assert reason in decision.reasons, (reason, decision)
        assert not set(decision.fields_sent) & only_this_rule
        if not only_this_rule or only_this_rule == set(rule.fields):
            continue
        assert decision.outcome in (Outcome.DENY, Outcome.PARTIAL)


@pytest.mark.parametrize("covenant", _SHIPPED, ids=lambda c: c.id)
def test_partners_outside_every_rule_get_nothing(policy: Policy, covenant: Covenant) -> None:
    """For each event type and sender of the covenant, a recipient that no rule names (for that purpose) is denied."""
    purpose = next(iter(covenant.purposes))
    for rule in covenant.rules:
        for event_type in rule.event_types:
            for sender in rule.senders:
                allowed = {r for _, other in _rules_of(policy, event_type, sender, purpose) for r in other.recipients}
                for outsider in set(Organisation) - allowed - {sender}:
                    event = full_event(
                        event_type,
                        sender,
                        purpose,
                        payload={"secrecy_ground": "legal_duty"}
                        if event_type is EventType.INFORMATION_CONTRIBUTION
                        else None,
                    )
                    decision = policy.decide(event, outsider, ConsentState(), AT)
                    assert decision.outcome is Outcome.DENY
                    assert decision.fields_sent == ()
                    assert decision.reasons in ((Reason.NO_RULE,), (Reason.PURPOSE_MISMATCH,))


def _rules_of(policy: Policy, event_type: EventType, sender: Organisation, purpose: str) -> list[tuple[Covenant, Rule]]:
    return [
        (covenant, rule)
        for covenant in policy.covenants
        for rule in covenant.rules
        if event_type in rule.event_types and sender in rule.senders and rule.purpose == purpose
    ]


def test_the_index_reaches_every_rule_by_its_key(policy: Policy) -> None:
    """The compiled index holds every shipped rule under each of its (type, sender, recipient, purpose) keys."""
    total = 0
    for covenant in policy.covenants:
        for rule in covenant.rules:
            for event_type in rule.event_types:
                for sender in rule.senders:
                    for recipient in rule.recipients:
                        if sender != recipient:
                            found = policy.rules_for(event_type, sender, recipient, rule.purpose)
                            assert (covenant.id, rule.id) in {(c.id, r.id) for c, r in found}
                            total += 1
    assert total == len(_RAW)


def _present(event: Event) -> set[str]:
    form = event.to_json()
    found = set()
    for name in all_fields(event.type):
        scope, _, leaf = name.rpartition(".")
        if (form["subject"] if scope == "subject" else form["payload"]).get(leaf) is not None:
            found.add(name)
    assert len(found) >= len(all_fields(event.type)) - 2, "the full event should carry (nearly) every field"
    return found
