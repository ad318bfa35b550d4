"""``schakel kafka users|acls`` against the real, secured broker, and the rule that no password is ever shown or
logged (by schakel or by the Kafka clients it configures)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaTimeoutError
from pydantic import SecretStr
from typer.testing import CliRunner

from schakel.deploy.kafka import cli as kafka_cli
from schakel.settings import Settings, settings
from schakel.streams import access
from schakel.streams.hub import _credentials
from schakel.streams.topics import ADMIN

pytestmark = pytest.mark.kafka


def _schakel(
    *args: str, prefix: str = "schakel.", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "SCHAKEL_TOPIC_PREFIX": prefix, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "schakel.cli", "kafka", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_users_add_list_remove_never_shows_the_password(kafka_bootstrap: str) -> None:
    name = f"operator-test-{uuid.uuid4().hex[:8]}"
    stored = Settings().kafka_credentials_path / name
    try:
        added = _schakel("users", "add", name)
        assert added.returncode == 0, added.stderr
        password = stored.read_text().strip()
        assert len(password) >= 32
        assert stored.stat().st_mode & 0o077 == 0
        assert password not in added.stdout + added.stderr
        listed = _schakel("users", "list")
        assert name in listed.stdout.split()
        assert password not in listed.stdout
        # The new user can authenticate (and, with no ACLs, do nothing).
        producer = KafkaProducer(**Settings().kafka_client_config(name), enable_idempotence=False)
        producer.close()
    finally:
        removed = _schakel("users", "remove", name)
        stored.unlink(missing_ok=True)
    assert removed.returncode == 0, removed.stderr
    assert name not in _schakel("users", "list").stdout.split()


def test_users_add_refuses_a_name_that_leaves_the_credentials_directory_or_is_the_brokers_own(
    kafka_bootstrap: str,
) -> None:
    credentials = Settings().kafka_credentials_path
    escape = f"../escaped-{uuid.uuid4().hex[:8]}"
    outside = credentials / escape
    try:
        added = _schakel("users", "add", escape)
        assert added.returncode == 1
        assert not outside.exists(), "a password was written outside the credentials directory"
        assert escape not in _schakel("users", "list").stdout.split()
        # The broker's own super user: a password set here is not the one its configuration holds.
        for command in (("users", "add", "broker"), ("users", "remove", "broker")):
            refused = _schakel(*command)
            assert refused.returncode == 1
            assert "the broker's own identity" in refused.stderr
        assert not (credentials / "broker").exists()
        assert "broker" in _schakel("users", "list").stdout.split()
    finally:
        outside.unlink(missing_ok=True)
        _schakel("users", "remove", escape)


def _authenticates(name: str, within: float = 30.0, password: str | None = None) -> bool:
    """Does ``password`` (default: the one in ``name``'s credentials file) open a connection to the broker (within
    ``within`` s: the broker enforces a new password a moment after it accepted it)?"""
    deadline = time.monotonic() + within
    config = Settings(kafka_sasl_username=name, kafka_sasl_password=SecretStr(password)) if password else Settings()
    while True:
        try:
            KafkaAdminClient(**config.kafka_client_config(name), request_timeout_ms=5000).close()
            return True
        except Exception:  # any refusal: the password in the file is not the broker's
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)


def test_users_add_that_cannot_write_the_password_file_changes_nothing_and_a_rerun_works(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """The credentials directory cannot take the file (read-only, full, not a directory). The broker must not be
    left with a password nobody has: the add fails before the broker changes, says so, and a rerun works."""
    name = f"operator-test-{uuid.uuid4().hex[:8]}"
    admin = Settings().kafka_sasl(ADMIN)
    assert admin is not None
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    env = {
        "SCHAKEL_KAFKA_CREDENTIALS_DIR": str(blocked / "credentials"),
        "SCHAKEL_KAFKA_SASL_USERNAME": ADMIN,  # admin's own password from the environment, not from that directory
        "SCHAKEL_KAFKA_SASL_PASSWORD": admin[1].get_secret_value(),
    }
    stored = Settings().kafka_credentials_path / name
    try:
        failed = _schakel("users", "add", name, env=env)
        assert failed.returncode == 1
        assert "Traceback" not in failed.stderr, failed.stderr
        assert "nothing was changed on the broker" in failed.stderr
        assert name not in _schakel("users", "list").stdout.split(), "the broker has a password no file holds"
        rerun = _schakel("users", "add", name)
        assert rerun.returncode == 0, rerun.stderr
        assert _authenticates(name)
    finally:
        _schakel("users", "remove", name)
        stored.unlink(missing_ok=True)


def test_a_rotation_the_broker_accepted_but_did_not_confirm_in_time_leaves_the_file_matching_the_broker(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loaded broker accepts the new password but does not list it within the wait: the file must hold the
    password the broker has (the new one), and the operator be told."""
    name = f"operator-test-{uuid.uuid4().hex[:8]}"
    stored = Settings().kafka_credentials_path / name
    try:
        assert _schakel("users", "add", name).returncode == 0
        old = stored.read_text()

        def slow_broker(missing: object, what: str) -> None:
            raise access.AccessError(f"the broker accepted {what} but did not enforce 1 of them within 60 s")

        monkeypatch.setattr(access, "_until_in_force", slow_broker)
        settings.cache_clear()
        rotated = CliRunner().invoke(kafka_cli.app, ["users", "add", name])
        assert rotated.exit_code == 1, rotated.output
        assert isinstance(rotated.exception, SystemExit), rotated.exception
        assert stored.read_text() != old
        assert _authenticates(name), "the password file no longer matches the broker"
        assert f"{stored} holds the new password" in rotated.output
    finally:
        settings.cache_clear()
        _schakel("users", "remove", name)
        stored.unlink(missing_ok=True)


def test_users_add_whose_request_went_unanswered_says_to_run_it_again(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection fails after the request was sent: the broker may or may not have the password. No traceback,
    no half-written file; the message says a rerun settles it."""
    name = f"operator-test-{uuid.uuid4().hex[:8]}"
    stored = Settings().kafka_credentials_path / name

    def lost(*args: object, **kwargs: object) -> None:
        raise KafkaTimeoutError("the connection was lost")

    monkeypatch.setattr(KafkaAdminClient, "alter_user_scram_credentials", lost)
    settings.cache_clear()
    try:
        added = CliRunner().invoke(kafka_cli.app, ["users", "add", name])
        assert added.exit_code == 1
        assert isinstance(added.exception, SystemExit), added.exception
        assert f"run `schakel kafka users add {name}` again" in added.output
        assert not stored.exists()
        assert not [path.name for path in stored.parent.iterdir() if name in path.name]
    finally:
        settings.cache_clear()
        stored.unlink(missing_ok=True)


def test_two_processes_ensuring_a_new_user_at_once_set_one_password_and_say_so(kafka_bootstrap: str) -> None:
    """Two ``ensure_users`` at once (two ``kafka up``), each with its own password for a new user: both found it
    missing and both set theirs - the second silently replaced the first, and both said they added it. Now one sets
    its password (which then works), the other finds the user present. (Threads: the lock is an flock on the
    credentials directory, opened by each call itself: it holds between threads as between processes.)"""
    admin = Settings()
    for _ in range(4):
        name = f"operator-test-{uuid.uuid4().hex[:8]}"
        passwords = [secrets.token_urlsafe(24), secrets.token_urlsafe(24)]
        start = threading.Barrier(2)

        def ensure(password: str, name: str = name, start: threading.Barrier = start) -> list[str]:
            start.wait()
            return access.ensure_users(admin, [(name, password)])

        try:
            with ThreadPoolExecutor(2) as pool:
                added = [future.result() for future in [pool.submit(ensure, password) for password in passwords]]
            assert sorted(added) == [[], [name]], "both set a password: one of them no longer works"
            winner = passwords[added.index([name])]
            assert _authenticates(name, password=winner)
        finally:
            access.remove_user(admin, name)


def test_acls_apply_is_idempotent_and_show_finds_them_all(kafka_bootstrap: str) -> None:
    prefix = f"acl{uuid.uuid4().hex[:8]}."
    missing = _schakel("acls", "show", prefix=prefix)
    assert missing.returncode == 1
    assert "missing" in missing.stdout
    first = _schakel("acls", "apply", prefix=prefix)
    assert first.returncode == 0, first.stderr
    assert f"User:politie WRITE TOPIC {prefix}ingress.politie" in first.stdout
    # `apply` returns once the broker enforces what it added (streams/access.py): the broker lists them all at once.
    second = _schakel("acls", "apply", prefix=prefix)
    assert second.returncode == 0, second.stderr
    assert "0 ACLs added" in second.stdout
    shown = _schakel("acls", "show", prefix=prefix)
    assert shown.returncode == 0, shown.stdout
    assert "missing" not in shown.stdout


def test_no_client_logs_a_password(kafka_bootstrap: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings()
    password = settings.kafka_sasl("politie")
    assert password is not None
    secret = password[1].get_secret_value()
    caplog.set_level(logging.DEBUG)

    producer = KafkaProducer(**settings.kafka_client_config("politie"))
    producer.close()

    async def aio() -> None:
        client = AIOKafkaProducer(**settings.kafka_client_config("politie"))
        await client.start()
        await client.stop()

    asyncio.run(aio())
    wrong = Settings(kafka_sasl_username="politie", kafka_sasl_password=SecretStr("wrong-" + secret[:4]))
    with pytest.raises(Exception):  # noqa: B017, PT011 - any refusal; the point is what was logged
        asyncio.run(_start_and_stop(wrong))
    shown = [repr(settings), str(settings.model_dump()), repr(_credentials(settings)), caplog.text]
    assert len(caplog.records) > 10, "the clients logged at DEBUG"
    assert not [text for text in shown if secret in text]


async def _start_and_stop(settings: Settings) -> None:
    client = AIOKafkaProducer(**settings.kafka_client_config(), request_timeout_ms=5000)
    try:
        await client.start()
    finally:
        await client.stop()
