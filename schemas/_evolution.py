"""The evolution check: the catalogue against its last released versions.

A type whose current schema equals its newest released file is unchanged. A changed type must stay fully compatible
(backward and forward, see ``_compatibility``) with its newest released version; once it is, ``schakel schemas
release`` freezes it as the next version. A released file is never edited, so older versions stay readable; the
check also walks the released chain (v1 -> v2 -> ...) to catch an edit that slipped in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from schakel.schemas._catalogue import EventType, SchemaVersion, current_versions, load_released
from schakel.schemas._compatibility import Incompatibility, check_compatibility

__all__ = ["RELEASED_DIR", "EvolutionResult", "check_catalogue", "release"]

RELEASED_DIR = Path(__file__).resolve().parent / "released"


@dataclass(frozen=True)
class EvolutionResult:
    """How one type's current schema relates to its newest released version."""

    event_type: EventType
    current: SchemaVersion
    released: SchemaVersion | None
    incompatibilities: tuple[Incompatibility, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.incompatibilities

    @property
    def status(self) -> str:
        if self.released is None:
            return "new type, not yet released"
        if self.current.released:
            return f"unchanged since v{self.released.version}"
        if self.ok:
            return f"changed, compatible with v{self.released.version} (release as v{self.current.version})"
        return f"changed, INCOMPATIBLE with v{self.released.version}"


def _released(folder: Path | None) -> Mapping[EventType, tuple[SchemaVersion, ...]]:
    return load_released(folder if folder is not None else RELEASED_DIR)


def check_catalogue(released_dir: Path | None = None) -> list[EvolutionResult]:
    """Compare every type's current schema with its newest version in ``released_dir`` (default: the package's)."""
    released = _released(released_dir)
    results = []
    for event_type, current in current_versions(released).items():
        history = released[event_type]
        if not history:
            results.append(EvolutionResult(event_type, current, None))
            continue
        newest = history[-1]
        problems = [] if current.released else check_compatibility(dict(current.schema), dict(newest.schema))
        for older, newer in pairwise(history):  # the released chain itself, in case of edits
            problems += [
                Incompatibility(p.direction, p.path, f"released v{older.version} -> v{newer.version}: {p.problem}")
                for p in check_compatibility(dict(newer.schema), dict(older.schema))
            ]
        results.append(EvolutionResult(event_type, current, newest, tuple(problems)))
    return results


def release(released_dir: Path | None = None) -> list[Path]:
    """Write ``<Type>.v<N>.avsc`` for each changed, compatible type; returns the files written. Refuses (writes
    nothing) while any type is incompatible."""
    folder = released_dir if released_dir is not None else RELEASED_DIR
    results = check_catalogue(folder)
    if any(not result.ok for result in results):
        return []
    written = []
    for result in results:
        if result.current.released:
            continue
        path = folder / f"{result.event_type.value}.v{result.current.version}.avsc"
        path.write_text(json.dumps(dict(result.current.schema), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
