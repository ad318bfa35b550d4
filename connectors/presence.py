"""Which connectors run on this machine, and where their ``/healthz`` answers: one small file per running connector.

``schakel connectors run`` (and the demo) write ``<data_dir>/connectors/running/<name>.json`` once a connector is
ready - its name, organisation, process id and health port - and remove it when the connector stops cleanly.
``schakel status`` reads them and asks each ``/healthz``. A file whose process is gone is a connector that stopped
without saying so (killed, crashed): status reports it as stopped, which is what an operator needs to know, and
leaves the file until the connector runs again (it is overwritten) - *why*: a crash must stay visible.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from schakel.settings import Settings

__all__ = ["Presence", "announce", "announced", "presence_dir", "withdraw"]


@dataclass(frozen=True)
class Presence:
    """One running connector, as it announced itself."""

    name: str
    organisation: str
    pid: int
    port: int
    started_at: str

    def alive(self) -> bool:
        """Whether its process still exists."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"


def presence_dir(settings: Settings) -> Path:
    return settings.data_dir / "connectors" / "running"


def announce(settings: Settings, name: str, organisation: str, port: int) -> Path:
    """Write this process's presence file for connector ``name``; return its path."""
    folder = presence_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    presence = Presence(name, organisation, os.getpid(), port, datetime.now(UTC).isoformat(timespec="seconds"))
    path = folder / f"{name}.json"
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(presence)), encoding="utf-8")
    partial.replace(path)
    return path


def withdraw(path: Path) -> None:
    """Remove a presence file this process wrote (a clean stop)."""
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        return


def announced(settings: Settings) -> list[Presence]:
    """Every presence file under the data directory, by name (unreadable files are skipped)."""
    found: list[Presence] = []
    folder = presence_dir(settings)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            found.append(Presence(**json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue
    return found
