"""``schakel demo --once``: the whole hub with simulated partners, end to end, and what it leaves in lineage."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from schakel.lineage import open_store, scan_for_personal_data
from schakel.schemas.examples import SYNTHETIC_NAMES

pytestmark = pytest.mark.kafka


def test_demo_plays_every_theme_and_leaves_no_personal_data_in_lineage(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SCHAKEL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "SCHAKEL_TOPIC_PREFIX": f"demo{unique}.",
        "SCHAKEL_PARTITIONS": "2",
        "SCHAKEL_DATA_DIR": str(tmp_path),
        "COLUMNS": "160",
    }
    played = subprocess.run(
        [sys.executable, "-m", "schakel.cli", "demo", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert played.returncode == 0, played.stdout[-4000:] + played.stderr[-4000:]
    out = played.stdout
    for theme in ("CTER", "LVB", "Money mules"):
        assert theme in out
    assert "summary" in out
    assert "\nmissing:" not in out, "every permitted copy reached its partner system"
    assert "deny" in out, "the scenarios include recipients the covenants do not allow"
    assert "course of action for politie" in out, "the LVB signal reaches the police with its course of action"
    assert "ZVH agenda: SignalBundle" in out, "a second partner's signal about the LVB person forms a bundle"

    caught_up = subprocess.run(
        [sys.executable, "-m", "schakel.cli", "lineage", "ingest"], env=env, capture_output=True, text=True, timeout=300
    )
    assert caught_up.returncode == 0, caught_up.stderr
    with open_store(None, tmp_path) as store:
        assert store.count() > 0
        assert scan_for_personal_data(store, SYNTHETIC_NAMES) == []
        assert store.verify().first_broken is None
