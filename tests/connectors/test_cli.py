"""``schakel connectors list|new|resend``: what is installed and configured, a scaffold whose own tests pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schakel.cli import app

_SHIPPED = ("gemeente-sociaal", "gemeente-veiligheid", "politie", "om", "reclassering", "rvdk", "ggz", "zvh")


def test_list_shows_the_eight_shipped_connectors_and_which_are_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "politie.yaml").write_text("webhook: {secret: s}\ndelivery: {url: 'http://127.0.0.1:1/'}\n")
    monkeypatch.setenv("SCHAKEL_CONNECTORS_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "300")
    result = CliRunner().invoke(app, ["connectors", "list"])
    assert result.exit_code == 0, result.output
    for name in _SHIPPED:
        assert f" {name} " in result.output
    configured = [line for line in result.output.splitlines() if "politie.yaml" in line]
    assert len(configured) == 1
    assert " politie " in configured[0]
    assert "8 installed" in result.output


def test_new_refuses_an_organisation_outside_the_catalogue(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["connectors", "new", "veilig-thuis", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "--organisation must be one of" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.kafka
def test_a_scaffolded_connector_passes_its_own_contract_tests(kafka_bootstrap: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["connectors", "new", "veilig-thuis", "--organisation", "gemeente-sociaal", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    root = tmp_path / "schakel-connector-veilig-thuis"
    assert 'veilig-thuis = "schakel_connector_veilig_thuis:CONNECTOR"' in (root / "pyproject.toml").read_text()
    env = {**os.environ, "PYTHONPATH": str(root), "SCHAKEL_KAFKA_BOOTSTRAP": kafka_bootstrap}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "6 passed" in run.stdout
