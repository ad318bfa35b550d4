"""Fixtures of the connectors tests: a PostgreSQL server for the outbox transport's PostgreSQL mode.

The contract kit's broker is the session's real broker (see ``test_contract.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from schakel.deploy.postgres import LocalPostgres


@pytest.fixture(scope="session")
def connectors_postgres() -> Iterator[str]:
    """The URL of a running PostgreSQL server (``SCHAKEL_TEST_POSTGRES_URL``, or a throw-away local one)."""
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
