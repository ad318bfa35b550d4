"""The hub's Faust app hands its started producer to every send without giving the event loop away
(``schakel.streams.faust_app``): Faust's own gave it away three times per record, and the one task that drains the
tables' changelog records fell behind the agents."""

from __future__ import annotations

import asyncio
from pathlib import Path

from schakel.consent import load_policy
from schakel.settings import Settings
from schakel.streams.access import provision
from schakel.streams.hub import create_app


def test_a_started_producer_is_handed_out_without_a_turn_of_the_event_loop(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{unique}.", data_dir=tmp_path / "data")
    provision(settings)  # the hub's principal and its grants, under this test's prefix
    app = create_app(settings, load_policy(settings.covenants_dir))

    async def turns_taken_by_sends() -> tuple[int, bool]:
        # The first start, by two sends at once: Faust's start, one at a time, against the broker.
        producer, other = await asyncio.gather(app.maybe_start_producer(), app.maybe_start_producer())
        assert producer is other
        assert producer.started
        turns = 0
        counting = True

        async def count_turns() -> None:
            nonlocal turns
            while counting:
                turns += 1
                await asyncio.sleep(0)

        counter = asyncio.create_task(count_turns())
        await asyncio.sleep(0)  # the counter runs once
        before = turns
        same = all([await app.maybe_start_producer() is producer for _ in range(100)])
        taken = turns - before
        counting = False
        await counter
        await producer.stop()
        return taken, same

    taken, same = asyncio.run(turns_taken_by_sends())
    assert same, "every send gets the one started producer"
    assert taken == 0, f"100 sends gave the event loop away {taken} times"
