"""How long `schakel --help` takes to start, against the interpreter's own start, measured in the same run.

Baseline: ``python -c pass`` (the same interpreter, the same site-packages). Measured: ``schakel --help`` and
``schakel lineage --help`` (a group's help also runs the root callback: the settings and the logging), each as
``python -m schakel.cli``, in a fresh process. The three alternate within each round, so all see the same machine;
each figure is the median wall time of ROUNDS rounds. Reported in seconds and as a ratio to the baseline (how many
bare interpreter starts one command costs). ``python -m tests.bench cli`` from another checkout's interpreter times
that checkout's CLI (e.g. main's, for a before/after).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

ROUNDS = 5
COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "schakel --help": ["-m", "schakel.cli", "--help"],
    "schakel lineage --help": ["-m", "schakel.cli", "lineage", "--help"],
}


def _wall(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], stdout=subprocess.DEVNULL, check=True, env={**os.environ, "COLUMNS": "100"})
    return time.perf_counter() - start


def measure(rounds: int = ROUNDS) -> dict[str, float]:
    """The median wall time of each command, in seconds."""
    for args in COMMANDS.values():  # once each first: the bytecode caches are written, the files are in the page cache
        _wall(args)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(rounds):
        for name, args in COMMANDS.items():
            times[name].append(_wall(args))
    return {name: statistics.median(samples) for name, samples in times.items()}


def main() -> None:
    medians = measure()
    baseline = medians["python -c pass"]
    print(f"median of {ROUNDS} runs each, {sys.executable}")
    for name, seconds in medians.items():
        print(f"  {name:<24} {seconds:6.3f} s  {seconds / baseline:6.1f}x python -c pass")


if __name__ == "__main__":
    main()
