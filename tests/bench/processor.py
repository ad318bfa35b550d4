"""The hub's processing of one event without Kafka: CPU per event of ``Processor.accept`` and ``Processor.decide``.

The workload is the streams benchmark's (``tests/bench/streams.py``): signals on the three themes, each with a BSN and
a case id, from the police, with a ``traceparent`` as a connector writes it, decided on the shipped covenants with
tracing configured as ``schakel run`` configures it without an OTLP endpoint. Reported per event:

- ``accept``, first read: decoding and checking the ingress record (the ingress step);
- ``accept``, again: the same bytes at the hub's next steps, which keep the decoded event;
- ``decide``: the decisions, a projected and encoded copy per permitted recipient, a lineage record per decision and
  the link record - everything :meth:`~schakel.streams.processor.Processor.decide` returns;
- the baseline in the same run: the consent decisions alone (``Policy.decide_all`` on the same events), the part of
  ``decide`` that no copy, span or record adds to. ``decide`` is reported as a ratio against it: the lower, the less
  the hub adds around each decision.

Times are CPU time of this process (``time.process_time``), best of several interleaved repeats, so that other
processes on a shared machine disturb the figures less.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from schakel.consent import ConsentState, SubjectState, load_policy
from schakel.schemas import EventType, Theme
from schakel.schemas.examples import example_event
from schakel.settings import Settings
from schakel.streams import telemetry
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.records import ingress_message

EVENTS = 300
THEMES = (Theme.CTER, Theme.LVB, Theme.MONEY_MULE)
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _records(settings: Settings) -> list[Record]:
    records = []
    for number in range(EVENTS):
        event = example_event(EventType.SIGNAL, theme=THEMES[number % len(THEMES)], case_id=f"ZVH-2026-{number:06d}")
        message = ingress_message(event, settings)
        headers = [(name, value) for name, value in message.headers if name != "traceparent"]
        records.append(
            Record(message.topic, 0, number, message.key, message.value, [*headers, ("traceparent", TRACEPARENT)])
        )
    return records


def _best(runs: dict[str, Callable[[], None]], repeats: int = 7) -> dict[str, float]:
    """Best CPU seconds per event of each run, the runs interleaved so that a busy moment hits them alike."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.process_time()
            run()
            best[name] = min(best[name], (time.process_time() - start) / EVENTS)
    return best


def main() -> None:
    telemetry.configure_tracing()  # as `schakel run` does: no exporter unless OTEL_EXPORTER_OTLP_ENDPOINT is set
    with tempfile.TemporaryDirectory(prefix="schakel-bench-") as directory:
        settings = Settings(topic_prefix="bench.", data_dir=Path(directory))
        policy = load_policy()
        processor = Processor(settings, policy)
        records = _records(settings)
        accepted = [processor.accept(record) for record in records]
        assert all(isinstance(item, Accepted) for item in accepted)
        events = [item.event for item in accepted if isinstance(item, Accepted)]
        state, now = SubjectState(), datetime.now(UTC)
        routed = [processor.decide(item, state) for item in accepted if isinstance(item, Accepted)]
        copies = sum(1 for result in routed for m in result.messages if m.topic.startswith("bench.egress."))
        outputs = sum(len(result.messages) for result in routed)

        def first_read() -> None:
            fresh = Processor(settings, policy, codec=processor.codec, guidance=processor.guidance)
            for record in records:
                fresh.accept(record)

        def again() -> None:
            for record in records:
                processor.accept(record)

        def decide() -> None:
            for item in accepted:
                processor.decide(item, state)  # type: ignore[arg-type]

        def decisions() -> None:
            for event in events:
                policy.decide_all(event, ConsentState(), now)

        best = _best({"first": first_read, "again": again, "decide": decide, "baseline": decisions})
    print(
        f"{EVENTS} signals, {copies / EVENTS:.2f} copies and {outputs / EVENTS:.2f} output records per event "
        "(no span exporter, as `schakel run` without OTEL_EXPORTER_OTLP_ENDPOINT):"
    )
    print(f"  accept, first read   {best['first'] * 1e6:7.1f} us/event (decodes and checks)")
    print(f"  accept, next steps   {best['again'] * 1e6:7.1f} us/event (the decoded event kept)")
    print(f"  decide               {best['decide'] * 1e6:7.1f} us/event")
    print(f"  consent decisions    {best['baseline'] * 1e6:7.1f} us/event (baseline, same run: Policy.decide_all)")
    print(f"  ratio decide / its consent decisions: {best['decide'] / best['baseline']:.1f}")


if __name__ == "__main__":
    main()
