"""Benchmark: the key store's cost per hub event on SQLite and on PostgreSQL, in the same run.

The hub calls :meth:`KeyStore.key_for_event` once per decided event. A person's first event writes (a new data key,
the clock's facts, the recipients: one transaction); a later one within a minute that changes nothing only reads
(the key, the facts, the recipients). Both are timed on each backend - SQLite in WAL mode with ``synchronous=FULL``,
as the store runs; PostgreSQL a throw-away cluster on loopback with durable settings (fsync and synchronous commit
on), as production would, though a real database is a network hop away - and reported as calls/s and as the ratio
PostgreSQL/SQLite, alternating ``SCHAKEL_BENCH_KEYSTORE_ROUNDS`` times (each round a fresh store on each backend) so
that a shared machine's load falls on both; the median of the per-round ratios is reported, with every round.

``python -m tests.bench keystore``
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from schakel.deploy.postgres import LocalPostgres, PostgresError
from schakel.retention import Kek, KeyStore

ROUNDS = int(os.environ.get("SCHAKEL_BENCH_KEYSTORE_ROUNDS", "3"))
PEOPLE = 500
REPEATS = 3
_T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_RECIPIENTS = ("politie", "om", "ggz")


def _rates(store: KeyStore) -> tuple[float, float]:
    """(first events/s, repeated events/s) for ``PEOPLE`` people."""
    people = [f"{i:064x}" for i in range(PEOPLE)]

    def event(person: str, at: datetime) -> None:
        store.key_for_event(
            person,
            at=at,
            names_case=True,
            closes_case=False,
            after_close=timedelta(days=365),
            without_case=None,
            recipients={r: f"{r}-{person[-8:]}" for r in _RECIPIENTS},
        )

    def timed(calls: list[tuple[str, datetime]]) -> float:
        started = time.perf_counter()
        for person, at in calls:
            event(person, at)
        return len(calls) / (time.perf_counter() - started)

    first = timed([(p, _T0) for p in people])
    later = timed([(p, _T0 + timedelta(seconds=r + 1)) for r in range(REPEATS) for p in people])
    return first, later


def _round(kek: Kek, server: LocalPostgres, index: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """One round: (SQLite rates, PostgreSQL rates), each on a fresh store."""
    with tempfile.TemporaryDirectory() as directory:
        sqlite = KeyStore(Path(directory) / "keys.sqlite3", kek)
        lite = _rates(sqlite)
        sqlite.close()
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE keys_{index}")
    postgres = KeyStore(server.url_for(f"keys_{index}"), kek)
    pg = _rates(postgres)
    postgres.close()
    return lite, pg


def main() -> None:
    kek = Kek.derive("a-benchmark-key-encryption-key")
    server = LocalPostgres(durable=True)
    try:
        server.start()
    except PostgresError as error:
        print(f"keystore: skipped, no PostgreSQL: {error}")
        return
    try:
        rounds = [_round(kek, server, index) for index in range(ROUNDS)]
    finally:
        server.stop()
    first = statistics.median(pg[0] / lite[0] for lite, pg in rounds)
    later = statistics.median(pg[1] / lite[1] for lite, pg in rounds)
    each = ", ".join(f"{pg[0]:,.0f}/{lite[0]:,.0f} and {pg[1]:,.0f}/{lite[1]:,.0f}" for lite, pg in rounds)
    print(
        f"keystore: PostgreSQL/SQLite key_for_event median first event {first:.2f}, repeated event {later:.2f} "
        f"(calls/s PostgreSQL/SQLite per round, first and repeated: {each})",
        flush=True,
    )
