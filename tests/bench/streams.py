"""The hub against the client's limit for the same shape of work, on the same local broker in the same run.

(a) *bare*: a plain aiokafka program that reads each ingress record and writes as many output records as the hub
has outputs for it - one per delivered copy and one per lineage decision - without decoding or deciding. The hub packs
an event's lineage records into one Kafka record (``schakel.lineage.pack_records``), so it sends fewer records than
the bare program; the baseline stays this fan-out on purpose: issue 14 defines it as the client's cost of the hub's
work per event (a copy per recipient, a lineage record per decision), and packing is one of the ways the hub is
meant to close the gap to it. The watchers count *lineage records* (a pack's inner records), so both runs end at the
same count;
(b) *hub*: a real ``schakel run`` worker; (c) *hub x2*: ``schakel run --workers 2`` (two worker processes sharing the
partitions through their group); (d) *lean*: the hub's own work per event in the leanest wiring Python allows - one
process, tables in dicts, no Faust, batches of 500 as the bare program reads them (:mod:`tests.bench._lean`, which
says what it leaves out): an upper bound of what any wiring of the hub's code reaches, so lean/bare is the ceiling of
the hub/bare ratio.

CPU: the hub's processes' own CPU time (user + system, from ``/proc``, summed over the process group) while the
backlog is processed, divided by the events: the figure the capacity model in ``deploy/README.md`` rests on. It does
not depend on how busy the rest of a shared machine is, as events/s does.

Profile: with ``SCHAKEL_BENCH_PROFILE=DIR`` the one-worker throughput run is repeated for each workload measured (only
a case's life with ``SCHAKEL_BENCH_GOALS_ONLY=1``, see Quick) with py-spy sampling every thread of the worker during the
measured backlog (:class:`_PySpy`): its raw stacks go to ``DIR/hub-<workload>.folded`` (``case-life``,
``worst-case``) and a report of them (:mod:`tests.bench._profile`: samples per thread, functions by own and by
inclusive time, the main thread by what its event loop runs) to ``DIR/hub-profile-<workload>.txt``. A sampling
profiler, not cProfile: cProfile slowed the worker 2-6x, most in call-heavy code, and saw only the main thread.

Quick: with ``SCHAKEL_BENCH_QUICK=1`` only what the goals rest on - bare, lean and one-worker throughput, and the hub's
latency at half its own maximum (for comparing a change against main in minutes, not for the closing figures); with
``SCHAKEL_BENCH_GOALS_ONLY=1`` besides, only for the goals' workload (a case's life).

Security: both again on a PLAINTEXT broker, alternating with the secured one (see :func:`_security_cost`).

Workloads, each reported on its own, labelled: *a case's life* - a person's case has a first event and
:data:`FOLLOW_UPS` follow-ups (same BSN and case id, new event ids), and the measured events are that mix: one new
case's first event to every four follow-ups of cases whose first event came before the measurement (in the warm-up,
unmeasured), the people interleaved - as in a region's traffic, where a case lives for weeks and most events are not
its first (the hub decides a follow-up at the ingress step: ``schakel.streams.shortpath``). The goal ratios are taken
on this mix. *Worst case* - every event a new person and a new case (each takes the hub's three steps).
Both are signals, so the two differ only in the path the hub takes; the bare program writes, for each, the same
number of records per event as the hub does (copies, decision lineage and the event's link record). Each run also
reports how many events the hub passed through its ``hub-link`` step (the long path).

Throughput: a backlog of events is preloaded, the consumer starts, and events/s is measured from the first output to
the last. Latency: events are then produced at half the bare program's measured maximum rate; p50/p99 are the times
from producing an event to reading its last output record. Ratios: hub/bare for throughput, hub/bare for p99.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from schakel.consent import ConsentState, Outcome, Pseudonymizer, SubjectState, load_policy, subject_key
from schakel.deploy.kafka.broker import LocalBroker
from schakel.lineage import open_store
from schakel.schemas import Event, EventType, Theme
from schakel.schemas.examples import example_event
from schakel.settings import Settings
from schakel.streams.access import provision
from schakel.streams.records import Message, ingress_message
from schakel.streams.topics import ADMIN, HubTopics
from tests.bench._lean import own_work_ms
from tests.bench._lean import run as lean_run
from tests.bench._profile import write_report
from tests.bench._relay import relay
from tests.streams.conftest import _delete_topics

EVENTS = int(os.environ.get("SCHAKEL_BENCH_EVENTS", "3000"))
LATENCY_SECONDS = float(os.environ.get("SCHAKEL_BENCH_LATENCY_SECONDS", "10"))
SECURITY_ROUNDS = int(os.environ.get("SCHAKEL_BENCH_SECURITY_ROUNDS", "3"))
THEMES = (Theme.CTER, Theme.LVB, Theme.MONEY_MULE)
FOLLOW_UPS = 4
"""A case's life in the realistic workload: its first event and this many follow-ups."""
CASE_LIFE, WORST = "case's life", "worst case"
QUICK = os.environ.get("SCHAKEL_BENCH_QUICK") == "1"
"""Only what the goals rest on: bare and one-worker throughput, and the hub's latency at half its own maximum."""
WORKLOADS = (CASE_LIFE,) if QUICK and os.environ.get("SCHAKEL_BENCH_GOALS_ONLY") == "1" else (CASE_LIFE, WORST)
_OUTPUTS: dict[str, int] = {}
"""Output records the hub writes per event id, for every event a workload made (:func:`_expected_outputs`)."""


PROFILE_DIR = os.environ.get("SCHAKEL_BENCH_PROFILE")
PROFILE_RATE = 100
"""py-spy's samples per second per thread."""


@dataclass
class Result:
    events_per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_event: float = float("nan")
    long_path: int = 0
    """Events the hub passed through its ``hub-link`` step during the run (warm-up included)."""


@dataclass
class Running:
    """A started consumer process (its own process group): stop it, or read the CPU time the group used."""

    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        _stop(self.process)

    def cpu_seconds(self) -> float:
        """User + system CPU time of every live process in the group (the supervisor and its workers)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:  # the process ended meanwhile
                continue
            if int(fields[2]) == self.process.pid:  # fields[2]: the process group id
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks


def _settings(name: str, base: Settings | None = None) -> Settings:
    """Settings with a fresh prefix and data dir, reaching the broker the way ``base`` (default: the environment's
    broker, secured unless it runs with --insecure) does."""
    base = base or LocalBroker(Settings()).client_settings()
    return base.model_copy(
        update={"topic_prefix": f"bench{name}{uuid.uuid4().hex[:6]}.", "data_dir": Path(tempfile.mkdtemp())}
    )


def _messages(settings: Settings, count: int, workload: str = WORST) -> tuple[list[Message], int]:
    """Events for the workload and the number of output records the hub writes for them."""
    events = _case_life(count) if workload == CASE_LIFE else _new_cases(count)
    policy = load_policy()
    pseudonymizer = Pseudonymizer(settings.pseudonym_key.get_secret_value().encode())
    states: dict[str, SubjectState] = {}
    outputs = 0
    now = datetime.now(UTC)
    for event in events:
        subject = subject_key(event)
        decisions, states[subject] = states.get(subject, SubjectState()).decide_all(
            policy, event, now, pseudonymizer.subject
        )
        # A copy and a lineage record per permitted recipient, a lineage record per denial, and the lineage record
        # that links the event's BSN and case id.
        written = len(decisions) + sum(1 for d in decisions if d.outcome is not Outcome.DENY)
        written += 1 if event.subject.bsn and event.case_id else 0
        _OUTPUTS[str(event.id)] = written
        outputs += written
    return [ingress_message(event, settings) for event in events], outputs


def _new_cases(count: int) -> list[Event]:
    """The worst case: every event a new person with a new case."""
    # One case id per person: one drawn twice for two BSNs would be dead-lettered (IdentifierConflict).
    return [
        example_event(EventType.SIGNAL, theme=THEMES[n % len(THEMES)], case_id=f"ZVH-2026-{n:06d}")
        for n in range(count)
    ]


def _case_life(count: int) -> list[Event]:
    """A case's life: the first events of the cases the measured events follow up (the warm-up,
    :func:`_warm_up`), then ``count`` events - :data:`FOLLOW_UPS` follow-ups of each of those cases (same BSN and
    case id, new ids; round by round, so a person's follow-ups are about ``count / FOLLOW_UPS`` events apart) with a
    new case's first event after every :data:`FOLLOW_UPS` of them."""
    known = count // (FOLLOW_UPS + 1)
    firsts = [
        example_event(EventType.SIGNAL, theme=THEMES[n % len(THEMES)], case_id=f"ZVH-2026-{n:06d}")
        for n in range(count - known * FOLLOW_UPS + known)
    ]
    earlier, new = firsts[:known], firsts[known:]
    follow_ups: list[Event] = []
    for _ in range(FOLLOW_UPS):
        for first in earlier:
            same: dict[str, Any] = {"subject": first.subject.model_dump(mode="json"), "case_id": first.case_id}
            follow_ups.append(example_event(EventType.SIGNAL, theme=first.theme, **same))
    mixed: list[Event] = []
    for number, event in enumerate(follow_ups):
        mixed.append(event)
        if number % FOLLOW_UPS == FOLLOW_UPS - 1 and new:
            mixed.append(new.pop(0))
    return [*earlier, *mixed, *new]


def _warm_up(workload: str, count: int) -> int:
    """How many of a workload's first messages warm the hub up, unmeasured: the first events of the cases the
    case's-life mix follows up; 50 events of the worst case."""
    return count // (FOLLOW_UPS + 1) if workload == CASE_LIFE else 50


def _expected_outputs(messages: list[Message]) -> int:
    """The output records the hub writes for these messages (of a workload :func:`_messages` made)."""
    return sum(_OUTPUTS[dict(message.headers)["ce_id"].decode()] for message in messages)


def _long_path(settings: Settings) -> int:
    """How many records the hub's ``hub-link`` step has been given (end offsets over its partitions)."""
    consumer = KafkaConsumer(**settings.kafka_client_config(ADMIN))
    try:
        link = HubTopics.of(settings).link
        ends = consumer.end_offsets([TopicPartition(link, p) for p in range(settings.partitions)])
    except Exception:  # the bare program has no hub-link topic
        return 0
    finally:
        consumer.close()
    return sum(ends.values())


def _produce(settings: Settings, messages: list[Message], rate: float | None = None) -> dict[str, float]:
    """Produce (at ``rate`` events/s if given); return the send time per event id."""
    producer = KafkaProducer(**settings.kafka_client_config(ADMIN), acks="all", linger_ms=5)
    sent: dict[str, float] = {}
    start = time.perf_counter()
    for number, message in enumerate(messages):
        if rate:
            wait = start + number / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        event_id = dict(message.headers)["ce_id"].decode()
        sent[event_id] = time.time()
        producer.send(message.topic, key=message.key, value=message.value, headers=message.headers)
    producer.flush()
    producer.close()
    return sent


async def _watch(settings: Settings, topics: list[str], expected: int, timeout: float) -> list[tuple[str, float]]:
    """Read output records until ``expected`` arrived; return (event id, arrival time) per record."""
    consumer = AIOKafkaConsumer(
        *topics, **settings.kafka_client_config(ADMIN), group_id=f"watch-{uuid.uuid4().hex}", auto_offset_reset="latest"
    )
    await consumer.start()
    seen: list[tuple[str, float]] = []
    try:
        await _until_assigned(consumer)
        deadline = time.monotonic() + timeout
        while len(seen) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batch.values():
                for record in records:
                    headers = dict(record.headers)
                    event_id = headers.get("ce_id") or headers.get("bench-id") or b""
                    seen.extend([(event_id.decode(), now)] * _outputs(record.value))
    finally:
        await consumer.stop()
    return seen


def _outputs(value: bytes | None) -> int:
    """How many outputs one record carries: a packed lineage value its inner records (counted from the JSON, not
    validated: the watcher's CPU is not the hub's, but it shares the machine), anything else one."""
    if value is None or not value.startswith(b'{"records":['):
        return 1
    return len(json.loads(value)["records"])


async def _until_assigned(consumer: AIOKafkaConsumer) -> None:
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=100)
    for tp in consumer.assignment():
        await consumer.position(tp)


def _latencies(sent: dict[str, float], seen: list[tuple[str, float]]) -> tuple[float, float]:
    last: dict[str, float] = {}
    for event_id, arrived in seen:
        if event_id in sent:
            last[event_id] = max(last.get(event_id, 0.0), arrived)
    samples = sorted((last[e] - sent[e]) * 1000 for e in last)
    if not samples:
        return float("nan"), float("nan")
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


async def _bare(settings: Settings, per_event: float, stop: asyncio.Event) -> None:
    """Read every ingress record and write ``per_event`` outputs for it, copying its headers; no decoding."""
    lineage = HubTopics.of(settings).lineage
    owed = 0.0

    def outputs(record: ConsumerRecord[bytes, bytes]) -> list[Message]:
        nonlocal owed
        owed += per_event
        count = int(owed)
        owed -= count
        return [Message(lineage, record.key, record.value or b"", list(record.headers))] * count

    await relay(settings, "bare", stop, outputs)


def _measure(
    settings: Settings,
    messages: list[Message],
    outputs: int,
    start: Callable[[], Running],
    warm_up: int = 50,
    around: Callable[[Running], AbstractContextManager[object]] | None = None,
) -> Result:
    """Events/s and CPU per event over the backlog after the warm-up; ``around``: entered with the started process
    for the measured window only (the backlog, from its CPU reading to its last output), e.g. a profiler."""
    topics = HubTopics.of(settings)
    watched = [*topics.all_egress(), topics.lineage]
    provision(settings)
    running = start()
    try:
        # Warm up (group join, first fetch) with a few events, then the backlog.
        warm = messages[:warm_up]
        asyncio.run(_watch_after(settings, watched, warm, _expected_outputs(warm), 120))
        backlog = messages[warm_up:]
        expected = _expected_outputs(backlog)
        with around(running) if around else contextlib.nullcontext():
            before = running.cpu_seconds()
            seen = asyncio.run(_watch_after(settings, watched, backlog, expected, 300, preload=True))
            cpu = running.cpu_seconds() - before
        times = sorted(arrived for _, arrived in seen)
        rate = len(backlog) / max(times[-1] - times[0], 1e-6) if times else 0.0
        return Result(rate, float("nan"), float("nan"), cpu * 1000 / len(backlog), _long_path(settings))
    finally:
        running.stop()
        _clean_up(settings)


def _clean_up(settings: Settings) -> None:
    """Delete the run's topics (its prefix's, Faust's changelogs included), grants and data directory: a broker kept
    for days would otherwise hold every run's partitions - thousands - and take minutes to start."""
    _delete_topics(settings)
    shutil.rmtree(settings.data_dir, ignore_errors=True)


async def _watch_after(
    settings: Settings,
    topics: list[str],
    messages: list[Message],
    expected: int,
    timeout: float,
    *,
    preload: bool = False,
    rate: float | None = None,
) -> list[tuple[str, float]]:
    watcher = asyncio.create_task(_watch(settings, topics, expected, timeout))
    await asyncio.sleep(2.0)
    await asyncio.to_thread(_produce, settings, messages, rate)
    return await watcher


def _latency(
    settings: Settings,
    messages: list[Message],
    outputs: int,
    rate: float,
    start: Callable[[], Running],
    warm_up: int = 50,
) -> tuple[float, float]:
    topics = HubTopics.of(settings)
    watched = [*topics.all_egress(), topics.lineage]
    provision(settings)
    running = start()
    try:
        warm = messages[:warm_up]
        asyncio.run(_watch_after(settings, watched, warm, _expected_outputs(warm), 120))
        count = min(len(messages) - warm_up, max(int(rate * LATENCY_SECONDS), 50))
        chosen = messages[warm_up : warm_up + count]
        sent: dict[str, float] = {}

        async def run() -> list[tuple[str, float]]:
            watcher = asyncio.create_task(_watch(settings, watched, _expected_outputs(chosen), 120))
            await asyncio.sleep(2.0)
            sent.update(await asyncio.to_thread(_produce, settings, chosen, rate))
            return await watcher

        return _latencies(sent, asyncio.run(run()))
    finally:
        running.stop()
        _clean_up(settings)


def _start_bare(settings: Settings, per_event: float) -> Callable[[], Running]:
    def start() -> Running:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.streams", "bare", settings.topic_prefix, str(per_event)],
            env={**os.environ, **settings.kafka_environment()},
            start_new_session=True,
        )
        return Running(process)

    return start


def _start_lean(settings: Settings) -> Callable[[], Running]:
    def start() -> Running:
        env = {**os.environ, **settings.kafka_environment(), "SCHAKEL_DATA_DIR": str(settings.data_dir)}
        command = [sys.executable, "-m", "tests.bench.streams", "lean", settings.topic_prefix]
        process = subprocess.Popen(command, env=env, start_new_session=True)
        return Running(process)

    return start


def _start_hub(settings: Settings, workers: int = 1, extra: dict[str, str] | None = None) -> Callable[[], Running]:
    """``schakel run --workers N``: with N > 1 its supervisor starts N worker processes, with one the ``schakel run``
    process is the worker itself; ``extra``: more environment (e.g. the retention bench's unsealed baseline)."""

    def start() -> Running:
        env = {
            **os.environ,
            **settings.kafka_environment(),
            "SCHAKEL_TOPIC_PREFIX": settings.topic_prefix,
            "SCHAKEL_DATA_DIR": str(settings.data_dir),
            **(extra or {}),
        }
        command = [sys.executable, "-m", "schakel.cli", "run", "--workers", str(workers)]
        process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
        return Running(process)

    return start


class _PySpy:
    """py-spy sampling a one-worker hub for :func:`_measure`'s measured window (``around=``): every thread,
    :data:`PROFILE_RATE` times a second, in its default blocking mode, which stops the process for each sample
    (measured here: ``--nonblocking`` put 8.8% of the samples in asyncio's ``StreamWriter.write`` where a blocking
    ``--native`` run put 0.7%; ``--native`` halved the worker's rate). Its raw stacks go to ``folded``; ``recorded``
    says whether they were written, ``seconds`` how long the window was. When py-spy is missing or may not attach,
    one line says so and the window is measured without it: the bench goes on."""

    def __init__(self, folded: Path) -> None:
        self.folded = folded
        self.recorded = False
        self.seconds = 0.0

    @contextlib.contextmanager
    def __call__(self, running: Running) -> Iterator[None]:
        self.recorded, self.seconds = False, 0.0
        executable = Path(sys.executable).with_name("py-spy")
        found = str(executable) if executable.exists() else shutil.which("py-spy")
        if found is None:
            print("profile: no py-spy here (it is in the dev extra: `make install`); measured without it", flush=True)
            yield
            return
        self.folded.unlink(missing_ok=True)
        # With --workers 1 the `schakel run` process is the worker (no supervisor): py-spy attaches to it.
        command = [found, "record", "--pid", str(running.process.pid), "--threads", "--format", "raw"]
        command += ["--rate", str(PROFILE_RATE), "--output", str(self.folded)]
        with tempfile.TemporaryDirectory(prefix="schakel-bench-py-spy-") as directory:
            log = Path(directory) / "py-spy.log"  # what py-spy says: that it samples, or why not
            with log.open("wb") as output:
                process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
            if not _sampling(process, log):
                _stop_py_spy(process)
                print(
                    f"profile: py-spy could not attach to the worker, pid {running.process.pid} ({_said(log)}); it "
                    "needs ptrace: run as root, or with kernel.yama.ptrace_scope=0, or in a container with "
                    "CAP_SYS_PTRACE; measured without it",
                    flush=True,
                )
                yield
                return
            started = time.monotonic()
            try:
                yield
            finally:
                self.seconds = time.monotonic() - started
                self.recorded = _stop_py_spy(process) and self.folded.exists()
                if not self.recorded:
                    print(f"profile: py-spy wrote no profile ({_said(log)})", flush=True)


def _said(log: Path) -> str:
    """py-spy's error line (it follows with a backtrace), else its last line."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    return errors[0] if errors else lines[-1] if lines else "it said nothing"


def _sampling(process: subprocess.Popen[bytes], log: Path, timeout: float = 15) -> bool:
    """Whether py-spy attached and samples (it says so when it starts); False when it exited or stayed silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Sampling process" in log.read_text(errors="replace"):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def _stop_py_spy(process: subprocess.Popen[bytes]) -> bool:
    """SIGINT (py-spy then writes its output and exits); whether it exited cleanly within a minute."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=60) == 0
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main() -> None:
    results: dict[tuple[str, str], Result] = {}
    for workload in WORKLOADS:
        for name, workers in (("bare", 0), ("lean", 0), ("hub", 1), ("hub x2", 2))[: 3 if QUICK else 4]:
            settings = _settings(name.replace(" ", ""))
            messages, outputs = _messages(settings, EVENTS, workload)
            per_event = outputs / len(messages)
            if workers:
                start = _start_hub(settings, workers)
            else:
                start = _start_bare(settings, per_event) if name == "bare" else _start_lean(settings)
            warm_up = _warm_up(workload, EVENTS)
            result = results[(workload, name)] = _measure(settings, messages, outputs, start, warm_up)
            long_path = f"; {result.long_path} of {len(messages)} events through hub-link" if workers else ""
            if workers and warm_up:
                long_path += f" ({warm_up} of them in the warm-up)"
            print(
                f"[{workload}] {name:6} throughput: {result.events_per_second:9.0f} events/s "
                f"({per_event:.2f} output records per event), CPU {result.cpu_ms_per_event:.2f} ms per event"
                f"{long_path}",
                flush=True,
            )
    if PROFILE_DIR:
        directory = Path(PROFILE_DIR)
        directory.mkdir(parents=True, exist_ok=True)
        for workload in WORKLOADS:
            label = {CASE_LIFE: "case-life", WORST: "worst-case"}[workload]  # the profile's file names
            settings = _settings("hubprof")
            messages, outputs = _messages(settings, EVENTS, workload)
            warm_up = _warm_up(workload, EVENTS)
            spy = _PySpy(directory / f"hub-{label}.folded")
            profiled = _measure(settings, messages, outputs, _start_hub(settings, 1), warm_up, spy)
            print(
                f"[{workload}] hub under py-spy: {profiled.events_per_second:.0f} events/s (not comparable)", flush=True
            )
            if spy.recorded:
                report = directory / f"hub-profile-{label}.txt"
                write_report(
                    spy.folded,
                    report,
                    title=f"One hub worker, {workload}: {len(messages) - warm_up} events after {warm_up} to warm up",
                    rate=PROFILE_RATE,
                    events_per_second=profiled.events_per_second,
                    seconds=spy.seconds,
                )
                print(f"profile of one hub worker: {report} (py-spy's stacks: {spy.folded})", flush=True)
    for name in () if QUICK else ("bare", "hub"):
        rate = results[(WORST, "bare")].events_per_second / 2
        settings = _settings(name + "lat")
        messages, outputs = _messages(settings, max(int(rate * LATENCY_SECONDS) + 50, 200))
        per_event = outputs / len(messages)
        start = _start_bare(settings, per_event) if name == "bare" else _start_hub(settings)
        p50, p99 = _latency(settings, messages, outputs, rate, start)
        results[(WORST, name)].p50_ms, results[(WORST, name)].p99_ms = p50, p99
        print(f"[{WORST}] {name:5} latency at {rate:.0f} events/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
    own_p99: dict[str, float] = {}
    for workload in WORKLOADS:
        own = results[(workload, "hub")].events_per_second / 2
        settings = _settings("hubown")
        count = max(int(own * LATENCY_SECONDS) + 50, 200)
        messages, outputs = _messages(settings, count, workload)
        start = _start_hub(settings)
        p50, own_p99[workload] = _latency(settings, messages, outputs, own, start, _warm_up(workload, count))
        print(
            f"[{workload}] hub   latency at {own:.0f} events/s (half its own maximum): "
            f"p50 {p50:.1f} ms, p99 {own_p99[workload]:.1f} ms",
            flush=True,
        )
    for workload in WORKLOADS:
        bare, hub = results[(workload, "bare")], results[(workload, "hub")]
        goal = " - the goals' workload" if workload == CASE_LIFE else " - beside it, not the goals' workload"
        print(f"[{workload}]{goal}:")
        print(f"  hub/bare throughput ratio: {hub.events_per_second / bare.events_per_second:.2f} (goal >= 0.6)")
        lean = results[(workload, "lean")]
        print(
            f"  the hub's own work in the leanest wiring (tests/bench/_lean.py) / bare: "
            f"{lean.events_per_second / bare.events_per_second:.2f} - the ceiling of the ratio above; "
            f"CPU per event lean {lean.cpu_ms_per_event:.2f}, hub {hub.cpu_ms_per_event:.2f}, "
            f"bare {bare.cpu_ms_per_event:.2f} ms"
        )
        settings = _settings("own")
        messages, _ = _messages(settings, EVENTS, workload)
        own = own_work_ms(settings, messages, _warm_up(workload, EVENTS))
        shutil.rmtree(settings.data_dir, ignore_errors=True)
        print(
            f"  the hub's own work with no Kafka at all: {own:.2f} ms of CPU per event, the bare program's whole work "
            f"{bare.cpu_ms_per_event:.2f} ms: a ratio of {bare.cpu_ms_per_event / own:.2f} at best even if reading "
            "and writing Kafka cost the hub nothing"
        )
        print(f"  hub p99 at half its own maximum rate: {own_p99[workload]:.1f} ms (goal <= 250 ms)")
    if QUICK:
        return
    hub, bare = results[(WORST, "hub")], results[(WORST, "bare")]
    print(f"[{WORST}] hub/bare p99 ratio at half the bare maximum rate: {hub.p99_ms / bare.p99_ms:.2f}")
    for workload in WORKLOADS:
        one, two = results[(workload, "hub")], results[(workload, "hub x2")]
        print(
            f"[{workload}] 2 workers / 1 worker throughput: {two.events_per_second / one.events_per_second:.2f} "
            f"(CPU per event {two.cpu_ms_per_event:.2f} / {one.cpu_ms_per_event:.2f} ms; "
            f"{os.cpu_count()} cores on this machine, shared)"
        )
    _lineage_keeps_up(results[(CASE_LIFE, "hub")].events_per_second * _decisions_per_event())
    _security_cost()


def _security_cost() -> None:
    """The cost of TLS + SASL: the bare loop and the hub on the session's broker (when it is the secured one) and on
    a PLAINTEXT broker (``--insecure``, started for this on the broker port + 2), alternating secured and plaintext
    ``SCHAKEL_BENCH_SECURITY_ROUNDS`` times so that a shared machine's load falls on both; the median of the
    per-round ratios is reported, with every round. The new broker is warmed up first (one unmeasured bare run)."""
    if SECURITY_ROUNDS < 1:
        print("security: skipped (SCHAKEL_BENCH_SECURITY_ROUNDS=0)")
        return
    base = Settings()
    secured = LocalBroker(base).client_settings()
    if secured.kafka_protocol == "PLAINTEXT":
        print("security: the broker is PLAINTEXT (--insecure); nothing to compare")
        return
    host, _, port = base.kafka_bootstrap.split(",")[0].rpartition(":")
    with tempfile.TemporaryDirectory(prefix="schakel-bench-plain-") as directory:
        plain = LocalBroker(
            base.model_copy(update={"kafka_bootstrap": f"{host}:{int(port) + 2}", "data_dir": Path(directory)}),
            insecure=True,
        )
        plain.up(timeout=120)
        try:
            # The session's broker is warm (JIT, page cache); warm the new one up alike, unmeasured.
            warm = _settings("secwarm", plain.client_settings())
            messages, outputs = _messages(warm, EVENTS)
            _measure(warm, messages, outputs, _start_bare(warm, outputs / len(messages)))
            for name in ("bare", "hub"):
                ratios: list[float] = []
                rounds: list[str] = []
                for _ in range(SECURITY_ROUNDS):
                    rates = []
                    for reach in (secured, plain.client_settings()):
                        settings = _settings("sec" + name, reach)
                        messages, outputs = _messages(settings, EVENTS)
                        per_event = outputs / len(messages)
                        start = _start_bare(settings, per_event) if name == "bare" else _start_hub(settings)
                        rates.append(_measure(settings, messages, outputs, start).events_per_second)
                    ratios.append(rates[0] / rates[1])
                    rounds.append(f"{rates[0]:,.0f}/{rates[1]:,.0f}")
                print(
                    f"security: {name} throughput secured/plaintext median {statistics.median(ratios):.2f} "
                    f"(events/s secured/plaintext per round: {', '.join(rounds)})",
                    flush=True,
                )
        finally:
            plain.down()


def _decisions_per_event() -> float:
    policy = load_policy()
    events = [example_event(EventType.SIGNAL, theme=THEMES[n % len(THEMES)]) for n in range(300)]
    return sum(len(policy.decide_all(e, ConsentState(), datetime.now(UTC))) for e in events) / len(events)


def _lineage_keeps_up(pipeline_rate: float) -> None:
    """The lineage store's write rate (SQLite, durable) against the rate the hub above produced lineage records."""
    from tests.bench import lineage

    items = lineage._records(20_000)
    with tempfile.TemporaryDirectory(prefix="schakel-bench-") as directory, open_store(None, Path(directory)) as store:
        rate = lineage._rate(len(items), lineage._store_run(store, items))
    print(
        f"lineage: store writes {rate:,.0f} records/s, the hub produced {pipeline_rate:,.0f} lineage records/s; "
        f"ratio {rate / pipeline_rate:.1f} (goal >= 1.0)"
    )


if __name__ == "__main__" and sys.argv[1:2] in (["bare"], ["lean"]):
    prefix = sys.argv[2]
    stop_event = asyncio.Event()
    bench_settings = Settings().model_copy(update={"topic_prefix": prefix})  # the parent passed the broker's reach

    async def _run_consumer() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop_event.set)
        if sys.argv[1] == "bare":
            await _bare(bench_settings, float(sys.argv[3]), stop_event)
        else:
            await lean_run(bench_settings, stop_event)

    asyncio.run(_run_consumer())
