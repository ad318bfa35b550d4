"""``schakel run --workers N``: N hub worker processes on one host, sharing the partitions through their group.

Each worker is a separate ``schakel run`` process (Faust runs one event loop per process; the GIL makes threads no
help), so N workers use up to N cores. The supervisor only starts them and forwards SIGTERM/SIGINT.

Judgement calls:

- *No restarts here.* When one worker exits, the supervisor stops the others and exits with that worker's code:
  the host's service manager (systemd, a Kubernetes Deployment) restarts the whole, and a half-sized set of workers
  never runs unnoticed. The survivors' partitions move anyway when one leaves the group.
- *Metrics ports*: worker ``i`` serves on ``metrics_port + i`` (when a port is given), one scrape target each.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType

__all__ = ["supervise", "worker_commands"]


def worker_commands(workers: int, metrics_port: int, loglevel: str) -> list[list[str]]:
    """The command line of each worker process."""
    return [
        [
            sys.executable,
            "-m",
            "schakel.cli",
            "run",
            "--metrics-port",
            str(metrics_port + index if metrics_port else 0),
            "--loglevel",
            loglevel,
        ]
        for index in range(workers)
    ]


def supervise(commands: list[list[str]]) -> int:
    """Run the workers until one exits or a signal arrives; stop the rest; return the first exit code."""
    processes = [subprocess.Popen(command) for command in commands]
    stopping = False

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.poll() is None:
                process.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while not stopping:
        exited = [process for process in processes if process.poll() is not None]
        if exited:
            code = exited[0].returncode
            stop(signal.SIGTERM, None)
            break
        time.sleep(0.5)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return code
