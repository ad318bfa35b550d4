"""Fixtures shared by every test area.

The Kafka-backed tests run against the real local broker from ``deploy/kafka``: the session fixture reuses a broker
that already answers at ``SCHAKEL_KAFKA_BOOTSTRAP`` and otherwise starts one (secured: SASL_SSL, SCRAM, ACLs), and
stops only what it started. It exports how to reach that broker (protocol, CA, credentials directory) as
``SCHAKEL_KAFKA_*`` variables, so every ``Settings()`` of a test - and every subprocess a test starts - connects the
way the broker wants, whatever its ``data_dir``. A test builds clients from the settings, as a named principal:
``settings.kafka_client_config(ADMIN)`` (the ``kafka_admin_config`` fixture) for set-up and observation, the
component's own principal for what is under test.

`make test` runs the suite in parallel (pytest-xdist, ``-n 3 --dist loadscope``: see the README's test section). Every
worker shares the one broker: the first worker that needs it starts it (under a file lock, so only one does) and the
controlling process stops it at the end of the session if a worker started it. Each test works on topics, groups,
users and a data directory of its own (the ``unique`` suffix, ``tmp_path``), so tests of different files never see
each other; the tests of one module (or one test class) run in one worker, in order, as they would without xdist.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from schakel.deploy.kafka.broker import LocalBroker
from schakel.deploy.postgres import LocalPostgres
from schakel.settings import Settings
from schakel.streams.topics import ADMIN

# The test session is a development environment: it runs with the public development pseudonym key, and so does every
# hub worker, connector and demo a test starts as a subprocess (they inherit this environment).
os.environ["SCHAKEL_ENVIRONMENT"] = "development"

THOROUGH = os.environ.get("SCHAKEL_TEST_THOROUGH") == "1"
"""Set by `make soak`: the tests marked ``thorough`` run at full size there (more Hypothesis examples, longer streams)
and at a smaller size in `make test`, which must stay within its time budget (see the README's test section)."""


def sized(thorough: int, quick: int) -> int:
    """A thorough test's size: ``thorough`` under `make soak`, ``quick`` in `make test`."""
    return thorough if THOROUGH else quick


_SHARED = "schakel_test_shared"
"""The ``workerinput`` key of the directory a parallel session's processes share (its broker lock and marker)."""

_SHARED_DIR = pytest.StashKey[Path]()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist (controller): tell each worker where the session's shared directory is."""
    node.workerinput[_SHARED] = str(node.config.stash[_SHARED_DIR])


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller, or a session without xdist
        config.stash[_SHARED_DIR] = Path(tempfile.mkdtemp(prefix="schakel-test-session-"))


def pytest_unconfigure(config: pytest.Config) -> None:
    """The controller stops the broker a worker started (a worker cannot know whether the others are done)."""
    shared = config.stash.get(_SHARED_DIR, None)
    if shared is None:
        return
    if (shared / "broker-started").exists():
        LocalBroker(Settings()).down()
    shutil.rmtree(shared, ignore_errors=True)


def _shared_dir(config: pytest.Config) -> Path:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        return Path(workerinput[_SHARED])
    return config.stash[_SHARED_DIR]


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    """The bootstrap address of a running broker; the environment says how to reach it.

    Started here if none answers, by one process of the session at a time (the others wait on the lock and then find
    it answering); stopped when the session ends (:func:`pytest_unconfigure`)."""
    shared = _shared_dir(request.config)
    broker = LocalBroker(Settings())
    with (shared / "broker.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not broker.status().answering:
            (shared / "broker-started").touch()
            broker.up(timeout=120)
    with pytest.MonkeyPatch.context() as environment:
        for name, value in broker.client_settings().kafka_environment().items():
            environment.setenv(name, value)
        for variable in ("SCHAKEL_KAFKA_SASL_USERNAME", "SCHAKEL_KAFKA_SASL_PASSWORD"):
            environment.delenv(variable, raising=False)
        yield broker.bootstrap


@pytest.fixture
def kafka_admin_config(kafka_bootstrap: str) -> dict[str, Any]:
    """Client settings as ``admin`` (the super user): for creating topics and watching them in tests."""
    return Settings().kafka_client_config(ADMIN)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic names and group ids, so tests never see each other's data."""
    return uuid.uuid4().hex[:10]


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
"""The stores' two backends, for ``pytest.mark.parametrize`` or a fixture's ``params`` (PostgreSQL: marker
``postgres``)."""


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


def create_database(server: str, prefix: str) -> str:
    """A fresh, empty database on the PostgreSQL ``server`` (a URL); its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, rest = server.rpartition("/")
    query = rest.partition("?")[2]
    return f"{base}/{name}" + (f"?{query}" if query else "")


def drop_database(server: str, url: str) -> None:
    """Drop the database of ``url`` (made by :func:`create_database` on ``server``), even with sessions open."""
    name = url.rpartition("/")[2].partition("?")[0]
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server, dropped afterwards; its URL."""
    url = create_database(postgres_server, "test")
    yield url
    drop_database(postgres_server, url)
