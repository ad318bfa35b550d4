"""``schakel schemas``: list, check (including a failing check against an older release), release, validate."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from typer.testing import CliRunner

from schakel.schemas import EventType, catalogue, event_schema
from schakel.schemas.cli import app
from schakel.schemas.examples import example_form

runner = CliRunner()


def test_list_prints_every_type_with_version_and_fingerprint() -> None:
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    for event_type, version in catalogue().items():
        line = next(line for line in result.output.splitlines() if line.startswith(event_type.value + "\t"))
        assert f"v{version.version}" in line
        assert version.fingerprint.hex() in line
    assert "diagnosis:health" in result.output


def test_list_json() -> None:
    rows = [json.loads(line) for line in runner.invoke(app, ["list", "--json"]).output.splitlines()]
    assert [row["type"] for row in rows] == [t.value for t in EventType]
    assert rows[0]["fields"]["subject.bsn"] == "bsn"


def test_check_passes_on_the_shipped_catalogue() -> None:
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "schema check passed" in result.output


def released_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "released"
    folder.mkdir()
    for entry in resources.files("schakel.schemas.released").iterdir():
        if entry.name.endswith(".avsc"):
            (folder / entry.name).write_text(entry.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def test_check_fails_naming_schema_and_incompatibility(tmp_path: Path) -> None:
    folder = released_copy(tmp_path)
    # Pretend the newest released Signal had an urgency the current catalogue dropped, and a required field.
    newest = _newest(folder, "Signal")
    before = sorted(p.name for p in folder.iterdir())
    old = event_schema(EventType.SIGNAL)
    payload = old["fields"][-1]["type"]
    payload["fields"][5]["type"][1]["symbols"].append("whenever")
    payload["fields"].append({"name": "legacy", "type": "string", "sensitivity": "plain"})
    (folder / f"Signal.v{newest}.avsc").write_text(json.dumps(old), encoding="utf-8")
    result = runner.invoke(app, ["check", "--released", str(folder)])
    assert result.exit_code == 1
    assert f"Signal: changed, INCOMPATIBLE with v{newest}" in result.output
    assert "Signal: backward" in result.output
    assert "payload.urgency" in result.output
    assert "whenever" in result.output
    assert "Signal: forward" in result.output
    assert "payload.legacy" in result.output
    assert f"Referral: unchanged since v{newest}" in result.output
    # and release refuses
    assert runner.invoke(app, ["release", "--released", str(folder)]).exit_code == 1
    assert sorted(p.name for p in folder.iterdir()) == before


def test_release_freezes_a_compatible_change(tmp_path: Path) -> None:
    folder = released_copy(tmp_path)
    n = _newest(folder, "Feedback")
    old = event_schema(EventType.FEEDBACK)
    old["fields"][-1]["type"]["fields"].append(
        {"name": "retired", "type": ["null", "string"], "default": None, "sensitivity": "plain"}
    )
    (folder / f"Feedback.v{n}.avsc").write_text(json.dumps(old), encoding="utf-8")
    result = runner.invoke(app, ["check", "--released", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"Feedback: changed, compatible with v{n} (release as v{n + 1})" in result.output
    result = runner.invoke(app, ["release", "--released", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"released Feedback.v{n + 1}.avsc" in result.output
    assert json.loads((folder / f"Feedback.v{n + 1}.avsc").read_text()) == event_schema(EventType.FEEDBACK)
    assert f"Feedback: unchanged since v{n + 1}" in runner.invoke(app, ["check", "--released", str(folder)]).output


def _newest(folder: Path, name: str) -> int:
    return max(int(p.name.split(".v")[1].split(".")[0]) for p in folder.glob(f"{name}.v*.avsc"))


def test_a_new_type_without_release_is_reported(tmp_path: Path) -> None:
    folder = released_copy(tmp_path)
    for released in folder.glob("CaseClosed.v*.avsc"):
        released.unlink()
    result = runner.invoke(app, ["check", "--released", str(folder)])
    assert result.exit_code == 0
    assert "CaseClosed: new type, not yet released" in result.output


def test_validate_ok_and_invalid(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(example_form(EventType.REFERRAL)))
    result = runner.invoke(app, ["validate", str(good)])
    assert result.exit_code == 0, result.output
    assert "OK Referral" in result.output

    bad = tmp_path / "bad.json"
    form = example_form(EventType.SIGNAL, subject={"bsn": "123456789", "name": "Jan Secret"})
    form["payload"]["iban"] = "NL00BANK0123456789"
    bad.write_text(json.dumps([example_form(), form]))
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "bad.json[0]: OK Signal" in result.output
    assert "bad.json[1]: INVALID" in result.output
    assert "subject.bsn: must be nine digits that pass the 11-test" in result.output
    assert "payload.iban" in result.output
    assert "123456789" not in result.output
    assert "Jan Secret" not in result.output


def test_validate_not_json_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = runner.invoke(app, ["validate", str(broken)])
    assert result.exit_code == 1
    assert "not valid JSON" in result.output
    assert runner.invoke(app, ["validate", str(tmp_path / "absent.json")]).exit_code == 2


def test_validate_reads_stdin() -> None:
    result = runner.invoke(app, ["validate", "-"], input=json.dumps(example_form(EventType.FEEDBACK)))
    assert result.exit_code == 0, result.output
    assert "OK Feedback" in result.output


def test_schakel_command_has_the_schemas_group() -> None:
    from schakel.cli import app as root

    result = runner.invoke(root, ["schemas", "check"])
    assert result.exit_code == 0, result.output


def test_show_prints_the_full_schema() -> None:
    result = runner.invoke(app, ["show", "Signal"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == event_schema(EventType.SIGNAL)
    assert json.loads(runner.invoke(app, ["show", "Feedback", "--version", "1"]).output)["name"] == "Feedback"
    assert runner.invoke(app, ["show", "Gossip"]).exit_code == 2
    assert runner.invoke(app, ["show", "Signal", "--version", "99"]).exit_code == 2


def test_check_walks_the_released_chain(tmp_path: Path) -> None:
    folder = released_copy(tmp_path)
    # v2 equal to the catalogue, but v1 (edited after the fact) had a required field v2 lacks
    (folder / "CaseClosed.v2.avsc").write_text(json.dumps(event_schema(EventType.CASE_CLOSED)), encoding="utf-8")
    old = event_schema(EventType.CASE_CLOSED)
    old["fields"][-1]["type"]["fields"].append({"name": "legacy", "type": "string", "sensitivity": "plain"})
    (folder / "CaseClosed.v1.avsc").write_text(json.dumps(old), encoding="utf-8")
    result = runner.invoke(app, ["check", "--released", str(folder)])
    assert result.exit_code == 1
    assert "CaseClosed: forward" in result.output
    assert "released v1 -> v2" in result.output
    assert "payload.legacy" in result.output


def test_a_catalogue_rolled_back_to_an_older_release_is_a_new_version(tmp_path: Path) -> None:
    folder = released_copy(tmp_path)
    newer = event_schema(EventType.FEEDBACK)
    newer["fields"][-1]["type"]["fields"].append(
        {"name": "extra", "type": ["null", "string"], "default": None, "sensitivity": "plain"}
    )
    (folder / "Feedback.v2.avsc").write_text(json.dumps(newer), encoding="utf-8")
    result = runner.invoke(app, ["check", "--released", str(folder)])
    assert "Feedback: changed, compatible with v2 (release as v3)" in result.output
