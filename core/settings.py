"""Configuration: one model, read from ``SCHAKEL_*`` environment variables.

Every setting has a default that works on a laptop with the local broker (``schakel kafka up``). In production,
set at least ``SCHAKEL_KAFKA_BOOTSTRAP`` and ``SCHAKEL_PSEUDONYM_KEY``: the default key is public, and a hub worker
or a connector refuses to start with it (:meth:`Settings.refuse_development_key`) unless
``SCHAKEL_ENVIRONMENT=development``. *Why production is the default:* a forgotten setting must fail closed - a
worker that will not start is noticed at once, pseudonyms anyone can recompute from a BSN are not. The Makefile's
``test``, ``demo`` and ``bench`` targets and the test session set development.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schakel.errors import SchakelError

__all__ = ["DEVELOPMENT_PSEUDONYM_KEY", "Environment", "Settings", "SettingsError", "checkout_root", "settings"]

DEVELOPMENT_PSEUDONYM_KEY = "schakel-development-key-not-for-production"


Environment = Literal["development", "production"]


class SettingsError(SchakelError):
    """The settings are unfit for what a process is about to do; the message says which variable to set."""


def checkout_root() -> Path | None:
    """The source checkout this package is installed from (an editable install), or None.

    The strict editable install links each module into ``build/``; the link resolves to ``<checkout>/core/``.
    """
    root = Path(__file__).resolve().parent.parent
    if (root / "Makefile").is_file() and (root / "setup.py").is_file() and (root / "core" / "settings.py").is_file():
        return root
    return None


def _local_dir(checkout_folder: str, variable: str, fallback: str) -> Path:
    """A checkout's own folder (``var/``, ``.cache/``) when installed from one, else the XDG directory.

    Why: ``make demo``, ``make test`` and a command typed by hand from the checkout must find the same broker, pid
    file, stores and logs; an environment variable that only the Makefile sets cannot promise that.
    """
    import os

    root = checkout_root()
    if root is not None:
        return root / checkout_folder
    return Path(os.environ.get(variable) or Path.home() / fallback) / "schakel"


class Settings(BaseSettings):
    """All of schakel's configuration."""

    model_config = SettingsConfigDict(env_prefix="SCHAKEL_", env_file=None, extra="ignore", frozen=True)

    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None

    topic_prefix: str = Field(default="schakel.", description="Prefix of every topic the hub owns.")
    partitions: int = Field(default=4, ge=1, le=1000, description="Partitions of topics the hub creates.")
    replication_factor: int = Field(default=1, ge=1, le=10)

    data_dir: Path = Field(
        default_factory=lambda: _local_dir("var", "XDG_DATA_HOME", ".local/share"),
        description="Broker data and logs, worker state, the default lineage store.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: _local_dir(".cache", "XDG_CACHE_HOME", ".cache"),
        description="Downloaded Apache Kafka jars.",
    )

    pseudonym_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_PSEUDONYM_KEY),
        description="Secret from which subject pseudonyms (keys, lineage) and per-recipient pseudonyms derive.",
    )
    environment: Environment = Field(
        default="production",
        description="development allows the public development pseudonym key; production refuses it.",
    )
    dlq_retention_days: int = Field(
        default=14,
        ge=1,
        le=3650,
        description="How long the dlq topic keeps a dead letter (and the original value it holds for a resend).",
    )
    covenants_dir: Path | None = Field(default=None, description="Covenant files; default: the shipped ones.")
    lineage_url: str | None = Field(
        default=None, description="postgresql://... for PostgreSQL; default: SQLite under data_dir."
    )
    source_urns: dict[str, str] = Field(
        default_factory=dict,
        description="CloudEvents `source` URN per organisation code (NL GOV profile); missing ones get a default.",
    )

    log_format: Literal["text", "json"] = Field(
        default="text", description="text, or json: one JSON object per line with the current trace and span ids."
    )

    @property
    def kafka_dir(self) -> Path:
        """Where the local broker keeps its data, logs and pid file."""
        return self.data_dir / "kafka"

    def topic(self, name: str) -> str:
        """The full name of one of the hub's topics, e.g. ``topic("dlq")`` -> ``schakel.dlq``."""
        return f"{self.topic_prefix}{name}"

    def refuse_development_key(self) -> None:
        """Raise :class:`SettingsError` when a production process would run with the public development pseudonym
        key (anyone could recompute a subject's pseudonym from the BSN). The message never shows a key."""
        if self.environment != "development" and self.pseudonym_key.get_secret_value() == DEVELOPMENT_PSEUDONYM_KEY:
            raise SettingsError(
                "the pseudonym key is the public development key: set SCHAKEL_PSEUDONYM_KEY to a secret of your own, "
                "or SCHAKEL_ENVIRONMENT=development on a development machine"
            )

    def kafka_client_config(self) -> dict[str, object]:
        """Connection settings in the keyword form kafka-python and aiokafka share."""
        config: dict[str, object] = {
            "bootstrap_servers": self.kafka_bootstrap,
            "security_protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism is not None:
            config["sasl_mechanism"] = self.kafka_sasl_mechanism
            config["sasl_plain_username"] = self.kafka_sasl_username
            config["sasl_plain_password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            )
        return config


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
