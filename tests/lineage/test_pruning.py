"""Pruning the lineage store per covenant: each record's body goes after its own covenant's period, its link stays,
every chain still verifies, and an edit to anything kept - a whole record, a pruned record's skeleton, a mark - or a
pruned body put back is found. On both backends."""

from __future__ import annotations

import io
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schakel.consent import load_policy
from schakel.lineage import LineagePosition, LineageRecord, LineageStore, open_store
from schakel.lineage.chain import GENESIS
from schakel.lineage.pruning import Cutoffs, LineagePeriods, RedactedRow, anchor_hash, record_ref, time_text
from schakel.lineage.retention import lineage_periods, prune_lineage
from schakel.lineage.scan import scan_for_personal_data
from schakel.lineage.store import SQLITE_FILE
from schakel.settings import Settings
from tests.conftest import drop_database
from tests.lineage.conftest import BACKENDS
from tests.lineage.factory import SUBJECT_A, SUBJECT_B, T0, decision
from tests.lineage.test_tamper_evidence import _EDITABLE, _edited, _Raw

_TOPIC = "schakel.lineage"
_DAY = timedelta(days=1)
_SHORT, _LONG = "kort", "lang"
_COVENANTS = (_SHORT, _LONG, "onbekend", None)  # "onbekend": not in the periods (a covenant since retired)


def _record(covenant: str | None, day: float, *, consent: bool = False, subject: str = SUBJECT_A) -> LineageRecord:
    made = decision(at=T0 + day * _DAY, subject=subject, event_type="ConsentChange" if consent else "Signal")
    data = made.model_dump()
    data.update(covenant_id=covenant, covenant_version=None if covenant is None else "1", rule=None)
    if covenant is None:
        data.update(processing_activity_id=None)
    return LineageRecord.model_validate(data)


def _periods(short: int = 10, long: int = 40, default: int = 20, consent: int | None = None) -> LineagePeriods:
    """Days: ``kort`` keeps lineage ``short`` days, ``lang`` ``long``, the hub ``default``; consent changes
    ``consent`` days under ``kort`` (else as its lineage)."""
    return LineagePeriods(
        (default * _DAY, default * _DAY),
        {_SHORT: (short * _DAY, (consent or short) * _DAY), _LONG: (long * _DAY, long * _DAY)},
    )


def _append(store: LineageStore, records: list[LineageRecord], partitions: int = 2, start: int = 0) -> None:
    store.append([(r, LineagePosition(_TOPIC, i % partitions, start + i // partitions)) for i, r in enumerate(records)])


@contextmanager
def _opened(backend: str, directory: Path, server: str | None) -> Iterator[tuple[LineageStore, _Raw]]:
    """A fresh store on ``backend`` and a connection of its own to the same database (behind its back)."""
    if backend == "sqlite":
        with open_store(None, directory) as store:
            yield store, _Raw(sqlite3.connect(directory / SQLITE_FILE), "?")
        return
    assert server is not None
    name = f"lineage_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, rest = server.rpartition("/")
    query = rest.partition("?")[2]
    url = f"{base}/{name}" + (f"?{query}" if query else "")
    try:
        with open_store(url, directory) as store, psycopg.connect(url) as connection:
            yield store, _Raw(connection, "%s")
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _server(backend: str, request: pytest.FixtureRequest) -> str | None:
    return None if backend == "sqlite" else str(request.getfixturevalue("postgres_server"))


def _bodies(store: LineageStore) -> dict[str, LineageRecord]:
    return {record.record_id: record for record in store.records()}


def _skeletons(raw: _Raw) -> set[str]:
    """The records pruned to their skeleton, by :func:`record_ref`."""
    return {str(row[0]) for row in raw.run("SELECT record_ref FROM lineage_redacted")}


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_record_is_pruned_after_its_own_covenants_period(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Interleaved in one chain per partition: short- and long-period covenants, none, an unknown one, consent changes.
    records = [
        _record(_SHORT, 0),  # past kort's 10 days at day 25
        _record(_LONG, 0),  # lang keeps 40 days
        _record(None, 1),  # the hub's 20 days: past
        _record("onbekend", 2),  # unknown covenant: the hub's 20 days: past
        _record(_SHORT, 3, consent=True),  # kort keeps consent changes 30 days: kept
        _record(_SHORT, 20),  # 5 days old: kept
        _record(None, 10),  # 15 days old: kept
        _record(_LONG, 1),  # kept
    ]
    with _opened(backend, tmp_path, _server(backend, request)) as (store, raw):
        _append(store, records)
        now = T0 + 25 * _DAY
        result = store.prune(_periods(consent=30).cutoffs(now))
        past = {records[i].record_id for i in (0, 2, 3)}
        assert result.total == 3
        kept = _bodies(store)
        assert set(kept) == {r.record_id for r in records} - past
        assert all(kept[r.record_id] == r for r in records if r.record_id in kept), "the others are intact"
        assert _skeletons(raw) == {record_ref(record_id) for record_id in past}
        verified = store.verify()
        assert verified.ok, verified.broken
        assert verified.checked == len(records)
        # The skeleton holds no body: no pseudonym, no recipient, no fields; the scan reads it too.
        columns = {str(c) for row in raw.run("SELECT * FROM lineage_redacted") for c in row}
        assert not any(SUBJECT_A in c or "politie" in c or "urgency" in c for c in columns)
        assert len(list(store.pruned_rows())) == 3
        assert scan_for_personal_data(store) == []

        # The same prune again has nothing to do; a later one takes what has run out since.
        assert store.prune(_periods(consent=30).cutoffs(now)).total == 0
        later = store.prune(_periods(consent=30).cutoffs(T0 + 41 * _DAY))
        assert later.total == 4  # lang's two (40 days), the consent change (30), the hub's day-10 record (20)
        assert store.verify().ok
        assert [m.n for m in store.redactions(f"{_TOPIC}#0")] == [0, 1]

        # New records chain on after pruned ones, and verify still passes.
        _append(store, [_record(_SHORT, 40), _record(None, 40)], start=100)
        assert store.verify().ok


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    history=st.lists(
        st.tuples(st.sampled_from(_COVENANTS), st.booleans(), st.integers(0, 60), st.integers(0, 2)),
        min_size=1,
        max_size=25,
    ),
    runs=st.lists(
        st.tuples(
            st.integers(0, 80),  # the day of the run
            st.tuples(st.integers(1, 30), st.integers(1, 60), st.integers(1, 40), st.integers(1, 50)),
            st.one_of(st.none(), st.integers(1, 50)),  # a ceiling
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_any_interleaving_of_covenants_and_periods_prunes_exactly_whats_past(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    history: list[tuple[str | None, bool, int, int]],
    runs: list[tuple[int, tuple[int, int, int, int], int | None]],
) -> None:
    records = [_record(covenant, day, consent=consent) for covenant, consent, day, _ in history]
    directory = tmp_path_factory.mktemp("pruned")
    with _opened(backend, directory, _server(backend, request)) as (store, raw):
        store.append(
            [
                (r, LineagePosition(_TOPIC, part, i))
                for i, (r, (*_, part)) in enumerate(zip(records, history, strict=True))
            ]
        )
        past: set[str] = set()
        for day, (short, long, default, consent), ceiling in runs:
            periods = _periods(short, long, default, consent)
            if ceiling is not None:
                periods = LineagePeriods(periods.default, periods.covenants, ceiling * _DAY)
            cutoffs = periods.cutoffs(T0 + day * _DAY)
            store.prune(cutoffs)
            past |= {r.record_id for r in records if time_text(r.end_time) < cutoffs.of(r.covenant_id, r.event_type)}
            assert set(_bodies(store)) == {r.record_id for r in records} - past, "past its period: no body"
            assert _skeletons(raw) == {record_ref(record_id) for record_id in past}
            verified = store.verify()
            assert verified.ok, verified.broken
            assert verified.checked == len(records)
        kept = _bodies(store)
        assert all(kept[r.record_id] == r for r in records if r.record_id not in past), "every other one intact"


# Edits behind the store's back, after a pruning: to a kept record, to a pruned record's skeleton, to a mark.
_SKELETON_EDITS = ("lineage_offset", "prev_hash", "hash", "record_ref", "end_time", "covenant_id", "event_type")
_MARK_EDITS = ("upto", "cutoffs", "redacted", "digest", "prev_hash", "hash")
_tamper = st.one_of(
    st.tuples(st.just("kept"), st.integers(0, 1000), st.sampled_from([*_EDITABLE, "delete"])),
    st.tuples(st.just("pruned"), st.integers(0, 1000), st.sampled_from([*_SKELETON_EDITS, "redaction", "delete"])),
    st.tuples(st.just("unprune"), st.integers(0, 1000), st.sampled_from(["body back", "body and skeleton"])),
    st.tuples(st.just("mark"), st.integers(0, 1000), st.sampled_from([*_MARK_EDITS, "delete"])),
)


def _skeleton_edit(column: str, value: Any) -> Any:
    if column == "covenant_id":
        return None if value is not None else _SHORT
    if column == "event_type":
        return "ConsentChange" if value != "ConsentChange" else "Signal"
    if column == "record_ref":
        return record_ref(str(uuid.uuid4()))
    return _edited(column, value)


def _apply(raw: _Raw, target: str, index: int, edit: str, saved: dict[str, tuple[Any, ...]]) -> bool:
    """Tamper with the store; False when there is nothing of that kind to tamper with."""
    if target == "kept":
        ids = sorted(str(r[0]) for r in raw.run("SELECT record_id FROM lineage_record"))
        if not ids:
            return False
        record_id = ids[index % len(ids)]
        raw.delete(record_id) if edit == "delete" else raw.change(record_id, edit)
        return True
    if target == "mark":
        marks = raw.run("SELECT chain, n FROM lineage_redaction ORDER BY chain, n")
        if not marks:
            return False
        chain, n = marks[index % len(marks)]
        if edit == "delete":
            raw.run("DELETE FROM lineage_redaction WHERE chain = ? AND n = ?", (chain, n))
        else:
            (value,) = raw.run(f"SELECT {edit} FROM lineage_redaction WHERE chain = ? AND n = ?", (chain, n))[0]  # noqa: S608
            changed = int(value) + 1 if edit in {"upto", "redacted"} else _edited("hash", value)
            if edit == "cutoffs":
                changed = str(value).replace("Z", "Z ", 1)
            raw.run(f"UPDATE lineage_redaction SET {edit} = ? WHERE chain = ? AND n = ?", (changed, chain, n))  # noqa: S608
        return True
    pruned = sorted(str(r[0]) for r in raw.run("SELECT record_ref FROM lineage_redacted"))
    if not pruned:
        return False
    record_id = pruned[index % len(pruned)]
    where = ("WHERE record_ref = ?", (record_id,))
    if target == "unprune":
        row = saved[record_id]
        holes = ", ".join("?" * len(row))
        raw.run(f"INSERT INTO lineage_record VALUES ({holes})", row)  # noqa: S608
        if edit == "body back":
            raw.run("DELETE FROM lineage_redacted " + where[0], where[1])  # noqa: S608
    elif edit == "delete":
        raw.run("DELETE FROM lineage_redacted " + where[0], where[1])  # noqa: S608
    elif edit == "redaction":
        raw.run("UPDATE lineage_redacted SET redaction = redaction + 1 " + where[0], where[1])  # noqa: S608
    else:
        (value,) = raw.run(f"SELECT {edit} FROM lineage_redacted " + where[0], where[1])[0]  # noqa: S608
        raw.run(f"UPDATE lineage_redacted SET {edit} = ? " + where[0], (_skeleton_edit(edit, value), record_id))  # noqa: S608
    return True


def _pruned_store(store: LineageStore, raw: _Raw, count: int) -> dict[str, tuple[Any, ...]]:
    """``count`` records of mixed covenants over two chains, pruned twice; every row as it was before pruning."""
    records = [_record(_COVENANTS[i % 4], (i * 7) % 30, consent=i % 5 == 0) for i in range(count)]
    _append(store, records)
    saved = {record_ref(str(row[5])): row for row in raw.run("SELECT * FROM lineage_record")}
    store.prune(_periods(short=5, default=25).cutoffs(T0 + 20 * _DAY))
    store.prune(_periods(short=5, default=25).cutoffs(T0 + 30 * _DAY))
    assert store.verify().ok
    return saved


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(4, 14), tamper=_tamper)
def test_any_edit_to_a_kept_or_pruned_record_or_a_mark_is_found(
    tmp_path_factory: pytest.TempPathFactory, count: int, tamper: tuple[str, int, str]
) -> None:
    with _opened("sqlite", tmp_path_factory.mktemp("tamper"), None) as (store, raw):
        saved = _pruned_store(store, raw, count)
        if not _apply(raw, *tamper, saved):
            return
        result = store.verify()
        assert not result.ok, tamper


@pytest.mark.postgres
@pytest.mark.parametrize(
    "tamper",
    [
        ("kept", 1, "fields_sent"),
        ("kept", 2, "delete"),
        ("pruned", 0, "end_time"),
        ("pruned", 1, "hash"),
        ("pruned", 2, "covenant_id"),
        ("unprune", 0, "body back"),
        ("mark", 0, "cutoffs"),
        ("mark", 1, "delete"),
    ],
)
def test_edits_after_pruning_are_found_on_postgresql(
    request: pytest.FixtureRequest, tmp_path: Path, tamper: tuple[str, int, str]
) -> None:
    with _opened("postgresql", tmp_path, _server("postgresql", request)) as (store, raw):
        saved = _pruned_store(store, raw, 12)
        assert _apply(raw, *tamper, saved)
        assert not store.verify().ok


@pytest.mark.parametrize("backend", BACKENDS)
def test_replaying_the_topic_after_pruning_stores_nothing_again(
    backend: str, store_factory: Callable[[str], LineageStore]
) -> None:
    """Ingest from the beginning again (a new consumer group, a topic that kept its records), or the hub re-emits a
    decision: a pruned record is a replay, not news, and is not stored whole again."""
    store = store_factory(backend)
    records = [_record(_SHORT if i % 2 else None, i) for i in range(6)]
    batch = [(r, LineagePosition(_TOPIC, 0, i)) for i, r in enumerate(records)]
    store.append(batch)
    assert store.prune(_periods(short=3, default=30).cutoffs(T0 + 8 * _DAY)).total == 2
    again = store.append(batch)
    assert (again.appended, again.duplicates, again.segments) == (0, 6, ())
    reemitted = store.append([(records[1], LineagePosition(_TOPIC, 0, 99))])
    assert (reemitted.appended, reemitted.duplicates) == (0, 1)
    assert store.count() == 4
    assert store.verify().ok


@pytest.mark.postgres
def test_a_partition_an_ingest_begins_while_a_pruning_runs_is_pruned_the_next_time(
    postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL an ingest writes beside a pruning: the pruning locks the chains there are, and an ingest that
    begins a new partition's chain (a store filled from an old topic: its records long past) commits while the
    pruning looks for what is past. The pruning failed ("chain ... has no head; run `schakel lineage verify`") and
    pruned nothing; the new chain's records now wait for the next pruning. (SQLite's one write lock orders them.)"""
    cutoffs = _periods(short=3).cutoffs(T0 + 8 * _DAY)
    with open_store(postgres_database, tmp_path) as pruner, open_store(postgres_database, tmp_path) as ingest:
        pruner.append([(_record(_SHORT, 0), LineagePosition(_TOPIC, 0, 0))])
        find_past = pruner._past

        def past_after_a_new_partition_is_ingested(applied: Cutoffs) -> list[RedactedRow]:
            ingest.append([(_record(_SHORT, 1), LineagePosition(_TOPIC, 1, 0))])
            return find_past(applied)

        monkeypatch.setattr(pruner, "_past", past_after_a_new_partition_is_ingested)
        first = pruner.prune(cutoffs)
        assert first.pruned == {f"{_TOPIC}#0": 1}
        monkeypatch.undo()
        assert pruner.prune(cutoffs).pruned == {f"{_TOPIC}#1": 1}
        assert (pruner.count(), pruner.redacted_count()) == (0, 2)
        assert pruner.verify().ok


@pytest.mark.parametrize("backend", BACKENDS)
def test_reports_leave_out_what_was_pruned(backend: str, store_factory: Callable[[str], LineageStore]) -> None:
    """A person's art. 15 report simply no longer holds what was pruned; nothing stumbles over a pruned record."""
    from schakel.lineage import access_report, access_report_json, render_access_report_html

    store = store_factory(backend)
    old, new = _record(_SHORT, 0), _record(_SHORT, 20)
    other = _record(_SHORT, 0, subject=SUBJECT_B)
    _append(store, [old, new, other], partitions=1)
    assert store.subject_report(SUBJECT_A).records == 2
    store.prune(_periods(short=10).cutoffs(T0 + 25 * _DAY))
    report = store.subject_report(SUBJECT_A)
    assert report.records == 1
    shown = {str(d.event_id) for p in report.partners for d in p.decisions}
    assert shown == {str(new.event_id)}
    gone = store.subject_report(SUBJECT_B)
    assert (gone.records, gone.partners) == (0, ())
    readable = access_report(report)
    assert readable.records == 1
    assert access_report_json(readable)
    assert render_access_report_html(readable)
    assert store.trace(old.event_id).hops == ()
    assert {str(d.event_id) for d in store.disclosures("politie").disclosures} == {str(new.event_id)}
    with io.StringIO() as out:
        assert store.export_logboek(out) == 1


def _legacy_prefix_cut(raw: _Raw, chain: str, cut: int, cutoff: str) -> None:
    """What the earlier pruning did: cut a chain's prefix and leave a hash-linked anchor of its head."""
    head_hash, offset = raw.run(
        "SELECT hash, lineage_offset FROM lineage_record WHERE chain = ? AND seq = ?", (chain, cut - 1)
    )[0]
    digest = anchor_hash(chain, cut, head_hash, offset, cutoff, cut, GENESIS)
    raw.run(
        "INSERT INTO lineage_anchor (chain, seq, head_hash, last_offset, cutoff, pruned, prev_anchor, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (chain, cut, head_hash, offset, cutoff, cut, GENESIS, digest),
    )
    raw.run("DELETE FROM lineage_record WHERE chain = ? AND seq < ?", (chain, cut))


@pytest.mark.parametrize(
    "edit",
    [
        None,
        "DELETE FROM lineage_anchor",
        "UPDATE lineage_anchor SET head_hash = 'x' || substr(head_hash, 2)",
        "UPDATE lineage_anchor SET seq = seq + 1",
        "UPDATE lineage_anchor SET pruned = pruned + 1",
    ],
)
def test_a_store_cut_by_the_earlier_prefix_pruning_still_verifies_and_prunes_on(
    tmp_path: Path, edit: str | None
) -> None:
    with _opened("sqlite", tmp_path, None) as (store, raw):
        records = [_record(_SHORT, i) for i in range(6)]
        _append(store, records, partitions=1)
        _legacy_prefix_cut(raw, f"{_TOPIC}#0", 2, time_text(T0 + 2 * _DAY))
        if edit is not None:
            raw.run(edit)
            assert not store.verify().ok
            return
        assert store.verify().ok
        assert store.prune(_periods(short=2).cutoffs(T0 + 6 * _DAY)).total == 2
        assert store.verify().ok
        assert store.append([(records[0], LineagePosition(_TOPIC, 0, 0))]).duplicates == 1


def test_periods_come_from_the_covenants_and_the_settings(tmp_path: Path) -> None:
    policy = load_policy()
    settings_ = Settings(data_dir=tmp_path, retention_lineage_days=100, retention_consent_days=50)
    periods = lineage_periods(settings_, policy)
    cter = policy.covenants[0]
    assert periods.covenants[cter.id] == (cter.retention.lineage or 100 * _DAY, cter.retention.consent_history)
    assert periods.default == (100 * _DAY, 50 * _DAY)
    assert periods.longest() == max(max(pair) for pair in (periods.default, *periods.covenants.values()))
    capped = lineage_periods(settings_.model_copy(update={"lineage_retention_days": 30}), policy)
    assert capped.longest() == 30 * _DAY
    now = datetime(2027, 1, 1, tzinfo=UTC)
    cutoffs = capped.cutoffs(now)
    assert cutoffs.of(cter.id, "Signal") == time_text(now - 30 * _DAY)
    assert Cutoffs.from_json(cutoffs.to_json()) == cutoffs


def test_prune_lineage_prunes_the_configured_store(tmp_path: Path) -> None:
    policy = load_policy()
    covenant = policy.covenants[0]
    lineage = covenant.retention.lineage
    assert lineage is not None
    with open_store(None, tmp_path) as store:
        _append(store, [_record(covenant.id, 0), _record(covenant.id, 10), _record(None, 0)], partitions=1)
    configured = Settings(data_dir=tmp_path, retention_lineage_days=lineage.days + 100)
    result = prune_lineage(configured, now=T0 + lineage + 5 * _DAY, policy=policy)
    assert result.total == 1  # the covenant's first record; the hub keeps the one without a covenant longer
    with open_store(None, tmp_path) as store:
        assert store.verify().ok


def test_prune_command_prunes_the_store_and_verify_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from schakel.lineage.cli import app
    from schakel.settings import settings as cached_settings

    monkeypatch.setenv("SCHAKEL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SCHAKEL_LINEAGE_URL", raising=False)
    monkeypatch.delenv("SCHAKEL_LINEAGE_RETENTION_DAYS", raising=False)
    cached_settings.cache_clear()
    try:
        with open_store(None, tmp_path) as store:
            _append(store, [_record(None, i) for i in range(4)])  # in 2026-11
        runner = CliRunner()
        nothing = runner.invoke(app, ["prune", "--store-only"])  # the hub's default: seven years
        assert nothing.exit_code == 0, nothing.output
        assert "pruned 0 records" in nothing.output
        pruned = runner.invoke(app, ["prune", "--store-only", "--older-than", "1"])
        assert pruned.exit_code == 0, pruned.output
        assert "pruned 4 records" in pruned.output
        verified = runner.invoke(app, ["verify"])
        assert verified.exit_code == 0, verified.output
        assert "4 of them pruned" in verified.output
        assert f"pruning {_TOPIC}#0: 1 prunings" in verified.output
    finally:
        cached_settings.cache_clear()


@pytest.mark.postgres
def test_a_pruning_locks_the_chains_in_the_order_an_append_does_whatever_the_databases_collation(
    postgres_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append locks its chains in code point order (Python's ``sorted``); a pruning locked every chain in the
    database's collation order, which for an ``en-US`` database sorts ``schakel_acc.lineage#0`` (a second hub's
    prefix) before ``schakel.lineage#0``. An append of both that waits between them while a pruning runs beside
    it: PostgreSQL found a deadlock and aborted one of them. Now both finish."""
    name = f"icu_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C' "
            "LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        )
    url = _database_url(postgres_server, name)
    first, second = "schakel.lineage", "schakel_acc.lineage"
    cutoffs = _periods(short=3).cutoffs(T0 + 8 * _DAY)
    try:
        with (
            open_store(url, tmp_path) as ingest,
            open_store(url, tmp_path) as pruner,
            psycopg.connect(url, autocommit=True) as watch,
        ):
            ingest.append([(_record(_SHORT, 0), LineagePosition(topic, 0, 0)) for topic in (first, second)])
            chains = [str(row[0]) for row in watch.execute("SELECT chain FROM lineage_chain ORDER BY chain")]
            assert chains == [f"{second}#0", f"{first}#0"] != sorted(chains), "the collation orders them otherwise"

            holding, go = threading.Event(), threading.Event()
            lock_current = ingest._lock_current

            def lock_then_wait(base: str) -> Any:
                found = lock_current(base)
                if not holding.is_set():  # the first chain is locked: let the pruning come
                    holding.set()
                    assert go.wait(30)
                return found

            monkeypatch.setattr(ingest, "_lock_current", lock_then_wait)
            results: dict[str, Any] = {}

            def run(what: str, call: Callable[[], Any]) -> None:
                try:
                    results[what] = call()
                except Exception as error:  # the test reads it
                    results[what] = error

            batch = [(_record(_SHORT, 1), LineagePosition(topic, 0, 1)) for topic in (first, second)]
            appending = threading.Thread(target=run, args=("append", lambda: ingest.append(batch)))
            appending.start()
            assert holding.wait(30)
            pruning = threading.Thread(target=run, args=("prune", lambda: pruner.prune(cutoffs)))
            pruning.start()
            waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = %s"
            deadline = time.monotonic() + 30
            while watch.execute(waiting, (name,)).fetchone() == (0,):  # the pruning waits for the append's chain
                assert time.monotonic() < deadline, "the pruning never waited for the append"
                time.sleep(0.05)
            go.set()
            appending.join(60)
            pruning.join(60)
            assert not isinstance(results["append"], Exception), results["append"]
            assert not isinstance(results["prune"], Exception), results["prune"]
            assert results["append"].appended == 2
            assert ingest.count() + ingest.redacted_count() == 4
            assert ingest.verify().ok
    finally:
        drop_database(postgres_server, _database_url(postgres_server, name))


def _database_url(server: str, name: str) -> str:
    base, _, rest = server.rpartition("/")
    query = rest.partition("?")[2]
    return f"{base}/{name}" + (f"?{query}" if query else "")
