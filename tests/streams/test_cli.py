"""``schakel tail`` and ``schakel dlq`` behave like ``tail``: the latest N and exit, ``--follow`` waits for more,
``--from-beginning`` reads everything the topic holds. Run through a pipe, as a script would."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from schakel.connectors.testing import copy_message
from schakel.schemas import EventType, Organisation
from schakel.streams.records import DeadLetter
from schakel.streams.topics import HubTopics
from tests.consent.helpers import event_form
from tests.streams.conftest import Hub


def _cli(hub: Hub, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schakel.cli", *args],
        env={**hub.env, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


_START = int(time.time() * 1000) - 60_000  # distinct record times, within what the broker accepts


def _dead_letters(hub: Hub, offsets: range, at: int) -> None:
    """Dead letters naming original offsets ``offsets``, over both partitions, one millisecond apart from ``at``."""
    dlq = HubTopics.of(hub.settings).dlq
    for n in offsets:
        message = DeadLetter("DecodeError", "bad bytes", "x.ingress.politie", 0, n).message(dlq, None, b"?")
        hub.producer.send(dlq, value=message.value, headers=message.headers, partition=n % 2, timestamp_ms=at + n)
    hub.flush()


def _offsets(output: str) -> list[int]:
    return [json.loads(line)["original"]["offset"] for line in output.splitlines()]


def test_dlq_shows_the_latest_ten_in_time_order_over_all_partitions_and_exits(hub: Hub) -> None:
    _dead_letters(hub, range(25), at=_START)
    latest = _cli(hub, "dlq")
    assert latest.returncode == 0, latest.stderr
    assert _offsets(latest.stdout) == list(range(15, 25))
    assert _offsets(_cli(hub, "dlq", "--count", "3").stdout) == [22, 23, 24]
    assert _offsets(_cli(hub, "dlq", "--from-beginning").stdout) == list(range(25))


def test_dlq_follow_shows_the_latest_then_waits_for_new_ones(hub: Hub) -> None:
    _dead_letters(hub, range(3), at=_START)
    follower = subprocess.Popen(
        [sys.executable, "-m", "schakel.cli", "dlq", "--follow", "--count", "1", "--timeout", "120"],
        env=hub.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        assert _offsets(follower.stdout.readline()) == [2]
        _dead_letters(hub, range(3, 4), at=_START)
        assert _offsets(follower.stdout.readline()) == [3]
    finally:
        follower.terminate()
        follower.wait(timeout=30)


def test_tail_shows_the_latest_copies_a_partner_received(hub: Hub) -> None:
    forms = []
    for n in range(12):
        form, message = copy_message(hub.settings, "om", f"bsn:{n}", seed=n)
        hub.producer.send(message.topic, key=message.key, value=message.value, headers=message.headers, partition=0)
        forms.append(form)
    hub.flush()
    tailed = _cli(hub, "tail", "--to", "om")
    assert tailed.returncode == 0, tailed.stderr
    assert [json.loads(line)["id"] for line in tailed.stdout.splitlines()] == [form["id"] for form in forms[-10:]]


def test_tail_of_a_topic_that_does_not_exist_says_how_to_create_it(hub: Hub) -> None:
    result = _cli(hub, "tail", "--to", "om", SCHAKEL_TOPIC_PREFIX=f"{hub.settings.topic_prefix}absent.")
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert "schakel topics" in result.stderr


def test_tail_with_nothing_delivered_says_that_no_hub_worker_runs(hub: Hub) -> None:
    result = _cli(hub, "tail", "--to", "ggz")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "no hub worker is running: start one with `schakel run`" in result.stderr


def _closed_port() -> int:
    with socket.socket() as probe:  # a port nothing listens on: bound, read, released
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_with_no_broker_answering_each_command_says_so_in_one_line_and_exits_1(hub: Hub, tmp_path: Path) -> None:
    event = tmp_path / "signal.json"
    event.write_text(json.dumps(event_form(EventType.SIGNAL, Organisation.POLITIE, "person-centred-approach")))
    env = {**hub.env, "SCHAKEL_KAFKA_BOOTSTRAP": f"127.0.0.1:{_closed_port()}"}
    commands = {
        "topics": ["topics"],
        "tail": ["tail", "--to", "om"],
        "dlq": ["dlq"],
        "send": ["send", "--as", "politie", str(event)],
        "resend": ["connectors", "resend", "--to", "politie"],
    }
    running = {
        name: subprocess.Popen(
            [sys.executable, "-m", "schakel.cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for name, args in commands.items()
    }  # at once: each waits out the client's bootstrap timeout
    for name, process in running.items():
        out, err = process.communicate(timeout=180)
        stderr = err.decode()
        assert process.returncode == 1, (name, stderr)
        assert out == b"", name
        assert "Traceback" not in stderr, (name, stderr)
        assert "Unclosed" not in stderr, (name, stderr)  # no client left open behind the failure
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("error: the Kafka broker at 127.0.0.1:"), (name, last)
        assert "schakel kafka status" in last, name


def test_a_worker_writing_to_a_file_writes_no_terminal_codes_there(hub: Hub) -> None:
    worker = hub.worker()
    hub.await_group(1)
    worker.stop()
    log = worker.log.read_bytes()
    assert b"\x1b[" not in log, log[:200]  # Faust's spinner hid and showed the cursor in the log


def test_a_metrics_port_already_taken_is_named_in_one_line(hub: Hub) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _cli(hub, "run", "--metrics-port", str(port))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert f"error: cannot serve metrics on 127.0.0.1:{port}: Address already in use" in result.stderr


def test_a_negative_count_is_refused(hub: Hub) -> None:
    """-n -5 sought five records past the end and printed nothing, exit 0, as if the topic were empty."""
    for command in (["dlq"], ["tail", "--to", "om"]):
        result = _cli(hub, *command, "-n", "-5")
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "Invalid value for '--count'" in result.stderr, result.stderr
