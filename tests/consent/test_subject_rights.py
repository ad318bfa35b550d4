"""Restriction (AVG art. 18) and a request's recipients (art. 19) applied to the policy's decisions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from schakel.cli import app
from schakel.consent import ConsentState, Outcome, Policy, Reason, only_recipients, restrict
from schakel.schemas import EventType, Organisation

from .helpers import full_event

AT = datetime(2026, 6, 1, 12, tzinfo=UTC)


def test_restriction_denies_every_delivery_and_keeps_the_rule(policy: Policy) -> None:
    event = full_event(EventType.SIGNAL, Organisation.GEMEENTE_SOCIAAL, "cter-person-centred")
    decisions = policy.decide_all(event, ConsentState(), AT)
    delivering = [d for d in decisions if d.outcome is not Outcome.DENY]
    assert delivering, "the example must deliver to someone, or the test proves nothing"
    restricted = restrict(decisions)
    assert all(d.outcome is Outcome.DENY for d in restricted)
    for before, after in zip(decisions, restricted, strict=True):
        if before.outcome is Outcome.DENY:
            assert after == before  # a denial stays the policy's own
            continue
        assert after.reasons == (Reason.PROCESSING_RESTRICTED,)
        assert (after.covenant_ref, after.rule) == (before.covenant_ref, before.rule)
        assert after.fields_sent == ()
        assert set(before.fields_sent) <= set(after.fields_withheld)


def test_a_request_goes_only_to_partners_that_received_data(policy: Policy) -> None:
    request = full_event(EventType.SUBJECT_REQUEST, Organisation.ZVH, "case-consultation", payload={"kind": "erasure"})
    decisions = policy.decide_all(request, ConsentState(), AT)
    permitted = {d.recipient for d in decisions if d.outcome is not Outcome.DENY}
    assert {Organisation.POLITIE, Organisation.GGZ} < permitted  # rule 18: every partner may receive it
    routed = only_recipients(decisions, {Organisation.POLITIE, "ggz"})
    assert {d.recipient for d in routed if d.outcome is not Outcome.DENY} == {Organisation.POLITIE, Organisation.GGZ}
    others = [d for d in routed if d.recipient in permitted - {Organisation.POLITIE, Organisation.GGZ}]
    assert others
    assert all(d.reasons == (Reason.NO_DATA_RECEIVED,) for d in others)


def test_explain_restricted_says_why_in_both_languages(tmp_path: Path) -> None:
    path = tmp_path / "signal.json"
    event = full_event(EventType.SIGNAL, Organisation.GEMEENTE_SOCIAAL, "cter-person-centred")
    path.write_text(json.dumps(event.to_json()))
    args = ["consent", "explain", "--event", str(path), "--to", "politie", "--at", "2026-06-01T12:00:00Z"]
    plain = CliRunner().invoke(app, args)
    assert plain.exit_code == 0, plain.output
    assert "art. 18" not in plain.output
    english = CliRunner().invoke(app, [*args, "--restricted"])
    assert english.exit_code == 0, english.output
    assert "restriction of processing (AVG art. 18)" in english.output
    dutch = CliRunner().invoke(app, [*args, "--restricted", "--lang", "nl"])
    assert "beperking van de verwerking" in dutch.output
