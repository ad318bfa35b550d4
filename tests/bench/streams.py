"""The hub against the client's limit for the same shape of work, on the same local broker in the same run.

(a) *bare*: a plain aiokafka program that reads each ingress record and writes as many output records as the hub
has outputs for it - one per delivered copy and one per lineage decision - without decoding or deciding. The hub packs
an event's lineage records into one Kafka record (``schakel.lineage.pack_records``), so it sends fewer records than
the bare program; the baseline stays this fan-out on purpose: issue 14 defines it as the client's cost of the hub's
work per event (a copy per recipient, a lineage record per decision), and packing is one of the ways the hub is
meant to close the gap to it. The watchers count *lineage records* (a pack's inner records), so both runs end at the
same count;
(b) *hub*: a real ``schakel run`` worker; (c) *hub x2*: ``schakel run --workers 2`` (two worker processes sharing the
partitions through their group).

CPU: the hub's processes' own CPU time (user + system, from ``/proc``, summed over the process group) while the
backlog is processed, divided by the events: the figure the capacity model in ``deploy/README.md`` rests on. It does
not depend on how busy the rest of a shared machine is, as events/s does.

Profile: with ``SCHAKEL_BENCH_PROFILE=DIR`` the one-worker throughput run runs under cProfile and its top functions
(by own time and by cumulative time) are written to ``DIR/hub-profile.txt``.

Quick: with ``SCHAKEL_BENCH_QUICK=1`` only what the goals rest on - bare and one-worker throughput, and the hub's
latency at half its own maximum (for comparing a change against main in minutes, not for the closing figures).

Security: both again on a PLAINTEXT broker, alternating with the secured one (see :func:`_security_cost`).

Throughput: a backlog of events is preloaded, the consumer starts, and events/s is measured from the first output to
the last. Latency: events are then produced at half the bare program's measured maximum rate; p50/p99 are the times
from producing an event to reading its last output record. Ratios: hub/bare for throughput, hub/bare for p99.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaProducer

from schakel.consent import ConsentState, Outcome, load_policy
from schakel.deploy.kafka.broker import LocalBroker
from schakel.lineage import open_store
from schakel.schemas import EventType, Theme
from schakel.schemas.examples import example_event
from schakel.settings import Settings
from schakel.streams.access import provision
from schakel.streams.records import Message, ingress_message
from schakel.streams.topics import ADMIN, HubTopics

EVENTS = int(os.environ.get("SCHAKEL_BENCH_EVENTS", "3000"))
LATENCY_SECONDS = float(os.environ.get("SCHAKEL_BENCH_LATENCY_SECONDS", "10"))
SECURITY_ROUNDS = int(os.environ.get("SCHAKEL_BENCH_SECURITY_ROUNDS", "3"))
THEMES = (Theme.CTER, Theme.LVB, Theme.MONEY_MULE)


PROFILE_DIR = os.environ.get("SCHAKEL_BENCH_PROFILE")
QUICK = os.environ.get("SCHAKEL_BENCH_QUICK") == "1"
"""Only what the goals rest on: bare and one-worker throughput, and the hub's latency at half its own maximum."""


@dataclass
class Result:
    events_per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_event: float = float("nan")


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


def _messages(settings: Settings, count: int) -> tuple[list[Message], int]:
    """Events for the workload and the number of output records the hub writes for them."""
    policy = load_policy()
    # One case id per person: one drawn twice for two BSNs would be dead-lettered (IdentifierConflict).
    events = [
        example_event(EventType.SIGNAL, theme=THEMES[n % len(THEMES)], case_id=f"ZVH-2026-{n:06d}")
        for n in range(count)
    ]
    outputs = 0
    for event in events:
        decisions = policy.decide_all(event, ConsentState(), datetime.now(UTC))
        outputs += len(decisions) + sum(1 for d in decisions if d.outcome is not Outcome.DENY)
    return [ingress_message(event, settings) for event in events], outputs


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
    topics = HubTopics.of(settings)
    consumer = AIOKafkaConsumer(
        *topics.all_ingress(),
        **settings.kafka_client_config(ADMIN),
        group_id=f"{settings.topic_prefix}bare",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(**settings.kafka_client_config(ADMIN), acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    owed = 0.0
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            for records in batch.values():
                for record in records:
                    owed += per_event
                    while owed >= 1:
                        owed -= 1
                        await producer.send(topics.lineage, record.value, key=record.key, headers=list(record.headers))
            if batch:
                await producer.flush()
                await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


def _measure(settings: Settings, messages: list[Message], outputs: int, start: Callable[[], Running]) -> Result:
    topics = HubTopics.of(settings)
    watched = [*topics.all_egress(), topics.lineage]
    provision(settings)
    running = start()
    try:
        # Warm up (group join, first fetch) with a few events, then the backlog.
        warm = messages[:50]
        asyncio.run(_watch_after(settings, watched, warm, outputs * len(warm) // len(messages), 60))
        backlog = messages[50:]
        expected = outputs * len(backlog) // len(messages)
        before = running.cpu_seconds()
        seen = asyncio.run(_watch_after(settings, watched, backlog, expected, 300, preload=True))
        cpu = running.cpu_seconds() - before
        times = sorted(arrived for _, arrived in seen)
        rate = len(backlog) / max(times[-1] - times[0], 1e-6) if times else 0.0
        return Result(rate, float("nan"), float("nan"), cpu * 1000 / len(backlog))
    finally:
        running.stop()


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
    settings: Settings, messages: list[Message], outputs: int, rate: float, start: Callable[[], Running]
) -> tuple[float, float]:
    topics = HubTopics.of(settings)
    watched = [*topics.all_egress(), topics.lineage]
    provision(settings)
    running = start()
    try:
        asyncio.run(_watch_after(settings, watched, messages[:50], outputs * 50 // len(messages), 60))
        count = min(len(messages) - 50, max(int(rate * LATENCY_SECONDS), 50))
        chosen = messages[50 : 50 + count]
        sent: dict[str, float] = {}

        async def run() -> list[tuple[str, float]]:
            watcher = asyncio.create_task(_watch(settings, watched, outputs * count // len(messages), 120))
            await asyncio.sleep(2.0)
            sent.update(await asyncio.to_thread(_produce, settings, chosen, rate))
            return await watcher

        return _latencies(sent, asyncio.run(run()))
    finally:
        running.stop()


def _start_bare(settings: Settings, per_event: float) -> Callable[[], Running]:
    def start() -> Running:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.streams", "bare", settings.topic_prefix, str(per_event)],
            env={**os.environ, **settings.kafka_environment()},
            start_new_session=True,
        )
        return Running(process)

    return start


def _start_hub(
    settings: Settings, workers: int = 1, profile: Path | None = None, extra: dict[str, str] | None = None
) -> Callable[[], Running]:
    """``schakel run --workers N`` (its supervisor starts N worker processes), or one worker under cProfile;
    ``extra``: more environment (e.g. the retention bench's unsealed baseline)."""

    def start() -> Running:
        env = {
            **os.environ,
            **settings.kafka_environment(),
            "SCHAKEL_TOPIC_PREFIX": settings.topic_prefix,
            "SCHAKEL_DATA_DIR": str(settings.data_dir),
            **(extra or {}),
        }
        python = [sys.executable, "-m", "cProfile", "-o", str(profile)] if profile else [sys.executable]
        command = [*python, "-m", "schakel.cli", "run", "--workers", str(workers)]
        process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
        return Running(process)

    return start


def _write_profile(raw: Path, text: Path) -> None:
    """The profile's top functions as text, by own time and by cumulative time."""
    import pstats

    with text.open("w", encoding="utf-8") as out:
        stats = pstats.Stats(str(raw), stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(60)
    print(f"profile of one hub worker: {text}", flush=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main() -> None:
    results: dict[str, Result] = {}
    for name, workers in (("bare", 0), ("hub", 1), ("hub x2", 2))[: 2 if QUICK else 3]:
        settings = _settings(name.replace(" ", ""))
        messages, outputs = _messages(settings, EVENTS)
        per_event = outputs / len(messages)
        start = _start_bare(settings, per_event) if not workers else _start_hub(settings, workers)
        results[name] = _measure(settings, messages, outputs, start)
        print(
            f"{name:6} throughput: {results[name].events_per_second:9.0f} events/s "
            f"({per_event:.2f} output records per event), CPU {results[name].cpu_ms_per_event:.2f} ms per event",
            flush=True,
        )
    if PROFILE_DIR:
        directory = Path(PROFILE_DIR)
        directory.mkdir(parents=True, exist_ok=True)
        settings = _settings("hubprof")
        messages, outputs = _messages(settings, EVENTS)
        profiled = _measure(settings, messages, outputs, _start_hub(settings, 1, directory / "hub.prof"))
        print(f"hub under cProfile: {profiled.events_per_second:.0f} events/s (not comparable)", flush=True)
        _write_profile(directory / "hub.prof", directory / "hub-profile.txt")
    rate = results["bare"].events_per_second / 2
    for name in () if QUICK else ("bare", "hub"):
        settings = _settings(name + "lat")
        messages, outputs = _messages(settings, max(int(rate * LATENCY_SECONDS) + 50, 200))
        per_event = outputs / len(messages)
        start = _start_bare(settings, per_event) if name == "bare" else _start_hub(settings)
        p50, p99 = _latency(settings, messages, outputs, rate, start)
        results[name].p50_ms, results[name].p99_ms = p50, p99
        print(f"{name:5} latency at {rate:.0f} events/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
    own = results["hub"].events_per_second / 2
    settings = _settings("hubown")
    messages, outputs = _messages(settings, max(int(own * LATENCY_SECONDS) + 50, 200))
    p50, p99 = _latency(settings, messages, outputs, own, _start_hub(settings))
    print(f"hub   latency at {own:.0f} events/s (half its own maximum): p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    bare, hub = results["bare"], results["hub"]
    print(f"hub/bare throughput ratio: {hub.events_per_second / bare.events_per_second:.2f} (goal >= 0.6)")
    print(f"hub p99 at half its own maximum rate: {p99:.1f} ms (goal <= 250 ms)")
    if QUICK:
        return
    two = results["hub x2"]
    print(f"hub/bare p99 ratio at half the bare maximum rate: {hub.p99_ms / bare.p99_ms:.2f}")
    print(
        f"2 workers / 1 worker throughput: {two.events_per_second / hub.events_per_second:.2f} "
        f"(CPU per event {two.cpu_ms_per_event:.2f} / {hub.cpu_ms_per_event:.2f} ms; "
        f"{os.cpu_count()} cores on this machine, shared)"
    )
    _lineage_keeps_up(hub.events_per_second * _decisions_per_event())
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


if __name__ == "__main__" and sys.argv[1:2] == ["bare"]:
    prefix, per = sys.argv[2], float(sys.argv[3])
    stop_event = asyncio.Event()
    bench_settings = Settings().model_copy(update={"topic_prefix": prefix})  # the parent passed the broker's reach

    async def _run_bare() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop_event.set)
        await _bare(bench_settings, per, stop_event)

    asyncio.run(_run_bare())
