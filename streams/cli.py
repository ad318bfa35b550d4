"""``schakel run | send | tail | dlq``: run a hub worker, and talk to the hub's topics as a partner would."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from schakel.errors import SchakelError
from schakel.schemas import Organisation
from schakel.settings import Settings, settings

__all__ = ["dlq", "run", "send", "tail", "topics"]

# The hub's modules (Faust, the codec, the policy) load inside the commands, so that `schakel --help` stays quick.

_err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def run(
    metrics_port: int = typer.Option(0, help="Serve Prometheus metrics on 127.0.0.1:PORT (0: off)."),
    loglevel: str = typer.Option("warning", help="Worker log level."),
) -> None:
    """Start a hub worker. Start several to share the partitions; each holds its partitions' consent state."""
    import faust

    from schakel.consent import load_policy
    from schakel.streams import telemetry
    from schakel.streams.hub import create_app
    from schakel.streams.topics import create_topics

    config = settings()
    try:
        config.refuse_development_key()
        policy = load_policy(config.covenants_dir)
        create_topics(config)
    except SchakelError as error:
        raise _fail(str(error)) from error
    telemetry.configure_tracing()
    telemetry.serve_metrics(metrics_port)
    app = create_app(config, policy)
    worker = faust.Worker(app, loglevel=loglevel.upper(), quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


def send(
    event_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The event in its JSON form."),
    as_: Organisation = typer.Option(..., "--as", help="The partner whose ingress topic to write to."),
) -> None:
    """Publish an event into a partner's ingress topic, exactly as its connector does."""
    from kafka import KafkaProducer

    from schakel.schemas import parse_event
    from schakel.streams.records import ingress_message
    from schakel.streams.topics import HubTopics

    config = settings()
    try:
        event = parse_event(json.loads(event_file.read_text(encoding="utf-8")))
    except (SchakelError, json.JSONDecodeError) as error:
        raise _fail(f"{event_file}: {error}") from error
    message = ingress_message(event, config)
    topic = HubTopics.of(config).ingress(as_)
    producer = KafkaProducer(**config.kafka_client_config(), acks="all")
    try:
        sent = producer.send(topic, key=message.key, value=message.value, headers=message.headers).get(timeout=30)
    finally:
        producer.close()
    typer.echo(f"sent {event.type} {event.id} to {topic} [{sent.partition}] @ {sent.offset}")


def _records(config: Settings, topic: str, timeout: float) -> Iterator[Any]:
    """Every record of ``topic`` from the start, until ``timeout`` seconds pass without a new one."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**config.kafka_client_config(), enable_auto_commit=False, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return
        consumer.assign([TopicPartition(topic, partition) for partition in sorted(partitions)])
        consumer.seek_to_beginning()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=200)
            for records in batch.values():
                yield from records
                deadline = time.monotonic() + timeout
    finally:
        consumer.close()


def tail(
    to: Organisation = typer.Option(..., "--to", help="The recipient whose egress topic to read."),
    count: int = typer.Option(0, help="Stop after this many events (0: no limit)."),
    timeout: float = typer.Option(5.0, help="Stop when no event arrived for this many seconds."),
) -> None:
    """Print the events delivered to a partner, as JSON lines (what that partner may see, nothing more)."""
    from schakel.schemas import Codec
    from schakel.streams.records import EgressCopy
    from schakel.streams.topics import HubTopics

    config = settings()
    codec = Codec()
    for printed, record in enumerate(_records(config, HubTopics.of(config).egress(to), timeout), start=1):
        copy = EgressCopy.from_record(record.topic, record.key, record.value, record.headers or [], codec=codec)
        sys.stdout.write(json.dumps(copy.form, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        if count and printed >= count:
            return


def dlq(
    count: int = typer.Option(0, help="Stop after this many records (0: no limit)."),
    timeout: float = typer.Option(5.0, help="Stop when no record arrived for this many seconds."),
) -> None:
    """Show dead-lettered records and why, as JSON lines - positions and reasons only, no personal data."""
    from schakel.streams.records import DeadLetter
    from schakel.streams.topics import HubTopics

    config = settings()
    for printed, record in enumerate(_records(config, HubTopics.of(config).dlq, timeout), start=1):
        dead = DeadLetter.from_headers(record.headers or [])
        line = {
            "dead_lettered_at": dead.time.isoformat(),
            "error_class": dead.error_class,
            "reason": dead.reason,
            "original": {"topic": dead.topic, "partition": dead.partition, "offset": dead.offset},
            "event_id": dead.event_id,
            "size": len(record.value or b""),
        }
        sys.stdout.write(json.dumps(line) + "\n")
        if count and printed >= count:
            return


def topics() -> None:
    """Create the hub's topics that do not exist yet."""
    from schakel.streams.topics import create_topics

    created = create_topics(settings())
    typer.echo("\n".join(created) if created else "all topics exist")
