"""Names a package exports without importing them until they are used (PEP 562's module ``__getattr__``).

``schakel.connectors`` exports its runtime (the runners, the simulated partners, the metrics) and ``schakel.lineage``
its PDF letter as they always did, but those load aiokafka, aiohttp, OpenTelemetry and reportlab, which the command
line's ``--help`` and the contract do not need (README, Operating schakel: start-up). Each such name is looked up in
its own module the first time it is read from the package; ``from schakel.connectors import SinkRunner`` keeps
working. The packages import the names under ``TYPE_CHECKING`` too, so type checkers see them as before.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["deferred"]


def deferred(package: str, modules: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports each name of ``modules`` (name -> module) on first use."""

    def attribute(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return attribute
