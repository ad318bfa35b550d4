"""Retention periods: the covenant loader accepts ISO 8601 durations or days, and refuses anything else by name."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from schakel.consent import CovenantError, load_covenants, parse_period, shipped_covenants_dir
from schakel.consent.retention import MAX_PERIOD


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P5Y", timedelta(days=5 * 365)),
        ("P6M", timedelta(days=180)),
        ("P2W", timedelta(days=14)),
        ("P1Y6M", timedelta(days=365 + 180)),
        ("PT30S", timedelta(seconds=30)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        (90, timedelta(days=90)),
    ],
)
def test_a_period_is_an_iso_duration_or_days(text: object, expected: timedelta) -> None:
    assert parse_period(text) == expected


@pytest.mark.parametrize("bad", ["P", "PT", "5Y", "P-1D", "P1.5Y", "P0D", 0, -3, True, 2.5, None, "P31Y", 30 * 365 + 1])
def test_a_period_that_is_not_positive_bounded_or_iso_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="must be"):
        parse_period(bad)
    assert parse_period("P30Y") <= MAX_PERIOD


def test_the_shipped_covenants_name_every_period() -> None:
    for covenant in load_covenants():
        retention = covenant.retention
        assert retention.note, covenant.id
        assert all(
            (
                retention.delivered_after_close,
                retention.signal_without_case,
                retention.consent_history,
                retention.lineage,
            )
        ), covenant.id


def _with_retention(tmp_path: Path, retention: object) -> str:
    source = shipped_covenants_dir() / "cter.yaml"
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    changed = copy.deepcopy(document)
    changed["retention"] = retention
    (tmp_path / "cter.yaml").write_text(yaml.safe_dump(changed, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CovenantError) as raised:
        load_covenants(tmp_path)
    return str(raised.value)


def test_a_bad_period_names_the_file_and_the_entry(tmp_path: Path) -> None:
    problem = _with_retention(tmp_path, {"delivered_after_close": "five years", "lineage": "P0D"})
    assert f"{tmp_path / 'cter.yaml'}: retention delivered_after_close: 'five years' must be an ISO 8601" in problem
    assert "retention lineage: 'P0D' must be positive" in problem


def test_an_unknown_retention_key_is_refused(tmp_path: Path) -> None:
    problem = _with_retention(tmp_path, {"forever": "P1Y"})
    assert "retention: unknown key 'forever'" in problem


def test_a_missing_period_takes_the_hubs_default(tmp_path: Path) -> None:
    source = shipped_covenants_dir() / "cter.yaml"
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    document["retention"] = {"delivered_after_close": "PT2S"}
    (tmp_path / "cter.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    (covenant,) = load_covenants(tmp_path)
    assert covenant.retention.delivered_after_close == timedelta(seconds=2)
    assert covenant.retention.signal_without_case is None
