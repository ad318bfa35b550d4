"""The hub's own work in the leanest wiring Python allows: the ceiling of the hub/bare throughput ratio.

Not a product and not a shortcut for one - a measuring stick for issue 14's throughput goal (hub >= 0.6x the bare
fan-out). One process, every table a dict, no Faust: records are read from the ingress topics in batches of up to 500
(as the bare program reads them), and for each the hub's work as ``schakel.streams.hub`` does it - accept (decode and
check), the event-id check, the case's link, the decision on the person's state (copies, lineage pack, link record,
the agenda step), the requests desk's adjustment, sealing the copies with the person's data key (the key store's
commit, an fsync, for a new person) - then the outputs are sent, and the table entries the event changed are written
as one record each to a state topic, as a table's changelog would be (the state must survive a crash). The batch is
flushed and its offsets committed before the next, as the bare program does.

What it leaves out, each of which the real hub must pay for: the three steps of a case's first event (the state is
in one process, so no forward), order per partition under concurrency, acknowledgement bookkeeping, dead letters,
retries, rebalancing, standby replicas. So its events/s is an upper bound for any wiring of the hub's work in Python
on one core: if it is below the goal's 0.6 of the bare rate, no change of wiring meets the goal; the hub's own code
(decoding, deciding, encoding, sealing) would have to get cheaper first.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka.structs import ConsumerRecord

from schakel.consent import SubjectState, load_policy
from schakel.retention import Sealer
from schakel.settings import Settings
from schakel.streams import telemetry
from schakel.streams.agenda_wiring import AGENDA_EVENTS, AgendaKeeper
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.purge import with_case
from schakel.streams.records import Message
from schakel.streams.requests_wiring import RequestDesk, erasure_hook, recipients_of
from schakel.streams.retention_wiring import RetentionKeeper
from schakel.streams.topics import HubTopics
from tests.bench._relay import relay


class LeanHub:
    """The hub's decisions on in-memory tables; :meth:`handle` returns the records one ingress record comes to."""

    def __init__(self, settings: Settings) -> None:
        policy = load_policy(settings.covenants_dir)
        self.processor = Processor(settings, policy)
        self.agenda_keeper = AgendaKeeper(self.processor)
        self.retention = RetentionKeeper(settings, policy, Sealer.of(settings), self.processor.clock)
        store = self.retention.sealer.store
        self.desk = RequestDesk(self.processor, erasure_hook(store), recipients_of(store))
        self.state_topic = HubTopics.of(settings).link  # unused by this wiring otherwise: its changelog stands in
        self.ids: dict[bytes, str] = {}
        self.links: dict[bytes, Any] = {}
        self.subjects: dict[bytes, Any] = {}
        self.agenda: dict[bytes, Any] = {}

    def handle(self, record: Record) -> list[Message]:
        accepted = self.processor.accept(record)
        if not isinstance(accepted, Accepted):
            raise RuntimeError("the bench's events are valid: a dead letter means the bench is wrong")
        key, digest = self.processor.index_entry(accepted)
        if self.processor.id_conflict(accepted, self.ids.get(key), digest) is not None:
            raise RuntimeError("the bench's event ids are unique")
        self.ids[key] = digest
        changed: list[tuple[bytes, Any]] = [(key, digest)]
        person = accepted.pseudonym
        if accepted.case is not None:
            linked = self.links.get(accepted.case.encode())
            found = self.processor.link(accepted, linked if isinstance(linked, str) else None)
            if not isinstance(found, str):
                raise RuntimeError("the bench's cases belong to one person each")
            person = found
            if linked is None:
                self.links[accepted.case.encode()] = person
                changed.append((accepted.case.encode(), person))
        return [*self._decide(accepted, person, changed), *self._changelog(changed)]

    def _decide(self, accepted: Accepted, person: str, changed: list[tuple[bytes, Any]]) -> list[Message]:
        key = person.encode()
        stored = self.subjects.get(key)
        state = SubjectState.from_json(stored) if stored is not None else SubjectState()
        routed = self.processor.decide(accepted, state, person, self.desk.adjustment(accepted, person, None))
        _, request_records = self.desk.after(accepted, person, None, routed.decisions)
        outputs = [*routed.messages, *request_records]
        if accepted.case is not None and accepted.case != person:  # the person's cases, for the purge
            cases = with_case(self.links.get(key), accepted.case)
            if cases is not None:
                self.links[key] = cases
                changed.append((key, cases))
        if routed.state != state:
            self.subjects[key] = routed.state.to_json()
            changed.append((key, self.subjects[key]))
        if accepted.event.type in AGENDA_EVENTS:
            agenda, bundle = self.agenda_keeper.step(
                accepted, person, routed.decisions, routed.state.consent, self.agenda.get(key)
            )
            if agenda is not None:
                self.agenda[key] = agenda
                changed.append((key, agenda))
            outputs += bundle
        return self.retention.seal(accepted, person, routed.decisions, outputs)

    def _changelog(self, changed: list[tuple[bytes, Any]]) -> list[Message]:
        return [Message(self.state_topic, key, json.dumps(value).encode(), []) for key, value in changed]


def own_work_ms(settings: Settings, messages: Sequence[Message], warm_up: int, repeats: int = 3) -> float:
    """CPU milliseconds per event of :meth:`LeanHub.handle` alone - no Kafka at all - over ``messages`` after the
    first ``warm_up`` (handled first, unmeasured), in this process, each repeat in a fresh data directory; the best
    of ``repeats``, so that a busy moment of a shared machine disturbs it less."""
    records = [
        Record(message.topic, 0, offset, message.key, message.value, list(message.headers))
        for offset, message in enumerate(messages)
    ]
    best = float("inf")
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="schakel-bench-") as directory:
            hub = LeanHub(settings.model_copy(update={"data_dir": Path(directory)}))
            for record in records[:warm_up]:
                hub.handle(record)
            start = time.process_time()
            for record in records[warm_up:]:
                hub.handle(record)
            best = min(best, (time.process_time() - start) * 1000 / max(len(records) - warm_up, 1))
    return best


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Read the ingress topics and write what :class:`LeanHub` makes of each record, batch by batch, until ``stop``."""
    telemetry.configure_tracing()  # as `schakel run` does: no exporter unless OTEL_EXPORTER_OTLP_ENDPOINT is set
    hub = LeanHub(settings)

    def outputs(record: ConsumerRecord[bytes, bytes]) -> list[Message]:
        return hub.handle(
            Record(record.topic, record.partition, record.offset, record.key, record.value, list(record.headers))
        )

    await relay(settings, "lean", stop, outputs)
