"""What a case manager's inbox shows, built from the copies on the organisation's egress topic. Pure.

An :class:`InboxItem` is one projected copy exactly as the hub delivered it (withheld fields are absent or null in
the copy, so their values cannot be shown) plus the hub's decision about that copy, taken from its lineage record:
covenant@version, rule, purpose, legal basis and the *names* of the withheld fields. Items are grouped into cases by
case id, or - when the sender knew no case id - by the recipient's own pseudonym of the person (never the BSN).

Judgement calls: a copy shows only its non-empty fields (a null field is either withheld or not filled in; the
withheld list says which); values are kept as text and escaped where they are rendered, never interpreted.

An item also keeps what the copy says beyond its fields: the course of action's reference (``id@version``) the hub
put on it - only the reference; the page looks the text up in the loaded guidance and never chooses a course itself
- and, for a ``SignalBundle``, its signals (:mod:`schakel.console.agenda`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from schakel.console.agenda import AgendaProposal, proposal_of
from schakel.guidance import copy_reference
from schakel.lineage import LineageRecord

__all__ = ["CaseGroup", "DecisionNote", "Filters", "InboxItem", "group_cases", "item_from_copy"]


@dataclass(frozen=True)
class DecisionNote:
    """Why the copy arrived: the hub's decision about this recipient, from the lineage record."""

    outcome: str | None
    policy: str | None
    rule: str | None
    purpose: str
    legal_basis: tuple[str, ...]
    fields_withheld: tuple[str, ...]

    @classmethod
    def of(cls, record: LineageRecord) -> DecisionNote:
        return cls(
            outcome=record.outcome,
            policy=record.policy_reference,
            rule=record.rule,
            purpose=record.purpose,
            legal_basis=record.legal_basis,
            fields_withheld=record.fields_withheld,
        )


@dataclass(frozen=True)
class InboxItem:
    """One delivered copy, as its recipient may see it."""

    event_id: str
    recipient: str
    event_type: str
    source: str
    time: str
    theme: str
    case_id: str | None
    purpose: str
    pseudonym: str | None
    subject: tuple[tuple[str, str], ...]
    payload: tuple[tuple[str, str], ...]
    received_at: datetime
    decision: DecisionNote | None = None
    guidance: str | None = None
    """The course of action's reference (``id@version``) the copy carries, or None."""
    bundle: AgendaProposal | None = None
    """The agenda proposal, when the copy is a ``SignalBundle``."""

    @property
    def case_key(self) -> str:
        """The case this item belongs to: its case id, or else the recipient's pseudonym of the person."""
        if self.case_id:
            return f"case:{self.case_id}"
        return f"person:{self.pseudonym or self.event_id}"

    def decided(self, note: DecisionNote) -> InboxItem:
        return replace(self, decision=note)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "ja" if value else "nee"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items() if v is not None)
    return str(value)


def _filled(values: Mapping[str, Any] | None, skip: frozenset[str] = frozenset()) -> tuple[tuple[str, str], ...]:
    if not values:
        return ()
    return tuple((name, _text(value)) for name, value in values.items() if value is not None and name not in skip)


def item_from_copy(recipient: str, form: Mapping[str, Any], received_at: datetime) -> InboxItem:
    """The item for one decoded copy (the JSON form of the projected event) delivered to ``recipient``."""
    subject = form.get("subject") or {}
    return InboxItem(
        event_id=str(form["id"]),
        recipient=recipient,
        event_type=str(form["type"]),
        source=str(form["source"]),
        time=str(form["time"]),
        theme=str(form["theme"]),
        case_id=str(form["case_id"]) if form.get("case_id") else None,
        purpose=str(form.get("purpose", "")),
        pseudonym=str(subject["pseudonym"]) if subject.get("pseudonym") else None,
        subject=_filled(subject, skip=frozenset({"pseudonym"})),
        payload=_filled(form.get("payload")),
        received_at=received_at,
        guidance=copy_reference(form),
        bundle=proposal_of(form),
    )


@dataclass(frozen=True)
class Filters:
    """The inbox filters; an empty one matches everything."""

    theme: str = ""
    event_type: str = ""
    case: str = ""

    @classmethod
    def of(cls, query: Mapping[str, str]) -> Filters:
        return cls(
            theme=query.get("theme", "").strip(),
            event_type=query.get("type", "").strip(),
            case=query.get("case", "").strip(),
        )

    def query(self) -> str:
        """The query string :meth:`of` reads back as these filters (for the live stream's URL)."""
        pairs = (("theme", self.theme), ("type", self.event_type), ("case", self.case))
        return urlencode({name: value for name, value in pairs if value})

    def matches(self, item: InboxItem) -> bool:
        return (
            (not self.theme or item.theme == self.theme)
            and (not self.event_type or item.event_type == self.event_type)
            and (not self.case or item.case_id == self.case)
        )

    def apply(self, items: Iterable[InboxItem]) -> list[InboxItem]:
        return [item for item in items if self.matches(item)]


@dataclass(frozen=True)
class CaseGroup:
    """The items of one case (or one person without a case id), newest first."""

    key: str
    case_id: str | None
    pseudonym: str | None
    items: tuple[InboxItem, ...]

    @property
    def latest(self) -> datetime:
        return self.items[0].received_at


def group_cases(items: Iterable[InboxItem]) -> list[CaseGroup]:
    """Items grouped by :attr:`InboxItem.case_key`, the most recently active case first."""
    groups: dict[str, list[InboxItem]] = {}
    for item in items:
        groups.setdefault(item.case_key, []).append(item)
    result = []
    for key, members in groups.items():
        members.sort(key=lambda i: i.received_at, reverse=True)
        result.append(CaseGroup(key, members[0].case_id, members[0].pseudonym, tuple(members)))
    result.sort(key=lambda g: g.latest, reverse=True)
    return result
