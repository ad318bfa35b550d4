"""Schema compatibility, by the reader/writer resolution rules of the Avro specification.

fastavro resolves schemas when it reads but has no checker, so this module implements the rules ("Schema
Resolution" in the Avro 1.11 specification) to say *before* a release whether data written with one schema can be
read with another:

- primitives must match, or the writer's type must promote to the reader's: int -> long, float, double;
  long -> float, double; float -> double; string <-> bytes;
- records must have the same unqualified name (or the reader an alias for the writer's); a reader field missing in
  the writer needs a default; writer fields the reader lacks are skipped;
- enums must have the same name; a writer symbol the reader lacks needs a reader default;
- arrays resolve their items, maps their values; fixed types need the same name and size;
- a writer union resolves branch by branch (every branch the writer may use must be readable); a reader union
  takes the first branch that the writer's type resolves to.

One judgement call beyond the specification: a change of logical type (``timestamp-millis`` to ``timestamp-micros``,
``date`` to plain ``int``) is reported, because the bytes still resolve but their meaning changes silently.

*Backward* compatible: the new schema reads data written with the old one. *Forward* compatible: the old schema
reads data written with the new one. The catalogue asks for both (full compatibility), since partners upgrade at
their own pace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Incompatibility", "check_compatibility", "resolution_problems"]

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_PROMOTIONS = {
    ("int", "long"),
    ("int", "float"),
    ("int", "double"),
    ("long", "float"),
    ("long", "double"),
    ("float", "double"),
    ("string", "bytes"),
    ("bytes", "string"),
}


@dataclass(frozen=True)
class Incompatibility:
    """One way in which data written with one schema cannot be read with the other."""

    direction: Literal["backward", "forward"]
    path: str
    problem: str

    def __str__(self) -> str:
        reader = "the new schema cannot read old data" if self.direction == "backward" else (
            "the old schema cannot read new data"
        )  # fmt: skip
        return f"{self.direction} ({reader}): {self.path}: {self.problem}"


class _Names:
    """Named types defined in one schema, by full and by short name."""

    def __init__(self, schema: Any) -> None:
        self.types: dict[str, Mapping[str, Any]] = {}
        self._collect(schema, None)

    def _collect(self, schema: Any, namespace: str | None) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, namespace)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if kind in ("record", "error", "enum", "fixed"):
                name = schema["name"]
                ns = schema.get("namespace", namespace)
                full = name if "." in name or not ns else f"{ns}.{name}"
                self.types[full] = schema
                self.types.setdefault(name.rsplit(".", 1)[-1], schema)
                for field in schema.get("fields", ()):
                    self._collect(field["type"], full.rsplit(".", 1)[0] if "." in full else ns)
            elif kind == "array":
                self._collect(schema["items"], namespace)
            elif kind == "map":
                self._collect(schema["values"], namespace)
            elif isinstance(kind, (dict, list)):
                self._collect(kind, namespace)

    def resolve(self, schema: Any) -> Any:
        """A type with named references and ``{"type": <type>}`` wrappers resolved."""
        while True:
            if isinstance(schema, str) and schema not in _PRIMITIVES:
                found = self.types.get(schema) or self.types.get(schema.rsplit(".", 1)[-1])
                if found is None:
                    raise ValueError(f"unknown named type {schema}")
                schema = found
            elif isinstance(schema, dict) and (
                isinstance(schema.get("type"), (dict, list))
                or (schema.get("type") in _PRIMITIVES and "logicalType" not in schema)
            ):
                schema = schema["type"]
            else:
                return schema


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    kind: str = schema["type"]
    return "record" if kind == "error" else kind


def _logical(schema: Any) -> str | None:
    return schema.get("logicalType") if isinstance(schema, dict) else None


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _describe(schema: Any) -> str:
    kind = _kind(schema)
    if kind in ("record", "enum", "fixed"):
        return f"{kind} {_short(schema['name'])}"
    if kind == "union":
        return "union"
    logical = _logical(schema)
    return f"{kind} ({logical})" if logical else kind


class _Resolver:
    def __init__(self, reader: Any, writer: Any) -> None:
        self.reader_names = _Names(reader)
        self.writer_names = _Names(writer)
        self.seen: set[tuple[str, str]] = set()

    def problems(self, reader: Any, writer: Any, path: str) -> list[tuple[str, str]]:
        reader = self.reader_names.resolve(reader)
        writer = self.writer_names.resolve(writer)
        r_kind, w_kind = _kind(reader), _kind(writer)
        if w_kind == "union":
            found = []
            for branch in writer:
                found += self.problems(reader, branch, path)
            return found
        if r_kind == "union":
            for branch in reader:
                if not self.problems(branch, writer, path):
                    return []
            for branch in reader:  # the branch of the same kind says best what is wrong
                resolved = self.reader_names.resolve(branch)
                if _kind(resolved) == w_kind and _kind(resolved) not in _PRIMITIVES:
                    return self.problems(resolved, writer, path)
            return [(path, f"the writer's {_describe(writer)} matches no branch of the reader's union")]
        if _logical(reader) != _logical(writer) and r_kind not in ("record", "enum", "array", "map"):
            return [(path, f"logical type changed from {_logical(writer) or 'none'} to {_logical(reader) or 'none'}")]
        if r_kind in _PRIMITIVES or w_kind in _PRIMITIVES:
            if r_kind == w_kind or (w_kind, r_kind) in _PROMOTIONS:
                return []
            return [(path, f"type changed from {_describe(writer)} to {_describe(reader)}, which does not promote")]
        if r_kind != w_kind:
            return [(path, f"type changed from {_describe(writer)} to {_describe(reader)}")]
        if r_kind in ("record", "enum", "fixed"):
            names = {_short(reader["name"]), *(_short(a) for a in reader.get("aliases", ()))}
            if _short(writer["name"]) not in names:
                return [(path, f"name changed from {_short(writer['name'])} to {_short(reader['name'])}")]
        if r_kind == "record":
            return self._record(reader, writer, path)
        if r_kind == "enum":
            missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if missing and "default" not in reader:
                return [(path, f"enum symbol(s) {', '.join(missing)} unknown to the reader, which has no default")]
            return []
        if r_kind == "fixed":
            if reader["size"] != writer["size"]:
                return [(path, f"fixed size changed from {writer['size']} to {reader['size']}")]
            return []
        if r_kind == "array":
            return self.problems(reader["items"], writer["items"], f"{path}[]")
        if r_kind == "map":
            return self.problems(reader["values"], writer["values"], f"{path}{{}}")
        return [(path, f"unsupported schema type {r_kind}")]

    def _record(self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str) -> list[tuple[str, str]]:
        key = (f"{path}:{reader['name']}", str(writer["name"]))
        if key in self.seen:  # a recursive type: already being checked further up
            return []
        self.seen.add(key)
        writer_fields = {field["name"]: field for field in writer["fields"]}
        found = []
        for field in reader["fields"]:
            sub = f"{path}.{field['name']}" if path else field["name"]
            match = writer_fields.get(field["name"])
            if match is None:
                match = next((writer_fields[a] for a in field.get("aliases", ()) if a in writer_fields), None)
            if match is None:
                if "default" not in field:
                    found.append((sub, "field is in the reader but not in the writer, and has no default"))
                continue
            found += self.problems(field["type"], match["type"], sub)
        return found


def resolution_problems(reader: Any, writer: Any) -> list[tuple[str, str]]:
    """``(path, problem)`` for each reason why data written with ``writer`` cannot be read with ``reader``."""
    return _Resolver(reader, writer).problems(reader, writer, "")


def check_compatibility(new: Any, old: Any) -> list[Incompatibility]:
    """Every backward and forward incompatibility between the ``new`` and the ``old`` version of a schema."""
    backward = [Incompatibility("backward", p or "(root)", m) for p, m in resolution_problems(new, old)]
    forward = [Incompatibility("forward", p or "(root)", m) for p, m in resolution_problems(old, new)]
    return backward + forward
