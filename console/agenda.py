"""The ZVH's joint signal agenda as the console shows it: each ``SignalBundle`` the hub proposed, readably. Pure.

A bundle names signals (event id, partner, theme, urgency, time) - never their contents - and goes to the ZVH only
(:mod:`schakel.streams.agenda`). The console reads it from the ZVH's egress copy like any other item and shows:

- in the ZVH's inbox, the bundle beside the other items, as a table of its signals, each linked to the ZVH's own
  copy of that signal;
- on the case board, one agenda proposal per person: the *latest* bundle about that person (the ZVH's pseudonym of
  them), newest first.

Judgement calls:

- *The latest bundle replaces the earlier ones for the same person.* The hub proposes again only when the set of
  signals changed (a third partner, a signal gone after a withdrawal or a closed case), so the latest bundle is the
  current proposal; showing the older ones beside it would put signals that no longer count back on the agenda.
- *A person is the ZVH's pseudonym of them*, the key the bundle carries; the board shows its first characters only,
  as the inbox's case view does, never a BSN or a name (a bundle carries neither).
- *A signal links to the ZVH's copy only when the console holds that copy* (its history is bounded); otherwise the
  event id is shown as text. Whether the viewer may open the copy at all is the page's question (``access``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["AgendaProposal", "BundledSignal", "agenda_proposals", "proposal_of"]

SIGNAL_BUNDLE = "SignalBundle"


@dataclass(frozen=True)
class BundledSignal:
    """One signal in a bundle: which event, from which partner, theme, urgency (when the ZVH received it), time."""

    event_id: str
    source: str
    theme: str
    urgency: str | None
    time: str


@dataclass(frozen=True)
class AgendaProposal:
    """One bundle: the hub's proposal to put a person on the ZVH's agenda, and why."""

    event_id: str
    pseudonym: str | None
    time: str
    reason: str
    signals: tuple[BundledSignal, ...]

    @property
    def partners(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(signal.source for signal in self.signals))

    @property
    def themes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(signal.theme for signal in self.signals))

    @property
    def urgencies(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(signal.urgency for signal in self.signals if signal.urgency))

    @property
    def first(self) -> str:
        return min(signal.time for signal in self.signals)

    @property
    def last(self) -> str:
        return max(signal.time for signal in self.signals)


def proposal_of(form: Mapping[str, Any]) -> AgendaProposal | None:
    """The proposal a copy (its JSON form) carries, or None when it is no ``SignalBundle``."""
    if form.get("type") != SIGNAL_BUNDLE:
        return None
    payload = form.get("payload") or {}
    signals = tuple(
        BundledSignal(
            event_id=str(signal["event_id"]),
            source=str(signal["source"]),
            theme=str(signal["theme"]),
            urgency=str(signal["urgency"]) if signal.get("urgency") else None,
            time=str(signal["time"]),
        )
        for signal in payload.get("signals") or ()
    )
    subject = form.get("subject") or {}
    return AgendaProposal(
        event_id=str(form["id"]),
        pseudonym=str(subject["pseudonym"]) if subject.get("pseudonym") else None,
        time=str(form["time"]),
        reason=str(payload.get("reason", "")),
        signals=tuple(sorted(signals, key=lambda s: (s.time, s.event_id))),
    )


def agenda_proposals(proposals: Iterable[AgendaProposal]) -> list[AgendaProposal]:
    """The current proposal per person (the latest bundle about them), the most recent first."""
    latest: dict[str, AgendaProposal] = {}
    for proposal in proposals:
        person = proposal.pseudonym or proposal.event_id
        known = latest.get(person)
        if known is None or (proposal.time, proposal.event_id) > (known.time, known.event_id):
            latest[person] = proposal
    return sorted(latest.values(), key=lambda p: p.time, reverse=True)
