"""The ZVH's joint signal agenda: when signals about one person meet, propose the person for the ZVH's agenda.

Pure: no Kafka, no clock of its own. ``schakel.streams.agenda_wiring`` keeps one :class:`Agenda` per subject (hub
pseudonym) in a Faust table and produces the :class:`SignalBundle <schakel.schemas.SignalBundleEvent>` events this
module makes. How the agenda works, in steps:

1. **Only what the ZVH was permitted to receive.** A signal enters the agenda only when the consent decision for the
   ZVH delivered it, and the agenda keeps only what the copy carried: the event id, the sender, the theme and the
   time (envelope fields, which always travel) and the urgency if the decision sent it. *Why:* the bundle goes to
   the ZVH; it must not tell the ZVH that a signal it was denied exists, nor anything a copy withheld.
2. **Still lawful now.** Before each proposal every kept signal is checked again at processing time: its covenant
   still in force, the consent its rule needs still held, and not older than its covenant's agenda window (the
   covenant's ``agenda_window_days``; 90 days where the covenant sets none). Signals that fail are dropped.
3. **Withdrawal forgets.** A ``ConsentChange`` that withdraws consent from the ZVH for a purpose forgets every
   signal of that purpose, whether or not its delivery rested on consent, and remembers the forgotten ids so that a
   redelivered signal is not taken in again. *Why:* combining signals into a proposal is a processing of its own;
   a person who withdraws the ZVH's consent for a purpose has said no to it (what was delivered stays delivered).
4. **When to propose.** Signals from two or more different partners, or a signal of urgency ``high`` or ``acute``
   while the person has an open case (a ``TriageDecision`` accepted it; a ``CaseClosed`` closes it). A proposal
   is made again only when the set of signals changed (a third partner's signal updates it); the same set is
   never proposed twice.
5. **A closed case clears.** ``CaseClosed`` forgets all of the person's signals and closes the case.

The bundle names events, partners, themes, urgencies and times - never a field value of an event - and its id is
derived from the subject and the signals, so a replay after a crash makes the same bundle (sinks deduplicate).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from schakel.consent import ConsentState, Decision, Outcome, Policy
from schakel.schemas import (
    MAX_BUNDLED_SIGNALS,
    BundleReason,
    Event,
    EventType,
    Organisation,
    Theme,
    parse_event,
)

__all__ = ["DEFAULT_WINDOW", "Agenda", "AgendaEngine", "AgendaSignal", "Proposal"]

DEFAULT_WINDOW = timedelta(days=90)
_URGENT = frozenset({"high", "acute"})
_BUNDLE_NAMESPACE = uuid.UUID("0b6a4c8e-2f1d-4e7a-9c3b-5d8e1f2a7b40")
_BUNDLE_PURPOSE = "case-consultation"


@dataclass(frozen=True)
class AgendaSignal:
    """What the agenda keeps of one signal: what the ZVH's copy carried, and the rule that let it pass."""

    event_id: str
    source: str
    theme: str
    urgency: str | None
    time: datetime
    purpose: str
    covenant_id: str
    rule: str

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "time": self.time.isoformat()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgendaSignal:
        return cls(**{**data, "time": datetime.fromisoformat(str(data["time"]))})


@dataclass(frozen=True)
class Agenda:
    """One person's agenda state: kept signals, whether a case is open, the last proposal, and forgotten ids."""

    signals: tuple[AgendaSignal, ...] = ()
    open_case: bool = False
    proposed: tuple[str, ...] = ()
    forgotten: frozenset[str] = field(default_factory=frozenset)

    def to_json(self) -> dict[str, Any]:
        return {
            "signals": [signal.to_json() for signal in self.signals],
            "open_case": self.open_case,
            "proposed": list(self.proposed),
            "forgotten": sorted(self.forgotten),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Agenda:
        return cls(
            signals=tuple(AgendaSignal.from_json(item) for item in data.get("signals", ())),
            open_case=bool(data.get("open_case", False)),
            proposed=tuple(data.get("proposed", ())),
            forgotten=frozenset(data.get("forgotten", ())),
        )


@dataclass(frozen=True)
class Proposal:
    """A decision to put the person on the ZVH's agenda: why, and which signals (oldest first)."""

    reason: BundleReason
    signals: tuple[AgendaSignal, ...]

    def bundle(self, zvh_pseudonym: str, now: datetime) -> Event:
        """The ``SignalBundle`` event for the ZVH; ``zvh_pseudonym`` is the ZVH's own pseudonym of the person."""
        ids = [signal.event_id for signal in self.signals]
        themes = {signal.theme for signal in self.signals}
        return parse_event(
            {
                "id": str(uuid.uuid5(_BUNDLE_NAMESPACE, f"{zvh_pseudonym}/{'/'.join(ids)}")),
                "type": EventType.SIGNAL_BUNDLE.value,
                "source": Organisation.ZVH.value,
                "time": now.isoformat(),
                "subject": {"pseudonym": zvh_pseudonym},
                "purpose": _BUNDLE_PURPOSE,
                "theme": themes.pop() if len(themes) == 1 else Theme.OTHER.value,
                "payload": {
                    "reason": self.reason.value,
                    "signals": [
                        {
                            "event_id": signal.event_id,
                            "source": signal.source,
                            "theme": signal.theme,
                            "urgency": signal.urgency,
                            "time": signal.time.isoformat(),
                        }
                        for signal in self.signals
                    ],
                },
            }
        )


class AgendaEngine:
    """Keeps one person's :class:`Agenda` up to date with each event the hub has decided."""

    def __init__(self, policy: Policy, default_window: timedelta = DEFAULT_WINDOW) -> None:
        self.policy = policy
        self.default_window = default_window

    def window(self, covenant_id: str) -> timedelta:
        """The agenda window of a covenant: how long its signals count towards a proposal."""
        days = self.policy.covenant(covenant_id).agenda_window_days
        return timedelta(days=days) if days is not None else self.default_window

    def current(self, agenda: Agenda, consent: ConsentState, now: datetime) -> tuple[AgendaSignal, ...]:
        """The kept signals that may still count at ``now`` (step 2)."""
        return tuple(signal for signal in agenda.signals if self._counts(signal, consent, now))

    def _counts(self, signal: AgendaSignal, consent: ConsentState, now: datetime) -> bool:
        try:
            covenant = self.policy.covenant(signal.covenant_id)
            rule = covenant.rule(signal.rule)
        except KeyError:  # a covenant or rule no longer loaded: fail closed, the signal no longer counts
            return False
        if not covenant.in_force(now):
            return False
        # Only a consent recorded by a party the rule names counts, as when the signal was delivered.
        recorders, controller = rule.conditions.recorders(Organisation(signal.source))
        if rule.conditions.consent and not consent.holds(Organisation.ZVH, signal.purpose, now, recorders, controller):
            return False
        return now - signal.time <= self.window(signal.covenant_id)

    def on_event(
        self,
        agenda: Agenda,
        event: Event,
        decisions: tuple[Decision, ...] | list[Decision],
        consent: ConsentState,
        now: datetime,
    ) -> tuple[Agenda, Proposal | None]:
        """The agenda after ``event`` (with the hub's ``decisions`` for it and the consent state after it), and a
        proposal when one is due."""
        if event.type is EventType.CASE_CLOSED:
            forgotten = agenda.forgotten | {signal.event_id for signal in agenda.signals}
            return Agenda(forgotten=forgotten), None
        if event.type is EventType.TRIAGE_DECISION:
            accepted = str(getattr(event.payload, "outcome", "")) == "accepted"
            return (replace(agenda, open_case=True), None) if accepted else (agenda, None)
        if event.type is EventType.CONSENT_CHANGE:
            return self._after_consent_change(agenda, event, consent, now), None
        if event.type is not EventType.SIGNAL:
            return agenda, None
        zvh = next((d for d in decisions if d.recipient is Organisation.ZVH and d.outcome is not Outcome.DENY), None)
        event_id = str(event.id)
        if zvh is None or zvh.covenant_id is None or zvh.rule is None or event_id in agenda.forgotten:
            return agenda, None
        urgency = getattr(event.payload, "urgency", None)
        signal = AgendaSignal(
            event_id=event_id,
            source=str(event.source),
            theme=str(event.theme),
            urgency=str(urgency) if urgency is not None and "urgency" in zvh.fields_sent else None,
            time=event.time,
            purpose=event.purpose,
            covenant_id=zvh.covenant_id,
            rule=zvh.rule,
        )
        known = [kept for kept in agenda.signals if kept.event_id != event_id]
        live = self.current(replace(agenda, signals=(*known, signal)), consent, now)
        live = tuple(sorted(live, key=lambda s: (s.time, s.event_id)))[-MAX_BUNDLED_SIGNALS:]
        updated = replace(agenda, signals=live)
        reason: BundleReason | None = None
        if len({kept.source for kept in live}) >= 2:
            reason = BundleReason.SEVERAL_PARTNERS
        elif agenda.open_case and signal.urgency in _URGENT and signal in live:
            reason = BundleReason.URGENT_OPEN_CASE
        ids = tuple(kept.event_id for kept in live)
        if reason is None or ids == agenda.proposed:
            return updated, None
        return replace(updated, proposed=ids), Proposal(reason, live)

    def _after_consent_change(self, agenda: Agenda, event: Event, consent: ConsentState, now: datetime) -> Agenda:
        change = str(getattr(event.payload, "change", ""))
        grantees = getattr(event.payload, "grantees", ())
        if change == "withdrawn" and Organisation.ZVH in grantees:
            gone = {signal.event_id for signal in agenda.signals if signal.purpose == event.purpose}
            remaining = tuple(signal for signal in agenda.signals if signal.event_id not in gone)
            agenda = replace(agenda, signals=remaining, forgotten=agenda.forgotten | gone)
        return replace(agenda, signals=self.current(agenda, consent, now))
