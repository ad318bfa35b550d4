"""The cost of sealing every copy (crypto-shredding) on the hub's throughput: a real ``schakel run`` worker with
encryption (the production setting) and without (``SCHAKEL_ENCRYPT_COPIES=false``, allowed in development only,
for this baseline), on the same broker in the same run, alternating ``SCHAKEL_BENCH_RETENTION_ROUNDS`` times so that
a shared machine's load falls on both; the median of the per-round ratios is reported, with every round.
"""

from __future__ import annotations

import os
import statistics

from tests.bench.streams import EVENTS, _measure, _messages, _settings, _start_hub

ROUNDS = int(os.environ.get("SCHAKEL_BENCH_RETENTION_ROUNDS", "3"))


def main() -> None:
    ratios: list[float] = []
    rounds: list[str] = []
    for _ in range(ROUNDS):
        rates = []
        for encrypt in (True, False):
            settings = _settings("enc" if encrypt else "plain")
            messages, outputs = _messages(settings, EVENTS)
            rates.append(
                _measure(
                    settings,
                    messages,
                    outputs,
                    _start_hub(settings, extra={"SCHAKEL_ENCRYPT_COPIES": "true" if encrypt else "false"}),
                ).events_per_second
            )
        ratios.append(rates[0] / rates[1])
        rounds.append(f"{rates[0]:,.0f}/{rates[1]:,.0f}")
    print(
        f"retention: hub throughput sealed/unsealed copies median {statistics.median(ratios):.2f} "
        f"(events/s sealed/unsealed per round: {', '.join(rounds)})",
        flush=True,
    )


if __name__ == "__main__":
    main()
