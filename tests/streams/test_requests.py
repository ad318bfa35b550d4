"""Subject requests without Kafka: the hub's request steps over an in-memory table and a real key store (the record of
who received data about a person), and the request book itself."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schakel.consent import Outcome, Reason, SubjectState, load_policy
from schakel.lineage import (
    RETENTION_NOTICE_RECORD_NAME,
    LineageRecord,
    RequestState,
    records_from_bytes,
    request_deadline,
)
from schakel.lineage.requests import request_statuses
from schakel.retention import KeyStore, Opener, Sealer
from schakel.schemas import Event, EventType, Organisation, Theme
from schakel.schemas.examples import example_event
from schakel.settings import Settings
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.purge import PURGE
from schakel.streams.records import DeadLetter, Message, ingress_message
from schakel.streams.requests import RequestBook
from schakel.streams.requests_wiring import RecipientsUnknownError, RequestDesk, erasure_hook, recipients_of
from schakel.streams.retention_wiring import RetentionKeeper

NOW = datetime(2026, 12, 1, 10, tzinfo=UTC)


@dataclass
class _Steps:
    """The hub's request steps (``schakel.streams.hub``) with a dict for the ``subject-requests`` table; copies are
    sealed, and their recipients recorded, in the key store as the hub does."""

    processor: Processor
    desk: RequestDesk
    keeper: RetentionKeeper
    table: dict[bytes, Any] = field(default_factory=dict)
    lineage: list[LineageRecord] = field(default_factory=list)
    copies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    purges: list[Message] = field(default_factory=list)
    offset: int = 0
    hold: bool = False
    """Keep a granted erasure's key destruction in ``held`` instead of doing it at once (the broker has not yet
    confirmed the closing confirmation's records: the hub goes on deciding meanwhile)."""
    held: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def handle(self, event: Event) -> list[Any]:
        message = ingress_message(event, self.processor.settings)
        self.offset += 1
        record = Record(message.topic, 0, self.offset, message.key, message.value, list(message.headers))
        accepted = self.processor.accept(record)
        assert isinstance(accepted, Accepted)
        key = record.key or b""
        if self.desk.is_confirmation(accepted):
            refused = self.desk.refused(accepted, self.table.get(key))
            if refused is not None:
                self.dead.append(refused)
                return []
            confirmation = self.desk.confirmation(accepted, accepted.pseudonym, self.table.get(key))
            book, messages = confirmation.book, confirmation.messages
            erased = confirmation.erased
            if erased is not None:
                self.purges.extend(m for m in messages if m.topic == self.processor.topics.purge)
                self.held.append(lambda: erased(self.deliver))  # as the hub does once the broker stored the messages
                if not self.hold:
                    self.confirm()
            decisions: list[Any] = []
        else:
            stored = self.table.get(key)
            adjust = self.desk.adjustment(accepted, accepted.pseudonym, stored)
            routed = self.processor.decide(accepted, SubjectState(), accepted.pseudonym, adjust)
            book, extra = self.desk.after(accepted, accepted.pseudonym, stored, routed.decisions)
            messages = self.keeper.seal(accepted, accepted.pseudonym, routed.decisions, [*routed.messages, *extra])
            decisions = list(routed.decisions)
        if book is not None:
            self.table[key] = book
        for out in messages:
            if out.topic != self.processor.topics.purge:
                self.send(out)
        return decisions

    def send(self, out: Message) -> None:
        if out.topic == self.processor.topics.lineage:
            self.lineage.extend(records_from_bytes(out.value))  # every record lineage would accept
        else:
            recipient = out.topic.rsplit(".", 1)[-1]
            plain = Opener(self.keeper.sealer.store).open_copy(out.value, out.headers)
            self.copies.setdefault(recipient, []).append(self.processor.codec.decode_json(plain))

    async def deliver(self, out: Message) -> None:
        """The hub's way to send a granted erasure's notices: returns once the broker stored the record."""
        self.send(out)

    def confirm(self) -> None:
        """The broker stored the held erasures' records: the hub destroys the keys."""

        async def destroy() -> None:
            while self.held:
                await self.held.pop(0)()

        asyncio.run(destroy())

    def person(self, event: Event) -> str:
        return (ingress_message(event, self.processor.settings).key or b"").decode()

    def book(self, event: Event) -> RequestBook:
        return RequestBook.from_json(self.table.get(self.person(event).encode()))


@pytest.fixture
def erased() -> list[str]:
    return []


@pytest.fixture
def steps(tmp_path: Path, erased: list[str]) -> _Steps:
    settings = Settings(topic_prefix="unit.", data_dir=tmp_path)
    policy, store = load_policy(), KeyStore.of(settings)
    processor = Processor(settings, policy, clock=lambda: NOW)
    shred = erasure_hook(store)

    def erase(person: str, told: Collection[str]) -> Mapping[str, str]:
        untold = shred(person, told)
        if not untold:
            erased.append(person)
        return untold

    desk = RequestDesk(processor, erase_subject_data=erase, recipients=recipients_of(store))
    return _Steps(processor, desk, RetentionKeeper(settings, policy, Sealer(store), processor.clock))


def _person() -> dict[str, Any]:
    first = example_event(EventType.SIGNAL, Theme.LVB, source=Organisation.POLITIE.value)
    return {"subject": first.subject.model_dump(mode="json"), "case_id": first.case_id}


def _signal(person: dict[str, Any]) -> Event:
    return example_event(EventType.SIGNAL, Theme.LVB, source=Organisation.POLITIE.value, **person)


def _request(person: dict[str, Any], **payload: Any) -> Event:
    return example_event(
        EventType.SUBJECT_REQUEST,
        Theme.LVB,
        source="zvh",
        purpose="case-consultation",
        payload={"kind": None, "restriction": None, "confirms": None, **payload},
        **person,
    )


def _confirmation(person: dict[str, Any], request: Event, by: str) -> Event:
    payload = request.to_json()["payload"]
    return example_event(
        EventType.SUBJECT_REQUEST,
        Theme.LVB,
        source=by,
        purpose="case-consultation",
        payload={**payload, "confirms": str(request.id)},
        **person,
    )


def _delivered(decisions: list[Any]) -> set[str]:
    return {str(d.recipient) for d in decisions if d.outcome is not Outcome.DENY}


def test_an_erasure_goes_to_exactly_the_partners_that_received_data_and_closes_on_their_confirmations(
    steps: _Steps, erased: list[str]
) -> None:
    person = _person()
    received = _delivered(steps.handle(_signal(person)))
    partners = received - {"zvh"}  # the contact point acts on the request itself
    assert partners, "the signal must reach a partner besides the ZVH, or the test proves nothing"
    erasure = _request(person, kind="erasure")
    decisions = steps.handle(erasure)
    assert _delivered(decisions) == partners
    denied = [d for d in decisions if str(d.recipient) not in partners]
    assert denied
    assert all(d.reasons == (Reason.NO_DATA_RECEIVED,) for d in denied)
    assert {r for r, copies in steps.copies.items() if any(c["id"] == str(erasure.id) for c in copies)} == partners

    (status,) = request_statuses(steps.lineage, NOW)
    assert (status.request, status.state, set(status.not_confirmed)) == ("erasure", RequestState.OPEN, partners)
    assert status.deadline == request_deadline(NOW) == datetime(2027, 1, 1, 10, tzinfo=UTC)

    first, *rest = sorted(partners)
    steps.handle(_confirmation(person, erasure, first))
    steps.handle(_confirmation(person, erasure, first))  # repeated: harmless
    assert steps.dead == []
    stray = "rvdk" if "rvdk" not in partners else "om"
    steps.handle(_confirmation(person, erasure, stray))  # never asked: refused, and the sender learns why
    (refused,) = steps.dead
    assert (refused.error_class, refused.topic) == ("ConfirmationNotForwarded", f"unit.ingress.{stray}")
    (status,) = request_statuses(steps.lineage, NOW)
    assert set(status.not_confirmed) == set(rest)
    assert erased == []
    for partner in rest:
        steps.handle(_confirmation(person, erasure, partner))
    (status,) = request_statuses(steps.lineage, NOW + timedelta(days=40))
    assert status.state is RequestState.CLOSED
    assert erased == [steps.person(erasure)], "the data key is destroyed once, when the erasure closes"
    (purge,) = steps.purges
    assert (purge.key, purge.value) == (steps.person(erasure).encode(), PURGE), "and the tables purge the person"
    assert steps.keeper.sealer.store is not None
    assert steps.keeper.sealer.store.recipients(steps.person(erasure)) == {}, "and who received data is forgotten"


def _signal_about(person: dict[str, Any], theme: Theme) -> Event:
    return example_event(EventType.SIGNAL, theme, source=Organisation.POLITIE.value, **person)


@pytest.mark.parametrize("meanwhile", ["while the request was open", "while the broker confirmed the closing"])
def test_a_partner_that_received_data_the_erasure_did_not_reach_is_told_before_the_key_goes(
    steps: _Steps, erased: list[str], meanwhile: str
) -> None:
    """A copy that went to a partner after the erasure was forwarded (it had received nothing then): once the erasure
    is granted, that partner is told to delete too - a ``RetentionExpired`` with reason ``erasure`` and its lineage
    record - and the key goes all the same."""
    person = _person()
    partners = _delivered(steps.handle(_signal_about(person, Theme.LVB))) - {"zvh"}
    erasure = _request(person, kind="erasure")
    assert _delivered(steps.handle(erasure)) == partners
    later = _signal_about(person, Theme.CTER)
    first, *rest = sorted(partners)
    if meanwhile == "while the request was open":
        newcomers = _delivered(steps.handle(later)) - partners - {"zvh"}
    for partner in rest:
        steps.handle(_confirmation(person, erasure, partner))
    steps.hold = True
    steps.handle(_confirmation(person, erasure, first))  # closes the erasure; the broker has not confirmed yet
    if meanwhile == "while the broker confirmed the closing":
        newcomers = _delivered(steps.handle(later)) - partners - {"zvh"}
    assert newcomers, "the later signal must reach a partner the erasure did not, or the test proves nothing"
    assert all(any(c["id"] == str(later.id) for c in steps.copies[p]) for p in newcomers), "they read their copy"
    steps.confirm()

    def told(partner: str) -> list[dict[str, Any]]:
        return [c for c in steps.copies.get(partner, []) if c["type"] == EventType.RETENTION_EXPIRED.value]

    for partner in newcomers:
        (notice,) = told(partner)
        assert notice["payload"]["reason"] == "erasure"
    assert all(told(partner) == [] for partner in partners | {"zvh"}), "the others were told by the request"
    records = [r for r in steps.lineage if r.name == RETENTION_NOTICE_RECORD_NAME]
    assert sorted(r.recipient for r in records) == sorted(newcomers)
    assert all(r.reasons == ("erasure",) for r in records)
    assert erased == [steps.person(erasure)], "and the key is destroyed"
    assert steps.keeper.sealer.store is not None
    assert steps.keeper.sealer.store.recipients(steps.person(erasure)) == {}


def test_a_restriction_stops_deliveries_until_lifted(steps: _Steps) -> None:
    person = _person()
    before = _delivered(steps.handle(_signal(person)))
    assert before
    restriction = _request(person, restriction="restrict")
    assert _delivered(steps.handle(restriction)) == before - {"zvh"}
    assert steps.book(restriction).restricted == str(restriction.id)
    during = steps.handle(_signal(person))
    assert _delivered(during) == set()
    assert {d.recipient.value for d in during if d.reasons == (Reason.PROCESSING_RESTRICTED,)} == before
    restricted_records = [r for r in steps.lineage if Reason.PROCESSING_RESTRICTED.value in r.reasons]
    assert {r.recipient for r in restricted_records} == before
    assert all(r.outcome == "deny" and r.rule is not None for r in restricted_records)
    steps.handle(_request(person, restriction="lift"))
    assert _delivered(steps.handle(_signal(person))) == before
    statuses = request_statuses(steps.lineage, NOW)
    assert sorted(s.request for s in statuses) == ["restriction", "restriction-lifted"]  # one clock: same time


def test_overdue_after_one_month() -> None:
    assert request_deadline(datetime(2027, 1, 31, tzinfo=UTC)) == datetime(2027, 2, 28, tzinfo=UTC)
    assert request_deadline(datetime(2028, 1, 31, tzinfo=UTC)) == datetime(2028, 2, 29, tzinfo=UTC)
    assert request_deadline(datetime(2026, 12, 15, tzinfo=UTC)) == datetime(2027, 1, 15, tzinfo=UTC)


def test_a_request_from_another_partner_is_refused_but_its_confirmation_is_not(steps: _Steps) -> None:
    """Requests are made at the contact point: a partner may not claim a request's purpose (dead-lettered by the
    covenants' claims); a partner's confirmation claims no purpose and is accepted."""
    person = _person()
    own = _request(person, restriction="restrict")
    own = own.model_copy(update={"source": Organisation.POLITIE})
    message = ingress_message(own, steps.processor.settings)
    refused = steps.processor.accept(Record(message.topic, 0, 1, message.key, message.value, list(message.headers)))
    assert isinstance(refused, DeadLetter)
    assert refused.error_class == "PurposeNotClaimable"
    confirmation = _confirmation(person, _request(person, kind="erasure"), "politie")
    message = ingress_message(confirmation, steps.processor.settings)
    accepted = steps.processor.accept(Record(message.topic, 0, 2, message.key, message.value, list(message.headers)))
    assert isinstance(accepted, Accepted)
    assert steps.handle(confirmation) == []  # decided for no one; it confirms no open request, so no record either
    assert steps.lineage == []


def test_the_recipients_are_the_key_stores_which_every_worker_reads_and_without_one_a_request_is_refused(
    steps: _Steps,
) -> None:
    """Another worker (a rebalance; no ``subject-requests`` entry of its own) forwards a request to the partners the
    key store recorded; with copies unsealed there is no such record, and the request is refused, not guessed."""
    person = _person()
    received = _delivered(steps.handle(_signal(person)))
    other = _Steps(steps.processor, steps.desk, steps.keeper)  # an empty table: nothing of the person's book
    erasure = _request(person, kind="erasure")
    assert _delivered(other.handle(erasure)) == received - {"zvh"}

    unsealed = RequestDesk(steps.processor)  # no key store: nobody is known to have received data
    message = ingress_message(_request(person, kind="erasure"), steps.processor.settings)
    accepted = steps.processor.accept(Record(message.topic, 0, 9, message.key, message.value, list(message.headers)))
    assert isinstance(accepted, Accepted)
    with pytest.raises(RecipientsUnknownError):
        unsealed.adjustment(accepted, accepted.pseudonym, None)
