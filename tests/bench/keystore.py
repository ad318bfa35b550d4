"""Benchmark: the key store's cost per hub event on SQLite and on PostgreSQL, in the same run.

The hub calls :meth:`KeyStore.key_for_event` once per decided event. A person's first event writes (a new data key,
the clock's facts, the recipients: one transaction); a later one within a minute that changes nothing only reads
(the key, the facts, the recipients). Both are timed on each backend - SQLite in WAL mode with ``synchronous=FULL``,
as the store runs; PostgreSQL a throw-away cluster on loopback with durable settings (fsync and synchronous commit
on), as production would, though a real database is a network hop away - and reported as calls/s and as the ratio
PostgreSQL/SQLite, alternating ``SCHAKEL_BENCH_KEYSTORE_ROUNDS`` times (each round a fresh store on each backend) so
that a shared machine's load falls on both; the median of the per-round ratios is reported, with every round.

Calls/s swing with the machine's disk (each first event's commit is an fsync), so the CPU this process spends per
call is reported beside them (median over the rounds): the figure to compare before and after a change to the store.
On SQLite it includes the commit's own work; PostgreSQL's server CPU is another process's and not counted.

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


Rates = tuple[float, float, float, float]


def _rates(store: KeyStore) -> Rates:
    """(first events/s, repeated events/s, CPU ms per first event, CPU ms per repeated event) for ``PEOPLE`` people."""
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

    def timed(calls: list[tuple[str, datetime]]) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        for person, at in calls:
            event(person, at)
        return len(calls) / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / len(calls)

    first, first_cpu = timed([(p, _T0) for p in people])
    later, later_cpu = timed([(p, _T0 + timedelta(seconds=r + 1)) for r in range(REPEATS) for p in people])
    return first, later, first_cpu, later_cpu


def _round(kek: Kek, server: LocalPostgres, index: int) -> tuple[Rates, Rates]:
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
    cpu = [statistics.median(rates[backend][column] for rates in rounds) for backend in (0, 1) for column in (2, 3)]
    print(
        f"keystore: CPU of this process per key_for_event (median of {ROUNDS} rounds): SQLite first event "
        f"{cpu[0]:.3f} ms, repeated {cpu[1]:.3f} ms; PostgreSQL (client side) first {cpu[2]:.3f} ms, repeated "
        f"{cpu[3]:.3f} ms",
        flush=True,
    )
