"""``schakel console users add|passwd|remove``."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schakel.cli import app
from schakel.console.accounts import AccountsFile
from schakel.settings import settings


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


def test_a_port_already_taken_is_named_in_one_line(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHAKEL_DATA_DIR", str(tmp_path))
    settings.cache_clear()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["console", "--port", str(port)])
    settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not an OSError's traceback
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.output
    assert "schakel console on" not in result.output  # it never listened
