"""The whole hub as the separate processes an installation runs, for the fault tests (``make soak``): a hub worker
(``schakel run``), every partner's sink connector against its simulated partner system (``schakel connectors run all
--simulate --no-source``) and ``schakel lineage ingest --follow`` - plus brokers of the tests' own.

Each test starts the brokers it breaks on ports derived from the session broker's ``PORT``: a three-node cluster on
``PORT + 2 .. PORT + 7``, a single broker on ``PORT + 8`` and ``+ 9`` (their data in the test's tmp directory; the jar
cache shared). What a run must deliver is computed with the consent policy, as ``tests/streams/test_pipeline.py``
does; what arrived is read from the partner systems themselves (each keeps a copy once: a second delivery of one
copy is counted as a duplicate at the partner) and from the lineage store.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError

from schakel.connectors.running import simulation_for
from schakel.connectors.simulation import SimulatedPartner
from schakel.consent import Outcome, Pseudonymizer, SubjectState, load_policy, subject_key
from schakel.deploy.kafka.broker import LocalBroker
from schakel.lineage import RecordKind, open_store
from schakel.schemas import Event, EventType, Organisation, Theme
from schakel.schemas.examples import example_event
from schakel.settings import Settings
from schakel.streams.access import provision
from schakel.streams.records import ingress_message
from schakel.streams.topics import ADMIN, HUB, HubTopics

Pair = tuple[str, str]
"""(event id, recipient)."""


def local_broker(tmp: Path, *, offset: int, nodes: int) -> LocalBroker:
    """A broker of the test's own, ``offset`` ports above the session broker's, its data under ``tmp``."""
    session = Settings()
    port = int(session.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1]) + offset
    own = Settings(kafka_bootstrap=f"127.0.0.1:{port}", data_dir=tmp / "broker", cache_dir=session.cache_dir)
    return LocalBroker(own, nodes=nodes)


def signals(count: int) -> list[Event]:
    """``count`` signals over the three themes, about ``count`` people (each with a case id of its own: example case
    ids repeat, and one drawn for two people is an IdentifierConflict the hub dead-letters)."""
    themes = [Theme.CTER, Theme.LVB, Theme.MONEY_MULE]
    return [
        example_event(EventType.SIGNAL, theme=themes[number % 3], case_id=f"ZVH-2026-{number:06d}")
        for number in range(count)
    ]


def expected(events: list[Event]) -> tuple[set[Pair], set[Pair]]:
    """The (event, recipient) pairs the policy permits, and every (event, candidate) pair, in the events' order
    (the events of one person keyed by the BSN, as ``tests/streams/test_pipeline.py`` does)."""
    policy = load_policy()
    pseudonymizer = Pseudonymizer(Settings().pseudonym_key.get_secret_value().encode())
    states: dict[str, SubjectState] = {}
    permitted: set[Pair] = set()
    candidates: set[Pair] = set()
    now = datetime.now(UTC)
    for event in events:
        subject = subject_key(event)
        state = states.get(subject, SubjectState())
        decisions, states[subject] = state.decide_all(policy, event, now, pseudonymizer.subject)
        for decision in decisions:
            pair = (str(event.id), str(decision.recipient))
            candidates.add(pair)
            if decision.outcome is not Outcome.DENY:
                permitted.add(pair)
    return permitted, candidates


@dataclass
class Pipeline:
    """A hub worker, every partner's sink, lineage ingest: subprocesses on one broker (or cluster)."""

    settings: Settings
    root: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _partners: dict[str, SimulatedPartner] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    """The first pid of each process: one that had to be restarted by hand would show a different one."""

    @classmethod
    def on(cls, broker: LocalBroker, root: Path, prefix: str = "soak.") -> Pipeline:
        settings = broker.client_settings().model_copy(
            update={"topic_prefix": prefix, "partitions": 4, "data_dir": root / "data"}
        )
        return cls(settings, root)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.settings.kafka_environment(),
            "SCHAKEL_TOPIC_PREFIX": self.settings.topic_prefix,
            "SCHAKEL_PARTITIONS": str(self.settings.partitions),
            "SCHAKEL_DATA_DIR": str(self.settings.data_dir),
            "PYTHONUNBUFFERED": "1",
        }

    def start(self) -> None:
        provision(self.settings)
        self.await_metadata()
        self.spawn("hub", "run")
        self.spawn("lineage", "lineage", "ingest", "--follow")
        self.spawn("sinks", "connectors", "run", "all", "--simulate", "--no-source", "--state-dir", str(self.partners))
        # The faults come once everything runs: `connectors run all` starts one sink after the other, and gives up
        # on one that is not ready within a minute (a start-up limit, not what these tests are about).
        self.wait(lambda: self._sinks_running() == len(Organisation), 900, "every sink running")

    def _sinks_running(self) -> int:
        log = (self.root / "sinks.log").read_text(errors="replace")
        return sum(f"connector {org.value} running" in log for org in Organisation)

    def await_metadata(self, timeout: float = 60.0) -> None:
        """Wait until every node shows the hub its topics: a cluster's nodes apply new topics and ACLs from the
        metadata log each at its own pace, and a worker started at once may be refused by one that lags behind."""
        topics = HubTopics.of(self.settings)
        names = [*topics.all(), *topics.changelogs]
        deadline = time.monotonic() + timeout
        for address in self.settings.kafka_bootstrap.split(","):
            node = self.settings.model_copy(update={"kafka_bootstrap": address})
            while not _shows(node, names):
                assert time.monotonic() < deadline, f"{address} does not show the hub its topics"
                time.sleep(0.5)

    @property
    def partners(self) -> Path:
        return self.root / "partners"

    def spawn(self, name: str, *args: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "schakel.cli", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        self.pids.setdefault(name, process.pid)

    def exited(self) -> list[str]:
        return [name for name, process in self.processes.items() if process.poll() is not None]

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n{(self.root / f'{name}.log').read_text(errors='replace')[-2500:]}" for name in self.processes
        )

    def send(self, events: list[Event]) -> None:
        producer = KafkaProducer(**self.settings.kafka_client_config(ADMIN), acks="all", linger_ms=5)  # every partner
        try:
            for event in events:
                message = ingress_message(event, self.settings)
                producer.send(message.topic, key=message.key, value=message.value, headers=message.headers)
            producer.flush()
        finally:
            producer.close()

    def received(self) -> Counter[Pair]:
        """How often each partner system holds each copy (a partner system keeps a copy once: 2 is a duplicate)."""
        held: Counter[Pair] = Counter()
        for org in Organisation:
            for document in self._held_by(org.value):
                held[(str(document.get("event_id")), org.value)] += 1
        return held

    def _held_by(self, org: str) -> list[dict[str, Any]]:
        """What one partner system holds; its SQLite files may be locked for a moment by the sink writing them."""
        for attempt in range(20):
            try:
                if org not in self._partners:
                    self._partners[org] = simulation_for(org, self.partners)
                return self._partners[org].received()
            except sqlite3.OperationalError:
                if attempt == 19:
                    raise
                time.sleep(0.5)
        return []

    def wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``done`` until it holds; fail when a process exited or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while not done():
            assert not self.exited(), f"{self.exited()} exited ({what}):\n{self.logs()}"
            assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s: {what}\n{self.logs()}"
            time.sleep(2.0)

    def delivered(self, permitted: set[Pair]) -> int:
        return len(permitted & self.received().keys())

    def lineage(self) -> set[tuple[str, str, RecordKind]]:
        """(event id, recipient, kind) of every record in the lineage store."""
        with open_store(None, self.settings.data_dir) as store:
            return {(str(record.event_id), str(record.recipient), record.kind) for record in store.records()}

    def verify(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "schakel.cli", "lineage", "verify"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _shows(settings: Settings, names: list[str]) -> bool:
    """True when the broker at ``settings``' bootstrap address lets the hub describe every one of ``names`` (an
    unauthorised topic is described too, with error 29: the grant has not reached that broker yet)."""
    try:
        admin = KafkaAdminClient(**settings.kafka_client_config(HUB))
    except KafkaError:
        return False
    try:
        described = admin.describe_topics(names)
        return {topic["name"] for topic in described if topic.get("error_code") == 0} == set(names)
    except KafkaError:
        return False
    finally:
        admin.close()


def assert_complete(pipeline: Pipeline, permitted: set[Pair], candidates: set[Pair]) -> None:
    """Every permitted copy held by its partner once, a decision for every candidate and a receipt for every copy
    in the lineage store, and the store's chains intact - with every process still its first one."""
    held = pipeline.received()
    assert held.keys() == permitted, (
        f"{len(permitted - held.keys())} copies missing, {len(held.keys() - permitted)} unexpected"
    )
    twice = [pair for pair, count in held.items() if count > 1]
    assert not twice, f"{len(twice)} copies held twice by a partner system"
    pipeline.wait(
        lambda: _lineage_complete(pipeline, permitted, candidates),
        timeout=300,
        what="the lineage store holds every decision and receipt",
    )
    verified = pipeline.verify()
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "intact" in verified.stdout
    assert {name: process.pid for name, process in pipeline.processes.items()} == pipeline.pids, "restarted by hand"
    assert not pipeline.exited(), pipeline.logs()


def _lineage_complete(pipeline: Pipeline, permitted: set[Pair], candidates: set[Pair]) -> bool:
    stored = pipeline.lineage()
    decisions = {(event, recipient) for event, recipient, kind in stored if kind is RecordKind.DECISION}
    receipts = {(event, recipient) for event, recipient, kind in stored if kind is RecordKind.RECEIPT}
    return candidates <= decisions and permitted <= receipts
