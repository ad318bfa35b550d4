"""``schakel lineage serve`` binds only loopback unless told explicitly that the API is unauthenticated."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schakel.addresses import is_loopback
from schakel.lineage.cli import app
from schakel.settings import settings


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "lineage.example"])
def test_a_non_loopback_host_is_refused_with_the_reason(host: str) -> None:
    result = CliRunner().invoke(app, ["serve", "--host", host, "--port", "0"])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "not a loopback address" in said
    assert "--allow-unauthenticated" in said


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("127.0.0.2", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_port_already_taken_is_named_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHAKEL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SCHAKEL_LINEAGE_URL", raising=False)
    settings.cache_clear()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port)])
    settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not an OSError's traceback
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.output
