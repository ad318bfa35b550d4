"""The subject's consent state: which organisation may, with the person's consent, receive data for which purpose.

The hub keeps one :class:`ConsentState` per person (in a Faust table keyed by the subject pseudonym) and folds
every ``ConsentChange`` event into it with :meth:`ConsentState.apply`. The state keeps the history of changes per
(grantee, purpose), not only the latest, so that a decision is a function of the time it is taken for:

- a consent counts from the ``time`` of the ConsentChange that gave it, until its ``valid_until`` (exclusive);
- a withdrawal counts from its own ``time``: it stops every later delivery that rested on the consent and never
  changes a decision for an earlier moment (what was lawfully shared stays shared, and lineage says so);
- the latest change at or before the decision's time wins; a new consent after a withdrawal counts again;
- two changes with the same time count in the order they were applied - the order the subject's partition holds
  them in, which is the order their sender wrote them (sorting is stable; the JSON form keeps that order).

Applying the same ConsentChange twice (Kafka redelivers at least once) changes nothing: changes are keyed by the
event id. The consent's purpose is the ConsentChange's envelope ``purpose``. Which partner may *receive* a
ConsentChange event is a separate matter, decided by covenant rules like any other event.

**Who recorded it.** A consent binds the controller it was given to. Every change keeps its ``grantor`` (the
controller the person gave it to, named in the event) and ``recorded_by`` (the event's sender). A rule's consent
condition names the parties whose consents count for it (:meth:`ConsentState.check`'s ``recorders``): a *given*
counts only when its grantor recorded it itself and the rule names that grantor. Every other given consent stays in
the history and never satisfies a condition (``consent-wrong-party``). *Why withdrawals count from anyone:* a person
who withdraws at any partner is heard - the worst a false withdrawal can do is withhold data (fail closed), while a
false consent would release it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schakel.consent.decision import Reason
from schakel.schemas import Event, EventType, Organisation

__all__ = ["ConsentRecord", "ConsentState"]


def _by_time(record: ConsentRecord) -> datetime:
    return record.time


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One recorded change of consent for one grantee and purpose."""

    time: datetime
    given: bool
    valid_until: datetime | None
    event_id: str
    recorded_by: Organisation
    grantor: Organisation | None = None

    def counts_for(self, recorders: frozenset[Organisation], controller: Organisation | None) -> bool:
        """Whether this change counts for a rule whose consent the ``recorders`` (and, when not None, the
        ``controller`` of the data) may record: a withdrawal always, a consent only from its own grantor."""
        if not self.given:
            return True
        grantor = self.grantor
        return grantor is self.recorded_by and (grantor is controller or grantor in recorders)

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "change": "given" if self.given else "withdrawn",
            "valid_until": self.valid_until.isoformat() if self.valid_until is not None else None,
            "event_id": self.event_id,
            "recorded_by": self.recorded_by.value,
            "grantor": self.grantor.value if self.grantor is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConsentRecord:
        change = data["change"]
        if change not in ("given", "withdrawn"):
            raise ValueError("consent change must be 'given' or 'withdrawn'")
        time = datetime.fromisoformat(data["time"])
        valid_until = datetime.fromisoformat(data["valid_until"]) if data.get("valid_until") else None
        if time.tzinfo is None or (valid_until is not None and valid_until.tzinfo is None):
            raise ValueError("consent times must carry a timezone")
        time = time.astimezone(UTC)
        valid_until = valid_until.astimezone(UTC) if valid_until is not None else None
        grantor = Organisation(data["grantor"]) if data.get("grantor") else None
        return cls(
            time, change == "given", valid_until, str(data["event_id"]), Organisation(data["recorded_by"]), grantor
        )


_Key = tuple[Organisation, str]


class ConsentState:
    """Immutable consent history of one person: (grantee, purpose) -> changes in time order."""

    __slots__ = ("_grants",)
    _grants: dict[_Key, tuple[ConsentRecord, ...]]

    def __init__(self, grants: dict[_Key, tuple[ConsentRecord, ...]] | None = None) -> None:
        object.__setattr__(self, "_grants", dict(grants or {}))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ConsentState is immutable; apply() returns a new one")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConsentState) and self._grants == other._grants

    def __hash__(self) -> int:
        return hash(frozenset(self._grants.items()))

    def __repr__(self) -> str:  # no personal data in it: organisation codes, purposes, counts
        return f"ConsentState({ {f'{org.value}/{purpose}': len(c) for (org, purpose), c in self._grants.items()} })"

    def apply(self, event: Event) -> ConsentState:
        """The state after ``event``: changed for a ConsentChange, the same state for any other event."""
        if event.type != EventType.CONSENT_CHANGE:
            return self
        payload: Any = event.payload
        given = str(payload.change) == "given"
        event_id = str(event.id)
        valid_until = payload.valid_until.astimezone(UTC) if payload.valid_until is not None else None
        grantor = Organisation(payload.grantor) if payload.grantor is not None else None
        record = ConsentRecord(event.time.astimezone(UTC), given, valid_until, event_id, event.source, grantor)
        grants = dict(self._grants)
        changed = False
        for grantee in dict.fromkeys(payload.grantees):
            key = (Organisation(grantee), event.purpose)
            history = grants.get(key, ())
            if any(r.event_id == event_id for r in history):
                continue
            grants[key] = tuple(sorted((*history, record), key=_by_time))
            changed = True
        return ConsentState(grants) if changed else self

    def merge(self, other: ConsentState) -> ConsentState:
        """The union of two histories (the same change, by event id, counted once)."""
        grants = dict(self._grants)
        for key, records in other._grants.items():
            known = {r.event_id for r in grants.get(key, ())}
            added = [r for r in records if r.event_id not in known]
            if added:
                grants[key] = tuple(sorted((*grants.get(key, ()), *added), key=_by_time))
        return ConsentState(grants)

    def check(
        self,
        grantee: Organisation,
        purpose: str,
        at: datetime,
        recorders: frozenset[Organisation] = frozenset(Organisation),
        controller: Organisation | None = None,
    ) -> Reason | None:
        """None if the consent for ``grantee`` and ``purpose`` holds at ``at``, counting only consents recorded by
        their own grantor where that grantor is one of ``recorders`` or the ``controller``; otherwise why not.
        (The defaults count every party: for reading a history, never for a covenant rule.)"""
        history = self._grants.get((grantee, purpose))
        if not history:
            return Reason.CONSENT_MISSING
        other_party = False
        for record in reversed(history):
            if record.time <= at:
                if record.given and not (  # inline of counts_for: this runs per consent-conditioned decision
                    record.grantor is record.recorded_by
                    and (record.grantor is controller or record.grantor in recorders)
                ):
                    other_party = True
                    continue
                if not record.given:
                    return Reason.CONSENT_WITHDRAWN
                if record.valid_until is not None and at >= record.valid_until:
                    return Reason.CONSENT_EXPIRED
                return None
        return Reason.CONSENT_WRONG_PARTY if other_party else Reason.CONSENT_MISSING

    def holds(
        self,
        grantee: Organisation,
        purpose: str,
        at: datetime,
        recorders: frozenset[Organisation] = frozenset(Organisation),
        controller: Organisation | None = None,
    ) -> bool:
        """Whether the consent for ``grantee`` and ``purpose`` holds at ``at`` (see :meth:`check`)."""
        return self.check(grantee, purpose, at, recorders, controller) is None

    def withdrawals(self) -> tuple[tuple[Organisation, str, ConsentRecord], ...]:
        """Every recorded withdrawal: (grantee, purpose, change), oldest first."""
        found = [(org, purpose, r) for (org, purpose), records in self._grants.items() for r in records if not r.given]
        return tuple(sorted(found, key=lambda item: item[2].time))

    def history(self, grantee: Organisation, purpose: str) -> tuple[ConsentRecord, ...]:
        """The recorded changes for ``grantee`` and ``purpose``, oldest first."""
        return self._grants.get((grantee, purpose), ())

    def to_json(self) -> dict[str, Any]:
        """The JSON form (kept in the hub's Faust table)."""
        return {
            "version": 1,
            "grants": [
                {"grantee": org.value, "purpose": purpose, "changes": [r.to_json() for r in records]}
                for (org, purpose), records in sorted(self._grants.items())
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConsentState:
        """The state from its JSON form; raises ValueError (or KeyError) on a malformed form."""
        if data.get("version") != 1:
            raise ValueError("unknown consent-state version")
        grants: dict[_Key, tuple[ConsentRecord, ...]] = {}
        for grant in data.get("grants", []):
            key = (Organisation(grant["grantee"]), str(grant["purpose"]))
            records = [ConsentRecord.from_json(change) for change in grant["changes"]]
            grants[key] = tuple(sorted(records, key=_by_time))
        return cls(grants)
