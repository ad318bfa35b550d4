"""The subject's consent history: folding ConsentChange events, and its JSON form for the hub's table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schakel.consent import ConsentState, Reason
from schakel.schemas import EventType, Organisation

from .helpers import EVENT_TIME, consent_change, full_event

Org = Organisation
P = "cter-person-centred"


def test_empty_state_has_no_consent() -> None:
    assert ConsentState().check(Org.POLITIE, P, EVENT_TIME) is Reason.CONSENT_MISSING


def test_given_consent_counts_from_its_time_for_its_grantees_and_purpose() -> None:
    state = ConsentState().apply(consent_change(Org.ZVH, [Org.POLITIE, Org.OM], P))
    assert state.holds(Org.POLITIE, P, EVENT_TIME)
    assert state.holds(Org.OM, P, EVENT_TIME + timedelta(days=400))
    assert state.check(Org.POLITIE, P, EVENT_TIME - timedelta(seconds=1)) is Reason.CONSENT_MISSING
    assert state.check(Org.GGZ, P, EVENT_TIME) is Reason.CONSENT_MISSING
    assert state.check(Org.POLITIE, "lvb-exploitation", EVENT_TIME) is Reason.CONSENT_MISSING


def test_withdrawal_and_renewal() -> None:
    state = ConsentState().apply(consent_change(Org.ZVH, [Org.POLITIE], P))
    later = EVENT_TIME + timedelta(days=3)
    state = state.apply(consent_change(Org.ZVH, [Org.POLITIE], P, change="withdrawn", time=later))
    assert state.holds(Org.POLITIE, P, later - timedelta(seconds=1))
    assert state.check(Org.POLITIE, P, later) is Reason.CONSENT_WITHDRAWN
    renewed = state.apply(consent_change(Org.ZVH, [Org.POLITIE], P, time=later + timedelta(days=1)))
    assert renewed.holds(Org.POLITIE, P, later + timedelta(days=2))
    assert renewed.check(Org.POLITIE, P, later + timedelta(hours=1)) is Reason.CONSENT_WITHDRAWN
    assert len(renewed.history(Org.POLITIE, P)) == 3


def test_changes_arriving_out_of_order_are_ordered_by_their_time() -> None:
    given = consent_change(Org.ZVH, [Org.POLITIE], P, time=EVENT_TIME)
    withdrawn = consent_change(Org.ZVH, [Org.POLITIE], P, change="withdrawn", time=EVENT_TIME + timedelta(days=1))
    in_order = ConsentState().apply(given).apply(withdrawn)
    reversed_order = ConsentState().apply(withdrawn).apply(given)
    assert in_order == reversed_order
    assert reversed_order.check(Org.POLITIE, P, EVENT_TIME + timedelta(days=2)) is Reason.CONSENT_WITHDRAWN


def test_expiry() -> None:
    state = ConsentState().apply(consent_change(Org.ZVH, [Org.POLITIE], P, valid_until=EVENT_TIME + timedelta(days=1)))
    assert state.holds(Org.POLITIE, P, EVENT_TIME + timedelta(hours=23))
    assert state.check(Org.POLITIE, P, EVENT_TIME + timedelta(days=1)) is Reason.CONSENT_EXPIRED


def test_redelivered_change_is_applied_once() -> None:
    change = consent_change(Org.ZVH, [Org.POLITIE], P)
    once = ConsentState().apply(change)
    assert once.apply(change) is once
    assert len(once.history(Org.POLITIE, P)) == 1


def test_other_events_leave_the_state_alone() -> None:
    state = ConsentState().apply(consent_change(Org.ZVH, [Org.POLITIE], P))
    assert state.apply(full_event(EventType.SIGNAL, Org.POLITIE, P)) is state


def test_state_is_immutable() -> None:
    state = ConsentState()
    with pytest.raises(AttributeError):
        state._grants = {}


def test_json_round_trip() -> None:
    state = (
        ConsentState()
        .apply(consent_change(Org.ZVH, [Org.POLITIE, Org.GGZ], P, valid_until=EVENT_TIME + timedelta(days=30)))
        .apply(consent_change(Org.GEMEENTE_SOCIAAL, [Org.POLITIE], "lvb-exploitation", change="withdrawn"))
    )
    form = state.to_json()
    assert ConsentState.from_json(form) == state
    assert form["version"] == 1
    assert {g["grantee"] for g in form["grants"]} == {"politie", "ggz"}


def test_malformed_json_form_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        ConsentState.from_json({"grants": []})
    bad = {"version": 1, "grants": [{"grantee": "politie", "purpose": P, "changes": [{"change": "maybe"}]}]}
    with pytest.raises(ValueError, match="given"):
        ConsentState.from_json(bad)


def test_merge_counts_each_change_once() -> None:
    a = ConsentState().apply(consent_change(Org.ZVH, [Org.POLITIE], P))
    b = a.apply(consent_change(Org.ZVH, [Org.POLITIE], P, change="withdrawn", time=EVENT_TIME + timedelta(days=1)))
    merged = a.merge(b)
    assert merged == b
    assert len(merged.history(Org.POLITIE, P)) == 2
