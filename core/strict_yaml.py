"""The YAML dialect of schakel's data files (covenants, courses of action): safe YAML, strict, one file per entry.

Dates stay strings (the loaders parse them with their own rules and error messages), and a key repeated in one
mapping is an error instead of the last one silently winning - a covenant rule or a course of action must never be
half overwritten by a copy-paste slip.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml

from schakel.errors import SchakelError

__all__ = ["DataFileError", "load_folder", "load_strict"]


class DataFileError(SchakelError):
    """Raised by a folder's entry parser: ``problems`` holds one line per problem, each naming the file and (where
    there is one) the entry. Each package's file error derives from it as well as from its own package error."""

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__(self.headline() + ":\n  " + "\n  ".join(self.problems))

    def headline(self) -> str:
        count = len(self.problems)
        return "file does not load" if count == 1 else f"{count} problems in the files"


class _Entry(Protocol):
    @property
    def id(self) -> str: ...


_E = TypeVar("_E", bound=_Entry)


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML without implicit timestamps, and with duplicate keys as errors."""


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return dict(loader.construct_mapping(node, deep=True))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_strict(text: str) -> Any:
    """One YAML document in the strict dialect; raises ``yaml.YAMLError`` (duplicate keys included)."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def load_folder(directory: Path, parse: Callable[[object, str], _E], kind: str) -> tuple[list[_E], list[str]]:
    """Every ``*.yaml`` / ``*.yml`` file in ``directory`` (hidden files skipped, in name order), each parsed by
    ``parse(document, path)``; returns the entries that loaded and one line per problem: a file that cannot be read,
    invalid YAML (with its line and column), what ``parse`` raised as :class:`DataFileError`, an id used twice."""
    paths = sorted(p for p in directory.iterdir() if p.suffix in {".yaml", ".yml"} and not p.name.startswith("."))
    problems: list[str] = []
    entries: list[_E] = []
    first_file: dict[str, str] = {}
    for path in paths:
        try:
            document = load_strict(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot be read ({exc.__class__.__name__})")
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            problems.append(f"{path}: not valid YAML{where}: {problem}")
            continue
        try:
            entry = parse(document, str(path))
        except DataFileError as exc:
            problems.extend(exc.problems)
            continue
        if entry.id in first_file:
            problems.append(f"{path}: {kind} id '{entry.id}' is also the id of {first_file[entry.id]}")
            continue
        first_file[entry.id] = str(path)
        entries.append(entry)
    return entries, problems
