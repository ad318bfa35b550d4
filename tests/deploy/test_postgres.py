"""The throw-away PostgreSQL server: starts on loopback, answers, and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from schakel.deploy.postgres import LocalPostgres, PostgresError, find_postgres_bin

pytestmark = pytest.mark.postgres


def test_starts_answers_and_cleans_up() -> None:
    server = LocalPostgres()
    url = server.start()
    directory = server.dir
    assert directory is not None
    try:
        assert url.startswith("postgresql://postgres@127.0.0.1:")
        with psycopg.connect(url) as connection:
            row = connection.execute("SELECT current_setting('listen_addresses'), current_setting('fsync')").fetchone()
        assert row == ("127.0.0.1", "off")
        assert (directory / "data" / "postmaster.pid").exists()
    finally:
        server.stop()
    assert not directory.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    server.stop()  # twice is harmless


def test_missing_binaries_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCHAKEL_POSTGRES_BIN", str(tmp_path))
    with pytest.raises(PostgresError, match="SCHAKEL_POSTGRES_BIN"):
        find_postgres_bin()
