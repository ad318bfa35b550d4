"""The bad-input corpus of the hub's Kafka entry: ingress records a partner (or anyone) could write.

Every case is one ingress record that the hub must dead-letter, with the error classes it may be dead-lettered
under. All are built around one synthetic person whose BSN, name and free texts must never appear in a reason, a
header, a key, a log line, a span or a metric label. Each record carries the CloudEvents headers of that person's
event (``ce_id`` a UUID), so each dead letter must keep the event id - unless the case itself corrupts ``ce_id``.

The families: truncations of a valid record, broken framing (magic bytes, fingerprints, Confluent framing), garbage
(random bytes, text and JSON carrying personal data), trailing bytes, records over the size limit, Avro-valid events
the models refuse, senders on another partner's topic, records on topics that are not an ingress topic, and keys
that are not the subject's pseudonym.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schakel.consent import Pseudonymizer
from schakel.schemas import MAX_EVENT_BYTES, Codec, EventType, Organisation, Theme, parse_event
from schakel.schemas.examples import example_form
from schakel.settings import Settings
from schakel.streams.records import Message, ingress_message
from schakel.streams.topics import HubTopics

__all__ = ["CASES", "PERSONAL", "Case", "good_message", "person_form"]

_TIME = "2026-11-29T15:00:00Z"
_SEED = 20261129

DECODE = frozenset({"DecodeError", "UnknownSchema"})
INVALID = frozenset({"DecodeError", "EventInvalid"})


def person_form(event_type: EventType = EventType.SIGNAL, theme: Theme = Theme.CTER) -> dict[str, Any]:
    """The JSON form of the corpus person's event: fixed id, time, BSN and name, so the bytes are the same in every
    run."""
    form = example_form(event_type, theme, seed=_SEED, time=_TIME)
    form["subject"]["name"] = "Sara Meijer"
    return form


_FORM = person_form()
PERSONAL: tuple[str, ...] = (
    _FORM["subject"]["bsn"],
    _FORM["subject"]["name"],
    _FORM["payload"]["observed_behaviour"],
    _FORM["payload"]["ideology"],
    _FORM["payload"]["description"],
)
"""Values about the person that must never leave in a reason, header, key, log line, span or metric label."""


@dataclass(frozen=True)
class Case:
    """One bad ingress record: how to change the person's valid record, and the error classes it may get."""

    name: str
    change: Callable[[Message, Settings], Message]
    expected: frozenset[str]
    keeps_event_id: bool = True
    tags: tuple[str, ...] = field(default=())

    def message(self, settings: Settings) -> Message:
        return self.change(good_message(settings), settings)


def good_message(settings: Settings, form: dict[str, Any] | None = None) -> Message:
    """The person's valid record, as the politie connector writes it."""
    return ingress_message(parse_event(form or _FORM), settings)


def _value(value: bytes) -> Callable[[Message, Settings], Message]:
    return lambda message, _: Message(message.topic, message.key, value, message.headers)


def _edit(edit: Callable[[bytes], bytes]) -> Callable[[Message, Settings], Message]:
    return lambda message, _: Message(message.topic, message.key, edit(message.value), message.headers)


_VALID = Codec().encode(parse_event(_FORM))
_HEAD, _BODY = _VALID[:10], _VALID[10:]


def _truncations() -> list[Case]:
    cuts = sorted({*range(0, len(_VALID), 5), 1, 2, 9, 10, 11, len(_VALID) - 1})
    return [Case(f"truncated-to-{cut}-bytes", _prefix(cut), DECODE) for cut in cuts]


def _prefix(cut: int) -> Callable[[Message, Settings], Message]:
    return _edit(lambda value: value[:cut])


def _flip(byte: int) -> Callable[[Message, Settings], Message]:
    return _edit(lambda value: value[:byte] + bytes([value[byte] ^ 0x01]) + value[byte + 1 :])


def _magic(magic: bytes) -> Callable[[Message, Settings], Message]:
    return _edit(lambda value: magic + value[2:])


def _framing() -> list[Case]:
    cases = [
        Case(f"magic-{magic.hex()}", _magic(magic), DECODE)
        for magic in (b"\xc3\x00", b"\xc3\x02", b"\xc4\x01", b"\x00\x01", b'{"')
    ]
    for byte in range(2, 10):  # one bit of the CRC-64 fingerprint flipped: no such schema
        cases.append(Case(f"fingerprint-bit-flipped-at-{byte}", _flip(byte), DECODE))
    cases += [
        Case("fingerprint-of-nothing", _edit(lambda v: v[:2] + struct.pack("<Q", 0) + v[10:]), DECODE),
        Case("confluent-framing-without-registry", _value(b"\x00\x00\x00\x00\x07" + _BODY), DECODE),
        Case("header-only", _value(_HEAD), DECODE),
        Case("header-twice", _value(_HEAD + _HEAD + _BODY), DECODE),
        Case("body-without-header", _value(_BODY), DECODE),
        Case("over-long-varint", _value(_HEAD + b"\xff" * 16), DECODE),
        Case("negative-string-length", _value(_HEAD + b"\x01" + _BODY[1:]), DECODE),
    ]
    return cases


def _garbage() -> list[Case]:
    rng = random.Random(_SEED)
    bsn, name, behaviour = PERSONAL[0], PERSONAL[1], PERSONAL[2]
    texts = {
        "empty": b"",
        "one-zero-byte": b"\x00",
        "magic-only": b"\xc3\x01",
        "text-with-bsn-and-name": f"BSN {bsn} {name}".encode(),
        "text-free": behaviour.encode(),
        "json-form-of-the-event": json.dumps(_FORM).encode(),
        "json-list": json.dumps([_FORM]).encode(),
        "json-null": b"null",
        "xml": f"<signal><bsn>{bsn}</bsn><naam>{name}</naam></signal>".encode(),
        "csv-line": f"{bsn};{name};{behaviour}\n".encode(),
        "utf16-text": f"{name} {bsn}".encode("utf-16"),
        "latin1-name": "Zoë Meijer".encode("latin-1"),
        "nul-bytes": b"\x00" * 64,
        "ff-bytes": b"\xff" * 64,
    }
    cases = [Case(f"garbage-{label}", _value(value), DECODE) for label, value in texts.items()]
    for length in (3, 11, 64, 293, 1024, 65536):
        noise = rng.randbytes(length)
        cases.append(Case(f"random-{length}-bytes", _value(noise), DECODE))
        cases.append(Case(f"header-then-random-{length}-bytes", _value(_HEAD + noise), DECODE))
    return cases


def _trailing() -> list[Case]:
    return [
        Case(f"trailing-{label}", _value(_VALID + extra), DECODE)
        for label, extra in (
            ("zero-byte", b"\x00"),
            ("ten-bytes", b"0123456789"),
            ("name", PERSONAL[1].encode()),
            ("second-record", _VALID),
        )
    ]


def _oversized() -> list[Case]:
    over = MAX_EVENT_BYTES + 1
    return [
        Case("oversized-zeros", _value(b"\x00" * over), DECODE),
        Case("oversized-valid-header", _value(_HEAD + b"\x02" * (over - 10)), DECODE),
        Case(
            "oversized-personal-json",
            _value((json.dumps(_FORM) * (over // len(json.dumps(_FORM)) + 1)).encode()),
            DECODE,
        ),
        Case("oversized-record-and-trailing", _value(_VALID + b"\x00" * over), DECODE),
    ]


def _invalid_form(
    change: Callable[[dict[str, Any]], None], event_type: EventType, theme: Theme
) -> Callable[[Message, Settings], Message]:
    def apply(message: Message, _: Settings) -> Message:
        form = json.loads(json.dumps(person_form(event_type, theme)))
        change(form)
        return Message(message.topic, message.key, Codec().encode_json(form), message.headers)

    return apply


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(form: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = form
        for part in parents:
            target = target[part]
        target[last] = value

    return change


def _invalid() -> list[Case]:
    name = PERSONAL[1]
    changes: dict[str, Callable[[dict[str, Any]], None]] = {
        "bsn-fails-11-test": _set("subject.bsn", "123456789"),
        "bsn-eight-digits": _set("subject.bsn", "12345678"),
        "bsn-letters": _set("subject.bsn", "abcdefghi"),
        "bsn-is-a-name": _set("subject.bsn", name),
        "bsn-all-zeros": _set("subject.bsn", "000000000"),
        "bsn-ten-digits": _set("subject.bsn", PERSONAL[0] + "0"),
        "time-far-in-the-future": _set("time", "2099-01-01T00:00:00Z"),
        "time-before-2000": _set("time", "1999-12-31T23:59:59Z"),
        "name-too-long": _set("subject.name", name * 40),
        "name-empty": _set("subject.name", ""),
        "behaviour-too-long": _set("payload.observed_behaviour", PERSONAL[2] * 200),
        "no-bsn-and-no-case-id": lambda form: form.update(case_id=None, subject={**form["subject"], "bsn": None}),
    }
    cases = [
        Case(f"invalid-{label}", _invalid_form(change, EventType.SIGNAL, Theme.CTER), INVALID)
        for label, change in changes.items()
    ]
    cases.append(
        Case(
            "invalid-iban-checksum",
            _invalid_form(_set("payload.iban", "NL91ABNA0417164301"), EventType.SIGNAL, Theme.MONEY_MULE),
            INVALID,
        )
    )
    for event_type in EventType:  # every type with a BSN that fails the 11-test
        cases.append(
            Case(
                f"invalid-bsn-in-{event_type.value}",
                _invalid_form(_set("subject.bsn", "111111111"), event_type, Theme.CTER),
                INVALID,
            )
        )
    return cases


def _on_topic(topic: Callable[[HubTopics], str]) -> Callable[[Message, Settings], Message]:
    return lambda message, settings: Message(topic(HubTopics.of(settings)), message.key, message.value, message.headers)


def _on_ingress(org: Organisation) -> Callable[[Message, Settings], Message]:
    return _on_topic(lambda topics: topics.ingress(org))


def _senders_and_topics() -> list[Case]:
    spoofed = frozenset({"SpoofedSource"})
    cases = [
        Case(f"politie-event-on-ingress-{org.value}", _on_ingress(org), spoofed)
        for org in Organisation
        if org is not Organisation.POLITIE
    ]
    unknown = frozenset({"UnknownTopic"})
    cases += [
        Case("on-egress-politie", _on_topic(lambda t: t.egress(Organisation.POLITIE)), unknown),
        Case("on-lineage", _on_topic(lambda t: t.lineage), unknown),
        Case("on-dlq", _on_topic(lambda t: t.dlq), unknown),
        Case("on-unknown-partner-ingress", _on_topic(lambda t: f"{t.prefix}ingress.nobody"), unknown),
        Case("on-other-prefix-ingress", _on_topic(lambda _: "other.ingress.politie"), unknown),
    ]
    return cases


def _keyed(key: Callable[[Settings], bytes | None]) -> Callable[[Message, Settings], Message]:
    return lambda message, settings: Message(message.topic, key(settings), message.value, message.headers)


def _keys() -> list[Case]:
    wrong = frozenset({"WrongPartitionKey"})

    def other_person(settings: Settings) -> bytes:
        return Pseudonymizer(settings.pseudonym_key.get_secret_value().encode()).subject("bsn:111222333").encode()

    def case_pseudonym(settings: Settings) -> bytes:
        pseudonymizer = Pseudonymizer(settings.pseudonym_key.get_secret_value().encode())
        return pseudonymizer.subject(f"case:{_FORM['case_id']}").encode()

    def shouting(settings: Settings) -> bytes:
        return good_message(settings).key.upper() if good_message(settings).key else b""  # type: ignore[union-attr]

    return [
        Case("key-none", _keyed(lambda _: None), wrong),
        Case("key-empty", _keyed(lambda _: b""), wrong),
        Case("key-raw-bsn", _keyed(lambda _: PERSONAL[0].encode()), wrong),
        Case("key-name", _keyed(lambda _: PERSONAL[1].encode()), wrong),
        Case("key-another-persons-pseudonym", _keyed(other_person), wrong),
        Case("key-the-case-pseudonym-although-a-bsn-is-known", _keyed(case_pseudonym), wrong),
        Case("key-pseudonym-in-capitals", _keyed(shouting), wrong),
    ]


def _headers() -> list[Case]:
    def ce_id(value: bytes) -> Callable[[Message, Settings], Message]:
        def change(message: Message, _: Settings) -> Message:
            headers = [(name, data) for name, data in message.headers if name != "ce_id"] + [("ce_id", value)]
            return Message(message.topic, message.key, b"\x00 not avro", headers)

        return change

    return [
        Case("ce-id-a-name-and-garbage", ce_id(PERSONAL[1].encode()), DECODE, keeps_event_id=False),
        Case("ce-id-a-bsn-and-garbage", ce_id(PERSONAL[0].encode()), DECODE, keeps_event_id=False),
        Case("ce-id-very-long-and-garbage", ce_id(b"a" * 10_000), DECODE, keeps_event_id=False),
        Case("ce-id-not-utf8-and-garbage", ce_id(b"\xff\xfe"), DECODE, keeps_event_id=False),
    ]


CASES: tuple[Case, ...] = (
    *_truncations(),
    *_framing(),
    *_garbage(),
    *_trailing(),
    *_oversized(),
    *_invalid(),
    *_senders_and_topics(),
    *_keys(),
    *_headers(),
)
