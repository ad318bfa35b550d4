"""What the demo reports when the hub is late, and that its summary counts only its own run (no Kafka needed)."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from rich.console import Console

from schakel.connectors.running import RunningConnector
from schakel.deploy.demo import Demo, scenarios
from schakel.schemas import Organisation
from schakel.settings import Settings


@dataclass
class _Partner:
    copies: list[dict[str, Any]] = field(default_factory=list)

    def received(self) -> list[dict[str, Any]]:
        return self.copies


@dataclass
class _Running:
    simulation: _Partner


def _demo(tmp_path: Path) -> tuple[Demo, io.StringIO]:
    out = io.StringIO()
    return Demo(Settings(data_dir=tmp_path), Console(file=out, width=200)), out


def test_a_late_hub_is_reported_plainly(tmp_path: Path) -> None:
    demo, out = _demo(tmp_path)
    step = scenarios(random.Random(1))[0][1][0]
    demo._show(step, "0123456789abcdef", decisions=[], receipts={}, candidates=4)
    assert "the hub has not decided within" in out.getvalue()
    assert demo.missing == ["01234567: 0 of 4 decisions"]


def test_the_summary_counts_only_what_this_run_delivered(tmp_path: Path) -> None:
    demo, out = _demo(tmp_path)
    om = _Partner([{"earlier": n} for n in range(1518)])
    demo.connectors = {Organisation.OM: cast(RunningConnector, _Running(om))}
    demo.received_before = demo._received()
    om.copies.extend({"now": n} for n in range(3))
    demo.summary()
    assert "om 3" in out.getvalue()
    assert "1518" not in out.getvalue()
