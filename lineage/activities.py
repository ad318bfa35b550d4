"""The processing activity (AVG art. 30 register) behind each covenant purpose.

The hub calls :func:`processing_activity` for every lineage record it writes and puts the answer in
``dpl.core.processing_activity_id``. The mapping is data, not code: ``processing_activities.yaml`` in this package by
default, or the file named by ``SCHAKEL_PROCESSING_ACTIVITIES`` (same shape), read once per process. A purpose the
register does not know yields ``None`` - the record is still written (a decision must never be lost for want of a
register entry), and ``schakel lineage`` shows the gap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import yaml

from schakel.lineage.record import LineageError

__all__ = [
    "PROCESSING_ACTIVITIES_ENV",
    "ProcessingActivitiesError",
    "load_processing_activities",
    "processing_activity",
]

PROCESSING_ACTIVITIES_ENV = "SCHAKEL_PROCESSING_ACTIVITIES"


class ProcessingActivitiesError(LineageError):
    """The processing-activities file is missing or not of the expected shape."""


def load_processing_activities(path: Path | None = None) -> Mapping[str, str]:
    """Purpose -> processing activity URI, from ``path`` or (when None) from the configured or shipped file."""
    if path is None:
        configured = os.environ.get(PROCESSING_ACTIVITIES_ENV)
        path = Path(configured) if configured else None
    try:
        if path is None:
            text = resources.files(__package__).joinpath("processing_activities.yaml").read_text(encoding="utf-8")
            where = "the shipped processing_activities.yaml"
        else:
            text = path.read_text(encoding="utf-8")
            where = str(path)
    except OSError as error:
        raise ProcessingActivitiesError(f"cannot read processing activities from {path}: {error.strerror}") from None
    data = yaml.safe_load(text)
    activities = data.get("activities") if isinstance(data, dict) else None
    if not isinstance(activities, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and ":" in v for k, v in activities.items()
    ):
        raise ProcessingActivitiesError(f"{where}: expected 'activities: {{purpose: URI}}'")
    return MappingProxyType(dict(activities))


@lru_cache(maxsize=1)
def _configured() -> Mapping[str, str]:
    return load_processing_activities()


def processing_activity(purpose: str) -> str | None:
    """The ``dpl.core.processing_activity_id`` for a covenant purpose, or None when the register has no entry."""
    return _configured().get(purpose)
