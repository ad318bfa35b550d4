from __future__ import annotations

from pathlib import Path

import pytest

from schakel.settings import DEVELOPMENT_PSEUDONYM_KEY, Settings


def test_defaults_work_without_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SCHAKEL_KAFKA_BOOTSTRAP", "SCHAKEL_TOPIC_PREFIX", "SCHAKEL_PSEUDONYM_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.topic("dlq") == "schakel.dlq"
    assert settings.pseudonym_key.get_secret_value() == DEVELOPMENT_PSEUDONYM_KEY


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCHAKEL_KAFKA_BOOTSTRAP", "kafka-1.zvh.internal:9093,kafka-2.zvh.internal:9093")
    monkeypatch.setenv("SCHAKEL_TOPIC_PREFIX", "nh.")
    monkeypatch.setenv("SCHAKEL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SCHAKEL_PARTITIONS", "12")
    settings = Settings()
    assert settings.kafka_client_config()["bootstrap_servers"] == (
        "kafka-1.zvh.internal:9093,kafka-2.zvh.internal:9093"
    )
    assert settings.topic("lineage") == "nh.lineage"
    assert settings.kafka_dir == tmp_path / "kafka"
    assert settings.partitions == 12


def test_secrets_never_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHAKEL_PSEUDONYM_KEY", "super-secret-key")
    monkeypatch.setenv("SCHAKEL_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("SCHAKEL_KAFKA_SASL_USERNAME", "hub")
    monkeypatch.setenv("SCHAKEL_KAFKA_SASL_PASSWORD", "kafka-password")
    monkeypatch.setenv("SCHAKEL_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    settings = Settings()
    shown = repr(settings) + str(settings.model_dump())
    assert "super-secret-key" not in shown
    assert "kafka-password" not in shown
    assert settings.kafka_client_config()["sasl_plain_password"] == "kafka-password"


def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHAKEL_PARTITIONS", "0")
    with pytest.raises(ValueError, match="partitions"):
        Settings()
