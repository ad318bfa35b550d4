"""``schakel status`` against a running hub with two connectors, one of which was killed: one view, exit code 1,
and each problem named with what to do about it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schakel.health import Broker, ConnectorHealth, Group, Status, problems
from tests.streams.conftest import Hub

pytestmark = pytest.mark.kafka


def _status(hub: Hub, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schakel.cli", "status", *args],
        env=hub.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _connector(hub: Hub, name: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "schakel.cli", "connectors", "run", name, "--simulate"],
            env=hub.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for(check: object, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def test_status_of_a_running_hub_with_one_stopped_connector(hub: Hub, tmp_path: Path) -> None:
    hub.worker()
    running = hub.settings.data_dir / "connectors" / "running"
    politie = _connector(hub, "politie", tmp_path / "politie.log")
    om = _connector(hub, "om", tmp_path / "om.log")
    try:
        for name, process in (("politie", politie), ("om", om)):
            _wait_for(
                lambda name=name, process=process: (running / f"{name}.json").exists() or process.poll() is not None,
                f"connector {name} did not start",
            )
        os.killpg(om.pid, signal.SIGKILL)
        om.wait()

        def hub_joined() -> bool:
            rows = [json.loads(line) for line in _status(hub, "--json").stdout.splitlines()]
            return any(row["part"] == "hub" and row["item"] == "workers" and row["state"] >= 1 for row in rows)

        _wait_for(hub_joined, f"the hub worker did not join its group:\n{hub.logs()}")
        result = _status(hub, "--json")
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        state = {(row["part"], row["item"]): row["state"] for row in rows}
        assert result.returncode == 1, "a stopped connector is something wrong"
        assert state[("broker", hub.settings.kafka_bootstrap)] == "up"
        assert state[("hub", "workers")] == 1
        assert state[("connector", "politie")] == "up"
        assert state[("connector", "om")] == "stopped"
        assert [row["detail"] for row in rows if row["part"] == "problem"] == [
            "see its log; start it again: schakel connectors run om"
        ]
        assert {("dead letters", "total"), ("lineage", "records")} <= state.keys()
        assert any(part == "covenant" and value == "in force" for (part, _), value in state.items())

        piped = _status(hub)
        assert "connector\tom\tstopped\t" in piped.stdout
        assert piped.returncode == 1
    finally:
        for process in (politie, om):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)
    assert not (running / "politie.json").exists(), "a clean stop withdraws the connector's presence"


def test_only_real_trouble_makes_status_fail() -> None:
    broker = Broker("127.0.0.1:9092", answering=True, nodes=["1 127.0.0.1:9092"], version="4.1.1", controller=1)
    healthy = Status(
        data_dir="/var",
        broker=broker,
        hub=Group("schakel.hub", ["w1@127.0.0.1"], {"schakel.ingress.om": 250}),
        ingest=Group("schakel-lineage-store", [], {"schakel.lineage": None}),
        dead_letters_total=7,
        dead_letters_last_hour=3,
        connectors=[ConnectorHealth("om", "om", "up")],
    )
    assert [p.part for p in problems(healthy)] == ["covenants"], "no covenant in force is the only trouble here"
    behind = Status(data_dir="/var", broker=broker, ingest=Group("schakel-lineage-store", [], {"l": 12}))
    assert [p.fix for p in problems(behind)][-1] == "start it: schakel lineage ingest --follow"
    down = Status(data_dir="/var", broker=Broker("127.0.0.1:9092", answering=False))
    assert [p.fix for p in problems(down)] == ["start it: schakel kafka up"]
