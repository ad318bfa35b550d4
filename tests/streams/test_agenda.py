"""The ZVH's signal agenda, without Kafka: when a bundle forms, what it names, and what it forgets.

Properties over random sequences of signals, consent withdrawals and case closures from random partners, decided
by the shipped covenants: a bundle never names an event the ZVH was denied, never carries a field value of any
event, and never names a signal whose purpose the person withdrew from the ZVH.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schakel.consent import ConsentState, CovenantError, Outcome, Policy, load_policy, shipped_covenants_dir
from schakel.schemas import BundleReason, Event, EventType, Organisation, Theme
from schakel.schemas.examples import PURPOSES, example_event
from schakel.streams.agenda import Agenda, AgendaEngine, Proposal

NOW = datetime.now(UTC).replace(microsecond=0)
BSN = "999999990"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def _signal(
    source: Organisation, theme: Theme = Theme.LVB, *, seed: int, urgency: str = "normal", **payload: Any
) -> Event:
    return example_event(
        EventType.SIGNAL,
        theme,
        seed=seed,
        source=source.value,
        subject={"bsn": BSN, "name": "Noor Jansen", "birth_date": "2006-03-14", "pseudonym": None},
        payload={"urgency": urgency, **payload},
    )


class _Run:
    """Feeds events through the engine as the hub does: consent state first, then decisions, then the agenda."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.engine = AgendaEngine(policy)
        self.agenda = Agenda()
        self.consent = ConsentState()
        self.proposals: list[Proposal] = []
        self.denied: set[str] = set()
        self.delivered: set[str] = set()

    def feed(self, event: Event, now: datetime = NOW) -> Proposal | None:
        self.consent = self.consent.apply(event)
        decisions = self.policy.decide_all(event, self.consent, now)
        zvh = [d for d in decisions if d.recipient is Organisation.ZVH]
        if event.type is EventType.SIGNAL:
            (self.delivered if zvh and zvh[0].outcome is not Outcome.DENY else self.denied).add(str(event.id))
        self.agenda, proposal = self.engine.on_event(self.agenda, event, decisions, self.consent, now)
        if proposal is not None:
            self.proposals.append(proposal)
        return proposal


def test_two_partners_make_one_bundle_and_a_third_updates_it(policy: Policy) -> None:
    run = _Run(policy)
    assert run.feed(_signal(Organisation.POLITIE, seed=1)) is None
    first = run.feed(_signal(Organisation.GEMEENTE_SOCIAAL, seed=2))
    assert first is not None
    assert first.reason is BundleReason.SEVERAL_PARTNERS
    assert {s.source for s in first.signals} == {"politie", "gemeente-sociaal"}
    assert run.feed(_signal(Organisation.GEMEENTE_SOCIAAL, seed=2)) is None  # a redelivery proposes nothing new
    third = run.feed(_signal(Organisation.POLITIE, seed=3))
    assert third is not None
    assert len(third.signals) == 3


def test_one_partner_alone_makes_no_bundle_unless_urgent_with_an_open_case(policy: Policy) -> None:
    run = _Run(policy)
    assert run.feed(_signal(Organisation.POLITIE, seed=1)) is None
    assert run.feed(_signal(Organisation.POLITIE, seed=2, urgency="high")) is None
    run.feed(example_event(EventType.TRIAGE_DECISION, Theme.LVB, seed=9, payload={"outcome": "accepted"}))
    urgent = run.feed(_signal(Organisation.POLITIE, seed=3, urgency="acute"))
    assert urgent is not None
    assert urgent.reason is BundleReason.URGENT_OPEN_CASE


def test_a_closed_case_clears_and_old_signals_fall_out_of_the_window(policy: Policy) -> None:
    run = _Run(policy)
    run.feed(_signal(Organisation.POLITIE, seed=1))
    run.feed(example_event(EventType.CASE_CLOSED, Theme.LVB, seed=8))
    assert run.agenda.signals == ()
    assert run.feed(_signal(Organisation.GEMEENTE_SOCIAAL, seed=2)) is None
    later = NOW + timedelta(days=91)
    assert run.feed(_signal(Organisation.POLITIE, seed=3), now=later) is None  # the first is past the 90 days


def test_the_bundle_event_is_for_the_zvh_and_deterministic(policy: Policy) -> None:
    run = _Run(policy)
    run.feed(_signal(Organisation.POLITIE, seed=1))
    proposal = run.feed(_signal(Organisation.GEMEENTE_SOCIAAL, seed=2))
    assert proposal is not None
    bundle = proposal.bundle("zvh-pseudonym-0001", NOW)
    assert bundle.type is EventType.SIGNAL_BUNDLE
    assert bundle.subject.bsn is None
    assert bundle.subject.name is None
    assert bundle.id == proposal.bundle("zvh-pseudonym-0001", NOW + timedelta(seconds=5)).id


_SOURCES = [o for o in Organisation if o is not Organisation.ZVH]
_step = st.one_of(
    st.tuples(st.just("signal"), st.sampled_from(_SOURCES), st.sampled_from(list(Theme)), st.booleans()),
    st.tuples(st.just("withdraw"), st.sampled_from(list(Theme))),
    st.tuples(
        st.just("close"),
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, min_size=1, max_size=12), salt=st.integers(0, 10**6))
def test_a_bundle_names_only_permitted_signals_carries_no_value_and_forgets_withdrawals(
    policy: Policy, steps: list[tuple[Any, ...]], salt: int
) -> None:
    run = _Run(policy)
    withdrawn_purposes: dict[str, set[str]] = {}  # purpose -> signal ids received before its withdrawal
    received: dict[str, str] = {}  # signal id -> purpose
    secret_values: set[str] = set()
    for index, step in enumerate(steps):
        seed = salt * 100 + index
        if step[0] == "signal":
            _, source, theme, with_lvb = step
            marker = f"value-{seed}-marker"
            extra = {"observed_behaviour": marker, "description": marker + "-d"}
            if with_lvb:
                extra["lvb_indication"] = marker + "-lvb"
            event = _signal(source, theme, seed=seed, **extra)
            secret_values |= {marker, marker + "-d", marker + "-lvb", BSN, "Noor Jansen"}
            received[str(event.id)] = event.purpose
        elif step[0] == "withdraw":
            purpose = PURPOSES[step[1]]
            event = example_event(
                EventType.CONSENT_CHANGE,
                step[1],
                seed=seed,
                subject={"bsn": BSN, "name": None, "birth_date": None, "pseudonym": None},
                payload={"change": "withdrawn", "grantees": ["zvh"]},
            )
            withdrawn_purposes.setdefault(purpose, set()).update(i for i, p in received.items() if p == purpose)
        else:
            event = example_event(EventType.CASE_CLOSED, Theme.OTHER, seed=seed)
        proposal = run.feed(event)
        if proposal is None:
            continue
        ids = {signal.event_id for signal in proposal.signals}
        assert ids <= run.delivered
        assert not ids & run.denied
        for gone in withdrawn_purposes.values():
            assert not ids & gone
        text = json.dumps(proposal.bundle("zvh-pseudonym-0001", NOW).to_json())
        assert not any(value in text for value in secret_values)


def test_a_covenant_sets_its_own_window(tmp_path: Path) -> None:
    for shipped in shipped_covenants_dir().glob("*.yaml"):
        text = shipped.read_text(encoding="utf-8")
        if shipped.name == "lvb-uitbuiting.yaml":
            text += "\nagenda_window_days: 10\n"
        (tmp_path / shipped.name).write_text(text, encoding="utf-8")
    policy = load_policy(tmp_path)
    outcomes = []
    for days in (11, 9):
        run = _Run(policy)
        run.feed(_signal(Organisation.POLITIE, seed=1))
        outcomes.append(run.feed(_signal(Organisation.GEMEENTE_SOCIAAL, seed=2), now=NOW + timedelta(days=days)))
    assert outcomes[0] is None, "past the covenant's 10 days the first signal no longer counts"
    assert outcomes[1] is not None


def test_a_window_that_is_not_a_number_of_days_stops_loading(tmp_path: Path) -> None:
    shipped = shipped_covenants_dir() / "lvb-uitbuiting.yaml"
    (tmp_path / shipped.name).write_text(shipped.read_text(encoding="utf-8") + "\nagenda_window_days: 0\n")
    with pytest.raises(CovenantError, match="'agenda_window_days' must be a whole number of days"):
        load_policy(tmp_path)
