"""One data directory: make and a command typed by hand from anywhere find the same broker, stores and logs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from schakel.settings import Settings, checkout_root

_CHECKOUT = Path(__file__).resolve().parents[2]


def test_an_install_from_this_checkout_keeps_its_data_in_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCHAKEL_DATA_DIR", raising=False)
    monkeypatch.delenv("SCHAKEL_CACHE_DIR", raising=False)
    assert checkout_root() == _CHECKOUT
    assert Settings().data_dir == _CHECKOUT / "var"
    assert Settings().cache_dir == _CHECKOUT / ".cache"


def test_the_environment_still_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCHAKEL_DATA_DIR", str(tmp_path))
    assert Settings().data_dir == tmp_path


def test_the_makefile_does_not_point_elsewhere() -> None:
    assert "SCHAKEL_DATA_DIR" not in (_CHECKOUT / "Makefile").read_text()


def test_kafka_status_run_by_hand_elsewhere_names_the_checkouts_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"SCHAKEL_DATA_DIR", "SCHAKEL_CACHE_DIR"}}
    # A port where nothing listens: the answer is "does not answer", and it says where it looked for the pid file.
    env["SCHAKEL_KAFKA_BOOTSTRAP"] = "127.0.0.1:1"
    result = subprocess.run(
        [sys.executable, "-m", "schakel.cli", "kafka", "status"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert f"pid file looked for in {_CHECKOUT / 'var' / 'kafka'}\n" in result.stdout  # one line, unwrapped
