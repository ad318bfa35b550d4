"""The hub's Faust app: ``faust.App`` without the three turns of the event loop it gives away on every send.

Every record Faust produces - the hub's own sends and the tables' changelog records - first awaits
``App.maybe_start_producer``. mode's ``stampede`` decorator guards that against two concurrent starts, and does so by
giving the event loop away three times (``asyncio.sleep(0)``) on *every* call, the producer long started or not.

Measured (issue 14, ``make bench``'s case's life, a probe in the changelog buffer's drain): of the one task that
hands the tables' changelog records to the producer, every send gave the loop away three times - to agents that then
ran a CPU-bound step each - so it handed over only 150-450 records a second, against about 2.8 written per event;
the buffer (``schakel.streams.commits.CHANGELOG_BUFFER``) filled, Faust held every stream until it ebbed ("producer
buffer full"), and the commits, which wait for those records, took 12-43 s.

:class:`HubApp` hands a started producer out at once. The first start runs Faust's own code, one caller at a time
(as mode's guard did); so does a producer inside a transaction (the hub uses none, see ``schakel.streams.hub``). A
stopped producer is handed out as Faust hands it out (its sends fail, and the worker with them). Faust's guarded
method is not called through ``super()``: mode's descriptor would then store its wrapper on the app, and every later
call would find that wrapper first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.types import ProducerT

__all__ = ["HubApp"]

_faust_maybe_start_producer: Callable[[Any], Awaitable[ProducerT]] = faust.App.maybe_start_producer.__wrapped__


class HubApp(faust.App):
    """Faust's app whose started producer is handed out without a turn of the event loop."""

    _producer_start: asyncio.Lock | None = None

    async def maybe_start_producer(self) -> ProducerT:
        producer = self.producer
        if producer.started and not self.in_transaction:
            return producer
        if self._producer_start is None:
            self._producer_start = asyncio.Lock()
        async with self._producer_start:
            return await _faust_maybe_start_producer(self)
