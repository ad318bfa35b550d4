"""The Confluent wire format against a minimal schema registry speaking the Confluent REST API over HTTP on
127.0.0.1, started inside the test (``POST /subjects/{subject}/versions``, ``GET /schemas/ids/{id}``)."""

from __future__ import annotations

import copy
import io
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import fastavro
import pytest

from schakel.schemas import (
    Codec,
    DecodeError,
    EventType,
    HttpSchemaRegistry,
    RegistryError,
    SchemaRegistryClient,
    Theme,
    UnknownSchema,
    event_schema,
)
from schakel.schemas.examples import example_event

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class MiniRegistry(ThreadingHTTPServer):
    """Just enough of the Confluent Schema Registry: global ids, one id per distinct schema, versions per subject."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ids: dict[str, int] = {}
        self.schemas: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: MiniRegistry

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        parts = self.path.strip("/").split("/")
        self.server.requests.append(("POST", self.path))
        if len(parts) != 3 or parts[0] != "subjects" or parts[2] != "versions":
            self._answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})
            return
        subject = urllib.parse.unquote(parts[1])
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            schema = json.dumps(json.loads(request["schema"]), sort_keys=True)
            fastavro.parse_schema(json.loads(schema))
        except Exception:
            self._answer(422, {"error_code": 42201, "message": "Invalid schema"})
            return
        with self.server.lock:
            schema_id = self.server.ids.setdefault(schema, len(self.server.ids) + 1)
            self.server.schemas[schema_id] = request["schema"]
            versions = self.server.subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
        self._answer(200, {"id": schema_id})

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        self.server.requests.append(("GET", self.path))
        if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
            schema = self.server.schemas.get(int(parts[2]))
            if schema is not None:
                self._answer(200, {"schema": schema})
                return
            self._answer(404, {"error_code": 40403, "message": "Schema not found"})
            return
        self._answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})


@pytest.fixture
def registry() -> Iterator[MiniRegistry]:
    server = MiniRegistry()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_http_client_satisfies_the_interface(registry: MiniRegistry) -> None:
    assert isinstance(HttpSchemaRegistry(registry.url), SchemaRegistryClient)


def test_round_trip_through_the_confluent_wire_format(registry: MiniRegistry) -> None:
    writer = Codec("confluent", registry=HttpSchemaRegistry(registry.url))
    events = [example_event(t, Theme.LVB) for t in EventType]
    blobs = [writer.encode(event) for event in events]
    for blob in blobs:
        assert blob[0] == 0
    ids = [int.from_bytes(blob[1:5], "big") for blob in blobs]
    assert sorted(ids) == list(range(1, len(EventType) + 1))  # one id per type, registered once
    assert registry.subjects["nl.zorgveiligheid.schakel.Signal"] == [ids[0]]
    posts = [path for method, path in registry.requests if method == "POST"]
    assert len(posts) == len(EventType)  # the writer caches ids
    assert writer.encode(events[0]) == blobs[0]
    assert len([r for r in registry.requests if r[0] == "POST"]) == len(EventType)  # no second registration

    reader = Codec(registry=HttpSchemaRegistry(registry.url))  # a fresh reader fetches the schemas by id
    for event, blob in zip(events, blobs, strict=True):
        assert reader.decode(blob) == event
        assert reader.decode_json(blob) == event.to_json()
    gets = [path for method, path in registry.requests if method == "GET"]
    assert sorted(gets) == sorted(f"/schemas/ids/{i}" for i in ids)  # each fetched once, then cached


def test_the_schema_in_the_registry_is_the_catalogue_schema(registry: MiniRegistry) -> None:
    Codec("confluent", registry=HttpSchemaRegistry(registry.url)).encode(example_event(EventType.FEEDBACK))
    stored = json.loads(HttpSchemaRegistry(registry.url).schema(1))
    assert stored == event_schema(EventType.FEEDBACK)
    assert stored["fields"][-1]["type"]["fields"][0]["sensitivity"] == "plain"  # labels travel with the schema


def test_reads_an_older_schema_version_that_only_the_registry_knows(registry: MiniRegistry) -> None:
    old = event_schema(EventType.SIGNAL)
    payload = old["fields"][-1]["type"]
    payload["fields"] = [f for f in payload["fields"] if f["name"] != "description"]
    client = HttpSchemaRegistry(registry.url)
    schema_id = client.register("nl.zorgveiligheid.schakel.Signal", json.dumps(old))
    event = example_event(EventType.SIGNAL, Theme.CTER)
    record = copy.deepcopy(event.model_dump())
    record["type"] = "Signal"
    record["source"] = record["source"].value
    record["theme"] = record["theme"].value
    record["addressees"] = list(record["addressees"])
    record["payload"] = {k: (v.value if hasattr(v, "value") else v) for k, v in record["payload"].items()}
    del record["payload"]["description"]
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(old), record)
    data = b"\x00" + schema_id.to_bytes(4, "big") + body.getvalue()
    back = Codec(registry=client).decode(data)
    assert back.id == event.id
    assert back.to_json()["payload"]["description"] is None
    assert back.to_json()["payload"]["ideology"] == event.to_json()["payload"]["ideology"]


def test_unknown_id_and_foreign_schema(registry: MiniRegistry) -> None:
    client = HttpSchemaRegistry(registry.url)
    codec = Codec(registry=client)
    blob = Codec("confluent", registry=client).encode(example_event(EventType.CASE_CLOSED))
    with pytest.raises(UnknownSchema, match="schema id 99 is not in the registry"):
        codec.decode_json(b"\x00" + (99).to_bytes(4, "big") + blob[5:])
    foreign = client.register("other", json.dumps({"type": "record", "name": "Invoice", "fields": []}))
    with pytest.raises(UnknownSchema, match="not an event type of the catalogue"):
        codec.decode_json(b"\x00" + foreign.to_bytes(4, "big") + blob[5:])


def test_registry_errors_are_typed(registry: MiniRegistry) -> None:
    with pytest.raises(RegistryError, match="http"):
        HttpSchemaRegistry("ftp://127.0.0.1/")
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    down = Codec("confluent", registry=HttpSchemaRegistry(f"http://127.0.0.1:{closed}", timeout=2))
    with pytest.raises(RegistryError, match="failed on POST"):
        down.encode(example_event(EventType.SIGNAL))
    with pytest.raises(RegistryError, match="answered 422"):
        HttpSchemaRegistry(registry.url).register("broken", "{not a schema")
    unreachable = Codec(registry=HttpSchemaRegistry(f"http://127.0.0.1:{closed}", timeout=2))
    with pytest.raises(RegistryError) as caught:  # transient: no decoding error, so the caller may retry
        unreachable.decode_json(b"\x00\x00\x00\x00\x07x")
    assert not isinstance(caught.value, DecodeError)
    assert caught.value.status is None
