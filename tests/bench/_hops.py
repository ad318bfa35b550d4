"""Where an event's time goes in the hub, hop by hop, at a moderate rate (not part of ``make bench``: a diagnostic).

``python -m tests.bench._hops`` starts one ``schakel run`` worker, produces ``SCHAKEL_BENCH_HOPS_EVENTS`` events (BSN
+ case id, as the bench's) at ``SCHAKEL_BENCH_HOPS_RATE`` events/s, and reads every topic the event passes through:
``hub-link``, ``hub-person``, the copies and lineage. Each record's broker timestamp (CreateTime: when the hub's
producer took it) and the time a watching consumer read it give, per event:

- *ingress -> link sent*: the bench's producer, the hub's fetch, its queue and step 1 (``hub``);
- *link sent -> person sent*: the forward's produce (linger, broker), the hub's fetch of it and step 2 (``link``);
- *person sent -> last output sent*: the fetch of the forward to ``hub-person`` and step 3 (``person``);
- *last output sent -> read*: the outputs' produce and a consumer's fetch (what the bench's latency ends on);
- *link sent -> link readable*: how long a forward takes to be readable by any consumer (produce + fetch only).

Medians and p99 of each; the sums of medians need not add up to the end-to-end median.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections import defaultdict

from aiokafka import AIOKafkaConsumer

from schakel.settings import Settings
from schakel.streams.access import provision
from schakel.streams.topics import ADMIN, HubTopics
from tests.bench.streams import _messages, _produce, _settings, _start_hub, _until_assigned, _watch_after

RATE = float(os.environ.get("SCHAKEL_BENCH_HOPS_RATE", "15"))
EVENTS = int(os.environ.get("SCHAKEL_BENCH_HOPS_EVENTS", "300"))

Seen = dict[str, dict[str, list[tuple[float, float]]]]
"""event id -> topic kind (link, person, output) -> (CreateTime, read time) per record, in seconds."""


async def _read(settings: Settings, expected: int, timeout: float, seen: Seen) -> None:
    topics = HubTopics.of(settings)
    kinds = {topics.link: "link", topics.person: "person"}
    consumer = AIOKafkaConsumer(
        topics.link,
        topics.person,
        *topics.all_egress(),
        topics.lineage,
        **settings.kafka_client_config(ADMIN),
        group_id=f"hops-{uuid.uuid4().hex}",
        auto_offset_reset="latest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    count = 0
    try:
        await _until_assigned(consumer)
        deadline = time.monotonic() + timeout
        while count < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batch.values():
                for record in records:
                    event_id = (dict(record.headers).get("ce_id") or b"").decode()
                    kind = kinds.get(record.topic, "output")
                    seen[event_id][kind].append((record.timestamp / 1000, now))
                    count += kind == "output"
    finally:
        await consumer.stop()


def _stats(name: str, samples: list[float]) -> None:
    if not samples:
        print(f"{name:34} no samples")
        return
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"{name:34} p50 {statistics.median(samples) * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms   (n={len(samples)})")


def main() -> None:
    settings = _settings("hops")
    messages, outputs = _messages(settings, EVENTS + 50)
    topics = HubTopics.of(settings)
    provision(settings)
    running = _start_hub(settings)()
    try:
        asyncio.run(
            _watch_after(
                settings, [*topics.all_egress(), topics.lineage], messages[:50], outputs * 50 // len(messages), 60
            )
        )
        chosen = messages[50:]
        seen: Seen = defaultdict(lambda: defaultdict(list))
        sent: dict[str, float] = {}

        async def run() -> None:
            reader = asyncio.create_task(_read(settings, outputs * len(chosen) // len(messages), 120, seen))
            await asyncio.sleep(2.0)
            sent.update(await asyncio.to_thread(_produce, settings, chosen, RATE))
            await reader

        cpu = running.cpu_seconds()
        asyncio.run(run())
        cpu = running.cpu_seconds() - cpu
    finally:
        running.stop()
    hops: dict[str, list[float]] = defaultdict(list)
    for event_id, at in sent.items():
        kinds = seen.get(event_id)
        if not kinds or not kinds["link"] or not kinds["person"] or not kinds["output"]:
            continue
        link_sent, link_read = kinds["link"][0]
        person_sent, person_read = kinds["person"][0]
        last_sent = max(created for created, _ in kinds["output"])
        last_read = max(read for _, read in kinds["output"])
        hops["ingress -> link sent"].append(link_sent - at)
        hops["link sent -> person sent"].append(person_sent - link_sent)
        hops["person sent -> last output sent"].append(last_sent - person_sent)
        hops["last output sent -> read"].append(last_read - last_sent)
        hops["link sent -> link readable"].append(link_read - link_sent)
        hops["person sent -> person readable"].append(person_read - person_sent)
        hops["end to end (produce -> last read)"].append(last_read - at)
    print(f"hops at {RATE:.0f} events/s, {len(chosen)} events; hub CPU {cpu * 1000 / len(chosen):.2f} ms per event")
    for name, samples in hops.items():
        _stats(name, samples)


if __name__ == "__main__":
    main()
