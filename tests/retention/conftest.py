"""Fixtures of the retention tests: the key store under test on each backend (SQLite, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import BACKENDS


@pytest.fixture(params=BACKENDS)
def keystore_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the key store under test lives, as ``SCHAKEL_KEYSTORE_URL`` takes it: a SQLite file in the test's
    directory, or a fresh database on the session's PostgreSQL server (marker ``postgres``)."""
    if request.param == "sqlite":
        return str(tmp_path / "keys.sqlite3")
    return str(request.getfixturevalue("postgres_database"))
