"""Pruning the lineage store: old records go, every chain stays verifiable, tampering with the rest is still found."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schakel.lineage import LineagePosition, LineageStore, open_store
from schakel.lineage.retention import prune_lineage
from schakel.lineage.store import SQLITE_FILE
from schakel.settings import Settings
from tests.lineage.conftest import BACKENDS
from tests.lineage.factory import T0, decision
from tests.lineage.test_tamper_evidence import _EDITABLE, _Raw

_TOPIC = "schakel.lineage"


def _fill(store: LineageStore, count: int, partitions: int = 2, start: int = 0) -> list[tuple[str, str, int]]:
    """``count`` records, one a minute from T0 + ``start`` minutes, round-robin over ``partitions``."""
    placed = []
    batch = []
    for i in range(start, start + count):
        partition = i % partitions
        record = decision(at=T0 + timedelta(minutes=i))
        batch.append((record, LineagePosition(_TOPIC, partition, 10 + i // partitions)))
        placed.append((record.record_id, f"{_TOPIC}#{partition}", i // partitions))
    store.append(batch)
    return placed


@pytest.mark.parametrize("backend", BACKENDS)
def test_prune_removes_old_records_and_verify_still_passes(
    store_factory: Callable[[str], LineageStore], backend: str
) -> None:
    store = store_factory(backend)
    placed = _fill(store, 10)
    result = store.prune(T0 + timedelta(minutes=6))  # records of minutes 0-5 are past retention
    assert result.total == 6
    assert result.pruned == {f"{_TOPIC}#0": 3, f"{_TOPIC}#1": 3}
    assert store.count() == 4
    kept = {record.record_id for record in store.records()}
    assert kept == {record_id for record_id, _, _ in placed[6:]}
    verified = store.verify()
    assert verified.ok, verified.broken
    assert verified.checked == 4
    # a second run with the same cut-off has nothing to do; a later one cuts on from the anchor
    assert store.prune(T0 + timedelta(minutes=6)).total == 0
    assert store.prune(T0 + timedelta(minutes=8)).total == 2
    assert [a.seq for a in store.anchors(f"{_TOPIC}#0")] == [3, 4]
    assert store.verify().ok
    # new records chain on after the pruned ones
    _fill(store, 2, start=10)
    assert store.verify().ok


def test_only_a_prefix_is_pruned(tmp_path: Path) -> None:
    """A record newer than the cut-off stops the cut: an older one behind it waits (a hole would look like a
    deleted record)."""
    with open_store(None, tmp_path) as store:
        records = [decision(at=T0), decision(at=T0 + timedelta(days=30)), decision(at=T0)]
        store.append([(r, LineagePosition(_TOPIC, 0, i)) for i, r in enumerate(records)])
        assert store.prune(T0 + timedelta(days=1)).total == 1
        assert [r.record_id for r in store.records()] == [records[1].record_id, records[2].record_id]
        assert store.verify().ok


def test_a_fully_pruned_chain_verifies_and_goes_on(tmp_path: Path) -> None:
    with open_store(None, tmp_path) as store:
        _fill(store, 4, partitions=1)
        assert store.prune(T0 + timedelta(days=1)).total == 4
        assert store.count() == 0
        assert store.verify().ok
        _fill(store, 2, partitions=1, start=4)
        assert store.verify().ok


def test_replaying_the_topic_after_pruning_stores_nothing_again(tmp_path: Path) -> None:
    """Ingest from the beginning again (a new consumer group, a topic that kept its records): pruned records are
    replays, not a recreated topic."""
    with open_store(None, tmp_path) as store:
        batch = [(decision(at=T0 + timedelta(minutes=i)), LineagePosition(_TOPIC, 0, i)) for i in range(5)]
        store.append(batch)
        store.prune(T0 + timedelta(minutes=3))
        again = store.append(batch)
        assert (again.appended, again.duplicates, again.segments) == (0, 5, ())
        assert store.count() == 2
        assert store.verify().ok


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    count=st.integers(3, 10),
    cut=st.integers(1, 8),
    action=st.sampled_from(["change", "delete"]),
    index=st.integers(0, 100),
    column=st.sampled_from(_EDITABLE),
)
def test_tampering_with_the_records_kept_is_still_found(
    tmp_path_factory: pytest.TempPathFactory, count: int, cut: int, action: str, index: int, column: str
) -> None:
    directory = tmp_path_factory.mktemp("pruned")
    with open_store(None, directory) as store:
        placed = _fill(store, count, partitions=1)
        store.prune(T0 + timedelta(minutes=min(cut, count - 1)))
        kept = placed[min(cut, count - 1) :]
        assert store.verify().ok
        record_id, chain, seq = kept[index % len(kept)]
        raw = _Raw(sqlite3.connect(directory / SQLITE_FILE), "?")
        if action == "delete":
            raw.delete(record_id)
        else:
            raw.change(record_id, column)
        broken = store.verify().first_broken
        assert broken is not None
        assert (broken.chain, broken.seq) == (chain, seq)


@pytest.mark.parametrize(
    "edit",
    [
        "DELETE FROM lineage_anchor",
        "UPDATE lineage_anchor SET head_hash = 'x' || substr(head_hash, 2)",
        "UPDATE lineage_anchor SET seq = seq + 1",
        "UPDATE lineage_anchor SET pruned = pruned + 1",
    ],
)
def test_tampering_with_an_anchor_is_found(tmp_path: Path, edit: str) -> None:
    with open_store(None, tmp_path) as store:
        _fill(store, 6, partitions=1)
        store.prune(T0 + timedelta(minutes=3))
        _Raw(sqlite3.connect(tmp_path / SQLITE_FILE), "?").run(edit)
        result = store.verify()
        assert not result.ok
        assert result.first_broken is not None
        assert result.first_broken.chain == f"{_TOPIC}#0"


def test_prune_lineage_uses_the_retention_setting(tmp_path: Path) -> None:
    with open_store(None, tmp_path) as store:
        _fill(store, 3, partitions=1)
    unlimited = Settings(data_dir=tmp_path)
    assert prune_lineage(unlimited, now=T0 + timedelta(days=400)) is None
    configured = Settings(data_dir=tmp_path, lineage_retention_days=30)
    result = prune_lineage(configured, now=T0 + timedelta(days=30, minutes=2))
    assert result is not None
    assert result.total == 2


def test_prune_command_needs_a_period_then_prunes_and_verify_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from schakel.lineage.cli import app
    from schakel.settings import settings as cached_settings

    monkeypatch.setenv("SCHAKEL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SCHAKEL_LINEAGE_URL", raising=False)
    monkeypatch.delenv("SCHAKEL_LINEAGE_RETENTION_DAYS", raising=False)
    cached_settings.cache_clear()
    try:
        with open_store(None, tmp_path) as store:
            _fill(store, 4)  # in 2026-11, long past a retention of one day
        runner = CliRunner()
        refused = runner.invoke(app, ["prune"])
        assert refused.exit_code == 2
        assert "SCHAKEL_LINEAGE_RETENTION_DAYS" in refused.output
        pruned = runner.invoke(app, ["prune", "--older-than", "1"])
        assert pruned.exit_code == 0, pruned.output
        assert "pruned 4 records" in pruned.output
        verified = runner.invoke(app, ["verify"])
        assert verified.exit_code == 0, verified.output
        assert "anchor schakel.lineage#0" in verified.output
    finally:
        cached_settings.cache_clear()
