"""``schakel consent decide|explain|matrix`` as a professional uses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schakel.cli import app
from schakel.schemas import EventType, Organisation

from .helpers import BSN, consent_change, event_form

Org = Organisation
runner = CliRunner()


@pytest.fixture
def signal_file(tmp_path: Path) -> Path:
    path = tmp_path / "signal.json"
    path.write_text(json.dumps(event_form(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, "cter-person-centred")))
    return path


@pytest.fixture
def lvb_signal_file(tmp_path: Path) -> Path:
    path = tmp_path / "lvb.json"
    path.write_text(json.dumps(event_form(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, "lvb-exploitation")))
    return path


def test_decide_prints_the_decision_as_json(signal_file: Path) -> None:
    result = runner.invoke(
        app, ["consent", "decide", "--event", str(signal_file), "--to", "politie", "--at", "2026-06-01T12:00:00Z"]
    )
    assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout)
    assert decision["outcome"] == "partial"
    assert decision["fields_sent"] == ["observed_behaviour", "urgency"]
    assert "ideology" in decision["fields_withheld"]
    assert decision["covenant"].startswith("cter@")
    assert decision["rule"] == "2"
    assert BSN not in result.stdout


def test_explain_in_english_and_dutch(signal_file: Path) -> None:
    args = ["consent", "explain", "--event", str(signal_file), "--to", "politie", "--at", "2026-06-01T12:00:00+02:00"]
    english = runner.invoke(app, args)
    assert english.exit_code == 0, english.output
    assert "politie may receive observed_behaviour and urgency" in english.stdout
    assert "cter rule 2 (AVG 6(1)(e), WGS 2.1, AVG 10, UAVG 33)" in english.stdout
    assert "ideology (belief data, AVG art. 9)" in english.stdout
    assert "own pseudonym" in english.stdout
    dutch = runner.invoke(app, [*args, "--lang", "nl"])
    assert dutch.exit_code == 0, dutch.output
    assert "politie mag observed_behaviour en urgency" in dutch.stdout
    assert "Niet verstrekt" in dutch.stdout
    assert BSN not in english.stdout + dutch.stdout


def test_consent_files_change_the_decision(tmp_path: Path, lvb_signal_file: Path) -> None:
    change = consent_change(Org.GEMEENTE_SOCIAAL, [Org.POLITIE], "lvb-exploitation")
    consent_file = tmp_path / "consent.json"
    consent_file.write_text(json.dumps(change.to_json()))
    base = ["consent", "decide", "--event", str(lvb_signal_file), "--to", "politie", "--at", "2026-06-01T12:00:00Z"]
    without = json.loads(runner.invoke(app, base).stdout)
    with_consent = json.loads(runner.invoke(app, [*base, "--consent", str(consent_file)]).stdout)
    assert "lvb_indication" in without["fields_withheld"]
    assert "consent-missing" in without["reasons"]
    assert "lvb_indication" in with_consent["fields_sent"]
    # The same consent as a consent-state file
    from schakel.consent import ConsentState

    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(ConsentState().apply(change).to_json()))
    from_state = json.loads(runner.invoke(app, [*base, "--consent", str(state_file)]).stdout)
    assert from_state == with_consent


def test_explain_a_denial(signal_file: Path) -> None:
    result = runner.invoke(
        app, ["consent", "explain", "--event", str(signal_file), "--to", "ggz", "--at", "2026-06-01T12:00:00Z"]
    )
    assert result.exit_code == 0
    assert "ggz may receive nothing of this Signal from gemeente-sociaal" in result.stdout


def test_matrix_shows_who_receives_what(tmp_path: Path) -> None:
    result = runner.invoke(app, ["consent", "matrix", "--covenant", "cter"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "cter@" in result.stdout
    assert "observed_behaviour" in result.stdout
    assert "secrecy ground" in result.stdout
    assert "zvh-casusoverleg" not in result.stdout
    everything = runner.invoke(app, ["consent", "matrix"], env={"COLUMNS": "250"})
    assert all(c in everything.stdout for c in ("zvh-casusoverleg@", "lvb-uitbuiting@", "geldezels@"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--to", "politei"], "unknown recipient 'politei'"),
        (["--to", "politie", "--at", "tomorrow"], "not an ISO-8601 time"),
        (["--to", "politie", "--at", "2026-06-01T12:00:00"], "needs a UTC offset"),
        (["--to", "politie", "--lang", "fr"], "--lang must be one of"),
    ],
)
def test_bad_arguments_exit_non_zero(signal_file: Path, extra: list[str], message: str) -> None:
    result = runner.invoke(app, ["consent", "explain", "--event", str(signal_file), *extra])
    assert result.exit_code == 2
    assert message in result.stderr


def test_malformed_event_exits_non_zero(tmp_path: Path) -> None:
    not_json = tmp_path / "broken.json"
    not_json.write_text("{not json")
    result = runner.invoke(app, ["consent", "decide", "--event", str(not_json), "--to", "politie"])
    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr
    invalid = tmp_path / "invalid.json"
    form = event_form(EventType.SIGNAL, Org.POLITIE, "cter-person-centred")
    form["subject"]["bsn"] = "123456789"  # fails the 11-test
    invalid.write_text(json.dumps(form))
    result = runner.invoke(app, ["consent", "decide", "--event", str(invalid), "--to", "politie"])
    assert result.exit_code == 2
    assert "not a valid event" in result.stderr
    assert "123456789" not in result.stderr
    missing = runner.invoke(app, ["consent", "decide", "--event", str(tmp_path / "nope.json"), "--to", "politie"])
    assert missing.exit_code == 2
    assert "cannot read event" in missing.stderr


def test_broken_covenants_exit_non_zero(tmp_path: Path, signal_file: Path) -> None:
    (tmp_path / "broken.yaml").write_text("id: x\n")
    result = runner.invoke(
        app, ["consent", "decide", "--event", str(signal_file), "--to", "politie", "--covenants", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "broken.yaml" in result.stderr


def test_matrix_of_an_unknown_covenant(tmp_path: Path) -> None:
    result = runner.invoke(app, ["consent", "matrix", "--covenant", "nope"])
    assert result.exit_code == 2
    assert "no covenant 'nope'" in result.stderr


def test_explain_names_the_secrecy_grounds_a_rule_accepts(tmp_path: Path) -> None:
    path = tmp_path / "ggz.json"
    form = event_form(
        EventType.INFORMATION_CONTRIBUTION, Org.GGZ, "cter-person-centred", payload={"secrecy_ground": "consent"}
    )
    path.write_text(json.dumps(form))
    result = runner.invoke(
        app, ["consent", "explain", "--event", str(path), "--to", "politie", "--at", "2026-06-01T12:00:00Z"]
    )
    assert result.exit_code == 0
    assert "politie may receive nothing of this InformationContribution from ggz" in result.stdout
    assert "(it accepts: legal_duty, conflict_of_duties)" in result.stdout
    assert "cter rule 15" in result.stdout


def test_explain_says_a_consent_recorded_by_the_wrong_party_does_not_count(
    tmp_path: Path, lvb_signal_file: Path
) -> None:
    recorded_by_police = consent_change(Org.POLITIE, [Org.POLITIE], "lvb-exploitation")
    consent_file = tmp_path / "consent.json"
    consent_file.write_text(json.dumps(recorded_by_police.to_json()))
    args = ["consent", "explain", "--event", str(lvb_signal_file), "--to", "politie", "--consent", str(consent_file)]
    english = runner.invoke(app, [*args, "--at", "2026-06-01T12:00:00Z"])
    assert english.exit_code == 0, english.output
    assert "lvb_indication (health data, AVG art. 9): only lvb-uitbuiting rule 5 would let it pass" in english.stdout
    assert "not recorded by a party the rule names for it (the sender of the data (gemeente-sociaal) and zvh)" in (
        english.stdout
    )
    decided = runner.invoke(app, ["consent", "decide", *args[2:], "--at", "2026-06-01T12:00:00Z"])
    assert "consent-wrong-party" in json.loads(decided.stdout)["reasons"]


def test_explain_says_a_self_addressed_contribution_needs_the_zvhs_invitation(tmp_path: Path) -> None:
    path = tmp_path / "contribution.json"
    form = event_form(
        EventType.INFORMATION_CONTRIBUTION,
        Org.POLITIE,
        "cter-person-centred",
        addressees=[Org.GGZ, Org.RVDK, Org.RECLASSERING],
        payload={"secrecy_ground": None, "deliberation_ref": None, "diagnosis": None, "in_care": None},
    )
    path.write_text(json.dumps(form))
    args = ["consent", "explain", "--event", str(path), "--to", "rvdk", "--at", "2026-06-01T12:00:00Z"]
    english = runner.invoke(app, args)
    assert english.exit_code == 0, english.output
    assert english.stdout.startswith("rvdk may receive nothing of this InformationContribution from politie")
    assert "the ZVH invited to the case, and rvdk is not invited" in english.stdout
    # with the ZVH's accepted triage decision inviting rvdk in the history, it may
    triage = tmp_path / "triage.json"
    triage.write_text(
        json.dumps(
            event_form(
                EventType.TRIAGE_DECISION,
                Org.ZVH,
                "cter-person-centred",
                addressees=[Org.RVDK],
                payload={"outcome": "accepted"},
            )
        )
    )
    invited = runner.invoke(app, [*args, "--history", str(triage)])
    assert invited.stdout.startswith("rvdk may receive subject.bsn"), invited.output
