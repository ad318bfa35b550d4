"""A small client interface to a schema registry speaking the Confluent REST API (Confluent, Karapace, Apicurio's
compatibility API), an HTTP implementation of it, and an in-memory one for development.

Only two calls are needed: register a schema under a subject (idempotent: the registry returns the existing id for a
schema it already holds) and fetch a schema by id. Subjects follow the RecordNameStrategy (the record's full name,
``nl.zorgveiligheid.schakel.Signal``), because one ingress topic carries several event types.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Protocol, runtime_checkable

from schakel.schemas._errors import RegistryError

__all__ = ["HttpSchemaRegistry", "InMemorySchemaRegistry", "SchemaRegistryClient"]

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


@runtime_checkable
class SchemaRegistryClient(Protocol):
    """What the codec needs from a schema registry."""

    def register(self, subject: str, schema: str) -> int:
        """Register ``schema`` (Avro schema JSON text) under ``subject`` and return its global id.

        Registering a schema the registry already holds returns its existing id. Raises :class:`RegistryError`.
        """
        ...

    def schema(self, schema_id: int) -> str:
        """The Avro schema JSON text registered under ``schema_id``. Raises :class:`RegistryError` (with ``status``
        404 when the registry has no such id)."""
        ...


class HttpSchemaRegistry:
    """A client of the Confluent Schema Registry REST API (``POST /subjects/{subject}/versions``,
    ``GET /schemas/ids/{id}``), with the standard library's HTTP client."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise RegistryError("schema registry url must start with http:// or https://")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url + path, data=data, method=method, headers={"Content-Type": _CONTENT_TYPE, "Accept": _CONTENT_TYPE}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            raise RegistryError(
                f"schema registry answered {error.code} to {method} {path}", status=error.code
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise RegistryError(
                f"schema registry at {self.url} failed on {method} {path}: {type(error).__name__}"
            ) from None
        if not isinstance(answer, dict):
            raise RegistryError(f"schema registry gave an unexpected answer to {method} {path}")
        return answer

    def register(self, subject: str, schema: str) -> int:
        path = f"/subjects/{urllib.parse.quote(subject, safe='')}/versions"
        answer = self._call("POST", path, {"schema": schema, "schemaType": "AVRO"})
        schema_id = answer.get("id")
        if not isinstance(schema_id, int):
            raise RegistryError(f"schema registry gave no id for subject {subject}")
        return schema_id

    def schema(self, schema_id: int) -> str:
        answer = self._call("GET", f"/schemas/ids/{int(schema_id)}")
        text = answer.get("schema")
        if not isinstance(text, str):
            raise RegistryError(f"schema registry gave no schema for id {schema_id}")
        return text


class InMemorySchemaRegistry:
    """A registry in this process, for development and tests: ids count from 1, identical schemas share an id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}
        self._schemas: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}

    def register(self, subject: str, schema: str) -> int:
        canonical = json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"))
        with self._lock:
            schema_id = self._ids.get(canonical)
            if schema_id is None:
                schema_id = len(self._ids) + 1
                self._ids[canonical] = schema_id
                self._schemas[schema_id] = schema
            versions = self.subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
            return schema_id

    def schema(self, schema_id: int) -> str:
        try:
            return self._schemas[schema_id]
        except KeyError:
            raise RegistryError(f"schema id {schema_id} is not registered", status=404) from None
