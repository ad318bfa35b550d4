"""Codec throughput against raw fastavro, measured in the same run on the same records (``make bench``).

Baselines: ``fastavro.schemaless_writer`` / ``schemaless_reader`` with the catalogue's parsed schema (logical types
included) on the same events as fastavro's native records (``datetime``, ``date``, ``UUID``), into and out of a
``BytesIO`` - what a hand-written producer or consumer would do. Measured:

- ``encode_json``: the JSON form to single-object bytes (header, time parsing, schema checks) - the hub's hot path;
- ``decode_json``: single-object bytes to the JSON form (size limit, fingerprint lookup, the strict reader, ISO times);
- ``encode`` / ``decode``: the same with the typed models (``Event.to_json`` / ``parse_event``), for comparison.

Each sample times one pass over the example events (all nine types) through the codec or through its baseline, the
two alternating; the figure for a side is the 10th percentile of its samples, which filters out the time that other
processes on a shared machine steal (interference only adds time). Reported as records/s and as a ratio to the
baseline (goal for the JSON paths: >= 0.9).
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import fastavro

from schakel.schemas import Codec, EventType, Theme, event_schema
from schakel.schemas.examples import example_event

SAMPLES = 3000
WARMUP = 100
PERCENTILE = 10  # of the sample times, per side


def _events() -> list[Any]:
    themes = list(Theme)
    return [example_event(t, themes[i % len(themes)], seed=i) for i, t in enumerate(EventType)]


def _native(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _native(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_native(item) for item in value]
    if isinstance(value, StrEnum):
        return value.value
    return value


def _compare(codec: Callable[[], None], baseline: Callable[[], None], records: int) -> tuple[float, float, float]:
    """(codec records/s, baseline records/s, ratio) from the fast end of many short, alternating samples.

    Each sample is one pass over the records (a fraction of a millisecond), codec and baseline alternating, so both
    see the same machine. Interference from other processes only ever adds time, so the low percentile of each side
    is its undisturbed speed; the ratio compares those.
    """
    codec_times: list[int] = []
    baseline_times: list[int] = []
    clock = time.perf_counter_ns
    for index in range(WARMUP + SAMPLES):
        pair = [(baseline, baseline_times), (codec, codec_times)]
        for run, times in pair if index % 2 else reversed(pair):
            start = clock()
            run()
            if index >= WARMUP:
                times.append(clock() - start)
    codec_ns = _low(codec_times)
    baseline_ns = _low(baseline_times)
    return records * 1e9 / codec_ns, records * 1e9 / baseline_ns, baseline_ns / codec_ns


def _low(samples: list[int]) -> float:
    return statistics.quantiles(samples, n=20)[PERCENTILE // 5 - 1]


def measure() -> dict[str, tuple[float, float, float]]:
    codec = Codec()
    events = _events()
    forms = [event.to_json() for event in events]
    blobs = [codec.encode_json(form) for form in forms]
    parsed = {t: fastavro.parse_schema(event_schema(t)) for t in EventType}
    schemas = [parsed[event.type] for event in events]
    # fastavro's native records: datetime, date, UUID, strings for enums, lists for arrays
    natives = [_native(event.model_dump()) for event in events]
    bodies = [blob[10:] for blob in blobs]
    n = len(events)
    writer, reader = fastavro.schemaless_writer, fastavro.schemaless_reader

    def raw_write() -> None:
        for schema, native in zip(schemas, natives, strict=True):
            out = io.BytesIO()
            writer(out, schema, native)
            out.getvalue()

    def raw_read() -> None:
        for schema, body in zip(schemas, bodies, strict=True):
            reader(io.BytesIO(body), schema)

    def encode_json() -> None:
        for form in forms:
            codec.encode_json(form)

    def decode_json() -> None:
        for blob in blobs:
            codec.decode_json(blob)

    def encode() -> None:
        for event in events:
            codec.encode(event)

    def decode() -> None:
        for blob in blobs:
            codec.decode(blob)

    # sanity: the codec's bodies are exactly what raw fastavro writes
    for schema, native, blob in zip(schemas, natives, blobs, strict=True):
        out = io.BytesIO()
        writer(out, schema, native)
        assert out.getvalue() == blob[10:]

    return {
        "encode_json": _compare(encode_json, raw_write, n),
        "decode_json": _compare(decode_json, raw_read, n),
        "encode": _compare(encode, raw_write, n),
        "decode": _compare(decode, raw_read, n),
    }


def main() -> None:
    results = measure()
    print(
        f"records: the nine event types' examples; {PERCENTILE}th percentile of {SAMPLES} alternating samples per side"
    )
    what = {
        "encode_json": ("fastavro schemaless_writer", "JSON form -> single-object bytes (the hub's hot path)"),
        "decode_json": ("fastavro schemaless_reader", "single-object bytes -> JSON form (the hub's hot path)"),
        "encode": ("fastavro schemaless_writer", "Event model -> bytes (Event.to_json + encode_json)"),
        "decode": ("fastavro schemaless_reader", "bytes -> validated Event model (decode_json + parse_event)"),
    }
    for name, (codec_rate, baseline_rate, ratio) in results.items():
        baseline, description = what[name]
        print(
            f"  {name:<12} {codec_rate:>9,.0f} rec/s  vs raw {baseline} {baseline_rate:>9,.0f} rec/s"
            f"  ratio {ratio:4.2f}  {description}"
        )


if __name__ == "__main__":
    main()
