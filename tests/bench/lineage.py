"""Benchmark: the lineage store's write rate (records/s) on SQLite and PostgreSQL.

The lead relates it to the pipeline's rate of lineage records (one per decision and one per receipt). Each figure is
also given as a ratio against baselines measured in the same run on the same backend, writing the same records into
a table of the same shape and indexes, in the same batches and with the same durability settings, but without
duplicate checks, chain heads or hashing:

- ``executemany``: flatten each record to its row and ``executemany`` the batch - the plain way;
- ``COPY`` (PostgreSQL only): the same rows through ``COPY ... FROM STDIN``, which is what the store uses there.

The ratio store/baseline is the price of idempotency plus tamper evidence (against COPY) and of the whole store
(against executemany). Batches of 500 records, one transaction each, as the ingest loop commits them. PostgreSQL runs
a throw-away cluster on loopback with durable settings (fsync and synchronous commit on), as production would; SQLite
runs in WAL mode with ``synchronous=FULL``, as the store does. On a shared machine the absolute rates move from run to
run; the ratios move less.

Pruning (SQLite, the same store afterwards): every other record of each chain is made past its period (two
covenants interleaved, one with a period that ran out), then pruned; reported as the rate of pruning against the
rate of writing the same number of records, and the time of ``verify`` after pruning against before (a pruned
record is checked by its link instead of its recomputed hash, so the second ratio is about the price of walking two
tables).
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from schakel.deploy.postgres import LocalPostgres, PostgresError
from schakel.lineage import LineagePosition, LineageRecord, LineageStore, RecordKind, open_store, record_id
from schakel.lineage.pruning import Cutoffs, time_text
from schakel.lineage.store import _SCHEMA, ALL_COLUMNS, record_row

BATCH = 500
COUNT = 20_000
_T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
Items = list[tuple[LineageRecord, LineagePosition]]


def _records(count: int, partitions: int = 4) -> Items:
    made = []
    for i in range(count):
        event_id = uuid4()
        recipient = ("politie", "om", "ggz", "reclassering", "rvdk", "gemeente-sociaal")[i % 6]
        at = _T0 + timedelta(milliseconds=i)
        record = LineageRecord(
            record_id=record_id("gemeente-veiligheid", event_id, f"{i % 997:032x}", recipient, RecordKind.DECISION),
            kind=RecordKind.DECISION,
            trace_id=uuid4().hex,
            span_id=uuid4().hex[:16],
            parent_span_id=uuid4().hex[:16],
            name="schakel.consent.decide",
            status="ok",
            start_time=at,
            end_time=at + timedelta(microseconds=300),
            event_id=event_id,
            event_type="Signal",
            sender="gemeente-veiligheid",
            recipient=recipient,
            outcome=("permit", "partial", "deny")[i % 3],
            fields_sent=("urgency", "observed_behaviour", "description"),
            fields_withheld=("ideology", "lvb_indication", "subject.bsn"),
            purpose="cter-person-centred",
            legal_basis=("AVG 6(1)(e)", "AVG 10"),
            covenant_id="cter-noord-holland",
            covenant_version="2025.1",
            rule="cter-signal-to-police",
            reasons=("permitted", "fields-withheld"),
            processing_activity_id="urn:nl:zvh-noord-holland:avg30:verwerking:persoonsgerichte-aanpak-cter",
            data_subject_id=f"{i % 997:032x}",
            data_subject_key="bsn",
            source_topic="schakel.internal.accepted",
            source_partition=i % partitions,
            source_offset=i,
        )
        made.append((record, LineagePosition("schakel.lineage", i % partitions, i // partitions)))
    return made


def _rate(count: int, run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


def _store_run(store: LineageStore, items: Items) -> Callable[[], None]:
    def run() -> None:
        for start in range(0, len(items), BATCH):
            store.append(items[start : start + BATCH])

    return run


def _create_baseline_table(connection: Any) -> None:
    for statement in _SCHEMA:
        connection.execute(
            statement.replace("lineage_record", "baseline_record").replace("lineage_chain", "baseline_chain")
        )
    connection.commit()


def _rows(batch: Items, first: int) -> list[tuple[Any, ...]]:
    return [("c", first + i, p.offset, "0" * 64, "0" * 64, *record_row(r)) for i, (r, p) in enumerate(batch)]


def _executemany_run(connection: Any, placeholder: str, items: Items) -> Callable[[], None]:
    marks = ", ".join([placeholder] * len(ALL_COLUMNS))
    insert = f"INSERT INTO baseline_record ({', '.join(ALL_COLUMNS)}) VALUES ({marks})"  # noqa: S608

    def run() -> None:
        for start in range(0, len(items), BATCH):
            connection.cursor().executemany(insert, _rows(items[start : start + BATCH], start))
            connection.commit()

    return run


def _copy_run(connection: Any, items: Items) -> Callable[[], None]:
    def run() -> None:
        for start in range(0, len(items), BATCH):
            with connection.cursor().copy(f"COPY baseline_record ({', '.join(ALL_COLUMNS)}) FROM STDIN") as copy:
                for row in _rows(items[start : start + BATCH], start):
                    copy.write_row(row)
            connection.commit()

    return run


def _line(backend: str, store_rate: float, baselines: dict[str, float]) -> None:
    parts = [f"lineage store write, {backend:10}: {store_rate:8,.0f} records/s"]
    for name, rate in baselines.items():
        parts.append(f"baseline {name}: {rate:8,.0f} records/s, ratio store/baseline {store_rate / rate:.2f}")
    print("   ".join(parts) + f"   ({COUNT} records, batches of {BATCH})", flush=True)


def _sqlite() -> None:
    items = _records(COUNT)
    with tempfile.TemporaryDirectory(prefix="schakel-bench-") as directory:
        base = sqlite3.connect(Path(directory) / "baseline.sqlite3")
        base.execute("PRAGMA journal_mode=WAL")
        base.execute("PRAGMA synchronous=FULL")
        _create_baseline_table(base)
        baseline = _rate(COUNT, _executemany_run(base, "?", items))
        base.close()
        with open_store(None, Path(directory)) as store:
            rate = _rate(COUNT, _store_run(store, items))
            if store.count() != COUNT or not store.verify().ok:
                raise SystemExit("the benchmark's SQLite store is not complete and intact")
        _line("SQLite", rate, {"executemany": baseline})
        _prune_cost(Path(directory) / "pruned", rate)


def _prune_cost(directory: Path, write_rate: float) -> None:
    """Prune half of a store's records, interleaved; the rates and times as ratios (see the module docstring)."""
    items = [
        (record.model_copy(update={"covenant_id": "kort" if i % 2 else "lang"}), position)
        for i, (record, position) in enumerate(_records(COUNT))
    ]
    after = datetime(2030, 1, 1, tzinfo=UTC)
    cutoffs = Cutoffs((time_text(_T0), time_text(_T0)), {"kort": (time_text(after), time_text(after))})
    with open_store(None, directory) as store:
        _store_run(store, items)()
        start = time.perf_counter()
        whole = store.verify()
        before = time.perf_counter() - start
        start = time.perf_counter()
        pruned = store.prune(cutoffs).total
        prune_rate = pruned / (time.perf_counter() - start)
        start = time.perf_counter()
        verified = store.verify()
        later = time.perf_counter() - start
        if not (whole.ok and verified.ok) or pruned != COUNT // 2 or store.count() != COUNT - pruned:
            raise SystemExit("the benchmark's pruned store is not as expected")
    print(
        f"lineage prune, SQLite: {prune_rate:8,.0f} records/s pruned, ratio prune/write {prune_rate / write_rate:.2f}; "
        f"verify after / before pruning half: {later / before:.2f} ({COUNT} records)",
        flush=True,
    )


def _postgres() -> None:
    import psycopg

    items = _records(COUNT)
    with LocalPostgres(durable=True) as server:
        with psycopg.connect(server.url) as connection:
            _create_baseline_table(connection)
            executemany = _rate(COUNT, _executemany_run(connection, "%s", items))
            connection.execute("TRUNCATE baseline_record")
            connection.commit()
            copy = _rate(COUNT, _copy_run(connection, items))
        with open_store(server.url, Path(tempfile.gettempdir())) as store:
            rate = _rate(COUNT, _store_run(store, items))
            if store.count() != COUNT or not store.verify().ok:
                raise SystemExit("the benchmark's PostgreSQL store is not complete and intact")
    _line("PostgreSQL", rate, {"executemany": executemany, "COPY": copy})


def main() -> None:
    _sqlite()
    try:
        _postgres()
    except PostgresError as error:
        print(f"lineage store write, PostgreSQL: not measured ({error})")


if __name__ == "__main__":
    main()
