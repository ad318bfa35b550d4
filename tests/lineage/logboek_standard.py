"""The required fields of the Logius standard *Logboek Dataverwerkingen* (component Logboek, interface), and a check
of one exported line against them. Taken from the standard's field table: ``trace_id`` (16 bytes), ``span_id``
(8 bytes), ``status`` (``Unset``/``Ok``/``Error``), ``name``, ``start_time``, ``end_time`` and ``attributes`` with the
required ``dpl.core`` keys ``processing_activity_id`` (a URI), ``data_subject_id`` and ``data_subject_id_type``."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

REQUIRED_FIELDS = ("trace_id", "span_id", "status", "name", "start_time", "end_time", "attributes")
REQUIRED_ATTRIBUTES = ("dpl.core.processing_activity_id", "dpl.core.data_subject_id", "dpl.core.data_subject_id_type")
STATUSES = frozenset({"Unset", "Ok", "Error"})
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def problems(line: dict[str, Any]) -> list[str]:
    """What in one exported line falls short of the standard (empty: nothing)."""
    found = [f"{name} missing" for name in REQUIRED_FIELDS if line.get(name) in (None, "")]
    attributes = line.get("attributes") or {}
    found += [f"{name} missing" for name in REQUIRED_ATTRIBUTES if attributes.get(name) in (None, "")]
    if not re.fullmatch(r"[0-9a-f]{32}", str(line.get("trace_id"))):
        found.append("trace_id is not 16 bytes of hex")
    if not re.fullmatch(r"[0-9a-f]{16}", str(line.get("span_id"))):
        found.append("span_id is not 8 bytes of hex")
    if line.get("status") not in STATUSES:
        found.append("status is not in the standard's enum")
    if not _URI.match(str(attributes.get("dpl.core.processing_activity_id"))):
        found.append("dpl.core.processing_activity_id is not a URI")
    for name in ("start_time", "end_time"):
        try:
            datetime.fromisoformat(str(line.get(name)))
        except ValueError:
            found.append(f"{name} is not a timestamp")
    return found
