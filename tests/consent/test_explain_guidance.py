"""``schakel consent explain`` names the course of action the copy would carry, chosen on the copy as the hub does."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from schakel.cli import app
from schakel.schemas import EventType, Organisation

from .helpers import event_form

runner = CliRunner()


def _explain(tmp_path: Path, to: str, lang: str) -> str:
    path = tmp_path / "lvb.json"
    path.write_text(json.dumps(event_form(EventType.SIGNAL, Organisation.GEMEENTE_SOCIAAL, "lvb-exploitation")))
    args = ["consent", "explain", "--event", str(path), "--to", to, "--at", "2026-06-01T12:00:00Z", "--lang", lang]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_explain_names_the_course_of_action_with_its_steps(tmp_path: Path) -> None:
    dutch = _explain(tmp_path, "politie", "nl")
    assert "Handelingskader lvb-signaal-politie@" in dutch
    assert "(draft)" in dutch
    assert "  1. " in dutch
    assert "Bron: " in dutch
    assert "Course of action lvb-signaal-politie@" in _explain(tmp_path, "politie", "en")


def test_explain_says_when_no_copy_and_so_no_course_goes(tmp_path: Path) -> None:
    assert "No course of action: no copy is sent." in _explain(tmp_path, "ggz", "en")
