"""Fixtures shared by every test area.

The Kafka-backed tests run against the real local broker from ``deploy/kafka``: the session fixture reuses a broker
that already answers at ``SCHAKEL_KAFKA_BOOTSTRAP`` and otherwise starts one, and stops only what it started.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from schakel.deploy.kafka.broker import LocalBroker
from schakel.deploy.postgres import LocalPostgres
from schakel.settings import Settings

# The test session is a development environment: it runs with the public development pseudonym key, and so does every
# hub worker, connector and demo a test starts as a subprocess (they inherit this environment).
os.environ["SCHAKEL_ENVIRONMENT"] = "development"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The bootstrap address of a running broker."""
    broker = LocalBroker(Settings())
    started = not broker.status().answering
    if started:
        broker.up(timeout=120)
    yield broker.bootstrap
    if started:
        broker.down()


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic names and group ids, so tests never see each other's data."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a running PostgreSQL server's maintenance database: ``SCHAKEL_TEST_POSTGRES_URL``, or a throw-away
    server on loopback for this session."""
    configured = os.environ.get("SCHAKEL_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    server = LocalPostgres()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
