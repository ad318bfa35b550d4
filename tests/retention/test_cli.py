"""``schakel retention status|rekey``: counts only, never a person; rotation re-wraps and keeps copies readable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schakel.retention import KeyStore, Opener, Sealer
from schakel.retention.cli import app
from schakel.settings import Settings, settings

runner = CliRunner()
FIRST, SECOND = "the-first-key-encryption-key", "the-second-key-encryption-key"


@pytest.fixture
def data_dir(tmp_path: Path, keystore_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SCHAKEL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SCHAKEL_KEYSTORE_URL", keystore_url)
    monkeypatch.setenv("SCHAKEL_KEK", FIRST)
    settings.cache_clear()
    yield tmp_path
    settings.cache_clear()


def test_status_counts_and_names_no_one(data_dir: Path) -> None:
    store = KeyStore.of(Settings())
    now = datetime.now(UTC)
    store.key_for("a-person-pseudonym")
    store.key_for_event(
        "a-person-pseudonym",
        at=now - timedelta(days=400),
        names_case=False,
        closes_case=False,
        after_close=None,
        without_case=timedelta(days=180),
        recipients={"politie": "politie-pseudonym"},
    )
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert (status["people"], status["data_keys"], status["due"]) == (1, 1, 1)
    assert "pseudonym" not in result.output


def test_rekey_after_a_kek_rotation_keeps_every_copy_readable(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = [("ce_source", b"s"), ("ce_id", b"e"), ("schakel-recipient", b"om")]
    value, sealed = Sealer(KeyStore.of(Settings())).seal_copy("a-person", b"copy", headers)
    monkeypatch.setenv("SCHAKEL_KEK", SECOND)
    monkeypatch.setenv("SCHAKEL_KEK_PREVIOUS", json.dumps([FIRST]))
    settings.cache_clear()
    result = runner.invoke(app, ["rekey"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rewrapped"] == 1
    monkeypatch.delenv("SCHAKEL_KEK_PREVIOUS")
    assert Opener(KeyStore.of(Settings())).open_copy(value, sealed) == b"copy"


def test_an_unknown_key_store_url_is_refused_with_what_to_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHAKEL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SCHAKEL_KEYSTORE_URL", "mysql://keys:a-password@db.example/keys")
    settings.cache_clear()
    try:
        for command in ("status", "rekey", "run"):
            result = runner.invoke(app, [command])
            assert result.exit_code == 2, result.output
            assert "postgresql://" in result.output
            assert "a-password" not in result.output
    finally:
        settings.cache_clear()
