"""The YAML dialect of schakel's data files (covenants, courses of action): safe YAML, strict.

Dates stay strings (the loaders parse them with their own rules and error messages), and a key repeated in one
mapping is an error instead of the last one silently winning - a covenant rule or a course of action must never be
half overwritten by a copy-paste slip.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["load_strict"]


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
