from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from schakel.settings import DEVELOPMENT_PSEUDONYM_KEY, KafkaIdentityError, Settings, SettingsError


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
    monkeypatch.setenv("SCHAKEL_KAFKA_SECURITY_PROTOCOL", "SSL")
    settings = Settings()
    assert settings.kafka_client_config()["security_protocol"] == "SSL"
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


def _secured(tmp_path: Path, **extra: object) -> Settings:
    credentials = tmp_path / "credentials"
    credentials.mkdir(exist_ok=True)
    (credentials / "politie").write_text("politie-password\n")
    (credentials / "hub").write_text("hub-password")
    return Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_credentials_dir=credentials,
        kafka_ssl_cafile=None,
        kafka_sasl_username=None,
        kafka_sasl_password=None,
        data_dir=tmp_path / "data",
        **extra,  # type: ignore[arg-type]
    )


def test_each_principal_gets_its_own_credentials_from_the_credentials_directory(tmp_path: Path) -> None:
    settings = _secured(tmp_path)
    politie, hub = settings.kafka_client_config("politie"), settings.kafka_client_config("hub")
    assert (politie["sasl_plain_username"], politie["sasl_plain_password"]) == ("politie", "politie-password")
    assert (hub["sasl_plain_username"], hub["sasl_plain_password"]) == ("hub", "hub-password")
    assert politie["security_protocol"] == "SASL_SSL"
    assert politie["sasl_mechanism"] == "SCRAM-SHA-512"
    assert politie["ssl_context"] is not None


def test_a_component_without_an_identity_is_refused_not_given_another(tmp_path: Path) -> None:
    settings = _secured(tmp_path)
    with pytest.raises(KafkaIdentityError, match="no Kafka identity"):
        settings.kafka_client_config()
    with pytest.raises(KafkaIdentityError, match="'om'") as refused:
        settings.kafka_client_config("om")
    assert "password" not in str(refused.value).replace("_PASSWORD", "")
    assert not settings.has_kafka_credentials("om")
    assert settings.has_kafka_credentials("politie")


def test_the_configured_username_uses_the_configured_password(tmp_path: Path) -> None:
    settings = _secured(tmp_path).model_copy(
        update={"kafka_sasl_username": "politie", "kafka_sasl_password": SecretStr("from-the-environment")}
    )
    assert settings.kafka_client_config()["sasl_plain_password"] == "from-the-environment"
    assert settings.kafka_client_config("hub")["sasl_plain_password"] == "hub-password"


def test_without_a_local_broker_record_the_protocol_is_plaintext(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCHAKEL_KAFKA_SECURITY_PROTOCOL", raising=False)
    settings = Settings(data_dir=tmp_path)
    assert settings.kafka_client_config("politie") == {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": "PLAINTEXT",
    }
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "client.json").write_text('{"security_protocol": "SASL_SSL"}')
    assert Settings(data_dir=tmp_path).kafka_protocol == "SASL_SSL"
    assert Settings(data_dir=tmp_path).kafka_mechanism == "SCRAM-SHA-512"


def test_the_kafka_environment_carries_the_reach_but_no_password(tmp_path: Path) -> None:
    settings = _secured(tmp_path).model_copy(update={"kafka_sasl_password": SecretStr("never-exported")})
    environment = settings.kafka_environment()
    assert environment["SCHAKEL_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert environment["SCHAKEL_KAFKA_CREDENTIALS_DIR"] == str(tmp_path / "credentials")
    assert "never-exported" not in str(environment)
    assert "politie-password" not in str(environment)
    plain = Settings(kafka_security_protocol="PLAINTEXT", data_dir=tmp_path).kafka_environment()
    assert set(plain) == {"SCHAKEL_KAFKA_BOOTSTRAP", "SCHAKEL_KAFKA_SECURITY_PROTOCOL"}


def _without_schakel_settings() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("SCHAKEL_")}


def test_the_development_key_is_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCHAKEL_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("SCHAKEL_ENVIRONMENT", raising=False)
    assert Settings().environment == "production"
    with pytest.raises(SettingsError, match="set SCHAKEL_PSEUDONYM_KEY") as raised:
        Settings().refuse_development_key()
    assert "SCHAKEL_ENVIRONMENT=development" in str(raised.value)
    assert DEVELOPMENT_PSEUDONYM_KEY not in str(raised.value)
    Settings(environment="development").refuse_development_key()  # accepted in development
    Settings(pseudonym_key=SecretStr("a-secret-of-our-own")).refuse_development_key()  # and with a key of one's own


def test_an_unknown_environment_is_rejected() -> None:
    with pytest.raises(ValueError, match="environment"):
        Settings(environment="staging")


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        (["run"], {}),
        (["run"], {"SCHAKEL_ENVIRONMENT": "production", "SCHAKEL_PSEUDONYM_KEY": DEVELOPMENT_PSEUDONYM_KEY}),
        (["connectors", "run", "politie", "--simulate"], {}),
        (["connectors", "run", "all"], {}),
        (["demo", "--once"], {}),
    ],
    ids=["run", "run, explicitly production", "connectors run politie", "connectors run all", "demo"],
)
def test_workers_and_connectors_refuse_to_start_with_the_development_key(
    command: list[str], extra: dict[str, str], tmp_path: Path
) -> None:
    env = {**_without_schakel_settings(), "SCHAKEL_DATA_DIR": str(tmp_path), "SCHAKEL_KAFKA_BOOTSTRAP": "127.0.0.1:9"}
    command = [sys.executable, "-m", "schakel.cli", *command]
    done = subprocess.run(command, env={**env, **extra}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    shown = " ".join((done.stdout + done.stderr).split())  # the console wraps long lines
    assert "the pseudonym key is the public development key" in shown
    assert "set SCHAKEL_PSEUDONYM_KEY" in shown
    assert "SCHAKEL_ENVIRONMENT=development" in shown
    assert DEVELOPMENT_PSEUDONYM_KEY not in shown
