"""Sending until the broker stored it: the hub's records that must not be given up (a dead letter, a settled
notice, a case's purge command) are tried again, with a growing pause, until the broker confirms one try.

The record's input stays unacknowledged meanwhile (``schakel.streams.hub``): the worker stalls rather than skip it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["backoff", "until_stored"]


def backoff(attempt: int) -> float:
    """Seconds to wait after the ``attempt``-th failed try (1, 2, ...): 0.5 s, doubling, at most 30 s."""
    return min(30.0, 0.25 * 2.0 ** min(attempt, 7))


async def until_stored(
    attempt: Callable[[int], Awaitable[object]],
    failed: Callable[[Exception, int], None],
) -> None:
    """Await ``attempt(tries)`` (``tries``: how many failed before it, 0 the first time) until it returns - it
    returns once the broker stored its record. After each failure ``failed(error, tries)`` is told (to log it: the
    error's class and the count, no personal data), then the next try waits :func:`backoff`. A cancellation passes
    through at once."""
    tries = 0
    while True:
        try:
            await attempt(tries)
            return
        except asyncio.CancelledError:
            raise
        except Exception as error:
            tries += 1
            failed(error, tries)
            await asyncio.sleep(backoff(tries))
