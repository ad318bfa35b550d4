"""Connectors killed with SIGKILL mid-stream and restarted (real ``schakel connectors run`` subprocesses).

The sink: no copy lost, none held twice by the partner system, each subject's copies in order, and the re-delivery
after the crash mostly dropped by the sink's idempotency store rather than sent again. The source (file drop): no
record lost - a file claimed before the crash is processed after it, under the same event ids.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from schakel.connectors.running import simulation_for
from schakel.connectors.simulation import SimulatedFileDropPartner, SimulatedHttpPartner
from schakel.connectors.testing import egress_message, projected_form, read_topic, write
from schakel.schemas import Codec
from schakel.settings import Settings
from schakel.streams.access import provision
from schakel.streams.topics import HubTopics

pytestmark = pytest.mark.kafka

_COPIES = 240
_SUBJECTS = 8


def _start(
    settings: Settings, state: Path, log: Path, name: str = "politie", part: str = "--no-source"
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SCHAKEL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "SCHAKEL_TOPIC_PREFIX": settings.topic_prefix,
        "SCHAKEL_PARTITIONS": str(settings.partitions),
        "SCHAKEL_DATA_DIR": str(settings.data_dir),
    }
    command = [
        str(Path(sys.executable).with_name("schakel")),
        *("connectors", "run", name, "--simulate", "--state-dir", str(state), part),
        *("--session-timeout-ms", "6000"),
    ]
    with open(log, "ab") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)


def _wait(check: object, timeout: float, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if process.poll() is not None:
            raise AssertionError(f"connector exited with {process.returncode}: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; connector log: {log.read_text()[-2000:]}")
        time.sleep(0.05)


def test_a_killed_sink_loses_nothing_and_delivers_nothing_twice(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=f"crash-{unique}.", partitions=2, data_dir=tmp_path / "data"
    )
    topics = HubTopics.of(settings)
    provision(settings, [topics.egress("politie"), topics.ingress("politie"), topics.dlq, topics.receipts("politie")])
    state = tmp_path / "simulation"
    partner = simulation_for("politie", state)
    assert isinstance(partner, SimulatedHttpPartner)
    partner.set_latency(0.01)

    order: dict[str, list[str]] = defaultdict(list)
    messages = []
    for number in range(_COPIES):
        subject = f"bsn:99999{number % _SUBJECTS:04d}"
        form = projected_form(recipient="politie", settings=settings, subject_key=subject, seed=number)
        order[subject].append(form["id"])
        messages.append(egress_message(form, recipient="politie", settings=settings, subject_key=subject))
    asyncio.run(write(settings, *messages))

    log = tmp_path / "connector.log"
    first = _start(settings, state, log)
    try:
        _wait(lambda: len(partner.received()) >= 40, 60, first, log)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    delivered_before_restart = len(partner.received())
    assert delivered_before_restart < _COPIES, "the kill came too late to test anything"

    second = _start(settings, state, log)
    try:
        _wait(lambda: len(partner.received()) >= _COPIES, 120, second, log)
        time.sleep(1.0)  # anything still to come would be a duplicate
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(20)
        except subprocess.TimeoutExpired:
            second.kill()

    received = [str(document["event_id"]) for document in partner.received()]
    assert len(received) == _COPIES == len(set(received)), "a copy was lost or held twice"
    assert set(received) == {event_id for ids in order.values() for event_id in ids}
    for ids in order.values():
        assert [i for i in received if i in set(ids)] == ids, "a subject's copies arrived out of order"
    # Without the idempotency store the whole uncommitted batch would be POSTed again; with it, at most the copies
    # that were in flight at the moment of the kill are.
    assert partner.attempts() - _COPIES <= 16


def test_a_killed_file_drop_source_loses_no_record(kafka_bootstrap: str, unique: str, tmp_path: Path) -> None:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=f"crashsrc-{unique}.", partitions=2, data_dir=tmp_path / "data"
    )
    topics = HubTopics.of(settings)
    provision(settings, [topics.egress("rvdk"), topics.ingress("rvdk"), topics.dlq, topics.receipts("rvdk")])
    state = tmp_path / "simulation"
    partner = simulation_for("rvdk", state)
    assert isinstance(partner, SimulatedFileDropPartner)
    # Enough files that the source is still busy when it is killed, even on a fast, idle machine.
    records = [partner.example("zorgmelding") for _ in range(600)]
    expected = {str(partner.mapping.event_id("zorgmelding", r["raadsnummer"])) for r in records}
    for record in records:
        asyncio.run(partner.submit(record))

    def processed() -> int:
        return len(list((partner.to_hub / "processed").glob("*.json")))

    log = tmp_path / "connector.log"
    first = _start(settings, state, log, "rvdk", "--no-sink")
    try:
        _wait(lambda: (partner.to_hub / "processed").exists() and processed() >= 5, 60, first, log)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert processed() < len(records), "the kill came too late to test anything"

    second = _start(settings, state, log, "rvdk", "--no-sink")
    try:
        _wait(lambda: processed() >= len(records), 120, second, log)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(20)
        except subprocess.TimeoutExpired:
            second.kill()

    on_topic = asyncio.run(read_topic(settings, topics.ingress("rvdk"), len(records)))
    ids = {str(Codec().decode(r.value).id) for r in on_topic}
    assert ids == expected, "a record was lost (or an event id changed on the replay)"
    assert list((partner.to_hub / "work").iterdir()) == []
    assert list((partner.to_hub / "failed").iterdir()) == []
