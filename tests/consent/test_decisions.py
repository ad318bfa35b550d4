"""Decisions a professional can check by reading the covenant: hand-written expectations for typical cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schakel.consent import ConsentState, Decision, Outcome, Policy, Reason
from schakel.schemas import EventType, Organisation, SignalEvent, SignalPayload

from .helpers import AT, EVENT_TIME, consent_change, full_event

Org = Organisation


def test_social_domain_signal_reaches_police_without_beliefs_or_identity(policy: Policy) -> None:
    event = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, "cter-person-centred")
    decision = policy.decide(event, Org.POLITIE, ConsentState(), AT)
    assert decision.outcome is Outcome.PARTIAL
    assert decision.fields_sent == ("observed_behaviour", "urgency")
    assert "ideology" in decision.fields_withheld
    assert "subject.bsn" in decision.fields_withheld
    assert (decision.covenant_id, decision.rule) == ("cter", "2")
    assert decision.legal_basis == ("AVG 6(1)(e)", "WGS 2.1", "AVG 10", "UAVG 33")
    assert Reason.SPECIAL_CATEGORY_WITHHELD in decision.reasons
    assert Reason.BSN_PSEUDONYMISED in decision.reasons
    assert decision.purpose == "cter-person-centred"


def test_social_domain_signal_reaches_safety_domain_with_beliefs_on_art9_basis(policy: Policy) -> None:
    event = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, "cter-person-centred")
    decision = policy.decide(event, Org.GEMEENTE_VEILIGHEID, ConsentState(), AT)
    assert "ideology" in decision.fields_sent
    assert "subject.bsn" in decision.fields_sent
    assert "AVG 9(2)(g)" in decision.legal_basis
    # lvb_indication (health) and iban/fraud_type are not in the CTER rule
    assert {"lvb_indication", "iban", "fraud_type"} <= set(decision.fields_withheld)


def test_police_signal_cites_police_law_not_the_avg(policy: Policy) -> None:
    event = full_event(EventType.SIGNAL, Org.POLITIE, "case-consultation")
    decision = policy.decide(event, Org.ZVH, ConsentState(), AT)
    assert (decision.covenant_id, decision.rule) == ("zvh-casusoverleg", "6")
    assert "Wpg 20" in decision.legal_basis
    assert "Wjsg 39f" not in decision.legal_basis
    assert not any(c.startswith("AVG") for c in decision.legal_basis)


def test_ggz_tells_the_zvh_that_someone_is_in_care_but_never_the_diagnosis(policy: Policy) -> None:
    event = full_event(EventType.INFORMATION_CONTRIBUTION, Org.GGZ, "case-consultation")
    decision = policy.decide(event, Org.ZVH, ConsentState(), AT)
    assert "in_care" in decision.fields_sent
    assert "diagnosis" in decision.fields_withheld
    assert "AVG 9(2)(g)" in decision.legal_basis


def test_ggz_without_a_recorded_secrecy_ground_shares_nothing(policy: Policy) -> None:
    event = full_event(
        EventType.INFORMATION_CONTRIBUTION, Org.GGZ, "cter-person-centred", payload={"secrecy_ground": None}
    )
    for recipient in (Org.ZVH, Org.GEMEENTE_VEILIGHEID, Org.POLITIE):
        decision = policy.decide(event, recipient, ConsentState(), AT)
        assert decision.outcome is Outcome.DENY
        assert decision.reasons == (Reason.SECRECY_GROUND_MISSING,)


def test_ggz_client_consent_is_no_ground_towards_the_police_under_cter(policy: Policy) -> None:
    event = full_event(
        EventType.INFORMATION_CONTRIBUTION, Org.GGZ, "cter-person-centred", payload={"secrecy_ground": "consent"}
    )
    consent = ConsentState().apply(consent_change(Org.GGZ, [Org.POLITIE, Org.ZVH], "cter-person-centred"))
    to_police = policy.decide(event, Org.POLITIE, consent, AT)
    assert to_police.outcome is Outcome.DENY
    assert to_police.reasons == (Reason.SECRECY_GROUND_NOT_ACCEPTED,)
    to_zvh = policy.decide(event, Org.ZVH, consent, AT)
    assert to_zvh.outcome is Outcome.PARTIAL
    assert "diagnosis" in to_zvh.fields_sent


def test_a_ggz_client_consent_counts_only_when_ggz_recorded_it(policy: Policy) -> None:
    event = full_event(
        EventType.INFORMATION_CONTRIBUTION, Org.GGZ, "cter-person-centred", payload={"secrecy_ground": "consent"}
    )
    for recorder in set(Org) - {Org.GGZ}:
        consent = ConsentState().apply(consent_change(recorder, [Org.ZVH], "cter-person-centred"))
        decision = policy.decide(event, Org.ZVH, consent, AT)
        assert decision.outcome is Outcome.DENY
        assert decision.reasons == (Reason.CONSENT_WRONG_PARTY,)
    # GGZ's sender naming another grantor is not GGZ's consent either
    claimed = ConsentState().apply(consent_change(Org.GGZ, [Org.ZVH], "cter-person-centred", grantor=Org.ZVH))
    assert policy.decide(event, Org.ZVH, claimed, AT).reasons == (Reason.CONSENT_WRONG_PARTY,)


def test_ggz_consent_ground_needs_the_consent_on_file(policy: Policy) -> None:
    event = full_event(
        EventType.INFORMATION_CONTRIBUTION, Org.GGZ, "cter-person-centred", payload={"secrecy_ground": "consent"}
    )
    decision = policy.decide(event, Org.ZVH, ConsentState(), AT)
    assert decision.outcome is Outcome.DENY
    assert decision.reasons == (Reason.CONSENT_MISSING,)


def test_conflict_of_duties_needs_the_deliberation(policy: Policy) -> None:
    event = full_event(
        EventType.INFORMATION_CONTRIBUTION,
        Org.GGZ,
        "cter-person-centred",
        payload={"secrecy_ground": "conflict_of_duties", "deliberation_ref": None},
    )
    decision = policy.decide(event, Org.POLITIE, ConsentState(), AT)
    assert decision.outcome is Outcome.DENY
    assert decision.reasons == (Reason.DELIBERATION_MISSING,)


def test_consent_adds_the_lvb_indication_for_the_police_and_withdrawal_takes_it_away(policy: Policy) -> None:
    purpose = "lvb-exploitation"
    event = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, purpose)
    given_at = EVENT_TIME - timedelta(days=10)
    withdrawn_at = EVENT_TIME + timedelta(days=10)
    state = ConsentState().apply(consent_change(Org.GEMEENTE_SOCIAAL, [Org.POLITIE, Org.OM], purpose, time=given_at))

    without = policy.decide(event, Org.POLITIE, ConsentState(), AT)
    assert (without.rule, without.outcome) == ("4", Outcome.PARTIAL)
    assert "lvb_indication" in without.fields_withheld
    assert Reason.CONSENT_MISSING in without.reasons

    with_consent = policy.decide(event, Org.POLITIE, state, AT)
    assert with_consent.rule == "5"
    assert "lvb_indication" in with_consent.fields_sent
    assert "AVG 9(2)(a)" in with_consent.legal_basis

    withdrawn = state.apply(
        consent_change(Org.GEMEENTE_SOCIAAL, [Org.POLITIE], purpose, change="withdrawn", time=withdrawn_at)
    )
    # Later deliveries stop resting on the consent ...
    later = policy.decide(event, Org.POLITIE, withdrawn, withdrawn_at + timedelta(hours=1))
    assert later.rule == "4"
    assert "lvb_indication" in later.fields_withheld
    assert Reason.CONSENT_WITHDRAWN in later.reasons
    # ... earlier decisions are not rewritten ...
    assert policy.decide(event, Org.POLITIE, withdrawn, AT) == with_consent
    # ... and a grantee that did not withdraw keeps its consent.
    assert policy.decide(event, Org.OM, withdrawn, withdrawn_at + timedelta(hours=1)).outcome is Outcome.PARTIAL


def test_expired_consent_no_longer_counts(policy: Policy) -> None:
    purpose = "money-mule-prevention"
    event = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, purpose)
    state = ConsentState().apply(
        consent_change(Org.ZVH, [Org.POLITIE], purpose, time=EVENT_TIME, valid_until=EVENT_TIME + timedelta(days=1))
    )
    assert policy.decide(event, Org.POLITIE, state, AT).outcome is Outcome.PARTIAL
    expired = policy.decide(event, Org.POLITIE, state, EVENT_TIME + timedelta(days=2))
    assert expired.outcome is Outcome.DENY
    assert expired.reasons == (Reason.CONSENT_EXPIRED,)


def test_consent_for_another_purpose_does_not_count(policy: Policy) -> None:
    event = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, "money-mule-prevention")
    state = ConsentState().apply(consent_change(Org.ZVH, [Org.POLITIE], "lvb-exploitation"))
    assert policy.decide(event, Org.POLITIE, state, AT).reasons == (Reason.CONSENT_MISSING,)


def test_expired_covenant_permits_nothing(policy: Policy) -> None:
    event = full_event(EventType.SIGNAL, Org.POLITIE, "cter-person-centred")
    decision = policy.decide(event, Org.GEMEENTE_VEILIGHEID, ConsentState(), datetime(2028, 1, 1, tzinfo=UTC))
    assert decision.outcome is Outcome.DENY
    assert decision.reasons == (Reason.COVENANT_NOT_IN_FORCE,)
    assert decision.covenant_id == "cter"


def test_covenant_ends_at_the_end_of_its_last_day_in_dutch_time(policy: Policy) -> None:
    event = full_event(EventType.SIGNAL, Org.POLITIE, "cter-person-centred")
    last_minute = datetime(2027, 12, 31, 22, 59, tzinfo=UTC)  # 23:59 in Amsterdam (CET, UTC+1)
    first_minute_after = datetime(2027, 12, 31, 23, 0, tzinfo=UTC)
    assert policy.decide(event, Org.OM, ConsentState(), last_minute).outcome is Outcome.PARTIAL
    assert policy.decide(event, Org.OM, ConsentState(), first_minute_after).outcome is Outcome.DENY


def test_case_partners_only_when_invited(policy: Policy) -> None:
    purpose = "cter-person-centred"
    uninvited = full_event(EventType.INFORMATION_CONTRIBUTION, Org.POLITIE, purpose)
    assert policy.decide(uninvited, Org.RECLASSERING, ConsentState(), AT).reasons == (Reason.NOT_INVITED,)
    # addressing is the sender's claim, not an invitation
    addressed = full_event(EventType.INFORMATION_CONTRIBUTION, Org.POLITIE, purpose, addressees=[Org.RECLASSERING])
    assert policy.decide(addressed, Org.RECLASSERING, ConsentState(), AT).reasons == (Reason.NOT_INVITED,)
    decision = policy.decide(uninvited, Org.RECLASSERING, ConsentState(), AT, invited=frozenset({Org.RECLASSERING}))
    assert decision.outcome is Outcome.PARTIAL
    assert "police_record" in decision.fields_withheld


def test_a_consent_change_a_sender_may_not_claim_is_denied_everywhere(policy: Policy) -> None:
    from_om = consent_change(Org.OM, [Org.ZVH], "case-consultation")
    decisions = [policy.decide(from_om, r, ConsentState(), AT) for r in Org if r is not Org.OM]
    assert all(d.outcome is Outcome.DENY and d.reasons == (Reason.PURPOSE_NOT_FOR_SENDER,) for d in decisions)
    assert policy.candidates(from_om, AT) == ()
    assert policy.claim(from_om) is Reason.PURPOSE_NOT_FOR_SENDER


def test_consent_change_from_the_zvh_reaches_the_partners(policy: Policy) -> None:
    change = consent_change(Org.ZVH, [Org.POLITIE], "cter-person-centred", change="withdrawn")
    decisions = policy.decide_all(change, ConsentState(), AT)
    assert {d.recipient for d in decisions} == set(Org) - {Org.ZVH}
    assert all(d.fields_sent == ("change", "grantees", "grantor") for d in decisions)


def test_candidates_are_the_addressees_when_named(policy: Policy) -> None:
    event = full_event(EventType.SIGNAL, Org.POLITIE, "cter-person-centred", addressees=[Org.GGZ, Org.OM])
    assert policy.candidates(event, AT) == (Org.GGZ, Org.OM)
    decisions = policy.decide_all(event, ConsentState(), AT)
    assert [d.recipient for d in decisions] == [Org.GGZ, Org.OM]
    assert [d.outcome for d in decisions] == [Outcome.DENY, Outcome.PARTIAL]


def test_candidates_without_addressees_follow_the_rules_in_force(policy: Policy) -> None:
    event = full_event(EventType.SIGNAL, Org.POLITIE, "money-mule-prevention")
    candidates = policy.candidates(event, AT)
    assert Org.POLITIE not in candidates
    # CTER, LVB, money mules and the ZVH covenant together: every partner some rule names for a police signal
    assert set(candidates) == {
        Org.GEMEENTE_SOCIAAL,
        Org.GEMEENTE_VEILIGHEID,
        Org.OM,
        Org.RECLASSERING,
        Org.RVDK,
        Org.ZVH,
    }
    decisions = policy.decide_all(event, ConsentState(), AT)
    assert len(decisions) == len(candidates)
    by_recipient = {d.recipient: d for d in decisions}
    assert by_recipient[Org.GEMEENTE_SOCIAAL].rule == "1"
    assert by_recipient[Org.GEMEENTE_VEILIGHEID].reasons == (Reason.PURPOSE_MISMATCH,)
    assert by_recipient[Org.RVDK].reasons == (Reason.NOT_INVITED,)
    # after the CTER covenant ends, the safety domain is no longer a candidate for police signals
    assert Org.GEMEENTE_VEILIGHEID not in policy.candidates(event, datetime(2030, 1, 1, tzinfo=UTC))


def test_fields_without_a_value_are_neither_sent_nor_withheld(policy: Policy) -> None:
    event = full_event(
        EventType.SIGNAL,
        Org.GEMEENTE_SOCIAAL,
        "cter-person-centred",
        payload={"ideology": None, "lvb_indication": None},
        bsn=None,
    )
    decision = policy.decide(event, Org.POLITIE, ConsentState(), AT)
    assert "ideology" not in decision.fields_withheld + decision.fields_sent
    assert "subject.bsn" not in decision.fields_withheld + decision.fields_sent
    assert Reason.SPECIAL_CATEGORY_WITHHELD not in decision.reasons
    assert Reason.BSN_PSEUDONYMISED not in decision.reasons


def test_fields_the_catalogue_does_not_govern_are_withheld(policy: Policy) -> None:
    class _LaterSignalPayload(SignalPayload):
        home_address: str | None = None

    known = full_event(EventType.SIGNAL, Org.POLITIE, "cter-person-centred")
    payload = _LaterSignalPayload.model_construct(**known.payload.model_dump(), home_address="Dorpsstraat 1")
    event = SignalEvent.model_construct(**{**dict(known), "payload": payload})
    decision = policy.decide(event, Org.OM, ConsentState(), AT)
    assert decision.outcome is Outcome.PARTIAL
    assert "home_address" in decision.fields_withheld
    assert Reason.UNKNOWN_FIELDS_WITHHELD in decision.reasons
    assert "home_address" not in decision.fields_sent


def test_decision_json_form(policy: Policy) -> None:
    event = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, "cter-person-centred")
    decision = policy.decide(event, Org.POLITIE, ConsentState(), AT)
    form = decision.to_json()
    assert form["event_id"] == str(event.id)
    assert form["recipient"] == "politie"
    assert form["outcome"] == "partial"
    assert form["covenant"] == decision.covenant_ref == f"cter@{policy.covenant('cter').version}"
    assert form["reasons"][0] == "permitted"
    rebuilt = Decision(
        event.id,
        Org.POLITIE,
        Outcome(form["outcome"]),
        tuple(form["fields_sent"]),
        tuple(form["fields_withheld"]),
        form["covenant_id"],
        form["covenant_version"],
        form["rule"],
        form["purpose"],
        tuple(form["legal_basis"]),
        tuple(Reason(r) for r in form["reasons"]),
    )
    assert rebuilt == decision
    assert hash(rebuilt) == hash(decision)


def test_decision_time_needs_a_timezone(policy: Policy) -> None:
    import pytest

    event = full_event(EventType.SIGNAL, Org.POLITIE, "cter-person-centred")
    with pytest.raises(ValueError, match="timezone"):
        policy.decide(event, Org.OM, ConsentState(), datetime(2026, 6, 1))


def test_decision_time_in_another_offset_means_the_same_instant(policy: Policy) -> None:
    from zoneinfo import ZoneInfo

    event = full_event(EventType.SIGNAL, Org.POLITIE, "cter-person-centred")
    local = AT.astimezone(ZoneInfo("Europe/Amsterdam"))
    assert policy.decide(event, Org.OM, ConsentState(), local) == policy.decide(event, Org.OM, ConsentState(), AT)
