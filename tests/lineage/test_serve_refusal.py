"""``schakel lineage serve`` binds only loopback unless told explicitly that the API is unauthenticated."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from schakel.addresses import is_loopback
from schakel.lineage.cli import app


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
