"""``schakel run`` with a partition it cannot reach for a while: a hub worker whose producer holds what it sends to
one topic until the test lets it go - run as ``python -m tests.streams.held_worker run ...``.

``SCHAKEL_TEST_HOLD``: the topic. ``SCHAKEL_TEST_HOLD_PARTITION``: ``<partition>/<partitions>``, only the records
whose key the hub's producer sends to that partition are held (the topic's other partitions stay in reach; default:
every record to the topic). ``SCHAKEL_TEST_HOLD_AFTER``: how many records to hold pass first (default 0).
``SCHAKEL_TEST_RELEASE``: a file; once it exists, the held records are sent, in the order they were held, and what
follows goes out as usual. Until then each held send's result stays pending, as the real producer's does while a
partition has no leader. ``SCHAKEL_TEST_HOLD_FIRST=failed``: the first held record is reported as not produced at
once (``NotLeaderForPartitionError``) and is stored all the same on release, ahead of the rest - the ambiguous
refusal of a record the partition's leader had taken before it went away (aiokafka's idempotent producer retries a
send the broker may have stored until it is confirmed, except a batch that found no leader for the whole
``producer_request_timeout``: that one fails, stored or not). ``SCHAKEL_TEST_HOLD_FAIL=<n>``: the same for the n-th
held record instead of the first (stored on release in its place among the held ones).
"""

from __future__ import annotations

import asyncio
import os
from functools import partial
from pathlib import Path
from typing import Any

from aiokafka.errors import NotLeaderForPartitionError
from aiokafka.partitioner import murmur2

from schakel.cli import main
from schakel.streams import durability

_TOPIC = os.environ["SCHAKEL_TEST_HOLD"]
_PASS = int(os.environ.get("SCHAKEL_TEST_HOLD_AFTER", "0"))
_RELEASE = Path(os.environ["SCHAKEL_TEST_RELEASE"])
_FAIL_AT = (
    1 if os.environ.get("SCHAKEL_TEST_HOLD_FIRST") == "failed" else int(os.environ.get("SCHAKEL_TEST_HOLD_FAIL", "0"))
)
_PARTITION = tuple(int(n) for n in os.environ.get("SCHAKEL_TEST_HOLD_PARTITION", "").split("/") if n)

_send = durability._IdempotentProducer.send
_held: list[tuple[Any, tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]] = []
_state = {"passed": 0, "held": 0, "released": False}
_releasing: list[asyncio.Task[None]] = []


def _holds(topic: str, key: Any) -> bool:
    """Whether a record to ``topic`` with ``key`` goes to the partition out of reach."""
    if topic != _TOPIC:
        return False
    if not _PARTITION:
        return True
    return isinstance(key, bytes) and (murmur2(key) & 0x7FFFFFFF) % _PARTITION[1] == _PARTITION[0]


async def _held_send(self: Any, topic: str, *args: Any, **kwargs: Any) -> Any:
    holds = _holds(topic, args[0] if args else kwargs.get("key"))
    if not holds or _state["released"] or _state["passed"] < _PASS:
        if holds and not _state["released"]:
            _state["passed"] += 1
        return await _send(self, topic, *args, **kwargs)
    outcome: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    _held.append((self, (topic, *args), kwargs, outcome))
    _state["held"] += 1
    print(f"held_worker: holding a record for {topic}", flush=True)  # the worker log: the test waits for it
    if not _releasing:
        _releasing.append(asyncio.ensure_future(_release()))
    if _state["held"] == _FAIL_AT:
        reported: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        reported.set_exception(NotLeaderForPartitionError())
        return reported
    return outcome


async def _release() -> None:
    while not _RELEASE.exists():
        await asyncio.sleep(0.2)
    while _held:
        producer, args, kwargs, outcome = _held.pop(0)
        stored = asyncio.ensure_future(await _send(producer, *args, **kwargs))
        stored.add_done_callback(partial(_settle, outcome))
    _state["released"] = True
    print("held_worker: released", flush=True)


def _settle(outcome: asyncio.Future[Any], done: asyncio.Future[Any]) -> None:
    if outcome.done():
        return
    if done.exception() is not None:
        outcome.set_exception(done.exception())  # type: ignore[arg-type]
    else:
        outcome.set_result(done.result())


durability._IdempotentProducer.send = _held_send  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
