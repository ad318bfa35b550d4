from __future__ import annotations

import faust
from pydantic import SecretStr

from schakel.settings import Settings
from schakel.streams.hub import _credentials


def test_plaintext_needs_no_credentials() -> None:
    assert _credentials(Settings(kafka_security_protocol="PLAINTEXT")) is None


def test_sasl_ssl_credentials_reach_faust() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="hub",
        kafka_sasl_password=SecretStr("s3cret"),
    )
    credentials = _credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "hub"
    assert credentials.password == "s3cret"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.ssl_context is not None


def test_ssl_without_sasl_uses_a_tls_context() -> None:
    assert isinstance(_credentials(Settings(kafka_security_protocol="SSL")), faust.SSLCredentials)
