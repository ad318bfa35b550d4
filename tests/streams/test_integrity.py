"""Consent integrity in the hub's processing, without Kafka: claimed purposes, one person across identifiers, the
ZVH's invitations in the case state, and copies that carry no hub-wide identifier.

The Faust wiring moves these same values between its tables and topics (``streams/hub.py``); the real-broker tests in
``test_pipeline.py`` prove that part end to end.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from schakel.cli import app
from schakel.consent import Outcome, Policy, SubjectState, load_policy
from schakel.schemas import Event, EventType, Organisation, Theme
from schakel.settings import Settings
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.records import DeadLetter, header, ingress_message
from schakel.streams.shortpath import case_link
from tests.consent.helpers import BSN, OTHER_BSN, consent_change, full_event

Org = Organisation
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LVB = "lvb-exploitation"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


@pytest.fixture
def processor(tmp_path: Path, policy: Policy) -> Processor:
    return Processor(Settings(topic_prefix="unit.", data_dir=tmp_path), policy, clock=lambda: NOW)


def _accepted(processor: Processor, event: Event) -> Accepted | DeadLetter:
    message = ingress_message(event, processor.settings)
    return processor.accept(Record(message.topic, 0, 1, message.key, message.value, message.headers))


def _ok(processor: Processor, event: Event) -> Accepted:
    accepted = _accepted(processor, event)
    assert isinstance(accepted, Accepted), accepted
    return accepted


# ------------------------------------------------------------------------------------------ 3. purposes are claims


def test_a_purpose_the_sender_may_not_claim_for_the_theme_is_dead_lettered(processor: Processor) -> None:
    # gemeente-sociaal labels a CTER signal with the LVB purpose to get the LVB rule's fields to the police
    event = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, LVB).model_copy(update={"theme": Theme.CTER})
    dead = _accepted(processor, event)
    assert isinstance(dead, DeadLetter)
    assert dead.error_class == "PurposeNotClaimable"
    assert dead.reason.startswith("purpose-not-for-theme:")


@pytest.mark.parametrize(
    ("sender", "purpose", "code"),
    [
        (Org.GEMEENTE_SOCIAAL, "whatever-we-like", "purpose-unknown"),
        (Org.OM, LVB, "purpose-not-for-sender"),  # no LVB rule lets the OM send a signal
    ],
)
def test_an_unknown_or_unclaimable_purpose_is_dead_lettered(
    processor: Processor, sender: Organisation, purpose: str, code: str
) -> None:
    event = full_event(EventType.SIGNAL, sender, purpose).model_copy(update={"theme": Theme.LVB})
    dead = _accepted(processor, event)
    assert isinstance(dead, DeadLetter)
    assert dead.reason.startswith(code + ":")
    assert "Seen with recruiters" not in dead.reason  # codes, never the partner's text


# --------------------------------------------------------------------------- 2. one person, several identifiers


def test_a_case_id_is_linked_to_its_first_bsn_and_a_second_bsn_is_a_conflict(processor: Processor) -> None:
    with_bsn = _ok(processor, full_event(EventType.SIGNAL, Org.POLITIE, LVB))
    assert with_bsn.case is not None
    assert processor.link(with_bsn, None) == with_bsn.pseudonym  # a new link: the BSN's person
    assert processor.link(with_bsn, with_bsn.pseudonym) == with_bsn.pseudonym
    other = _ok(processor, full_event(EventType.SIGNAL, Org.POLITIE, LVB, bsn=OTHER_BSN))
    assert other.case == with_bsn.case
    conflict = processor.link(other, with_bsn.pseudonym)
    assert isinstance(conflict, DeadLetter)
    assert conflict.error_class == "IdentifierConflict"
    assert BSN not in conflict.reason
    assert OTHER_BSN not in conflict.reason
    case_only = _ok(processor, full_event(EventType.SIGNAL, Org.POLITIE, LVB, bsn=None))
    assert processor.link(case_only, None) == case_only.case  # unlinked: the case is its own person
    assert processor.link(case_only, with_bsn.pseudonym) == with_bsn.pseudonym


def test_equal_case_ids_of_two_issuers_are_two_cases(processor: Processor) -> None:
    by_police = _ok(processor, full_event(EventType.SIGNAL, Org.POLITIE, LVB, bsn=None, case_issuer=None))
    zvh_case = full_event(EventType.SIGNAL, Org.POLITIE, LVB, bsn=None)
    by_zvh = _ok(processor, zvh_case)
    assert by_police.case != by_zvh.case


def test_a_forwarded_record_restores_its_ingress_record_and_carries_the_state_to_merge(processor: Processor) -> None:
    accepted = _ok(processor, full_event(EventType.SIGNAL, Org.POLITIE, LVB))
    state = SubjectState().apply(consent_change(Org.ZVH, [Org.POLITIE], LVB))
    forwarded = processor.forward(accepted, "unit.hub-person", accepted.pseudonym, state)
    assert forwarded.key == accepted.pseudonym.encode()
    again = Record("unit.hub-person", 1, 99, forwarded.key, forwarded.value, forwarded.headers)
    origin, merge = processor.forwarded(again)
    assert origin == accepted.record
    assert merge == state
    assert isinstance(processor.accept(origin), Accepted)


def test_a_withdrawal_by_case_id_stops_the_lvb_indication_to_the_police(processor: Processor) -> None:
    """The issue's case: the ZVH records consent with BSN and case id, then a withdrawal with the case id only. Once
    the link step has put both on one person, the next LVB signal gives the police no LVB indication."""
    given = consent_change(Org.ZVH, [Org.POLITIE], LVB)
    withdrawn = consent_change(Org.ZVH, [Org.POLITIE], LVB, change="withdrawn", bsn=None, time=NOW)
    signal = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, LVB)
    person = _ok(processor, given)
    case_only = _ok(processor, withdrawn)
    assert processor.link(case_only, person.pseudonym) == person.pseudonym  # the link table says: one person
    state = processor.decide(person, SubjectState(), person.pseudonym).state
    before = processor.decide(_ok(processor, signal), state, person.pseudonym)
    assert "lvb_indication" in _sent(before, Org.POLITIE)
    state = processor.decide(case_only, state, person.pseudonym).state
    after = processor.decide(_ok(processor, signal), state, person.pseudonym)
    assert "lvb_indication" not in _sent(after, Org.POLITIE)
    assert "consent-withdrawn" in _reasons(after, Org.POLITIE)


def test_a_withdrawal_by_case_id_reaches_the_person_when_the_first_forward_from_the_link_step_was_lost(
    processor: Processor,
) -> None:
    """A withdrawal recorded under the case id alone, before the case's first BSN event: the link step writes the
    case's link and carries the case's state to the person step. When that forward is refused (the event is
    dead-lettered, the link write kept) or the worker stops before the broker stored it (the record comes again), the
    link step's next pass - the redelivery, the dead letter's resend - finds the link written and must still carry the
    case's state: otherwise the person's decisions never see the withdrawal and the police get the LVB indication."""
    given = consent_change(Org.ZVH, [Org.POLITIE], LVB)  # BSN and case id: the case's first BSN event
    withdrawn = consent_change(Org.ZVH, [Org.POLITIE], LVB, change="withdrawn", bsn=None, time=NOW)
    signal = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, LVB)
    first, case_only = _ok(processor, given), _ok(processor, withdrawn)
    person, case = first.pseudonym, first.case
    assert case is not None
    assert case_only.case == case
    # The withdrawal is decided on the case as its own person (no BSN known): the hub's `subjects` table holds it.
    subjects: dict[str, Any] = {case: processor.decide(case_only, SubjectState(), case).state.to_json()}
    links: dict[str, str] = {}

    def link_step() -> SubjectState | None:
        """The hub's link step for ``given`` (streams/hub.py ``link``): the merge it forwards to the person step."""
        linked = links.get(case)
        assert processor.link(first, linked) == person
        found = case_link(linked, person, case, subjects.get(case))
        if found.write:
            links[case] = person  # written when the event is processed, before the forward is confirmed
        return found.merge

    link_step()  # the forward carrying the case's state is refused, or the worker stops before it is stored
    assert links == {case: person}, "the link write is kept (hub.py's judgement call)"
    merge = link_step()  # the same event again: redelivered, or its dead letter resent
    state = SubjectState() if merge is None else SubjectState().merge(merge)
    state = processor.decide(first, state, person).state
    after = processor.decide(_ok(processor, signal), state, person)
    assert "lvb_indication" not in _sent(after, Org.POLITIE), "the withdrawal under the case id was lost"
    assert "consent-withdrawn" in _reasons(after, Org.POLITIE)


def _sent(routed: Any, recipient: Organisation) -> tuple[str, ...]:
    return next(d.fields_sent for d in routed.decisions if d.recipient is recipient)


def _reasons(routed: Any, recipient: Organisation) -> tuple[str, ...]:
    return tuple(str(r) for d in routed.decisions if d.recipient is recipient for r in d.reasons)


def test_the_cli_and_the_hub_give_the_same_answer_for_the_same_history(processor: Processor, tmp_path: Path) -> None:
    given = consent_change(Org.ZVH, [Org.POLITIE], LVB)
    withdrawn = consent_change(Org.ZVH, [Org.POLITIE], LVB, change="withdrawn", bsn=None, time=NOW)
    signal = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, LVB)
    state = SubjectState()
    for event in (given, withdrawn):
        state = processor.decide(_ok(processor, event), state).state
    hub = {d.recipient.value: d.to_json() for d in processor.decide(_ok(processor, signal), state).decisions}
    files = []
    for name, event in (("given", given), ("withdrawn", withdrawn), ("signal", signal)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(event.to_json()))
        files.append(path)
    for recipient, expected in hub.items():
        result = CliRunner().invoke(
            app,
            [
                "consent", "decide", "--event", str(files[2]), "--to", recipient, "--at", NOW.isoformat(),
                "--history", str(files[0]), "--history", str(files[1]),
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == expected
    assert "consent-withdrawn" in hub["politie"]["reasons"]


# ----------------------------------------------------------------------- 4. invitations are state, not claims


def test_a_self_addressed_contribution_reaches_no_case_partner(processor: Processor) -> None:
    cter = "cter-person-centred"
    contribution = full_event(
        EventType.INFORMATION_CONTRIBUTION,
        Org.POLITIE,
        cter,
        addressees=[Org.GGZ, Org.RVDK, Org.RECLASSERING],
    )
    routed = processor.decide(_ok(processor, contribution), SubjectState())
    assert {d.recipient for d in routed.decisions} == {Org.GGZ, Org.RVDK, Org.RECLASSERING}
    for decision in routed.decisions:
        assert decision.outcome is Outcome.DENY
        assert "not-invited" in [str(r) for r in decision.reasons]
    assert not [m for m in routed.messages if ".egress." in m.topic]


def test_the_zvhs_triage_invites_and_the_case_closure_uninvites(processor: Processor) -> None:
    cter = "cter-person-centred"
    referral = full_event(EventType.REFERRAL, Org.POLITIE, cter, payload={"invited_partners": ["reclassering"]})
    triage = full_event(
        EventType.TRIAGE_DECISION, Org.ZVH, cter, payload={"outcome": "accepted"}, addressees=[Org.RVDK]
    )
    contribution = full_event(EventType.INFORMATION_CONTRIBUTION, Org.POLITIE, cter)
    closed = full_event(EventType.CASE_CLOSED, Org.ZVH, cter)
    state = SubjectState()
    for event in (referral, triage):
        state = processor.decide(_ok(processor, event), state).state
    routed = processor.decide(_ok(processor, contribution), state)
    delivered = {d.recipient for d in routed.decisions if d.delivers}
    assert {Org.RECLASSERING, Org.RVDK} <= delivered  # the referral's proposal, accepted; the triage's addressee
    assert Org.GGZ not in delivered
    routed = processor.decide(_ok(processor, closed), routed.state)
    assert {Org.RECLASSERING, Org.RVDK, Org.POLITIE} <= {d.recipient for d in routed.decisions if d.delivers}
    after = processor.decide(_ok(processor, contribution), routed.state)
    assert not {Org.RECLASSERING, Org.RVDK} & {d.recipient for d in after.decisions if d.delivers}


def test_a_partners_own_triage_claim_invites_nobody(processor: Processor) -> None:
    cter = "cter-person-centred"
    state = SubjectState().apply(full_event(EventType.REFERRAL, Org.POLITIE, cter))
    # only the ZVH's own decisions count: a consultation outcome "from" anyone else cannot even be claimed
    fake = full_event(EventType.CONSULTATION_OUTCOME, Org.POLITIE, cter, addressees=[Org.GGZ])
    assert state.apply(fake) == state


# ----------------------------------------------------------------------- 5. and 6. copies and recipients' identifiers

# A SignalBundle is the hub's own proposal to the ZVH: no partner sends one (no rule may share it).
_HUB_MADE = {EventType.SIGNAL_BUNDLE, EventType.RETENTION_EXPIRED}  # made by the hub, never sent to it
_EVENT_TYPES = [t for t in EventType if t is not EventType.SUBJECT_REQUEST and t not in _HUB_MADE]
_PURPOSES = ("case-consultation", "cter-person-centred", LVB, "money-mule-prevention")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    event_type=st.sampled_from(_EVENT_TYPES),
    sender=st.sampled_from(list(Org)),
    purpose=st.sampled_from(_PURPOSES),
    has_bsn=st.booleans(),
    invited=st.sets(st.sampled_from(list(Org)), max_size=4),
)
def test_two_recipients_copies_share_no_subject_identifier_unless_both_see_the_bsn(
    processor: Processor,
    event_type: EventType,
    sender: Organisation,
    purpose: str,
    has_bsn: bool,
    invited: set[Organisation],
) -> None:
    event = full_event(event_type, sender, purpose, bsn=BSN if has_bsn else None)
    accepted = _accepted(processor, event)
    if isinstance(accepted, DeadLetter):
        return
    state = SubjectState()
    if invited and event.case_id:  # the ZVH's triage decision invited these partners to the case
        triage = full_event(
            EventType.TRIAGE_DECISION, Org.ZVH, purpose, payload={"outcome": "accepted"}, addressees=sorted(invited)
        )
        state = state.apply(triage, processor.pseudonymizer.subject)
    routed = processor.decide(accepted, state)
    copies = [m for m in routed.messages if ".egress." in m.topic]
    seen: dict[str, set[bytes]] = {}
    for copy in copies:
        recipient = str(header(copy.headers, "schakel-recipient"))
        form = processor.codec.decode_json(copy.value)
        identifiers = {copy.key or b"", str(form["subject"]["pseudonym"]).encode()}
        identifiers |= {value for name, value in copy.headers if name.startswith("schakel-subject")}
        identifiers.discard(b"bsn")
        identifiers.discard(b"case")
        assert accepted.pseudonym.encode() not in b"|".join(identifiers) + b"|".join(v for _, v in copy.headers)
        if form["subject"]["bsn"] is None:
            seen[recipient] = identifiers
    for one, theirs in seen.items():
        for other, others in seen.items():
            if one != other:
                assert not theirs & others, (one, other)


def test_no_sequence_of_consent_changes_sent_by_a_recipient_unlocks_data_for_it(policy: Policy) -> None:
    """Exhaustive over the shipped consent-conditioned rules: every recipient, recording any consent itself (naming
    itself or the rightful party as grantor), never turns its own denial into a delivery."""
    for covenant in policy.covenants:
        for rule in covenant.rules:
            if not rule.conditions.needs_consent:
                continue
            for event_type in rule.event_types:
                for sender in rule.senders:
                    payload = {"secrecy_ground": "consent"} if rule.conditions.secrecy_grounds else None
                    event = full_event(event_type, sender, rule.purpose, payload=payload)
                    for recipient in rule.recipients:
                        if recipient in (sender, Org.ZVH) or recipient.value in rule.conditions.consent_recorded_by:
                            continue
                        state = SubjectState()
                        baseline = set(state.decide(policy, event, recipient, NOW).fields_sent)
                        for grantor in (recipient, sender, Org.ZVH, None):
                            change = consent_change(recipient, [recipient], rule.purpose, grantor=grantor)
                            state = state.apply(change)
                            decision = state.decide(policy, event, recipient, NOW)
                            assert set(decision.fields_sent) <= baseline, (covenant.id, rule.id, recipient)


# ------------------------------------------------- 6. a withdrawal under any linked identifier stops later deliveries


class _Hub:
    """The hub's steps over in-memory tables, in the order of ``streams/hub.py``: link (on the case's partition),
    merge what the case kept as its own person, decide on the person's state."""

    def __init__(self, processor: Processor) -> None:
        self.processor = processor
        self.links: dict[str, str] = {}
        self.subjects: dict[str, SubjectState] = {}

    def handle(self, event: Event) -> Any:
        accepted = _ok(self.processor, event)
        person, merge = accepted.pseudonym, None
        if accepted.case is not None:
            linked = self.links.get(accepted.case)
            found = self.processor.link(accepted, linked)
            assert isinstance(found, str)
            person = found
            if linked is None and person != accepted.case:
                self.links[accepted.case] = person
                merge = self.subjects.get(accepted.case)
        state = self.subjects.get(person, SubjectState())
        if merge is not None:
            state = state.merge(merge)
        routed = self.processor.decide(accepted, state, person)
        self.subjects[person] = routed.state
        return routed


_FORMS = st.sampled_from(["bsn+case", "case", "bsn"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(given_as=_FORMS, withdrawn_as=_FORMS, link_first=st.booleans(), signal_as=_FORMS)
def test_a_withdrawal_under_any_linked_identifier_stops_later_deliveries(
    processor: Processor, given_as: str, withdrawn_as: str, link_first: bool, signal_as: str
) -> None:
    def identified(form: str) -> dict[str, Any]:
        return {"bsn": None if form == "case" else BSN, "case_id": None if form == "bsn" else "ZVH-2026-0042"}

    hub = _Hub(processor)
    if link_first:  # an event that carries both identifiers links them before anything else
        hub.handle(full_event(EventType.REFERRAL, Org.GEMEENTE_SOCIAAL, LVB))
    hub.handle(consent_change(Org.ZVH, [Org.POLITIE], LVB, **identified(given_as)))
    hub.handle(consent_change(Org.ZVH, [Org.POLITIE], LVB, change="withdrawn", time=NOW, **identified(withdrawn_as)))
    hub.handle(full_event(EventType.REFERRAL, Org.GEMEENTE_SOCIAAL, LVB))  # links BSN and case id (again)
    routed = hub.handle(full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, LVB, **identified(signal_as)))
    assert "lvb_indication" not in _sent(routed, Org.POLITIE)
