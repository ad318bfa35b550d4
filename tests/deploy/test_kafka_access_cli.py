"""``schakel kafka users|acls`` against the real, secured broker, and the rule that no password is ever shown or
logged (by schakel or by the Kafka clients it configures)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaProducer
from pydantic import SecretStr

from schakel.settings import Settings
from schakel.streams.hub import _credentials

pytestmark = pytest.mark.kafka


def _schakel(*args: str, prefix: str = "schakel.") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCHAKEL_TOPIC_PREFIX": prefix, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "schakel.cli", "kafka", *args], env=env, capture_output=True, text=True, timeout=120
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
