"""``schakel retention status|run|rekey``: the retention job for cron, and the data-key store at a glance.

``status`` counts (people tracked, live data keys, who is due now, the next due time, dead-letter day keys, keys
per key-encryption key) - never a person. ``run`` does what the hub's timer does, as ``admin``: tell the partners,
purge the consent state, destroy the keys (:mod:`schakel.retention.job`). ``rekey`` re-wraps every data key under
the current ``SCHAKEL_KEK`` (the old one in ``SCHAKEL_KEK_PREVIOUS`` until then); no topic is rewritten.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console

from schakel.errors import SchakelError
from schakel.settings import settings

__all__ = ["app"]

app = typer.Typer(help="Retention and crypto-shredding: who is due, the retention run, key rotation.")
_err = Console(stderr=True, highlight=False, soft_wrap=True)
_AT = typer.Option(None, "--at", help="Run as if it were this time (ISO-8601 with offset); default: now.")


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


def _now(at: str | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise _fail("--at must be an ISO-8601 time with an offset, e.g. 2030-01-01T00:00:00+00:00") from None
    if moment.tzinfo is None:
        raise _fail("--at needs an offset (Z or +01:00)")
    return moment


@app.command()
def status(at: str | None = _AT) -> None:
    """How many people the key store tracks, how many are due, and when the next one is."""
    from schakel.retention import KeyStore

    try:
        store = KeyStore.of(settings())
    except SchakelError as error:
        raise _fail(str(error)) from error
    now = _now(at)
    found = store.status(now)
    line = {
        "at": now.isoformat(),
        "people": found.subjects,
        "data_keys": found.data_keys,
        "due": found.due,
        "next_due_at": found.next_due_at.isoformat() if found.next_due_at else None,
        "dead_letter_day_keys": found.dead_letter_days,
        "keys_per_kek": found.keks,
        "current_kek": store.kek.id,
    }
    typer.echo(json.dumps(line))


@app.command()
def run(at: str | None = _AT) -> None:
    """Retire everyone whose retention ended (as admin): notices, purge, keys destroyed; prints the counts."""
    from schakel.retention import KeyStore
    from schakel.retention.job import run_retention

    config = settings()
    try:
        config.refuse_development_key()
        config.refuse_unprotected_copies()
        store = KeyStore.of(config)
        done = asyncio.run(_run(config, store, _now(at), run_retention))
    except SchakelError as error:
        raise _fail(str(error)) from error
    typer.echo(json.dumps(done))


async def _run(config: Any, store: Any, now: datetime, job: Any) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    from schakel.streams.topics import ADMIN

    producer = AIOKafkaProducer(
        **config.kafka_client_config(ADMIN), client_id="schakel-retention", enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:

        async def send(message: Any) -> Any:
            return await producer.send(message.topic, message.value, key=message.key, headers=message.headers)

        done = await job(config, store, send, now)
    finally:
        await producer.stop()
    return {
        "at": now.isoformat(),
        "people_retired": done.people,
        "notices": done.notices,
        "keys_destroyed": done.keys_destroyed,
        "dead_letter_day_keys_destroyed": done.dead_letter_days,
        "lineage_pruned": done.lineage_pruned if done.lineage_pruned is not None else "not available",
    }


@app.command()
def rekey() -> None:
    """Re-wrap every data key under the current key-encryption key (SCHAKEL_KEK); topics stay as they are."""
    from schakel.retention import KeyStore

    try:
        store = KeyStore.of(settings())
        count = store.rekey()
    except SchakelError as error:
        raise _fail(str(error)) from error
    typer.echo(json.dumps({"rewrapped": count, "kek": store.kek.id}))
