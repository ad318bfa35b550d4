"""Configuration: one model, read from ``SCHAKEL_*`` environment variables.

Every setting has a default that works on a laptop with the local broker (``schakel kafka up``). In production,
set at least ``SCHAKEL_KAFKA_BOOTSTRAP`` and ``SCHAKEL_PSEUDONYM_KEY``: the default key is public, and a hub worker
or a connector refuses to start with it (:meth:`Settings.refuse_development_key`) unless
``SCHAKEL_ENVIRONMENT=development``. *Why production is the default:* a forgotten setting must fail closed - a
worker that will not start is noticed at once, pseudonyms anyone can recompute from a BSN are not. The Makefile's
``test``, ``demo`` and ``bench`` targets and the test session set development.

Kafka security. Each component connects with its own identity (principal): ``kafka_client_config(principal)``
picks that principal's credentials, so one process running eight connectors gives each its own. A password comes
from ``SCHAKEL_KAFKA_SASL_PASSWORD`` when the principal is ``SCHAKEL_KAFKA_SASL_USERNAME``, otherwise from the file
named after the principal in ``SCHAKEL_KAFKA_CREDENTIALS_DIR`` (one file per principal, as a mounted Kubernetes
secret is). Left unset, the protocol, the CA and the credentials directory are what the local broker
(``schakel kafka up``) wrote under ``<data_dir>/kafka``; without a local broker's record the protocol is PLAINTEXT.
Passwords are ``SecretStr`` and never appear in a message.
"""

from __future__ import annotations

import json
import ssl
from functools import lru_cache
from ipaddress import IPv4Address
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, IPvAnyAddress, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schakel.errors import SchakelError

__all__ = [
    "DEVELOPMENT_KEK",
    "DEVELOPMENT_PSEUDONYM_KEY",
    "Environment",
    "KafkaIdentityError",
    "SecurityProtocol",
    "Settings",
    "SettingsError",
    "checkout_root",
    "settings",
]

DEVELOPMENT_PSEUDONYM_KEY = "schakel-development-key-not-for-production"
DEVELOPMENT_KEK = "schakel-development-key-encryption-key-not-for-production"

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
Environment = Literal["development", "production"]


class SettingsError(SchakelError):
    """The settings are unfit for what a process is about to do; the message says which variable to set."""


class KafkaIdentityError(SettingsError):
    """A component's Kafka identity or its credentials are missing or unreadable."""


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
    kafka_security_protocol: SecurityProtocol | None = Field(
        default=None, description="Default: what the local broker wrote under data_dir, else PLAINTEXT."
    )
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = Field(
        default=None, description="The identity of a component that names none, and whose password is set below."
    )
    kafka_sasl_password: SecretStr | None = None
    kafka_credentials_dir: Path | None = Field(
        default=None, description="One file per principal holding its password; default: the local broker's."
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA certificate(s) to trust; default: the local broker's CA, else the system's."
    )

    topic_prefix: str = Field(default="schakel.", description="Prefix of every topic the hub owns.")
    partitions: int = Field(default=4, ge=1, le=1000, description="Partitions of topics the hub creates.")
    replication_factor: int | None = Field(
        default=None, ge=1, le=10, description="Copies of each partition the hub creates; default: the cluster's."
    )

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
    lineage_retention_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        description="The longest the lineage store keeps any record, whatever its covenant says (see README).",
    )
    covenants_dir: Path | None = Field(default=None, description="Covenant files; default: the shipped ones.")

    # Retention and crypto-shredding (schakel.retention). The periods are the defaults for a covenant that names none.
    retention_after_close_days: int = Field(
        default=1825, ge=1, le=10950, description="Delivered copies, after the case's CaseClosed (5 years)."
    )
    retention_signal_days: int = Field(
        default=180, ge=1, le=10950, description="A person with signals but no case, after the last event."
    )
    retention_consent_days: int = Field(default=1825, ge=1, le=10950, description="Consent history in lineage.")
    retention_lineage_days: int = Field(default=2555, ge=1, le=10950, description="Other lineage records.")
    retention_interval_seconds: float = Field(
        default=3600.0, gt=0, le=86400, description="How often the hub's retention job runs (on the leader only)."
    )
    kek: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_KEK),
        description="Key-encryption key: wraps every per-subject data key in the key store.",
    )
    kek_previous: list[SecretStr] = Field(
        default_factory=list, description="Earlier key-encryption keys, still read until `schakel retention rekey`."
    )
    keystore_url: str | None = Field(
        default=None, description="postgresql://... for PostgreSQL, or a SQLite path; default: SQLite under data_dir."
    )
    encrypt_copies: bool = Field(
        default=True, description="false only for the benchmark's baseline, and only in development."
    )
    guidance_dir: Path | None = Field(default=None, description="Course-of-action files; default: the shipped drafts.")
    lineage_url: str | None = Field(
        default=None, description="postgresql://... for PostgreSQL; default: SQLite under data_dir."
    )
    source_urns: dict[str, str] = Field(
        default_factory=dict,
        description="CloudEvents `source` URN per organisation code (NL GOV profile); missing ones get a default.",
    )

    metrics_host: IPvAnyAddress = Field(
        default=IPv4Address("127.0.0.1"),
        description="The address the hub's metrics and the connectors' /healthz and /metrics listen on. Loopback by "
        "default (nothing unauthenticated on a network); in Kubernetes the pod's own address, so that Prometheus can "
        "scrape it, with a NetworkPolicy that lets only the monitoring namespace in. An IP address, never a name.",
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

    def refuse_unprotected_copies(self) -> None:
        """Raise :class:`SettingsError` when a production process would write copies without encryption or with
        the public development key-encryption key (either would leave shredded copies readable)."""
        if self.environment == "development":
            return
        if not self.encrypt_copies:
            raise SettingsError(
                "SCHAKEL_ENCRYPT_COPIES=false is for the benchmark's baseline on a development machine only"
            )
        if self.kek.get_secret_value() == DEVELOPMENT_KEK:
            raise SettingsError(
                "the key-encryption key is the public development key: set SCHAKEL_KEK to a secret of your own, "
                "or SCHAKEL_ENVIRONMENT=development on a development machine"
            )

    def _local_broker_security(self) -> dict[str, str]:
        """What ``schakel kafka up`` recorded about how to reach the local broker (empty when nothing was)."""
        try:
            recorded = json.loads((self.kafka_dir / "client.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(key): str(value) for key, value in recorded.items()} if isinstance(recorded, dict) else {}

    @property
    def kafka_protocol(self) -> SecurityProtocol:
        """The security protocol in effect (the setting, or the local broker's)."""
        if self.kafka_security_protocol is not None:
            return self.kafka_security_protocol
        recorded = self._local_broker_security().get("security_protocol", "PLAINTEXT")
        for protocol in get_args(SecurityProtocol):
            if protocol == recorded:
                return protocol  # type: ignore[no-any-return]
        return "PLAINTEXT"

    @property
    def kafka_mechanism(self) -> SaslMechanism | None:
        """The SASL mechanism in effect, when the protocol is a SASL one."""
        if not self.kafka_protocol.startswith("SASL_"):
            return None
        if self.kafka_sasl_mechanism is not None:
            return self.kafka_sasl_mechanism
        recorded = self._local_broker_security().get("sasl_mechanism", "SCRAM-SHA-512")
        for mechanism in get_args(SaslMechanism):
            if mechanism == recorded:
                return mechanism  # type: ignore[no-any-return]
        return "SCRAM-SHA-512"

    @property
    def kafka_cafile(self) -> Path | None:
        if self.kafka_ssl_cafile is not None:
            return self.kafka_ssl_cafile
        local = self.kafka_dir / "tls" / "ca.pem"
        return local if local.exists() else None

    @property
    def kafka_credentials_path(self) -> Path:
        return self.kafka_credentials_dir or self.kafka_dir / "credentials"

    def kafka_ssl_context(self) -> ssl.SSLContext | None:
        """A TLS context trusting the configured CA (verifying the broker's name), or None without TLS."""
        if self.kafka_protocol not in ("SSL", "SASL_SSL"):
            return None
        cafile = self.kafka_cafile
        try:
            return ssl.create_default_context(cafile=str(cafile) if cafile else None)
        except (OSError, ssl.SSLError) as error:
            raise KafkaIdentityError(f"cannot read the Kafka CA certificate {cafile}: {error}") from error

    def kafka_sasl(self, principal: str | None = None) -> tuple[str, SecretStr] | None:
        """``principal``'s SASL user name and password (None without SASL).

        ``principal`` None means the configured ``kafka_sasl_username``; with SASL on and neither given, this is an
        error rather than a guess: a component never borrows another's identity.
        """
        if not self.kafka_protocol.startswith("SASL_"):
            return None
        name = principal or self.kafka_sasl_username
        if not name:
            raise KafkaIdentityError(
                "no Kafka identity: the broker needs SASL, and neither a principal nor SCHAKEL_KAFKA_SASL_USERNAME "
                "was given"
            )
        if name == self.kafka_sasl_username and self.kafka_sasl_password is not None:
            return name, self.kafka_sasl_password
        path = self.kafka_credentials_path / name
        try:
            password = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise KafkaIdentityError(
                f"no Kafka credentials for principal {name!r}: cannot read {path} ({error.strerror}); set "
                "SCHAKEL_KAFKA_CREDENTIALS_DIR or, for one identity, SCHAKEL_KAFKA_SASL_USERNAME and _PASSWORD"
            ) from None
        if not password:
            raise KafkaIdentityError(f"the Kafka credentials file for principal {name!r} ({path}) is empty")
        return name, SecretStr(password)

    def has_kafka_credentials(self, principal: str) -> bool:
        """True when ``principal`` can connect: no SASL, or its credentials are at hand."""
        try:
            self.kafka_sasl(principal)
        except KafkaIdentityError:
            return False
        return True

    def kafka_environment(self) -> dict[str, str]:
        """``SCHAKEL_KAFKA_*`` variables that make another process reach the broker as these settings do, whatever
        its ``data_dir`` (no password: those stay in their files or the environment they came from)."""
        environment = {
            "SCHAKEL_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "SCHAKEL_KAFKA_SECURITY_PROTOCOL": self.kafka_protocol,
        }
        if self.kafka_mechanism is not None:
            environment["SCHAKEL_KAFKA_SASL_MECHANISM"] = self.kafka_mechanism
            environment["SCHAKEL_KAFKA_CREDENTIALS_DIR"] = str(self.kafka_credentials_path)
        if self.kafka_protocol in ("SSL", "SASL_SSL") and self.kafka_cafile is not None:
            environment["SCHAKEL_KAFKA_SSL_CAFILE"] = str(self.kafka_cafile)
        return environment

    def kafka_client_config(self, principal: str | None = None) -> dict[str, object]:
        """Connection settings, as ``principal``, in the keyword form kafka-python and aiokafka share.

        The result holds the password in clear (the clients want it so): pass it to a client, never print it.
        """
        config: dict[str, object] = {
            "bootstrap_servers": self.kafka_bootstrap,
            "security_protocol": self.kafka_protocol,
        }
        context = self.kafka_ssl_context()
        if context is not None:
            config["ssl_context"] = context
        identity = self.kafka_sasl(principal)
        if identity is not None:
            config["sasl_mechanism"] = self.kafka_mechanism
            config["sasl_plain_username"] = identity[0]
            config["sasl_plain_password"] = identity[1].get_secret_value()
        return config


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
