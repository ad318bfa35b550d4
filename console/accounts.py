"""The console's accounts file and the lock-out after repeated failed sign-ins.

The embedded default for a small installation: one JSON file (``SCHAKEL_CONSOLE_ACCOUNTS``, by default
``<data dir>/console/accounts.json``, mode 0600) with argon2id hashes (argon2-cffi's defaults, which follow RFC 9106's
second recommended option). ``schakel console users add|passwd|remove`` edits it; the server only reads it.

Judgement calls:

- An unknown user name costs the same argon2 work as a wrong password (a hash of a random password is verified), so
  timing does not tell which user names exist; both answers are the same "unknown user name or wrong password".
- Lock-out is per user name, not per address: :data:`MAX_FAILURES` failures within :data:`FAILURE_WINDOW` lock the
  account for :data:`LOCK_DURATION`, during which even the right password is refused. It lives in the server's memory
  (a restart forgets it; a cluster of consoles would need it shared) - enough for one console process.
- A sign-in still being checked counts as a failure until it is known to have succeeded (:meth:`LockOut.begin`):
  guesses sent all at once would otherwise all pass the lock check before the first had failed. So while
  :data:`MAX_FAILURES` attempts are under way, a further one is refused as locked, the right password included.
- Password checks are bounded (:class:`Verifications`): argon2id takes about 64 MiB and a good part of a core for
  each check, and anyone who can load the sign-in page can ask for one with a new user name each time (the lock-out
  is per name). The checks run on threads of their own - never on the event loop, nor on the default executor the
  other pages read their accounts and the lineage store through, so a flood of sign-ins does not stall the pages of
  users already signed in - at most :data:`VERIFYING` at once, with at most :data:`WAITING` more waiting for a
  thread; a sign-in beyond that is answered at once "busy, try again" (503, ``Retry-After``), unchecked and not
  counted against the user name. *Judgement call*: during a flood a real user may be answered "busy" too; the
  alternative, an unbounded queue, answers everyone after minutes and holds every request's memory meanwhile.
- The lock-out's memory is bounded: a name no account can have (:func:`is_username`) is answered "unknown user name
  or wrong password" at once - no argon2 work, nothing remembered (the rule for names is no secret) - and failures
  older than :data:`FAILURE_WINDOW` are dropped once many names are remembered. Before, every failed sign-in kept
  its user name for good: up to a megabyte each, from anyone who could load the sign-in page.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schakel.console.access import Principal, Role, role_allowed
from schakel.console.errors import AccountError, SignInBusyError
from schakel.schemas import Organisation

__all__ = [
    "FAILURE_WINDOW",
    "LOCK_DURATION",
    "MAX_FAILURES",
    "VERIFYING",
    "WAITING",
    "Account",
    "AccountsFile",
    "LockOut",
    "SignInBusyError",
    "Verifications",
    "is_username",
]

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12
VERIFYING = min(4, os.cpu_count() or 1)
"""Password checks at once (each argon2id check takes about 64 MiB and a core for a moment)."""
WAITING = 4 * VERIFYING
"""Password checks that may wait for a thread; a sign-in beyond these is answered "busy" at once."""

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_hasher = PasswordHasher()
_PRUNE_AT = 1024
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Account(BaseModel):
    """One console user."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    username: str = Field(pattern=_USERNAME.pattern)
    organisation: Organisation
    roles: tuple[Role, ...] = Field(min_length=1)
    password_hash: str

    def principal(self) -> Principal:
        return Principal.of(self.username, self.organisation, self.roles)


class _Accounts(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    accounts: list[Account] = []


@dataclass
class AccountsFile:
    """The accounts file at ``path`` (read on every sign-in, so edits apply without a restart)."""

    path: Path

    def load(self) -> dict[str, Account]:
        if not self.path.exists():
            return {}
        try:
            data = _Accounts.model_validate_json(self.path.read_bytes())
        except (OSError, ValidationError) as error:
            raise AccountError(f"the accounts file {self.path} cannot be read: {type(error).__name__}") from None
        return {account.username: account for account in data.accounts}

    def _save(self, accounts: dict[str, Account]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = _Accounts(accounts=sorted(accounts.values(), key=lambda a: a.username)).model_dump_json(indent=2)
        handle, name = tempfile.mkstemp(dir=self.path.parent, prefix=".accounts-")
        try:
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(body)
            os.replace(name, self.path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise

    def add(self, username: str, organisation: Organisation, roles: list[Role], password: str) -> Account:
        """Add a user; refuses an existing name, a role the organisation may not hold, a short password."""
        accounts = self.load()
        if not _USERNAME.match(username):
            raise AccountError("a user name is 2-64 characters: lowercase letters, digits, '.', '_' or '-'")
        if username in accounts:
            raise AccountError(f"user {username} exists already")
        if not roles:
            raise AccountError("an account needs at least one role")
        for role in roles:
            if not role_allowed(organisation, role):
                raise AccountError(f"an account of {organisation} cannot hold the role {role}")
        account = Account(
            username=username, organisation=organisation, roles=tuple(roles), password_hash=_hash(password)
        )
        accounts[username] = account
        self._save(accounts)
        return account

    def passwd(self, username: str, password: str) -> None:
        accounts = self.load()
        if username not in accounts:
            raise AccountError(f"no user {username}")
        accounts[username] = accounts[username].model_copy(update={"password_hash": _hash(password)})
        self._save(accounts)

    def remove(self, username: str) -> None:
        accounts = self.load()
        if accounts.pop(username, None) is None:
            raise AccountError(f"no user {username}")
        self._save(accounts)

    def authenticate(self, username: str, password: str) -> Account | None:
        """The account when the password is right, else None (same work either way)."""
        account = self.load().get(username)
        try:
            _hasher.verify(account.password_hash if account else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return account


def is_username(text: str) -> bool:
    """Could an account have this user name (2-64 characters: lowercase letters, digits, '.', '_' or '-')?"""
    return _USERNAME.fullmatch(text) is not None


def _hash(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


@dataclass
class LockOut:
    """Failed sign-ins per user name, and the locks they caused."""

    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _failures: dict[str, list[datetime]] = field(default_factory=dict)
    _locked_until: dict[str, datetime] = field(default_factory=dict)
    _trying: dict[str, int] = field(default_factory=dict)
    _prune_at: int = _PRUNE_AT

    def remembered(self) -> int:
        """How many user names it keeps failures or a lock for."""
        return len(self._failures.keys() | self._locked_until.keys())

    def _prune(self, now: datetime) -> None:
        """Forget failures out of the window and locks that ended, once many names are remembered (amortised)."""
        if len(self._failures) + len(self._locked_until) < self._prune_at:
            return
        self._failures = {name: ts for name, ts in self._failures.items() if ts and now - ts[-1] < FAILURE_WINDOW}
        self._locked_until = {name: until for name, until in self._locked_until.items() if until > now}
        self._prune_at = max(_PRUNE_AT, 2 * (len(self._failures) + len(self._locked_until)))

    def begin(self, username: str) -> bool:
        """Start a sign-in attempt; False (refuse it as locked) when the account is locked or when the failures so
        far plus the attempts still under way reach :data:`MAX_FAILURES`. End it with :meth:`failed`,
        :meth:`succeeded` or :meth:`abandoned`."""
        if self.locked(username):
            return False
        now = self.clock()
        recent = [t for t in self._failures.get(username, []) if now - t < FAILURE_WINDOW]
        if len(recent) + self._trying.get(username, 0) >= MAX_FAILURES:
            return False
        self._trying[username] = self._trying.get(username, 0) + 1
        return True

    def abandoned(self, username: str) -> None:
        """An attempt that ended without an answer (the check itself failed): neither a failure nor a success."""
        left = self._trying.get(username, 0) - 1
        if left > 0:
            self._trying[username] = left
        else:
            self._trying.pop(username, None)

    def locked(self, username: str) -> bool:
        until = self._locked_until.get(username)
        if until is None:
            return False
        if self.clock() >= until:
            del self._locked_until[username]
            return False
        return True

    def failed(self, username: str) -> None:
        self.abandoned(username)
        now = self.clock()
        recent = [t for t in self._failures.get(username, []) if now - t < FAILURE_WINDOW] + [now]
        if len(recent) >= MAX_FAILURES:
            self._locked_until[username] = now + LOCK_DURATION
            recent = []
        self._failures[username] = recent
        self._prune(now)

    def succeeded(self, username: str) -> None:
        self.abandoned(username)
        self._failures.pop(username, None)


class Verifications:
    """Password checks on ``verifying`` threads of their own, at most ``waiting`` more queued (see the module's notes).

    :meth:`check` is called on the event loop; a check counts until its thread is done with it, also when the
    sign-in that asked for it was abandoned, so a client that disconnects at once cannot grow the queue."""

    def __init__(self, verifying: int = VERIFYING, waiting: int = WAITING) -> None:
        self.verifying = verifying
        self.waiting = waiting
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._admitted = 0

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.verifying, thread_name_prefix="schakel-console-verify")
        return self._executor

    def _done(self, _: Future[Account | None]) -> None:
        with self._lock:
            self._admitted -= 1

    async def check(self, accounts: AccountsFile, username: str, password: str) -> Account | None:
        """``accounts.authenticate(username, password)`` on a verification thread; raises :class:`SignInBusyError`,
        unchecked, when ``verifying + waiting`` checks are under way already."""
        with self._lock:
            if self._admitted >= self.verifying + self.waiting:
                raise SignInBusyError("too many sign-ins are being checked; try again in a moment")
            self._admitted += 1
        try:
            job = self._pool().submit(accounts.authenticate, username, password)
        except BaseException:
            with self._lock:
                self._admitted -= 1
            raise
        job.add_done_callback(self._done)
        return await asyncio.wrap_future(job)

    def close(self) -> None:
        """Stop the threads (checks still waiting are dropped); a later :meth:`check` starts new ones."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
