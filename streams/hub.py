"""The Faust application: the hub's agents and its tables of people's state, identifier links, event ids and
the ZVH's agendas.

Wiring only - what happens to a record is :class:`schakel.streams.processor.Processor`'s business. The ``hub`` agent
reads each ingress record, lets the processor accept it or dead-letter it, checks the ids each sender used for the
subject in ``event-ids`` (``schakel.streams.identity``; checked at step 1 below, on the ingress key's partition), and
decides or forwards it.

**One person, several identifiers.** A person is known by a BSN and by case ids of named issuers
(``case:<issuer>:<id>``). The hub keeps three tables, all co-partitioned with every ingress topic (same partition
count, keys hashed by the same partitioner):

- ``links``: case pseudonym -> person pseudonym (the BSN's), written the first time an event carries the case id
  with a BSN; a later event with that case id and another BSN is dead-lettered as a conflict, never merged. And the
  reverse, person pseudonym -> ``{"cases": [...], "pending": [...], "via": {...}}``, written where the person's
  events are decided, so that the retention job's purge finds every case of the person (``schakel.streams.purge``)
  and the ingress step knows which cases it may decide at once (``pending``: the person's events still on the long
  path, ``via``: the ``hub-link`` key each went under, ``schakel.streams.shortpath``);
- ``subjects``: person pseudonym -> :class:`~schakel.consent.SubjectState` (consent history and case invitations).
- ``subject-requests``: person pseudonym -> whether processing is restricted, and the open subject requests
  (``schakel.streams.requests``), read and written where the person's event is decided; a partner's confirmation of a
  request is handled there too, and decided no further. Who received data about the person is the key store's
  record (``schakel.retention.keystore``), written when the event's copies are sealed.
- ``agenda``: person pseudonym -> the ZVH's signal agenda (``schakel.streams.agenda_wiring``), written where the
  person's event is decided. Known limit: an agenda a case built as its own person before its first BSN event is
  not merged into the person's (consent and invitations are).

Connectors key an ingress record by the BSN's pseudonym when the event has a BSN, else by the case's. So an event
can sit on another partition - another worker - than its person's state. Three agents re-key where needed, each
reading only its own partition's table entries:

1. ``hub`` (every ingress topic): accept or dead-letter. A BSN without a case id: the key is the person, decide here.
   A case id without a BSN: the key is the case, so the ``links`` entry is here - resolve here (step 2). A case id
   with a BSN: the key is the person, whose reverse link is here. If it names the case and none of the person's
   events is pending on the long path, decide here (*the short path*, most of a case's events); otherwise mark the
   event pending and forward it to ``hub-link`` (*the long path*): a case's first event keyed by the case; one of a
   linked case, behind a pending one, keyed as the person's last pending event went, so it queues behind it on the
   same partition, marked as a pass-through to the person. Rules and limits: ``schakel.streams.shortpath``.
2. ``link`` (``hub-link``, keyed by the case): a pass-through goes on to ``hub-person`` keyed by the person it
   names, ``links`` unread. Otherwise read ``links`` for the case; conflict -> dead letter; a new link is
   written, and whatever state the case had as its own person travels along to be merged - with every event of the
   case this step forwards, not only the one that writes the link (``schakel.streams.shortpath.case_link``). If the
   case is its own person (no BSN known), decide here (the key is that person); otherwise forward to ``hub-person``
   keyed by the person.
3. ``person`` (``hub-person``, keyed by the person): merge what came along, decide on the person's state; whatever
   the outcome, the event is no longer pending. An event dead-lettered at the link step (a conflict) or whose forward
   the broker refused sends a notice here, keyed by the person, that clears its pending mark - the ingress step's by
   way of ``hub-link``, behind the forward it settles (which the broker may have stored though it reported a
   refusal: ``schakel.streams.shortpath``).

*Why not key every ingress record by a person id:* a connector cannot know that a case id belongs to a BSN; only the
hub's link table does. *Ordering:* events of one person under one key keep their sender's order, as before: an event
with a BSN and a case id takes the short path only when none of the person's events is pending on the long path, and
one case's events on the long path pass the same ``hub-link`` and ``hub-person`` partitions in order. Events that
travel different paths (a BSN-only event decided at step 1 while one with a case id is on its way to step 3; two
cases' first events, or a case's first event and another case's pending one, which pass different ``hub-link``
partitions) are decided in the order they reach the person's partition - the hub's arrival order, as between two
senders already. An event of a linked case held behind another case's pending event passes that event's ``hub-link``
partition, behind it, and does not overtake it. A withdrawal counts for everything decided after
it is applied, whichever identifier it came under. Known limit: a case-only event decided before the case's first
BSN event arrives is decided on the case's own state, which is then merged into the person's.

Guarantees: at-least-once, and nothing lost. Output records (and forwarded ones) are sent as soon as an event is
processed, and the event is acknowledged (its offset may be committed) only once the broker has confirmed every one of
them - or, when one could not be produced (refused by the producer or the broker), once the input's dead letter is
confirmed. A dead letter that cannot be produced is retried, the last tries with positions and reason only, and the
input stays unacknowledged meanwhile: the worker stalls rather than skip a record. The hub's consumer commits only
offsets below the first record the hub has not acknowledged, counted from where the partition was taken up
(``schakel.streams.commits``, which also says where Faust's own bookkeeping fell short), so a crash or a rebalance can
repeat a delivery but never lose one. Records settle concurrently but are acknowledged in offset order per partition
(:class:`_InOrder`), a test of a refused dead letter caught that Faust's commit skipped an unacknowledged record at the
head of a partition.

Judgement call: the tables (``subjects``, ``links`` and the ``event-ids`` index) are updated when an event is decided or
forwarded, before its outputs are confirmed; if they are then refused, the event is dead-lettered with its state change
kept - a resend of the dead letter applies the same change again, which is idempotent, and is not an id conflict (same
content).

Every copy carries its sender, event id, subject and recipient, and sinks drop duplicates (idempotent delivery); the
lineage store is idempotent by record id. Faust's ``exactly_once`` mode is not offered: its transactional producer
has open bugs (see the field notes).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import faust

from schakel.consent import Decision, Outcome, Policy, SubjectState
from schakel.retention import Sealer
from schakel.retention.job import run_retention
from schakel.settings import Settings
from schakel.streams import telemetry
from schakel.streams.agenda_wiring import AGENDA_EVENTS, AgendaKeeper
from schakel.streams.commits import acknowledge, holding, let_go
from schakel.streams.durability import use_idempotent_producer
from schakel.streams.faust_app import HubApp
from schakel.streams.partitioner import KeyPartitioner
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.purge import PurgeCommand, carry_out, linked_command, parse_command, with_case
from schakel.streams.records import MAX_REQUEST_BYTES, DeadLetter, Message
from schakel.streams.requests import RequestBook
from schakel.streams.requests_wiring import RequestDesk, erasure_hook, recipients_of
from schakel.streams.retention_wiring import RetentionKeeper
from schakel.streams.retry import until_stored
from schakel.streams.shortpath import (
    case_link,
    decided_at_ingress,
    is_notice,
    long_path,
    passed_person,
    pending_positions,
    position,
    settled_notice,
    with_pending,
    without_pending,
)
from schakel.streams.topics import HUB, HubTopics, ingress_sender

__all__ = ["create_app"]

_log = logging.getLogger("schakel.streams")

# Inputs whose outputs are not yet confirmed, at most: beyond it the agent waits (back-pressure, not loss).
_IN_FLIGHT = 1000

# The producer waits up to this long to fill a batch, and offsets are committed this often (each commit also flushes
# the producer). Measured (`make bench`, README): 5 ms and 0.5 s made about four produce requests per event and cost
# 5-10% more CPU per event than these; the price is at most 3 x 10 ms of latency over the three steps, and on a crash
# up to 2 s more records processed again (at-least-once: sinks and the lineage store drop the repeats). Commits run on
# this timer only, once the tables' changelog records before them are stored (schakel.streams.commits).
_LINGER_MS = 10
_COMMIT_INTERVAL = 2.0

# aiokafka and faust build a DEBUG record for every message unless their loggers are raised.
for _noisy in ("aiokafka", "faust", "mode"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


@dataclass
class _Step:
    """What one record of one agent comes to: a dead letter (of ``record``, the ingress record it carries), or the
    outputs to produce and the decisions taken, with the table writes to make once they are known to fit."""

    record: Record
    dead: DeadLetter | None = None
    accepted: Accepted | None = None
    outputs: list[Message] = field(default_factory=list)
    decisions: Sequence[Decision] = ()
    writes: list[Callable[[], None]] = field(default_factory=list)
    confirmed: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """To do once the broker stored ``outputs`` (or the dead letter): a granted erasure's key destruction."""
    notice: Message | None = None
    """Sent after the dead letter, if the event ends as one: it was pending on the long path, and the person step
    must hear that it will not arrive (:func:`schakel.streams.shortpath.settled_notice`)."""


def create_app(settings: Settings, policy: Policy) -> faust.App:
    """The hub's Faust app for these settings and this policy."""
    processor = Processor(settings, policy)
    keeper = AgendaKeeper(processor)
    retention = RetentionKeeper(settings, policy, Sealer.of(settings), processor.clock)
    desk = RequestDesk(processor, erasure_hook(retention.sealer.store), recipients_of(retention.sealer.store))
    topics = HubTopics.of(settings)
    (settings.data_dir / "hub").mkdir(parents=True, exist_ok=True)
    app = HubApp(
        topics.hub_app_id,
        broker=[f"kafka://{address.strip()}" for address in settings.kafka_bootstrap.split(",")],
        store="memory://",
        datadir=str(settings.data_dir / "hub"),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor or 1,  # `schakel run` sets the cluster's (streams/cli.py)
        topic_allow_declare=True,
        producer_acks=-1,
        producer_linger_ms=_LINGER_MS,
        producer_partitioner=KeyPartitioner(),  # Kafka's default choice, a repeated key's hash remembered
        producer_max_request_size=MAX_REQUEST_BYTES,
        broker_commit_interval=_COMMIT_INTERVAL,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        table_standby_replicas=1,
        broker_credentials=_credentials(settings),
    )
    use_idempotent_producer(app)
    ingress = app.topic(*topics.all_ingress(), **_raw(settings))
    link_step = app.topic(topics.link, **_raw(settings))
    person_step = app.topic(topics.person, **_raw(settings))
    # Keys are raw bytes (pseudonyms), values JSON (the app's default serializer).
    subjects = app.Table("subjects", default=None, partitions=settings.partitions, key_type=bytes)
    links = app.Table("links", default=None, partitions=settings.partitions, key_type=bytes)
    # The ZVH's signal agenda per person (streams/agenda.py), kept beside the person's state at the decide step.
    agenda = app.Table("agenda", default=None, partitions=settings.partitions, key_type=bytes)
    ids = app.Table(
        "event-ids",  # (subject, source, id) -> content digest: see schakel.streams.identity
        default=None,
        partitions=settings.partitions,
        key_type=bytes,
    )
    # person pseudonym -> restriction and open subject requests (schakel.streams.requests)
    requests = app.Table("subject-requests", default=None, partitions=settings.partitions, key_type=bytes)

    async def send(message: Message) -> Awaitable[Any]:
        """Hand one record to the producer; the result resolves when the broker has stored it."""
        return await app.producer.send(message.topic, message.key, message.value, None, None, message.headers)

    def decide(step: _Step, accepted: Accepted, person: str, merge: SubjectState | None = None) -> _Step:
        """On the person's partition: decide on the person's state; keep the state once the outputs fit."""
        key = person.encode()
        booked = requests.get(key)
        if desk.is_confirmation(accepted):  # a partner confirms a subject request: the hub's business only
            step.dead = desk.refused(accepted, booked)
            if step.dead is not None:
                return step
            confirmation = desk.confirmation(accepted, person, booked)
            confirmed_book = confirmation.book
            if confirmed_book is not None:
                step.writes.append(lambda: _keep_book(requests, key, confirmed_book))
            step.outputs += confirmation.messages  # a granted erasure: its lineage record, then the purge command
            erased = confirmation.erased
            if erased is not None:  # told partners' notices are sent as settled notices are: retried until stored
                step.confirmed.append(lambda: erased(notify))
            return step
        stored = subjects.get(key)
        state = SubjectState.from_json(stored) if stored is not None else SubjectState()
        if merge is not None:
            state = state.merge(merge)
        routed = processor.decide(accepted, state, person, desk.adjustment(accepted, person, booked))
        book, request_records = desk.after(accepted, person, booked, routed.decisions)
        if book is not None:
            step.writes.append(lambda: _keep_book(requests, key, book))
        if accepted.case is not None and accepted.case != person:  # the purge finds the person's cases here
            linked = with_case(links.get(key), accepted.case)
            if linked is not None:
                step.writes.append(lambda: links.__setitem__(key, linked))
        outputs = [*routed.messages, *request_records]
        step.decisions = routed.decisions
        if routed.state != state or (merge is not None and stored is None):
            after = routed.state.to_json()
            step.writes.append(lambda: subjects.__setitem__(key, after))
        if accepted.event.type in AGENDA_EVENTS:
            changed, bundle = keeper.step(accepted, person, routed.decisions, routed.state.consent, agenda.get(key))
            if changed is not None:
                step.writes.append(lambda: agenda.__setitem__(key, changed))
            outputs += bundle
        step.outputs += retention.seal(accepted, person, routed.decisions, outputs)  # the person's data key
        return step

    def link(step: _Step, accepted: Accepted, case: str) -> _Step:
        """On the case's partition: find (or make) the person the case belongs to, then decide or forward."""
        stored = links.get(case.encode())
        linked = stored if isinstance(stored, str) else None
        person = processor.link(accepted, linked)
        if isinstance(person, DeadLetter):
            step.dead = person
            return step
        found = case_link(linked, person, case, subjects.get(case.encode()))  # the case's state, every time
        if found.write:
            step.writes.append(lambda: links.__setitem__(case.encode(), person))
        merge = found.merge
        if person == case:
            return decide(step, accepted, person)
        step.outputs.append(processor.forward(accepted, topics.person, person, merge))
        return step

    def on_ingress(record: Record) -> _Step:
        step = _Step(record)
        outcome = processor.accept(record)
        if isinstance(outcome, DeadLetter):
            step.dead = outcome
            return step
        step.accepted = outcome
        key, digest = processor.index_entry(outcome)
        step.dead = processor.id_conflict(outcome, ids.get(key), digest)
        if step.dead is not None:
            return step
        step.writes.append(lambda: ids.__setitem__(key, digest))
        if outcome.case is None:
            return decide(step, outcome, outcome.pseudonym)
        if outcome.event.subject.bsn:
            person = outcome.pseudonym.encode()
            entry = links.get(person)
            if decided_at_ingress(entry, outcome.case):  # the short path: schakel.streams.shortpath
                return decide(step, outcome, outcome.pseudonym)
            at = position(record.topic, record.partition, record.offset)
            path = long_path(entry, outcome.case, at)  # behind the person's last pending event
            marked = with_pending(entry, at, path.key)
            step.writes.append(lambda: links.__setitem__(person, marked))
            through = outcome.pseudonym if path.through else None
            step.outputs.append(processor.forward(outcome, topics.link, path.key, through=through))
            step.notice = settled_notice(topics.link, record, path.key.encode())  # behind the forward
            return step
        return link(step, outcome, outcome.case)

    def forwarded(record: Record, then: Callable[[_Step, Accepted, SubjectState | None], _Step]) -> _Step:
        origin, merge = processor.forwarded(record)
        step = _Step(origin)
        outcome = processor.accept(origin)
        if isinstance(outcome, DeadLetter):  # it was accepted before it was forwarded; only a defect gets here
            step.dead = outcome
            return step
        step.accepted = outcome
        return then(step, outcome, merge)

    def on_link(record: Record) -> _Step:
        if is_notice(record.headers):  # the ingress step's notice, behind its refused forward: on to the person
            step = _Step(record)
            passed_on = on_link_dead(record)
            if passed_on is not None:
                step.confirmed.append(partial(notify, passed_on))  # retried until stored, this record unacknowledged
            return step

        person = passed_person(record.headers)

        def linked(step: _Step, accepted: Accepted, _merge: SubjectState | None) -> _Step:
            if accepted.case is None:
                raise ValueError("only events with a case id are forwarded to the link step")
            if person is not None:  # linked to the person already, queued here behind their last pending event
                if person != accepted.pseudonym:  # only the ingress step sets it, for the event's own person
                    raise ValueError("a pass-through for another person than the event's")
                step.outputs.append(processor.forward(accepted, topics.person, person))
                return step
            return link(step, accepted, accepted.case)

        return forwarded(record, linked)

    def on_link_dead(record: Record) -> Message | None:
        """The notice to send if a ``hub-link`` record's event ends as a dead letter (a conflict, a forward refused):
        it will not reach the person step, so it is no longer pending."""
        try:
            origin, _ = processor.forwarded(record)
        except ValueError:
            return None
        return settled_notice(topics.person, origin)

    def settled(record: Record) -> None:
        """On the person's partition: the event a ``hub-person`` record carries (or its notice names) is decided or
        dead-lettered, so no longer pending on the long path. Whatever became of it, so not one of :class:`_Step`'s
        writes (those are kept only for a decided event)."""
        try:
            origin, _ = processor.forwarded(record)
        except ValueError:
            return
        person = record.key or b""
        entry = links.get(person)
        at = position(origin.topic, origin.partition, origin.offset)
        if at not in pending_positions(entry):
            return
        rest = without_pending(entry, at)
        if rest is None:
            del links[person]
        else:
            links[person] = rest

    def on_person(record: Record) -> _Step:
        if is_notice(record.headers):
            return _Step(record)  # only settled() has something to do
        person = (record.key or b"").decode()

        def decided(step: _Step, accepted: Accepted, merge: SubjectState | None) -> _Step:
            return decide(step, accepted, person, merge)

        return forwarded(record, decided)

    def process(record: Record, step: Callable[[Record], _Step]) -> _Step:
        """What to produce for one record: a dead letter, or the outputs and decisions (tables updated)."""
        try:
            done = step(record)
            if done.dead is None and done.accepted is not None:
                done.dead = processor.unproducible(done.accepted, done.outputs)
            if done.dead is not None:
                done.outputs, done.decisions, done.confirmed = [], (), []  # the book stays open: no erasure
                return done
            for write in done.writes:
                write()
            return done
        except Exception as error:  # a defect must not stop the stream: fail closed, dead-letter, go on
            _log.exception("processing failed for %s[%d]@%d", record.topic, record.partition, record.offset)
            defect = "the hub failed to process this record (see the worker log for the defect)"
            return _Step(record, processor.dead_letter(record, type(error).__name__, defect))

    async def dead_letter(record: Record, dead: DeadLetter) -> None:
        """Produce ``dead`` and wait until the broker stored it. Retried until it is: the first try keeps the
        original value, later ones positions and reason only (the value may be what cannot be produced)."""

        async def attempt(tries: int) -> None:
            message = processor.dead_letter_message(record, dead, keep_value=tries == 0)
            await (await send(retention.seal_dead_letter(record, dead, message)))

        def failed(error: Exception, tries: int) -> None:
            _log.error(
                "dead letter for %s[%d]@%d not produced (%s), attempt %d; the record stays unacknowledged",
                record.topic,
                record.partition,
                record.offset,
                type(error).__name__,
                tries,
            )

        await until_stored(attempt, failed)
        telemetry.for_org(telemetry.DEAD_LETTERED, str(ingress_sender(record.topic, topics.prefix))).inc()

    in_order = _InOrder()

    async def notify(notice: Message) -> None:
        """Produce ``notice`` and wait until the broker stored it; retried until it is, the input unacknowledged."""

        async def attempt(_tries: int) -> None:
            await (await send(notice))

        def failed(error: Exception, tries: int) -> None:
            _log.error("a settled notice was not produced (%s), attempt %d", type(error).__name__, tries)

        await until_stored(attempt, failed)

    async def settle(entry: _Settling, done: _Step, pending: list[Awaitable[Any]]) -> None:
        """Settle ``entry`` once its outputs are confirmed, or once its dead letter is."""
        record = done.record
        if done.dead is None:
            try:
                await asyncio.gather(*pending)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # refused by the broker: the input goes to the dead-letter queue
                _log.error(
                    "output of %s[%d]@%d not produced (%s)",
                    record.topic,
                    record.partition,
                    record.offset,
                    type(error).__name__,
                )
                event = done.accepted.event if done.accepted else None
                done.dead = processor.output_failed(record, type(error).__name__, event)
        if done.dead is not None:
            await dead_letter(record, done.dead)
            if done.notice is not None:
                await notify(done.notice)
            if done.confirmed:  # a granted erasure stays granted: see schakel.streams.requests_wiring
                _log.error("an erasure's purge command was not confirmed: the hub's tables may keep the entries")
        else:
            _count(done.decisions)
        for then in done.confirmed:
            await then()
        in_order.settled(entry)

    async def handle(
        event: Any,
        step: Callable[[Record], _Step],
        *,
        notice: Callable[[Record], Message | None] | None = None,
        then: Callable[[Record], None] | None = None,
    ) -> None:
        """Process one record of an agent and settle it; ``notice``: what to send if it ends as a dead letter (now or
        when its outputs are refused), ``then``: done after processing, whatever the outcome."""
        message = event.message
        record = Record(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value or b"",  # a tombstone is an empty, undecodable record
            headers=list(message.headers or ()),
        )
        done = process(record, step)
        if notice is not None and done.notice is None:
            done.notice = notice(record)
        if then is not None:
            try:
                then(record)
            except Exception:  # fail closed: at worst the person stays on the long path
                _log.exception("after %s[%d]@%d", record.topic, record.partition, record.offset)
        pending: list[Awaitable[Any]] = []
        if done.dead is None:
            try:
                for output in done.outputs:
                    pending.append(await send(output))
            except Exception as error:  # refused by the producer at once
                _log.error(
                    "output of %s[%d]@%d not produced (%s)",
                    record.topic,
                    record.partition,
                    record.offset,
                    type(error).__name__,
                )
                event_ = done.accepted.event if done.accepted else None
                done.dead = processor.output_failed(done.record, type(error).__name__, event_)
        await in_flight.acquire()
        entry = in_order.received(event)
        task = asyncio.ensure_future(settle(entry, done, pending))
        settling.add(task)
        task.add_done_callback(_release)

    in_flight = asyncio.Semaphore(_IN_FLIGHT)
    settling: set[asyncio.Future[None]] = set()

    def _release(task: asyncio.Future[None]) -> None:
        settling.discard(task)
        in_flight.release()
        if not task.cancelled() and task.exception() is not None:
            _log.error("settling a record failed (%s); it stays unacknowledged", type(task.exception()).__name__)

    def unacknowledged(stream: faust.StreamT[bytes]) -> faust.StreamT[bytes]:
        # Acknowledged by settle(), never by the stream: an offset is committed only past settled records.
        return cast("faust.Stream[bytes]", stream).noack()  # StreamT does not declare noack()

    @app.agent(ingress, name="hub")
    async def hub(stream: faust.StreamT[bytes]) -> None:
        async for event in unacknowledged(stream).events():
            telemetry.for_org(telemetry.EVENTS_IN, str(ingress_sender(event.message.topic, topics.prefix))).inc()
            await handle(event, on_ingress)

    @app.agent(link_step, name="link")
    async def link_agent(stream: faust.StreamT[bytes]) -> None:
        async for event in unacknowledged(stream).events():
            await handle(event, on_link, notice=on_link_dead)

    @app.agent(person_step, name="person")
    async def person_agent(stream: faust.StreamT[bytes]) -> None:
        async for event in unacknowledged(stream).events():
            await handle(event, on_person, then=settled)

    async def report_lag() -> None:
        consumer = app.consumer
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            position = await consumer.position(tp)
            if highwater is not None and position is not None:
                telemetry.LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(max(highwater - position, 0))

    app.timer(interval=5.0)(report_lag)
    _retention_job(app, settings, _Tables(subjects, agenda, links, ids, requests), retention, send)

    return app


def _raw(settings: Settings) -> dict[str, Any]:
    """A topic of raw bytes (keys and values), with the partition count every co-partitioned topic shares."""
    return {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "partitions": settings.partitions,
    }


@dataclass(frozen=True)
class _Tables:
    subjects: Any
    agenda: Any
    links: Any
    ids: Any
    requests: Any


def _keep_book(requests: Any, key: bytes, book: dict[str, Any]) -> None:
    """Store a person's request book; an empty one is no entry (a tombstone when there was one)."""
    if RequestBook.from_json(book).empty:
        if requests.get(key) is not None:
            del requests[key]
        return
    requests[key] = book


def _retention_job(app: faust.App, settings: Settings, tables: _Tables, retention: RetentionKeeper, send: Any) -> None:
    """The retention job on the leader worker (``schakel.retention.job``), and the agent that carries out its purge
    commands: the worker owning a pseudonym's partition deletes what every table holds under it, which writes
    tombstones to the tables' compacted changelogs, and passes the purge on to the person's cases
    (:mod:`schakel.streams.purge`)."""
    topic = HubTopics.of(settings).purge
    purge = app.topic(
        topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    by_name = {
        "subjects": tables.subjects,
        "agenda": tables.agenda,
        "links": tables.links,
        "event-ids": tables.ids,
        "subject-requests": tables.requests,
    }

    @app.agent(purge, name="purge")
    async def purger(stream: faust.StreamT[bytes]) -> None:
        # Acknowledged by the hub once carried out, as every agent's records are (schakel.streams.commits counts no
        # other acknowledgement).
        async for event in cast("faust.Stream[bytes]", stream).noack().events():
            command = parse_command(event.key, event.value)
            if command is not None:
                steps = await carry_out(command, by_name, partial(tell_case, command), holding(event))
                if steps is None:  # revoked while it waited: the partition's next owner carries it out
                    message = event.message
                    _log.warning(
                        "purge command %s[%d]@%d left to the partition's next owner (revoked while it waited)",
                        message.topic,
                        message.partition,
                        message.offset,
                    )
                    let_go(event)
                    continue
            acknowledge(event)

    async def tell_case(command: PurgeCommand, case: str) -> None:
        """Send a case of the person its command; return once the broker stored it."""
        await (await send(Message(topic, case.encode(), linked_command(command.key))))

    store = retention.sealer.store
    if store is None:  # copies unsealed (the bench's baseline): nothing to shred
        return

    async def retention_run() -> None:
        try:
            await run_retention(settings, store, send, datetime.now(UTC))
        except Exception as error:  # the next tick tries again; the keys of those not confirmed stay
            _log.error("retention run failed (%s); it runs again in %s s", type(error).__name__, app_interval)

    app_interval = settings.retention_interval_seconds
    app.timer(interval=app_interval, on_leader=True)(retention_run)


@dataclass
class _Settling:
    event: Any
    done: bool = False


class _InOrder:
    """Acknowledges a partition's events in offset order, each once it and every earlier one have settled."""

    def __init__(self) -> None:
        self._waiting: dict[Any, deque[_Settling]] = defaultdict(deque)

    def received(self, event: Any) -> _Settling:
        entry = _Settling(event)
        self._waiting[event.message.tp].append(entry)
        return entry

    def settled(self, entry: _Settling) -> None:
        entry.done = True
        waiting = self._waiting[entry.event.message.tp]
        while waiting and waiting[0].done:
            acknowledge(waiting.popleft().event)


def _count(decisions: Sequence[Decision]) -> None:
    for decision in decisions:
        recipient = str(decision.recipient)
        if decision.outcome is Outcome.DENY:
            telemetry.for_org(telemetry.DENIED, recipient).inc()
            continue
        telemetry.for_org(telemetry.DELIVERED, recipient).inc()
        if decision.outcome is Outcome.PARTIAL:
            telemetry.for_org(telemetry.WITHHELD, recipient).inc()


def _credentials(settings: Settings, principal: str = HUB) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """Faust's form of a Kafka identity (the hub's: principal ``hub``) and the TLS settings."""
    context = settings.kafka_ssl_context()
    identity = settings.kafka_sasl(principal)
    if identity is None:
        return None if context is None else faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=identity[0],
        password=identity[1].get_secret_value(),
        mechanism=settings.kafka_mechanism,
        ssl_context=context,
    )
