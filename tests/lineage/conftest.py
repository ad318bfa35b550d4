"""Fixtures of the lineage tests: a real PostgreSQL server for the session, and a store on each backend.

The server is the one ``SCHAKEL_TEST_POSTGRES_URL`` points at, or else a throw-away cluster started on a free loopback
port (:class:`schakel.deploy.postgres.LocalPostgres`) and stopped at the end of the session. Each PostgreSQL-backed
store lives in a database of its own, dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from schakel.lineage import LineageStore, open_store

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _database_url(server: str, name: str) -> str:
    base, _, rest = server.rpartition("/")
    query = rest.partition("?")[2]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server; its URL."""
    name = f"lineage_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield _database_url(postgres_server, name)
    _drop(postgres_server, name)


@pytest.fixture
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], LineageStore]]:
    """Opens stores on a backend: ``factory("sqlite")`` or ``factory("postgresql")`` (each call a fresh one)."""

    def factory(backend: str) -> LineageStore:
        if backend == "sqlite":
            store = open_store(None, tmp_path / f"store-{len(opened)}")
        else:
            url = request.getfixturevalue("postgres_server")
            name = f"lineage_test_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            store = open_store(_database_url(url, name), tmp_path)
            databases.append((url, name))
        opened.append(store)
        return store

    opened: list[LineageStore] = []
    databases: list[tuple[str, str]] = []
    yield factory
    for store in opened:
        store.close()
    for url, name in databases:
        _drop(url, name)


def _drop(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each test that takes it runs once per backend."""
    return str(request.param)


@pytest.fixture
def store(backend: str, store_factory: Callable[[str], LineageStore]) -> LineageStore:
    """An empty store on the backend under test."""
    return store_factory(backend)
