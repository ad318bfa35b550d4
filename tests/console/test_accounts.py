"""The accounts file (argon2id) and the lock-out."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schakel.console.access import Role
from schakel.console.accounts import FAILURE_WINDOW, LOCK_DURATION, MAX_FAILURES, AccountsFile, LockOut
from schakel.console.errors import AccountError
from schakel.errors import SchakelError
from schakel.schemas import Organisation

PASSWORD = "correct horse battery"


def test_add_authenticate_passwd_remove(tmp_path: Path) -> None:
    accounts = AccountsFile(tmp_path / "accounts.json")
    accounts.add("anna", Organisation.POLITIE, [Role.CASE_MANAGER], PASSWORD)
    text = accounts.path.read_text()
    assert PASSWORD not in text
    assert "$argon2id$" in text
    assert stat.S_IMODE(accounts.path.stat().st_mode) == 0o600
    account = accounts.authenticate("anna", PASSWORD)
    assert account is not None
    assert account.principal().organisation is Organisation.POLITIE
    assert accounts.authenticate("anna", PASSWORD + "x") is None
    assert accounts.authenticate("nobody", PASSWORD) is None
    accounts.passwd("anna", "another long password")
    assert accounts.authenticate("anna", PASSWORD) is None
    assert accounts.authenticate("anna", "another long password") is not None
    accounts.remove("anna")
    assert accounts.authenticate("anna", "another long password") is None


@pytest.mark.parametrize(
    ("username", "org", "roles", "password"),
    [
        ("anna", Organisation.POLITIE, [Role.PROCESS_DIRECTOR], PASSWORD),
        ("anna", Organisation.GGZ, [Role.COMPLIANCE], PASSWORD),
        ("anna", Organisation.ZVH, [], PASSWORD),
        ("Anna Smit", Organisation.ZVH, [Role.CASE_MANAGER], PASSWORD),
        ("anna", Organisation.ZVH, [Role.CASE_MANAGER], "short"),
    ],
)
def test_invalid_accounts_are_refused(
    tmp_path: Path, username: str, org: Organisation, roles: list[Role], password: str
) -> None:
    accounts = AccountsFile(tmp_path / "accounts.json")
    with pytest.raises(AccountError) as raised:
        accounts.add(username, org, roles, password)
    assert isinstance(raised.value, SchakelError)
    assert password not in str(raised.value)
    assert not accounts.path.exists()


def test_a_duplicate_user_is_refused(tmp_path: Path) -> None:
    accounts = AccountsFile(tmp_path / "accounts.json")
    accounts.add("anna", Organisation.ZVH, [Role.CASE_MANAGER], PASSWORD)
    with pytest.raises(AccountError):
        accounts.add("anna", Organisation.ZVH, [Role.COMPLIANCE], PASSWORD)


def test_a_damaged_accounts_file_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_text('{"accounts": [{"username": "x"}]}')
    with pytest.raises(AccountError):
        AccountsFile(path).authenticate("x", PASSWORD)


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_lock_out_after_repeated_failures_then_release() -> None:
    clock = _Clock()
    lockout = LockOut(clock=clock)
    for _ in range(MAX_FAILURES - 1):
        lockout.failed("anna")
    assert not lockout.locked("anna")
    lockout.failed("anna")
    assert lockout.locked("anna")
    assert not lockout.locked("bob")
    clock.now += LOCK_DURATION
    assert not lockout.locked("anna")


def test_a_success_resets_the_failures() -> None:
    lockout = LockOut(clock=_Clock())
    for _ in range(MAX_FAILURES - 1):
        lockout.failed("anna")
    lockout.succeeded("anna")
    lockout.failed("anna")
    assert not lockout.locked("anna")


def test_old_failures_expire() -> None:
    clock = _Clock()
    lockout = LockOut(clock=clock)
    for _ in range(MAX_FAILURES - 1):
        lockout.failed("anna")
    clock.now += timedelta(hours=1)
    lockout.failed("anna")
    assert not lockout.locked("anna")


def test_the_lock_out_forgets_names_whose_failures_are_old() -> None:
    """Every failed name was kept for good: guessed names (or junk) filled the server's memory."""
    clock = _Clock()
    lockout = LockOut(clock=clock)
    for n in range(3000):
        lockout.failed(f"guessed-name-{n}")
    clock.now += FAILURE_WINDOW
    for _ in range(MAX_FAILURES):
        lockout.failed("anna")
    for n in range(3000):
        lockout.failed(f"other-guess-{n}")
    assert lockout.remembered() < 4000
    assert lockout.locked("anna")  # a lock lasts its time, however many names come by
    clock.now += LOCK_DURATION
    assert not lockout.locked("anna")
