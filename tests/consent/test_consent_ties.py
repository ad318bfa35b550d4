"""Two consent changes with the same time: the one applied last counts, also after the Faust table's JSON round trip."""

from __future__ import annotations

from datetime import timedelta

from schakel.consent import ConsentState
from schakel.schemas import EventType, Organisation, Theme
from schakel.schemas.examples import example_event


def test_a_withdrawal_in_the_same_second_as_the_consent_wins_when_applied_after_it() -> None:
    given = example_event(
        EventType.CONSENT_CHANGE, theme=Theme.LVB, payload={"change": "given", "grantees": ["politie"]}
    )
    withdrawn = example_event(
        EventType.CONSENT_CHANGE,
        theme=Theme.LVB,
        payload={"change": "withdrawn", "grantees": ["politie"]},
        time=given.to_json()["time"],
        subject=given.subject.model_dump(mode="json"),
    )
    assert withdrawn.time == given.time
    later = given.time + timedelta(seconds=1)
    for state in (ConsentState().apply(given).apply(withdrawn), ConsentState().apply(withdrawn).apply(given)):
        again = ConsentState.from_json(state.to_json())
        assert again.holds(Organisation.POLITIE, given.purpose, later) == state.holds(
            Organisation.POLITIE, given.purpose, later
        )
    assert not ConsentState().apply(given).apply(withdrawn).holds(Organisation.POLITIE, given.purpose, later)
    assert ConsentState().apply(withdrawn).apply(given).holds(Organisation.POLITIE, given.purpose, later)
