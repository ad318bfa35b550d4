"""The case state: which partners the ZVH invited to a person's cases. Invitations are state, not claims.

A covenant rule with the ``invited`` condition ("only when the ZVH invited them") holds only for a recipient this
state lists as invited to the event's case - never because the sender put the recipient in ``addressees``. The hub
keeps one :class:`CaseState` per person (beside the consent state, see :mod:`schakel.consent.subject_state`) and
folds every event into it; the state changes only by the ZVH's own decisions for a case:

1. A ``Referral`` (from any partner) records the referrer and the partners it proposes (``invited_partners``) as
   *proposed* - nobody is invited by a referral itself.
2. A ``TriageDecision`` from the ZVH invites its own addressees; when its outcome is ``accepted`` also the referrer
   and the proposed partners of the referral; otherwise the referrer only (who must hear the answer).
3. A ``ConsultationOutcome`` from the ZVH invites its addressees, its ``lead_partner`` and every partner with an
   action in it.
4. A ``CaseClosed`` from the ZVH uninvites everyone, *after* the closure itself is decided (the invited partners
   hear that the case closed). A later triage decision can invite again.

*Why* the ZVH's addressees count and nobody else's: the ZVH is the process director; its addressing is its decision
for the case, and only its ingress topic (its Kafka identity) can carry ``source: zvh``. Cases are keyed by
:func:`~schakel.consent.pseudonyms.case_key` (``case:<issuer>:<case id>``), so equal case ids of two issuers are two
cases. An event without a case id has no case, so no partner is invited for it.

Applying the same event twice changes nothing (the state is a set of invitations). The JSON form holds
organisation codes and pseudonymised case keys only (:meth:`CaseState.to_json` takes the hashing function), never a
case id: the state lives in a Kafka changelog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from schakel.consent.pseudonyms import case_key
from schakel.schemas import Event, EventType, Organisation

__all__ = ["CaseInvitations", "CaseState"]

_ZVH = Organisation.ZVH


@dataclass(frozen=True, slots=True)
class CaseInvitations:
    """One case: the referral's referrer and proposed partners, and the partners the ZVH invited."""

    referrer: Organisation | None = None
    proposed: frozenset[Organisation] = frozenset()
    invited: frozenset[Organisation] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "referrer": self.referrer.value if self.referrer is not None else None,
            "proposed": sorted(o.value for o in self.proposed),
            "invited": sorted(o.value for o in self.invited),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseInvitations:
        referrer = data.get("referrer")
        return cls(
            Organisation(referrer) if referrer else None,
            frozenset(Organisation(o) for o in data.get("proposed", ())),
            frozenset(Organisation(o) for o in data.get("invited", ())),
        )


_NOBODY = CaseInvitations()


def _orgs(values: Iterable[Any] | None) -> frozenset[Organisation]:
    return frozenset(Organisation(v) for v in values or ())


class CaseState:
    """Immutable invitations of one person's cases: case reference -> :class:`CaseInvitations`.

    The case reference is what :meth:`apply` is given as ``reference`` (the hub passes a pseudonym of the case
    key); by default the case key itself."""

    __slots__ = ("_cases",)
    _cases: dict[str, CaseInvitations]

    def __init__(self, cases: dict[str, CaseInvitations] | None = None) -> None:
        object.__setattr__(self, "_cases", dict(cases or {}))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("CaseState is immutable; apply() returns a new one")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CaseState) and self._cases == other._cases

    def __hash__(self) -> int:
        return hash(frozenset(self._cases.items()))

    def __repr__(self) -> str:  # no personal data: counts only
        return f"CaseState({len(self._cases)} cases)"

    def invited(self, reference: str | None) -> frozenset[Organisation]:
        """The partners invited to this case (none for an unknown case or None)."""
        if reference is None:
            return frozenset()
        return self._cases.get(reference, _NOBODY).invited

    def case(self, reference: str) -> CaseInvitations:
        """The invitations of one case (an empty one if the case is unknown)."""
        return self._cases.get(reference, _NOBODY)

    def before(self, event: Event, reference: Callable[[str], str] = str) -> CaseState:
        """The state in which ``event`` is decided: a referral's proposal and the ZVH's invitations counted."""
        key = case_key(event)
        if key is None:
            return self
        ref = reference(key)
        current = self._cases.get(ref, _NOBODY)
        payload: Any = event.payload
        changed = current
        if event.type is EventType.REFERRAL:
            changed = CaseInvitations(event.source, current.proposed | _orgs(payload.invited_partners), current.invited)
        elif event.source is _ZVH and event.type is EventType.TRIAGE_DECISION:
            invited = current.invited | _orgs(event.addressees)
            referrer = {current.referrer} if current.referrer is not None else set()
            if str(payload.outcome) == "accepted":
                invited |= current.proposed | referrer
            else:
                invited |= referrer
            changed = CaseInvitations(current.referrer, current.proposed, invited)
        elif event.source is _ZVH and event.type is EventType.CONSULTATION_OUTCOME:
            named = set(_orgs(event.addressees))
            if payload.lead_partner is not None:
                named.add(Organisation(payload.lead_partner))
            named.update(Organisation(action.partner) for action in payload.actions or ())
            changed = CaseInvitations(current.referrer, current.proposed, current.invited | named)
        if changed == current:
            return self
        return CaseState({**self._cases, ref: changed})

    def after(self, event: Event, reference: Callable[[str], str] = str) -> CaseState:
        """The state once ``event`` is decided: a ZVH's CaseClosed uninvites everyone in the case."""
        key = case_key(event)
        if key is None or event.source is not _ZVH or event.type is not EventType.CASE_CLOSED:
            return self
        ref = reference(key)
        if ref not in self._cases:
            return self
        return CaseState({**self._cases, ref: CaseInvitations()})

    def merge(self, other: CaseState) -> CaseState:
        """Both persons' cases (when two identifiers turn out to be one person): invitations united per case."""
        cases = dict(self._cases)
        for ref, theirs in other._cases.items():
            mine = cases.get(ref)
            cases[ref] = (
                theirs
                if mine is None
                else CaseInvitations(
                    mine.referrer or theirs.referrer, mine.proposed | theirs.proposed, mine.invited | theirs.invited
                )
            )
        return CaseState(cases)

    def to_json(self) -> dict[str, Any]:
        return {ref: invitations.to_json() for ref, invitations in sorted(self._cases.items())}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseState:
        return cls({str(ref): CaseInvitations.from_json(value) for ref, value in data.items()})
