"""``schakel run --workers N``: N worker processes that share the partitions, stopped together."""

from __future__ import annotations

import sys
from pathlib import Path

from schakel.streams.workers import supervise, worker_commands


def test_a_worker_that_exits_stops_the_others_and_its_code_is_returned(tmp_path: Path) -> None:
    stopped = tmp_path / "stopped"
    sleeper = [
        sys.executable,
        "-c",
        "import pathlib, signal, sys, time\n"
        f"signal.signal(signal.SIGTERM, lambda *_: (pathlib.Path({str(stopped)!r}).touch(), sys.exit(0)))\n"
        "time.sleep(120)",
    ]
    failing = [sys.executable, "-c", "import sys, time; time.sleep(1); sys.exit(3)"]
    assert supervise([sleeper, failing]) == 3
    assert stopped.exists()  # the survivor got SIGTERM, was not left running nor killed


def test_each_worker_gets_its_own_metrics_port() -> None:
    ports = [command[command.index("--metrics-port") + 1] for command in worker_commands(3, 9464, "warning")]
    assert ports == ["9464", "9465", "9466"]
    assert {command[command.index("--metrics-port") + 1] for command in worker_commands(2, 0, "info")} == {"0"}
