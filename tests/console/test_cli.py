"""``schakel console users add|passwd|remove``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from schakel.cli import app
from schakel.console.accounts import AccountsFile


@pytest.fixture
def accounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AccountsFile:
    path = tmp_path / "accounts.json"
    monkeypatch.setenv("SCHAKEL_CONSOLE_ACCOUNTS", str(path))
    return AccountsFile(path)


def test_users_add_passwd_remove(accounts: AccountsFile) -> None:
    runner = CliRunner()
    add = ["console", "users", "add", "anna", "--org", "zvh", "--role", "case-manager", "--role", "compliance"]
    result = runner.invoke(app, [*add, "--password-stdin"], input="a long enough password\n")
    assert result.exit_code == 0, result.output
    assert "a long enough password" not in result.output
    account = accounts.authenticate("anna", "a long enough password")
    assert account is not None
    assert {str(role) for role in account.roles} == {"case-manager", "compliance"}
    result = runner.invoke(app, ["console", "users", "passwd", "anna", "--password-stdin"], input="another password!\n")
    assert result.exit_code == 0, result.output
    assert accounts.authenticate("anna", "another password!") is not None
    assert runner.invoke(app, ["console", "users", "remove", "anna"]).exit_code == 0
    assert accounts.load() == {}


@pytest.mark.parametrize(
    "arguments",
    [
        ["--org", "politie", "--role", "process-director"],
        ["--org", "politie", "--role", "chief"],
        ["--org", "nowhere", "--role", "case-manager"],
    ],
)
def test_users_add_refuses(accounts: AccountsFile, arguments: list[str]) -> None:
    result = CliRunner().invoke(
        app, ["console", "users", "add", "anna", *arguments, "--password-stdin"], input="a long enough password\n"
    )
    assert result.exit_code != 0
    assert accounts.load() == {}
