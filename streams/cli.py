"""``schakel run | send | tail | dlq``: run a hub worker, and talk to the hub's topics as a partner would."""

from __future__ import annotations

import contextlib
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

_err = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def run(
    metrics_port: int = typer.Option(
        0, help="Serve Prometheus metrics on PORT (0: off), at SCHAKEL_METRICS_HOST (default 127.0.0.1)."
    ),
    loglevel: str = typer.Option("warning", help="Worker log level."),
    workers: int = typer.Option(1, min=1, help="Worker processes to start; they share the partitions."),
) -> None:
    """Start a hub worker. Start several to share the partitions; each holds its partitions' consent state."""
    if workers > 1:
        from schakel.streams.workers import supervise, worker_commands

        raise typer.Exit(supervise(worker_commands(workers, metrics_port, loglevel)))
    import faust

    from schakel.consent import load_policy
    from schakel.guidance import load_guidance
    from schakel.logs import handler
    from schakel.streams import telemetry
    from schakel.streams.hub import create_app
    from schakel.streams.topics import HUB, HubTopics, create_topics, unreadable_topics

    _fast_event_loop()
    config = settings()
    try:
        config.refuse_development_key()
        config.refuse_unprotected_copies()
        policy = load_policy(config.covenants_dir)
        load_guidance(config.guidance_dir)  # a course file that does not load stops the hub here, with its problems
        create_topics(config, principal=HUB)
        topics = HubTopics.of(config)
        refused = unreadable_topics(
            config, [*topics.all_ingress(), topics.link, topics.person, topics.purge], principal=HUB
        )
        if refused:
            raise SchakelError(
                f"the hub may not read {', '.join(refused)}: its events would wait unprocessed. Grant the hub's "
                "ACLs (`schakel kafka acls apply`, as admin) and start the worker again"
            )
        config = _with_cluster_replication(config)
    except SchakelError as error:
        raise _fail(str(error)) from error
    telemetry.configure_tracing()
    try:
        telemetry.serve_metrics(metrics_port, str(config.metrics_host))
    except OSError as error:  # the port taken, or the address not this machine's
        raise _fail(f"cannot serve metrics on {config.metrics_host}:{metrics_port}: {error.strerror}") from None
    app = create_app(config, policy)
    level = loglevel.upper()
    # Faust sets logging up itself: no handlers of its own, only schakel's (quiet, optionally JSON).
    app.conf.loghandlers = [handler(level, config.log_format)]
    worker = faust.Worker(
        app,
        loglevel=level,
        quiet=True,
        redirect_stdouts=False,
        logging_config={"version": 1, "disable_existing_loggers": False, "root": {"level": level, "handlers": []}},
    )
    if not sys.stdout.isatty():  # Faust's start-up spinner wrote cursor codes into a log file or a pipe
        worker.spinner = None
    worker.execute_from_commandline()


def _fast_event_loop() -> None:
    """uvloop as the worker's event loop (Faust supports it): the hub spends most of its CPU in the event loop and the
    Kafka client's callbacks, and uvloop cut the CPU per event by 5-15% in paired runs (README, Benchmarks). Before
    anything creates a loop; the hub's code does not depend on which loop runs it."""
    import asyncio

    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _with_cluster_replication(config: Settings) -> Settings:
    """The settings with the replication factor the cluster gave the hub's topics, for the topics Faust creates
    itself (its partition assignor's): the same number of copies as the rest, however the cluster chose it."""
    from schakel.streams.topics import HUB, HubTopics, topic_replication

    if config.replication_factor is not None:
        return config
    topics = HubTopics.of(config)
    replicas = topic_replication(config, topics.ingress(Organisation.ZVH), principal=HUB)
    return config.model_copy(update={"replication_factor": replicas})


def send(
    event_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The event in its JSON form."),
    as_: Organisation = typer.Option(..., "--as", help="The partner whose ingress topic to write to."),
) -> None:
    """Publish an event into a partner's ingress topic, exactly as its connector does."""
    from kafka import KafkaProducer

    from schakel.schemas import MAX_EVENT_BYTES, parse_event
    from schakel.streams.records import ingress_message
    from schakel.streams.topics import HubTopics

    config = settings()
    try:
        form = json.loads(event_file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise _fail(f"{event_file}: not UTF-8 text") from None
    except (json.JSONDecodeError, RecursionError):
        raise _fail(f"{event_file}: not valid JSON") from None
    try:
        event = parse_event(form)
    except SchakelError as error:  # the schemas' reasons name fields and rules, never values
        raise _fail(f"{event_file}: {error}") from None
    message = ingress_message(event, config)
    if len(message.value) > MAX_EVENT_BYTES:
        raise _fail(f"{event_file}: the event is larger than the hub's maximum of {MAX_EVENT_BYTES} bytes")
    topic = HubTopics.of(config).ingress(as_)
    try:
        producer = KafkaProducer(**config.kafka_client_config(as_.value), acks="all")
    except SchakelError as error:
        raise _fail(str(error)) from error
    try:
        sent = producer.send(topic, key=message.key, value=message.value, headers=message.headers).get(timeout=30)
    finally:
        producer.close()
    typer.echo(f"sent {event.type} {event.id} to {topic} [{sent.partition}] @ {sent.offset}")


def _records(
    config: Settings, topic: str, *, last: int, from_beginning: bool, follow: bool, idle: float, principal: str
) -> Iterator[Any]:
    """The records of ``topic``: the last ``last`` (or all with ``from_beginning``), then new ones with ``follow``.

    Without ``follow`` it stops at the end offsets it saw when it started. With ``follow`` it waits for more, until
    ``idle`` seconds pass without a record (0: until interrupted).
    """
    from kafka import TopicPartition

    from schakel.offsets import consumer

    with consumer(config, principal=principal) as client:
        partitions = [TopicPartition(topic, p) for p in sorted(client.partitions_for_topic(topic) or ())]
        if not partitions:
            raise _fail(
                f"topic {topic} does not exist: create the hub's topics with `schakel topics` or start a hub "
                "worker with `schakel run`"
            )
        client.assign(partitions)
        beginning, end = client.beginning_offsets(partitions), client.end_offsets(partitions)
        if from_beginning:
            client.seek_to_beginning()
        else:
            for tp in partitions:
                client.seek(tp, max(beginning[tp], end[tp] - last))
        backlog: list[Any] = []
        while any(client.position(tp) < end[tp] for tp in partitions):
            for records in client.poll(timeout_ms=500).values():
                backlog.extend(r for r in records if r.offset < end[TopicPartition(r.topic, r.partition)])
        backlog.sort(key=lambda r: (r.timestamp, r.partition, r.offset))
        yield from backlog if from_beginning else backlog[-last:] if last else []
        if not follow:
            return
        quiet_since = time.monotonic()
        while not idle or time.monotonic() - quiet_since < idle:
            for records in client.poll(timeout_ms=500).values():
                yield from records
                quiet_since = time.monotonic()


_COUNT = typer.Option(
    10, "--count", "-n", min=0, help="How many of the latest to show (0: none, only new ones with --follow)."
)
_FOLLOW = typer.Option(False, "--follow", "-f", help="Keep waiting for new ones (Ctrl-C stops).")
_FROM_BEGINNING = typer.Option(False, "--from-beginning", help="Show everything the topic still holds.")
_IDLE = typer.Option(
    0.0, "--timeout", help="With --follow: stop when nothing arrived for this many seconds (0: never)."
)


def tail(
    to: Organisation = typer.Option(..., "--to", help="The recipient whose egress topic to read."),
    count: int = _COUNT,
    follow: bool = _FOLLOW,
    from_beginning: bool = _FROM_BEGINNING,
    timeout: float = _IDLE,
) -> None:
    """Print the latest events delivered to a partner, as JSON lines (what that partner may see, nothing more)."""
    from schakel.retention import Opener, SealError
    from schakel.schemas import Codec
    from schakel.streams.records import EgressCopy, header
    from schakel.streams.topics import HubTopics

    config = settings()
    codec = Codec()
    opener = Opener.of(config)
    records = _records(
        config,
        HubTopics.of(config).egress(to),
        last=count,
        from_beginning=from_beginning,
        follow=follow,
        idle=timeout,
        principal=to.value,  # what that partner may see, as that partner
    )
    if follow:
        _say_if_no_hub(config)
    printed = 0
    with contextlib.suppress(KeyboardInterrupt):
        for record in records:
            headers = record.headers or []
            try:
                copy = EgressCopy.from_record(
                    record.topic, record.key, record.value, headers, codec=codec, opener=opener
                )
                form = copy.form
            except SealError as error:  # the person's key is destroyed: what the partner sees is nothing
                form = {"id": header(headers, "ce_id"), "type": header(headers, "ce_type"), "unreadable": str(error)}
            sys.stdout.write(json.dumps(form, ensure_ascii=False) + "\n")
            sys.stdout.flush()
            printed += 1
    if not printed and not follow:
        _err.print(f"no copies for {to} on {HubTopics.of(config).egress(to)}", highlight=False)
        _say_if_no_hub(config)


def _say_if_no_hub(config: Settings) -> None:
    """Copies only appear while a hub worker runs: say so when none does."""
    from schakel.offsets import group_members

    if not group_members(config, f"{config.topic_prefix}hub"):  # the Faust app id (streams/hub.py)
        _err.print("no hub worker is running: start one with `schakel run`", highlight=False)


def dlq(
    count: int = _COUNT,
    follow: bool = _FOLLOW,
    from_beginning: bool = _FROM_BEGINNING,
    timeout: float = _IDLE,
) -> None:
    """Show the latest dead-lettered records and why, as JSON lines - positions and reasons only, no personal data."""
    from schakel.streams.records import DeadLetter
    from schakel.streams.topics import ADMIN, HubTopics

    config = settings()
    records = _records(
        config,
        HubTopics.of(config).dlq,
        last=count,
        from_beginning=from_beginning,
        follow=follow,
        idle=timeout,
        principal=ADMIN,
    )
    with contextlib.suppress(KeyboardInterrupt):
        for record in records:
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
            sys.stdout.flush()


def topics() -> None:
    """Create the hub's topics that do not exist yet, and (on a SASL broker) add their ACLs; as admin."""
    from schakel.streams.access import provision

    try:
        created = provision(settings())
    except SchakelError as error:
        raise _fail(str(error)) from error
    typer.echo("\n".join(created) if created else "all topics exist")
