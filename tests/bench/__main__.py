"""Runs every benchmark module in this folder (``make bench``), or those named: ``python -m tests.bench consent``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from schakel.logs import configure_logging
from schakel.output import progress


def main(names: list[str]) -> None:
    here = Path(__file__).parent
    modules = sorted(info.name for info in pkgutil.iter_modules([str(here)]) if not info.name.startswith("_"))
    chosen = names or modules
    configure_logging()  # the Kafka clients' transient warnings at debug level, as in every schakel command
    with progress("benchmarks", len(chosen)) as advance:
        for name in chosen:
            print(f"\n== {name}", flush=True)
            importlib.import_module(f"tests.bench.{name}").main()
            advance(1)


if __name__ == "__main__":
    main(sys.argv[1:])
