"""Scriptable output: every table command prints tab-separated rows on a pipe, a table on a terminal, JSON lines with
``--json``. The commands run as a user runs them: in a subprocess, through a pipe or in a pseudo-terminal."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys

import pytest

from schakel.output import print_rows, progress

_TABLES = [
    ["connectors", "list"],
    ["schemas", "list"],
    ["consent", "matrix"],
]


def _piped(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schakel.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


def _in_terminal(*args: str, columns: int = 100) -> str:
    """Run a command with a pseudo-terminal as its standard output; what it wrote there."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "schakel.cli", *args], stdout=follower, stderr=subprocess.DEVNULL, env=env
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the command exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=120) == 0
    return b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.parametrize("command", _TABLES, ids=" ".join)
def test_a_table_on_a_pipe_is_tab_separated_rows_without_truncation_or_boxes(command: list[str]) -> None:
    result = _piped(*command)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = lines[0].split("\t")
    assert len(header) >= 3
    assert all(len(line.split("\t")) == len(header) for line in lines[1:])
    assert not any(char in result.stdout for char in "│┃━─…")


def test_grep_finds_a_long_name_on_a_pipe() -> None:
    rows = [line.split("\t") for line in _piped("connectors", "list").stdout.splitlines()]
    found = [row for row in rows if "gemeente-veiligheid" in row]
    assert len(found) == 1
    assert found[0][:2] == ["gemeente-veiligheid", "gemeente-veiligheid"]


@pytest.mark.parametrize("command", _TABLES, ids=" ".join)
def test_json_prints_one_object_per_row(command: list[str]) -> None:
    plain = _piped(*command).stdout.splitlines()
    result = _piped(*command, "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows
    assert all(isinstance(row, dict) for row in rows)
    assert len(rows) == len(plain) - 1


@pytest.mark.parametrize("command", _TABLES, ids=" ".join)
def test_a_terminal_gets_a_table(command: list[str]) -> None:
    shown = _in_terminal(*command)
    assert "\t" not in shown
    assert any(char in shown for char in "│┃━─")
    assert "gemeente-sociaal" in shown or "Signal" in shown


def test_print_rows_keeps_one_row_on_one_line() -> None:
    out = io.StringIO()
    print_rows(("a", "b"), [{"a": "x\ty\nz", "b": ["p", "q"]}, {"a": None, "b": 3}], stream=out)
    assert out.getvalue() == "a\tb\nx y z\tp, q\n-\t3\n"


def test_progress_on_a_pipe_prints_nothing() -> None:
    out = io.StringIO()
    with progress("working", total=3, stream=out) as advance:
        advance(2)
        advance(1, total=4)
    assert out.getvalue() == ""
