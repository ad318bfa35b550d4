"""Choosing a course for a copy: the most specific applicable course, chosen on the copy alone.

The properties: the course chosen for a projected copy never changes when a field withheld from that recipient
changes (so the reference on a copy reveals nothing withheld), nor when the person or the free texts change; and the
same copy always gets the same course.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schakel.consent import ConsentState, Outcome, Policy, Pseudonymizer, load_policy, project
from schakel.guidance import Guidance, load_guidance
from schakel.schemas import EventType, Organisation, Theme, parse_event
from schakel.schemas.examples import example_form, synthetic_bsn

NOW = datetime.now(UTC)
PSEUDONYMS = Pseudonymizer(b"test-key-for-guidance-properties")


@pytest.fixture(scope="module")
def guidance() -> Guidance:
    return load_guidance()


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def _copies(policy: Policy, form: dict[str, Any]) -> dict[Organisation, tuple[dict[str, Any], frozenset[str]]]:
    """Each permitted recipient's copy, with the fields its decision withheld."""
    event = parse_event(form)
    return {
        decision.recipient: (project(event, decision, PSEUDONYMS), frozenset(decision.fields_withheld))
        for decision in policy.decide_all(event, ConsentState(), NOW)
        if decision.outcome is not Outcome.DENY
    }


def test_the_lvb_indication_course_comes_only_with_the_indication(guidance: Guidance) -> None:
    copy = example_form(EventType.SIGNAL, Theme.LVB, payload={"lvb_indication": "Moeite met lezen."})
    chosen = guidance.choose(Organisation.OM, copy)
    assert chosen is not None
    assert chosen.id == "lvb-indicatie-om"
    copy["payload"]["lvb_indication"] = None
    assert guidance.choose(Organisation.OM, copy) is None


def test_the_most_specific_course_wins(tmp_path: Path) -> None:
    for name, fields in (("general", "[]"), ("specific", "[lvb_indication]"), ("more", "[lvb_indication, urgency]")):
        (tmp_path / f"{name}.yaml").write_text(
            f"id: {name}\nstatus: draft\ntitle: t\nsource: s\nsteps: [a]\n"
            f"applies_to: {{recipient: om, events: [Signal], themes: [LVB], fields_present: {fields}}}\n",
            encoding="utf-8",
        )
    guidance = load_guidance(tmp_path)
    chosen = []
    for lvb, urgency in (("x", "high"), ("x", None), (None, None)):
        copy = example_form(EventType.SIGNAL, Theme.LVB, payload={"lvb_indication": lvb, "urgency": urgency})
        course = guidance.choose("om", copy)
        chosen.append(course.id if course else None)
    assert chosen == ["more", "specific", "general"]


def test_no_course_where_none_applies(guidance: Guidance) -> None:
    assert guidance.choose(Organisation.RVDK, example_form(EventType.SIGNAL, Theme.LVB)) is None
    assert guidance.choose(Organisation.POLITIE, example_form(EventType.FEEDBACK, Theme.LVB)) is None


def test_a_reference_finds_only_its_own_version(guidance: Guidance) -> None:
    course = guidance.courses[0]
    assert guidance.find(course.reference) is course
    assert guidance.find(f"{course.id}@000000000000") is None
    assert guidance.find(None) is None


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40)
_maybe_text = st.none() | _text
_signal = st.fixed_dictionaries(
    {
        "theme": st.sampled_from(list(Theme)),
        "source": st.sampled_from([o for o in Organisation if o is not Organisation.ZVH]),
        "observed_behaviour": _maybe_text,
        "ideology": _maybe_text,
        "lvb_indication": _maybe_text,
        "youth_context": _maybe_text,
        "description": _maybe_text,
        "urgency": st.sampled_from(["low", "normal", "high", "acute"]),
    }
)


def _form(drawn: dict[str, Any], seed: int) -> dict[str, Any]:
    theme = drawn["theme"]
    payload = {k: drawn[k] for k in ("observed_behaviour", "ideology", "lvb_indication", "youth_context")}
    payload |= {"description": drawn["description"], "urgency": drawn["urgency"]}
    return example_form(EventType.SIGNAL, theme, seed=seed, source=drawn["source"].value, payload=payload)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=_signal, other=_signal, seed=st.integers(0, 2**32))
def test_the_course_never_depends_on_a_withheld_field(
    guidance: Guidance, policy: Policy, drawn: dict[str, Any], other: dict[str, Any], seed: int
) -> None:
    form = _form(drawn, seed)
    for recipient, (copy, withheld) in _copies(policy, form).items():
        chosen = guidance.choose(recipient, copy)
        # The same event with every field withheld from this recipient replaced by another value (or none):
        changed = _form(drawn, seed)
        for name in withheld & changed["payload"].keys():
            changed["payload"][name] = other.get(name, changed["payload"][name])
        changed["subject"]["bsn"] = synthetic_bsn()
        changed["subject"]["name"] = "Iemand Anders"
        twin, _ = _copies(policy, changed).get(recipient, (None, None))
        if twin is None:  # the changed fields made the event unlawful to send (nothing is then chosen at all)
            continue
        again = guidance.choose(recipient, twin)
        assert (again.reference if again else None) == (chosen.reference if chosen else None)
        assert guidance.choose(recipient, copy) is chosen  # same copy, same course


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=_signal, seed=st.integers(0, 2**32), texts=st.lists(_text, min_size=3, max_size=3))
def test_the_course_depends_on_the_situation_not_on_the_person_or_the_wording(
    guidance: Guidance, drawn: dict[str, Any], seed: int, texts: list[str]
) -> None:
    form = _form(drawn, seed)
    chosen = {o: guidance.choose(o, form) for o in Organisation}
    reworded = _form(drawn, seed + 1)  # another person, case id, event id
    for index, name in enumerate(("observed_behaviour", "lvb_indication", "description")):
        if reworded["payload"].get(name) is not None:
            reworded["payload"][name] = texts[index]
    assert {o: guidance.choose(o, reworded) for o in Organisation} == chosen
