"""The contract test kit: an abstract pytest test case every connector subclasses to prove it honours the contract.

::

    from schakel.connectors.testing import ConnectorContract
    from my_connector import CONNECTOR

    class TestMyConnector(ConnectorContract):
        connector = CONNECTOR

Each test runs the connector in-process against a real Kafka broker (``SCHAKEL_KAFKA_BOOTSTRAP``, default
127.0.0.1:9092) and its own simulated partner system, under a unique topic prefix and a temporary data dir. It
proves: the source puts the mapped event on ``ingress.<org>`` (key = subject pseudonym, CloudEvents headers); the
sink delivers egress copies in per-subject order and writes a receipt for each; a duplicate is dropped; a partner that
is down is retried until it is back; past the maximum a copy is dead-lettered with its reason (no personal data in
headers) and can be resent; bad partner input gets a clear error and affects nothing else.

It also feeds the source the poison corpus (:func:`poison_corpus`: hostile encodings and structures, wrong types,
references, fields and values, an input over the transport's size limit, and CSV files for a file drop) and asserts
for every case the code and reason the partner sees, that nothing of it reached the ingress topic, that the next good
record did, and that no value about a person appears in a reason, a dead-letter header or a log line. And the data
subject's requests: the contact point files them, every other partner receives them and confirms them through its own
connector, and may not file one. A simulated
partner system of your own reports refusals through :meth:`SimulatedPartner.refusal` (the shipped HTTP, file-drop
and database simulations do).

Override :meth:`ConnectorContract.check_event` for connector-specific assertions on the mapped event, and the
``contract_bootstrap`` fixture to start a broker first (this project's tests do).
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schakel.connectors import _kafka
from schakel.connectors.contract import Connector
from schakel.connectors.deadletter import MAX_EXCERPT, resend
from schakel.connectors.intake import MAX_DEPTH
from schakel.connectors.running import RunningConnector, start_connector
from schakel.connectors.simulation import SimulatedFileDropPartner, SimulatedPartner, Submission
from schakel.consent import Pseudonymizer
from schakel.consent import subject_key as key_of_subject
from schakel.retention import Sealer
from schakel.schemas import (
    Codec,
    Event,
    EventType,
    Organisation,
    SubjectRequestEvent,
    cloudevent_headers,
    parse_event,
)
from schakel.schemas.examples import example_form
from schakel.settings import Settings
from schakel.streams.access import provision
from schakel.streams.records import Message, header
from schakel.streams.topics import ADMIN, HubTopics

__all__ = [
    "FAST_RETRY",
    "PERSONAL_VALUES",
    "ConnectorContract",
    "PoisonCase",
    "copy_message",
    "egress_message",
    "eventually",
    "poison_corpus",
    "projected_form",
    "read_topic",
    "topic_size",
    "write",
]

FAST_RETRY: Mapping[str, Any] = {"initial_backoff": 0.05, "max_backoff": 0.2, "multiplier": 2.0, "jitter": 0.5}
_TIMEOUT = 45.0


async def eventually(check: Callable[[], Any], timeout: float = _TIMEOUT, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail with its last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(interval)
        value = check()
    return value


async def read_topic(
    settings: Settings, topic: str, count: int, *, timeout: float = _TIMEOUT, where: Callable[[Any], bool] | None = None
) -> list[Any]:
    """The first ``count`` records of ``topic`` (matching ``where``), read from the beginning without a group (as
    admin: the test watches every topic)."""
    consumer = AIOKafkaConsumer(**settings.kafka_client_config(ADMIN), group_id=None, enable_auto_commit=False)
    await consumer.start()
    found: list[Any] = []
    try:
        partitions = await _kafka.partitions(consumer, topic, timeout)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                found.extend(r for r in records if where is None or where(r))
    finally:
        await consumer.stop()
    if len(found) < count:
        raise AssertionError(f"{topic}: {len(found)} of {count} records within {timeout}s")
    return found


async def write(settings: Settings, *messages: Message) -> None:
    """Produce messages and wait for the broker's acknowledgement (as admin: the test plays the hub)."""
    producer = AIOKafkaProducer(**settings.kafka_client_config(ADMIN), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for message in messages:
            await producer.send_and_wait(message.topic, key=message.key, value=message.value, headers=message.headers)
    finally:
        await producer.stop()


def projected_form(
    event_type: EventType | str = EventType.SIGNAL,
    *,
    recipient: str,
    settings: Settings,
    subject_key: str,
    withheld: tuple[str, ...] = (),
    seed: int | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A projected copy's JSON form as the hub writes it for ``recipient``: BSN removed, recipient pseudonym set,
    ``withheld`` payload fields null."""
    form = parse_event(example_form(event_type, seed=seed, **overrides)).to_json()
    pseudonymizer = Pseudonymizer(settings.pseudonym_key.get_secret_value().encode())
    form["subject"] = {
        **form["subject"],
        "bsn": None,
        "pseudonym": pseudonymizer.for_recipient(subject_key, Organisation(recipient)),
    }
    for name in withheld:
        form["payload"][name] = None
    return form


def egress_message(form: Mapping[str, Any], *, recipient: str, settings: Settings, subject_key: str) -> Message:
    """The egress record the hub writes for a projected copy (the record format agreed with the hub), sealed with
    the person's data key in the settings' key store, as the hub seals it (:mod:`schakel.retention`)."""
    pseudonymizer = Pseudonymizer(settings.pseudonym_key.get_secret_value().encode())
    recipient_pseudonym = str(form["subject"]["pseudonym"])
    subject = pseudonymizer.subject(subject_key)
    value, headers = Sealer.of(settings).seal_copy(
        subject,
        Codec().encode_json(form),
        [
            *cloudevent_headers(form, settings.source_urns),
            ("traceparent", f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01".encode()),
            ("schakel-recipient", recipient.encode()),
            # The hub pseudonym only sealed, per copy: it never leaves the hub in the clear (issue 11).
            ("schakel-subject-ref", pseudonymizer.seal(subject, f"{form['id']}/{recipient}").encode()),
            ("schakel-subject-key", subject_key.split(":", 1)[0].encode()),
            ("schakel-outcome", b"permit"),
        ],
    )
    return Message(
        topic=HubTopics.of(settings).egress(recipient), key=recipient_pseudonym.encode(), value=value, headers=headers
    )


def copy_message(settings: Settings, recipient: str, subject_key: str, **kwargs: Any) -> tuple[dict[str, Any], Message]:
    """A projected copy for ``recipient`` and its egress record (see :func:`projected_form` for ``kwargs``)."""
    form = projected_form(recipient=recipient, settings=settings, subject_key=subject_key, **kwargs)
    return form, egress_message(form, recipient=recipient, settings=settings, subject_key=subject_key)


BSN = "999990019"
NAME = "Sara Meijer"
FREE_TEXT = "Sara-vertelde-over-haar-schulden-bij-de-buren"
PERSONAL_VALUES = (BSN, NAME, "Meijer", FREE_TEXT, "999990018")
"""Values about a person that the poison corpus puts into its inputs; none may reach a log line, a dead-letter
header or a reason."""

_JSON = frozenset({"malformed-json"})
_CSV = frozenset({"malformed-csv"})
_INVALID = frozenset({"invalid-record"})
_UNKNOWN = frozenset({"unknown-event-type"})
_OVERSIZED = frozenset({"oversized-body"})


@dataclass(frozen=True)
class PoisonCase:
    """One bad input: what it is, its bytes (or a sparse size), the codes it may be refused with, and the file
    suffix under which a file drop receives it (``.csv`` cases are for file drops only)."""

    label: str
    raw: bytes
    codes: frozenset[str]
    suffix: str = ".json"
    sparse_size: int | None = None


WRONG_BSN = "999990018"
"""The valid synthetic BSN with its last digit one lower: fails the 11-test (the weighted sum moves by one)."""


def poison_corpus(partner: SimulatedPartner, *, max_bytes: int | None) -> list[PoisonCase]:
    """Bad inputs for a partner's source: hostile encodings and structures (refused before any mapping), records
    whose type, reference, fields or values are wrong (refused by the mapping or the catalogue), and an input over
    the transport's size limit (``max_bytes``). Every input that can carry a value about a person carries one of
    :data:`PERSONAL_VALUES`, so the test can prove none leaks."""
    mapping = getattr(partner, "mapping", None)
    assert mapping is not None, "the poison corpus needs the partner's RecordMapping"
    envelope = {path: name for name, path in mapping.envelope.items()}
    type_field, reference_field = mapping.type_field, mapping.reference_field
    good = dict(partner.example())
    if "subject.bsn" in envelope:
        good[envelope["subject.bsn"]] = BSN
    if "subject.name" in envelope:
        good[envelope["subject.name"]] = NAME

    def record(**changes: Any) -> dict[str, Any]:
        return {**good, **changes}

    def data(value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False).encode()

    def extended(fragment: bytes) -> bytes:  # the good record with one more member, written by hand
        return data(good)[:-1] + b", " + fragment + b"}"

    text = data(good)
    cases = [
        PoisonCase("deep lists (100 kB)", b"[" * 50_000 + b"]" * 50_000, _JSON),
        PoisonCase("deep objects", b'{"a":' * 5_000 + b"1" + b"}" * 5_000, _JSON),
        PoisonCase("one level past the depth limit", extended(b'"x": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH), _JSON),
        PoisonCase(
            "lone surrogate in a value", extended(b'"toelichting": "' + FREE_TEXT.encode() + b'\\ud800"'), _JSON
        ),
        PoisonCase("lone surrogate in a key", extended(b'"\\udfff": 1'), _JSON),
        PoisonCase("escaped NUL in a value", extended(b'"toelichting": "' + FREE_TEXT.encode() + b'\\u0000"'), _JSON),
        PoisonCase("raw NUL byte in a value", extended(b'"toelichting": "' + FREE_TEXT.encode() + b'\x00"'), _JSON),
        PoisonCase("invalid UTF-8", extended(b'"toelichting": "' + FREE_TEXT.encode() + b'\xff\xfe"'), _JSON),
        PoisonCase("UTF-16 LE with BOM", codecs.BOM_UTF16_LE + text.decode().encode("utf-16-le"), _JSON),
        PoisonCase("UTF-16 BE with BOM", codecs.BOM_UTF16_BE + text.decode().encode("utf-16-be"), _JSON),
        PoisonCase("UTF-16 without BOM", text.decode().encode("utf-16-le"), _JSON),
        PoisonCase("UTF-32", text.decode().encode("utf-32"), _JSON),
        PoisonCase("two UTF-8 BOMs", codecs.BOM_UTF8 * 2 + text, _JSON),
        PoisonCase("NaN", extended(b'"n": NaN'), _JSON),
        PoisonCase("-Infinity", extended(b'"n": -Infinity'), _JSON),
        PoisonCase("a float beyond double range", extended(b'"n": 1e999999'), _JSON),
        PoisonCase("an integer above 64 bits", extended(b'"n": 9223372036854775808'), _JSON),
        PoisonCase("an integer of 5,000 digits", extended(b'"n": ' + b"9" * 5_000), _JSON),
        PoisonCase("a duplicate key", extended(data(type_field) + b": " + data(NAME)), _JSON),
        PoisonCase("0 bytes", b"", _JSON),
        PoisonCase("whitespace only", b" \r\n\t ", _JSON),
        PoisonCase("null", b"null", _JSON),
        PoisonCase("a number", b"42", _JSON),
        PoisonCase("a string about a person", data(f"{NAME} {BSN}"), _JSON),
        PoisonCase("an empty list", b"[]", _JSON),
        PoisonCase("a list of numbers", b"[1, 2, 3]", _JSON),
        PoisonCase("truncated", text[: len(text) // 2], _JSON),
        PoisonCase("two documents", text + b" " + text, _JSON),
        PoisonCase("single quotes", b"{'" + type_field.encode() + b"': 'x'}", _JSON),
        PoisonCase("a person's name as the type", data(record(**{type_field: f"{NAME} {BSN}"})), _UNKNOWN),
        PoisonCase("no type", data({k: v for k, v in good.items() if k != type_field}), _UNKNOWN),
        PoisonCase("the type as a list", data(record(**{type_field: [NAME]})), _UNKNOWN),
        PoisonCase("escape codes in the type", data(record(**{type_field: "\u001b[31m" + NAME})), _UNKNOWN),
        PoisonCase("no reference", data({k: v for k, v in good.items() if k != reference_field}), _INVALID),
        PoisonCase("the reference as an object", data(record(**{reference_field: {"bsn": BSN}})), _INVALID),
        PoisonCase("a field named after a person", data(record(**{f"{NAME} (BSN {BSN})": FREE_TEXT})), _INVALID),
        PoisonCase("a field name of 10,000 characters", data(record(**{NAME * 1000: FREE_TEXT})), _INVALID),
    ]
    if "subject.bsn" in envelope:
        cases.append(
            PoisonCase("a BSN failing the 11-test", data(record(**{envelope["subject.bsn"]: WRONG_BSN})), _INVALID)
        )
    if "subject.name" in envelope:
        name = envelope["subject.name"]
        cases.append(PoisonCase("a name of 100,000 characters", data(record(**{name: NAME * 9_000})), _INVALID))
        cases.append(PoisonCase("a name that is an object", data(record(**{name: {"voornaam": NAME}})), _INVALID))
    if "time" in envelope:
        cases.append(PoisonCase("a time in 2999", data(record(**{envelope["time"]: "2999-01-01T00:00:00Z"})), _INVALID))
    if max_bytes is not None:
        padded = text[:-1] + b" " * (max_bytes + 1 - len(text)) + b"}"
        sparse = max_bytes + 1 if isinstance(partner, SimulatedFileDropPartner) else None
        cases.append(
            PoisonCase("one byte over the size limit", b"" if sparse else padded, _OVERSIZED, sparse_size=sparse)
        )
    if isinstance(partner, SimulatedFileDropPartner):
        columns = ";".join(good)
        row = ";".join(str(v) for v in good.values())
        cases += [
            PoisonCase(f"CSV: {label}", raw, codes, suffix=".csv")
            for label, raw, codes in [
                ("0 bytes", b"", _CSV),
                ("a header only", f"{columns}\n".encode(), _CSV),
                ("a NUL byte", f"{columns}\n{row}\x00\n".encode(), _CSV),
                ("UTF-16", f"{columns}\n{row}\n".encode("utf-16"), _CSV),
                ("invalid UTF-8", f"{columns}\n{row}".encode() + b"\xff\n", _CSV),
                ("an unterminated quote", f'{columns}\n"{NAME};{BSN}\n'.encode(), _CSV),
                ("too many fields", f"{columns}\n{row};{NAME};{BSN}\n".encode(), _CSV),
                ("a repeated column", f"{columns};{type_field}\n{row};x\n".encode(), _CSV),
                ("an empty column name", f"{columns};\n{row};x\n".encode(), _CSV),
                ("a cell over 128 KiB", f"{columns}\n{row}".encode() + FREE_TEXT.encode() * 3_000 + b"\n", _CSV),
                ("a header with a newline", f'"{NAME}\n(BSN {BSN})";{columns}\n{FREE_TEXT};{row}\n'.encode(), _CSV),
                ("a column named after a person", f"{columns};{NAME} (BSN {BSN})\n{row};ja\n".encode(), _INVALID),
                (
                    "a person's name as the type",
                    f"{columns}\n{row.replace(str(good[type_field]), NAME, 1)}\n".encode(),
                    _UNKNOWN,
                ),
            ]
        ]
    return cases


def _request_fields(mapping: Any) -> tuple[str, str]:
    """The partner's field names for a subject request's ``kind`` and ``restriction``."""
    reverse = {target: name for name, target in mapping.fields.items()}
    return reverse["kind"], reverse["restriction"]


def _word(mapping: Any, partner_field: str, value: str) -> str:
    """``value`` (a catalogue code) in the partner's words for ``partner_field``."""
    table = mapping.values.get(partner_field) or {}
    return next((word for word, code in table.items() if code == value), value)


async def topic_size(settings: Settings, topic: str, timeout: float = _TIMEOUT) -> int:
    """How many records ``topic`` holds (its end offsets; the topics the kit uses are fresh and never compacted)."""
    consumer = AIOKafkaConsumer(**settings.kafka_client_config(ADMIN), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await _kafka.partitions(consumer, topic, timeout)
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


class ConnectorContract:
    """Subclass with ``connector = <your Connector>`` (or ``connector_name`` for an installed one)."""

    connector: ClassVar[Connector[Any] | None] = None
    connector_name: ClassVar[str | None] = None

    # -- fixtures and helpers ----------------------------------------------------------------------------------------

    @pytest.fixture
    def contract_bootstrap(self) -> str:
        """The broker to use; override to start one first."""
        return Settings().kafka_bootstrap

    @pytest.fixture
    def contract_settings(self, contract_bootstrap: str, tmp_path: Path) -> Settings:
        # A data directory of its own, but the installation's way to the broker: how the local broker wants to be
        # reached (protocol, CA, credentials) is recorded in the installation's data directory, not in tmp_path -
        # a partner's package running the kit against `schakel kafka up` connected in plaintext and timed out.
        installed = Settings()
        settings = Settings(
            kafka_bootstrap=contract_bootstrap,
            kafka_security_protocol=installed.kafka_protocol,
            kafka_sasl_mechanism=installed.kafka_mechanism,
            kafka_credentials_dir=installed.kafka_credentials_path,
            kafka_ssl_cafile=installed.kafka_cafile,
            topic_prefix=f"contract-{uuid.uuid4().hex[:10]}.",
            partitions=2,
            data_dir=tmp_path / "data",
        )
        topics = HubTopics.of(settings)
        org = self.the_connector().organisation
        # The connector runs as its organisation, with the ACLs of this prefix.
        provision(settings, [topics.ingress(org), topics.egress(org), topics.dlq, topics.receipts(org)])
        return settings

    def the_connector(self) -> Connector[Any]:
        if self.connector is not None:
            return self.connector
        if self.connector_name is None:
            raise TypeError("set `connector` or `connector_name` on the ConnectorContract subclass")
        from schakel.connectors.registry import load

        return load(self.connector_name)

    @asynccontextmanager
    async def running(
        self,
        settings: Settings,
        *,
        source: bool = False,
        sink: bool = False,
        max_attempts: int = 50,
        state: Path | None = None,
    ) -> AsyncIterator[RunningConnector]:
        """The connector running in-process against its simulated partner system (state under the data dir)."""
        config = {"retry": {**FAST_RETRY, "max_attempts": max_attempts}}
        running = await start_connector(
            self.the_connector(),
            settings=settings,
            config=config,
            simulate=state or settings.data_dir / "simulation",
            source=source,
            sink=sink,
            session_timeout_ms=6000,
        )
        try:
            await running.wait_ready(timeout=_TIMEOUT)
            yield running
        finally:
            await running.stop()

    def copy_for(self, settings: Settings, subject_key: str, **kwargs: Any) -> tuple[dict[str, Any], Message]:
        return copy_message(settings, self.the_connector().organisation, subject_key, **kwargs)

    def check_event(self, partner: SimulatedPartner, record: Mapping[str, Any], event: Event) -> None:
        """Connector-specific checks of the event mapped from ``record``; default: the record mapping's fields."""
        mapping = getattr(partner, "mapping", None)
        if mapping is None:
            return
        word = record[mapping.type_field]
        assert event.type is mapping.types[word].event_type
        assert event.id == mapping.event_id(word, str(record[mapping.reference_field]))
        payload = event.payload.model_dump(mode="json")
        for partner_field, payload_field in mapping.types[word].fields.items():
            if record.get(partner_field) not in (None, ""):
                assert payload[payload_field] is not None, f"{partner_field} did not reach {payload_field}"
                table = mapping.values.get(partner_field)
                if table and str(record[partner_field]).lower() in table:
                    assert payload[payload_field] == table[str(record[partner_field]).lower()]

    @staticmethod
    def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
        asyncio.run(scenario())

    # -- the contract ------------------------------------------------------------------------------------------------

    def test_source_puts_the_mapped_event_on_its_ingress_topic(self, contract_settings: Settings) -> None:
        settings = contract_settings
        org = self.the_connector().organisation

        async def scenario() -> None:
            async with self.running(settings, source=True) as running:
                partner = running.simulation
                assert partner is not None
                record = partner.example()
                submitted = await partner.submit(record)
                assert submitted.accepted, submitted
                [message] = await read_topic(settings, HubTopics.of(settings).ingress(org), 1)
            event = Codec().decode(message.value)
            assert str(event.source) == org
            pseudonymizer = Pseudonymizer(settings.pseudonym_key.get_secret_value().encode())
            assert message.key == pseudonymizer.subject(key_of_subject(event)).encode()
            assert header(message.headers, "ce_id") == str(event.id)
            if event.subject.bsn:
                assert event.subject.bsn not in (message.key or b"").decode()
            self.check_event(partner, record, event)

        self.run(scenario)

    def test_sink_delivers_in_subject_order_and_writes_receipts(self, contract_settings: Settings) -> None:
        settings = contract_settings
        org = self.the_connector().organisation

        async def scenario() -> None:
            first = [self.copy_for(settings, "bsn:999990019", seed=i, withheld=("description",)) for i in range(3)]
            other = self.copy_for(settings, "bsn:999990020", seed=7)
            await write(settings, *(message for _, message in [*first, other]))
            async with self.running(settings, sink=True) as running:
                partner = running.simulation
                assert partner is not None
                received = await eventually(lambda: len(partner.received()) >= 4 and partner.received())
                receipts = await read_topic(settings, HubTopics.of(settings).receipts(org), 4)
                assert running.metrics.value("delivered") == 4
            ids = [str(document.get("event_id")) for document in received]
            assert len(ids) == 4
            assert set(ids) == {form["id"] for form, _ in [*first, other]}
            same_subject = [i for i in ids if i in {form["id"] for form, _ in first}]
            assert same_subject == [form["id"] for form, _ in first], "one subject's copies arrived out of order"
            for document in received:
                assert document.get("bsn") is None, "a BSN the hub withheld reached the partner"
                assert json.dumps(document).count("pseudoniem") <= 1
            from schakel.lineage import receipt_id, records_from_bytes

            parsed = [record for r in receipts for record in records_from_bytes(r.value)]
            sources = {form["id"]: str(form["source"]) for form, _ in [*first, other]}
            assert {str(p.event_id) for p in parsed} == set(sources)
            for p in parsed:  # an event is its source and its id (and subject): see schakel.lineage.record_id
                sender = sources[str(p.event_id)]
                assert p.record_id == receipt_id(sender, p.event_id, p.data_subject_id, org, "delivered")
            assert all(p.outcome == "delivered" and p.recipient == org for p in parsed)
            assert all("description" not in p.fields_sent for p in parsed if str(p.event_id) != other[0]["id"])
            subject = Pseudonymizer(settings.pseudonym_key.get_secret_value().encode()).subject("bsn:999990019")
            assert {p.data_subject_id for p in parsed if str(p.event_id) == first[0][0]["id"]} == {subject}

        self.run(scenario)

    def test_a_duplicate_copy_is_dropped_even_after_a_restart(self, contract_settings: Settings) -> None:
        settings = contract_settings

        async def scenario() -> None:
            form, message = self.copy_for(settings, "bsn:999990032")
            await write(settings, message, message)
            async with self.running(settings, sink=True) as running:
                partner = running.simulation
                assert partner is not None
                await eventually(lambda: running.metrics.value("duplicates_dropped") >= 1)
            await write(settings, message)  # the hub (or a resend) writes it once more, after a restart
            async with self.running(settings, sink=True) as running:
                await eventually(lambda: running.metrics.value("duplicates_dropped") >= 1)
                assert running.metrics.value("delivered") == 0
            delivered = [d for d in partner.received() if str(d.get("event_id")) == form["id"]]
            assert len(delivered) == 1

        self.run(scenario)

    def test_two_senders_events_with_one_id_are_two_copies(self, contract_settings: Settings) -> None:
        """An event is its source and its id: one id chosen by two partners, about two people, reaches the partner
        system twice - neither the sink's idempotency store nor the transport drops the second as a duplicate."""
        settings = contract_settings
        own = self.the_connector().organisation
        senders = [org.value for org in Organisation if org.value != own][:2]
        shared_id = str(uuid.uuid4())

        async def scenario() -> None:
            messages = [
                self.copy_for(settings, f"bsn:{bsn}", seed=number, source=sender, id=shared_id)[1]
                for number, (sender, bsn) in enumerate(zip(senders, ("999990019", "999990032"), strict=True))
            ]
            await write(settings, *messages)
            async with self.running(settings, sink=True) as running:
                partner = running.simulation
                assert partner is not None
                await eventually(lambda: running.metrics.value("delivered") >= 2)
                assert running.metrics.value("duplicates_dropped") == 0
                delivered = [d for d in partner.received() if shared_id in json.dumps(d)]
                assert len(delivered) == 2

        self.run(scenario)

    def test_a_partner_down_for_a_while_gets_the_copy_when_it_returns(self, contract_settings: Settings) -> None:
        settings = contract_settings

        async def scenario() -> None:
            form, message = self.copy_for(settings, "bsn:999990044")
            async with self.running(settings, sink=True) as running:
                partner = running.simulation
                assert partner is not None
                partner.set_available(False)
                await write(settings, message)
                await eventually(lambda: running.metrics.value("retried") >= 3)
                assert partner.received() == []
                partner.set_available(True)
                await eventually(lambda: running.metrics.value("delivered") >= 1)
                assert running.metrics.value("dead_lettered") == 0
            assert [str(d.get("event_id")) for d in partner.received()] == [form["id"]]

        self.run(scenario)

    def test_past_the_maximum_the_copy_is_dead_lettered_and_can_be_resent(self, contract_settings: Settings) -> None:
        settings = contract_settings
        org = self.the_connector().organisation
        topics = HubTopics.of(settings)

        async def scenario() -> None:
            form, message = self.copy_for(settings, "bsn:999990056")
            async with self.running(settings, sink=True, max_attempts=3) as running:
                partner = running.simulation
                assert partner is not None
                partner.set_available(False)
                await write(settings, message)
                [letter] = await read_topic(settings, topics.dlq, 1)
                await eventually(lambda: running.metrics.value("dead_lettered") >= 1)
                assert running.metrics.value("retried") == 2
            headers = dict(letter.headers)
            assert headers["schakel-original-topic"].decode() == topics.egress(org)
            assert int(headers["schakel-original-offset"]) >= 0
            assert int(headers["schakel-original-partition"]) >= 0
            assert "gave up after 3 attempts" in headers["schakel-reason"].decode()
            assert headers["schakel-error-class"]
            assert headers["schakel-dead-lettered-at"]
            assert headers["schakel-event-id"].decode() == form["id"]
            for value in headers.values():
                assert b"999990056" not in value
                assert str(form["subject"]["name"]).encode() not in value
            receipts = await read_topic(settings, topics.receipts(org), 1)
            from schakel.lineage import records_from_bytes

            assert [r.outcome for r in records_from_bytes(receipts[0].value)] == ["dead-lettered"]
            partner.set_available(True)
            report = await resend(settings, org)
            assert report.resent == (form["id"],)
            async with self.running(settings, sink=True) as running:
                await eventually(lambda: running.metrics.value("delivered") >= 1)
            assert [str(d.get("event_id")) for d in partner.received()] == [form["id"]]

        self.run(scenario)

    def test_bad_partner_input_gets_a_clear_error_and_affects_nothing_else(self, contract_settings: Settings) -> None:
        settings = contract_settings
        topics = HubTopics.of(settings)
        org = self.the_connector().organisation

        async def scenario() -> None:
            async with self.running(settings, source=True) as running:
                partner = running.simulation
                assert partner is not None
                malformed = await partner.submit_raw(b'{"soort": "registratie", ', name="kapot.json")
                unknown = await partner.submit(
                    {
                        **partner.example(),
                        getattr(getattr(partner, "mapping", None), "type_field", "type"): "onbekend-soort",
                    }
                )
                good_record = partner.example()
                good = await partner.submit(good_record)
                assert good.accepted, good
                expected_codes = []
                for submission, code in ((malformed, "malformed-json"), (unknown, "unknown-event-type")):
                    if submission.status is not None:  # a synchronous transport answers at once
                        assert not submission.accepted
                        assert submission.status in range(400, 500)
                        assert submission.error == code
                        assert submission.reason
                    else:
                        expected_codes.append(code)
                [ingress] = await read_topic(settings, topics.ingress(org), 1)
                event = Codec().decode(ingress.value)
                self.check_event(partner, good_record, event)
                if expected_codes:
                    letters = await read_topic(settings, topics.dlq, len(expected_codes))
                    assert sorted(header(r.headers, "schakel-error-class") or "" for r in letters) == expected_codes
                    assert all(header(r.headers, "schakel-reason") for r in letters)
                await eventually(lambda: running.metrics.value("produced") == 1)
                assert running.metrics.value("rejected") >= len(expected_codes)

        self.run(scenario)

    def test_subject_requests_are_filed_at_the_contact_point_and_confirmed_by_the_partners(
        self, contract_settings: Settings
    ) -> None:
        """The contact point (the ZVH) files a request - here a restriction - through its source; every other
        partner receives a forwarded request through its sink, confirms it through its source (the event carries
        ``confirms``: the request's id, and repeats what it asked), and may not file one itself (refused at the
        source with ``unknown-event-type``)."""
        settings = contract_settings
        topics = HubTopics.of(settings)
        org = self.the_connector().organisation
        pseudonymizer = Pseudonymizer(settings.pseudonym_key.get_secret_value().encode())

        async def contact_point(partner: SimulatedPartner, mapping: Any) -> None:
            word = next(w for w, m in mapping.types.items() if m.event_type is EventType.SUBJECT_REQUEST)
            kind, restriction = _request_fields(mapping.types[word])
            record = {**partner.example(word), kind: None, restriction: _word(mapping, restriction, "restrict")}
            submitted = await partner.submit(record)
            assert submitted.status is None or submitted.accepted, submitted
            [message] = await read_topic(settings, topics.ingress(org), 1)
            event = Codec().decode(message.value)
            assert isinstance(event, SubjectRequestEvent)
            assert (event.payload.request, event.payload.confirms) == ("restriction", None)
            assert message.key == pseudonymizer.subject(key_of_subject(event)).encode()

        async def partner_confirms(running: RunningConnector, partner: SimulatedPartner, mapping: Any) -> None:
            confirming = [
                w
                for w, m in mapping.types.items()
                if m.event_type is EventType.SUBJECT_REQUEST and m.direction == "in" and "confirms" in m.fields.values()
            ]
            assert confirming, f"{org} has no record type to confirm a forwarded subject request with"
            form, copy = self.copy_for(
                settings, "bsn:999990019", event_type=EventType.SUBJECT_REQUEST, payload={"kind": "erasure"}
            )
            await write(settings, copy)
            [document] = await eventually(
                lambda: [d for d in partner.received() if str(d.get("event_id")) == form["id"]]
            )
            forwarded_word = document[mapping.type_field]
            assert mapping.types[forwarded_word].event_type is EventType.SUBJECT_REQUEST
            fields = mapping.types[confirming[0]].fields
            record = {
                **partner.example(confirming[0]),
                **{name: document.get(name) for name, target in fields.items() if target in ("kind", "restriction")},
                next(name for name, target in fields.items() if target == "confirms"): document["event_id"],
            }
            bsn_field = next((n for n, path in mapping.envelope.items() if path == "subject.bsn"), None)
            if bsn_field is not None:
                record[bsn_field] = "999990019"  # the partner knows the person in its own system
            confirmed = await partner.submit(record)
            assert confirmed.status is None or confirmed.accepted, confirmed
            [message] = await read_topic(settings, topics.ingress(org), 1)
            event = Codec().decode(message.value)
            assert isinstance(event, SubjectRequestEvent)
            assert (str(event.payload.confirms), event.payload.request) == (form["id"], "erasure")
            assert str(event.source) == org

            own = {**partner.example(confirming[0]), mapping.type_field: forwarded_word}
            filed = await partner.submit(own)
            refusal = await eventually(lambda: partner.refusal(filed))
            assert refusal[0] == "unknown-event-type", refusal
            await eventually(lambda: running.metrics.value("rejected") >= 1)
            assert await topic_size(settings, topics.ingress(org)) == 1, "a partner's own request reached the hub"

        async def scenario() -> None:
            async with self.running(settings, source=True, sink=True) as running:
                partner = running.simulation
                assert partner is not None
                mapping = getattr(partner, "mapping", None)
                if mapping is None:
                    pytest.skip("the simulated partner has no RecordMapping to take records from")
                if org == Organisation.ZVH.value:
                    await contact_point(partner, mapping)
                else:
                    await partner_confirms(running, partner, mapping)

        self.run(scenario)

    def test_poison_input_is_refused_with_a_reason_and_the_next_good_record_goes_through(
        self, contract_settings: Settings, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The poison corpus (:func:`poison_corpus`): every case is refused with its code and a reason the partner
        sees, nothing of it reaches the ingress topic, the good record after it does, and no value about a person
        appears in a reason, a dead-letter header or a log line. Dead letters carry at most an excerpt."""
        settings = contract_settings
        topics = HubTopics.of(settings)
        org = self.the_connector().organisation
        caplog.set_level(logging.DEBUG, logger="schakel")
        refused: list[tuple[PoisonCase, tuple[str, str] | None]] = []

        async def scenario() -> None:
            async with self.running(settings, source=True) as running:
                partner = running.simulation
                assert partner is not None
                source = running.source.source if running.source else None
                cases = poison_corpus(partner, max_bytes=getattr(source, "max_input_bytes", None))
                submissions: list[tuple[PoisonCase, Submission]] = []
                for number, case in enumerate(cases):
                    name = f"poison-{number:03d}{case.suffix}"
                    if case.suffix != ".json" and not isinstance(partner, SimulatedFileDropPartner):
                        continue
                    if case.sparse_size is not None and isinstance(partner, SimulatedFileDropPartner):
                        submissions.append((case, await partner.submit_sparse(case.sparse_size, name=name)))
                    else:
                        submissions.append((case, await partner.submit_raw(case.raw, name=name)))
                good_record = partner.example()
                good = await partner.submit(good_record)
                assert good.status is None or good.accepted, good
                [ingress] = await read_topic(settings, topics.ingress(org), 1)
                self.check_event(partner, good_record, Codec().decode(ingress.value))
                await eventually(lambda: all(partner.refusal(s) for _, s in submissions))
                refused.extend((case, partner.refusal(s)) for case, s in submissions)
                for case, submission in submissions:
                    if submission.status is not None:  # a synchronous transport: the HTTP answer
                        expected = {"malformed-json": 400, "oversized-body": 413}.get(submission.error or "", 422)
                        assert submission.status == expected, (case.label, submission)
                dead_lettering = getattr(source, "dead_letters_rejects", True)
                if dead_lettering:
                    letters = await read_topic(settings, topics.dlq, len(submissions))
                    assert sorted(header(r.headers, "schakel-error-class") or "" for r in letters) == sorted(
                        code for _, (code, _) in ((c, r) for c, r in refused if r is not None)
                    )
                    for letter in letters:
                        assert len(letter.value or b"") <= MAX_EXCERPT, "a dead letter carries more than an excerpt"
                        values = b" ".join(value for _, value in letter.headers)
                        for personal in PERSONAL_VALUES:
                            assert personal.encode() not in values, f"{personal} in a dead-letter header"
                    assert running.metrics.value("rejected") >= len(submissions)
                assert await topic_size(settings, topics.ingress(org)) == 1, "a refused input reached the ingress topic"

        self.run(scenario)
        assert len(refused) >= 30
        for case, refusal in refused:
            assert refusal is not None, case.label
            code, reason = refusal
            assert code in case.codes, (case.label, code, reason)
            assert reason.strip(), case.label
            for personal in PERSONAL_VALUES:
                assert personal not in reason, (case.label, reason)
        for personal in PERSONAL_VALUES:
            assert personal not in caplog.text, f"{personal} in a log line"
