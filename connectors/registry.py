"""Finding connectors: the ``schakel.connectors`` entry-point group, and where their configuration lives.

Each entry point names a :class:`~schakel.connectors.contract.Connector` object; it is validated when loaded (the
object's type, and that its name matches the entry point's), pluggy-style, so a broken plugin fails with a message
that names it rather than somewhere deep in a run.

Configuration: one YAML (or JSON) file per connector, ``<name>.yaml``, in the directory named by
``SCHAKEL_CONNECTORS_CONFIG_DIR`` (default ``<data_dir>/connectors/config``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from schakel.connectors.contract import Connector, ConnectorConfig
from schakel.connectors.errors import ConnectorConfigError, ConnectorError, ConnectorNotFound
from schakel.settings import Settings

__all__ = ["ENTRY_POINT_GROUP", "InstalledConnector", "config_dir", "installed", "load", "load_config"]

ENTRY_POINT_GROUP = "schakel.connectors"


@dataclass(frozen=True)
class InstalledConnector:
    """An entry point in the group, and where it comes from."""

    name: str
    target: str
    distribution: str | None


def _entry_points() -> list[EntryPoint]:
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def installed() -> list[InstalledConnector]:
    """Every connector installed in this environment (not loaded)."""
    return [
        InstalledConnector(ep.name, ep.value, ep.dist.name if ep.dist is not None else None) for ep in _entry_points()
    ]


def load(name: str) -> Connector[Any]:
    """Load and validate the connector registered under ``name``."""
    matches = [ep for ep in _entry_points() if ep.name == name]
    if not matches:
        known = ", ".join(ep.name for ep in _entry_points()) or "none"
        raise ConnectorNotFound(f"no connector {name!r} is installed (installed: {known})")
    try:
        connector = matches[0].load()
    except Exception as error:
        raise ConnectorError(f"connector {name!r} ({matches[0].value}) failed to load: {error}") from error
    if not isinstance(connector, Connector):
        raise ConnectorError(f"entry point {name!r} ({matches[0].value}) is not a schakel.connectors.Connector")
    if connector.name != name:
        raise ConnectorError(f"entry point {name!r} names connector {connector.name!r}; the names must match")
    if not issubclass(connector.config_model, ConnectorConfig):
        raise ConnectorError(f"connector {name!r}: its config model must derive from ConnectorConfig")
    return connector


def config_dir(settings: Settings) -> Path:
    """Where connector config files live."""
    configured = os.environ.get("SCHAKEL_CONNECTORS_CONFIG_DIR")
    return Path(configured) if configured else settings.data_dir / "connectors" / "config"


def config_file(settings: Settings, name: str) -> Path | None:
    """The config file of connector ``name``, or None when there is none."""
    folder = config_dir(settings)
    for suffix in (".yaml", ".yml", ".json"):
        candidate = folder / f"{name}{suffix}"
        if candidate.exists():
            return candidate
    return None


def load_config(connector: Connector[Any], path: Path) -> ConnectorConfig:
    """Read and validate a connector's config file (YAML or JSON)."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise ConnectorConfigError(f"cannot read {path}: {type(error).__name__}") from None
    if not isinstance(data, dict):
        raise ConnectorConfigError(f"{path}: the config must be a mapping")
    try:
        config: ConnectorConfig = connector.config(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise ConnectorConfigError(f"{path}: {problems}") from None
    return config
