"""Fixtures of the lineage tests: a real PostgreSQL server for the session, and a store on each backend.

The server is the one ``SCHAKEL_TEST_POSTGRES_URL`` points at, or else a throw-away cluster started on a free loopback
port (:class:`schakel.deploy.postgres.LocalPostgres`) and stopped at the end of the session. Each PostgreSQL-backed
store lives in a database of its own, dropped afterwards (``postgres_database``: tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from schakel.lineage import LineageStore, open_store
from tests.conftest import BACKENDS, create_database, drop_database

__all__ = ["BACKENDS"]


@pytest.fixture
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], LineageStore]]:
    """Opens stores on a backend: ``factory("sqlite")`` or ``factory("postgresql")`` (each call a fresh one)."""

    def factory(backend: str) -> LineageStore:
        if backend == "sqlite":
            store = open_store(None, tmp_path / f"store-{len(opened)}")
        else:
            server = request.getfixturevalue("postgres_server")
            url = create_database(server, "lineage_test")
            store = open_store(url, tmp_path)
            databases.append((server, url))
        opened.append(store)
        return store

    opened: list[LineageStore] = []
    databases: list[tuple[str, str]] = []
    yield factory
    for store in opened:
        store.close()
    for server, url in databases:
        drop_database(server, url)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each test that takes it runs once per backend."""
    return str(request.param)


@pytest.fixture
def store(backend: str, store_factory: Callable[[str], LineageStore]) -> LineageStore:
    """An empty store on the backend under test."""
    return store_factory(backend)
