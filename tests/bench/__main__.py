"""Runs every benchmark module in this folder (``make bench``), or those named: ``python -m tests.bench consent``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(names: list[str]) -> None:
    here = Path(__file__).parent
    modules = sorted(info.name for info in pkgutil.iter_modules([str(here)]) if not info.name.startswith("_"))
    for name in names or modules:
        print(f"\n== {name}", flush=True)
        importlib.import_module(f"tests.bench.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
