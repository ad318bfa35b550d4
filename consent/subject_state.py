"""One person's state in the hub - consent history and case invitations - and the one way events are decided on it.

The hub keeps a :class:`SubjectState` per person (its ``subjects`` table) and ``schakel consent decide`` builds one
from the history files it is given; both decide through :meth:`SubjectState.decide_all` / :meth:`SubjectState.decide`
so that they give the same answer for the same history (one code path, tested in ``tests/consent``). For an event:

1. :meth:`SubjectState.before` folds the event in as far as it counts for its own decision: a ``ConsentChange``
   (a withdrawal stops this very event's delivery where it rested on the consent), a referral's proposal and the
   ZVH's invitations (its triage decision reaches the partners it invites);
2. the policy decides per candidate with that consent history and the partners invited to the event's case;
3. :meth:`SubjectState.after` folds in what counts only afterwards: a ZVH's ``CaseClosed`` uninvites the case.

``reference`` turns a case key into the name the state keeps the case under; the hub passes its keyed pseudonym
function so that no case id reaches the table's changelog, the CLI keeps the key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from schakel.consent.case_state import CaseState
from schakel.consent.consent_state import ConsentState
from schakel.consent.decision import Decision
from schakel.consent.policy import Policy
from schakel.consent.pseudonyms import case_key
from schakel.schemas import Event, Organisation

__all__ = ["SubjectState"]

Reference = Callable[[str], str]


class SubjectState:
    """Immutable: one person's consent history and case invitations."""

    __slots__ = ("cases", "consent")
    consent: ConsentState
    cases: CaseState

    def __init__(self, consent: ConsentState | None = None, cases: CaseState | None = None) -> None:
        object.__setattr__(self, "consent", consent if consent is not None else ConsentState())
        object.__setattr__(self, "cases", cases if cases is not None else CaseState())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SubjectState is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SubjectState) and (self.consent, self.cases) == (other.consent, other.cases)

    def __hash__(self) -> int:
        return hash((self.consent, self.cases))

    def __repr__(self) -> str:
        return f"SubjectState({self.consent!r}, {self.cases!r})"

    def _with(self, consent: ConsentState, cases: CaseState) -> SubjectState:
        if consent is self.consent and cases is self.cases:
            return self
        return SubjectState(consent, cases)

    def before(self, event: Event, reference: Reference = str) -> SubjectState:
        """The state in which ``event`` is decided."""
        return self._with(self.consent.apply(event), self.cases.before(event, reference))

    def after(self, event: Event, reference: Reference = str) -> SubjectState:
        """The state once ``event`` is decided (``before`` already applied)."""
        return self._with(self.consent, self.cases.after(event, reference))

    def apply(self, event: Event, reference: Reference = str) -> SubjectState:
        """The state after ``event`` (both steps): for folding a history."""
        return self.before(event, reference).after(event, reference)

    def apply_all(self, events: Iterable[Event], reference: Reference = str) -> SubjectState:
        state = self
        for event in events:
            state = state.apply(event, reference)
        return state

    def invited(self, event: Event, reference: Reference = str) -> frozenset[Organisation]:
        """The partners invited to the event's case in this state."""
        key = case_key(event)
        return self.cases.invited(reference(key)) if key is not None else frozenset()

    def decide_all(
        self, policy: Policy, event: Event, at: datetime, reference: Reference = str
    ) -> tuple[tuple[Decision, ...], SubjectState]:
        """One decision per candidate recipient of ``event`` at ``at``, and the state after the event."""
        state = self.before(event, reference)
        decisions = policy.decide_all(event, state.consent, at, invited=state.invited(event, reference))
        return decisions, state.after(event, reference)

    def decide(
        self, policy: Policy, event: Event, recipient: Organisation, at: datetime, reference: Reference = str
    ) -> Decision:
        """What ``recipient`` may receive of ``event`` at ``at`` (the same answer :meth:`decide_all` gives it)."""
        state = self.before(event, reference)
        return policy.decide(event, recipient, state.consent, at, invited=state.invited(event, reference))

    def merge(self, other: SubjectState) -> SubjectState:
        """One person's state from two (two identifiers turned out to name one person)."""
        return SubjectState(self.consent.merge(other.consent), self.cases.merge(other.cases))

    def to_json(self) -> dict[str, Any]:
        """The JSON form (kept in the hub's Faust table)."""
        return {"version": 2, "consent": self.consent.to_json(), "cases": self.cases.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SubjectState:
        """The state from its JSON form (also a bare consent state, version 1); ValueError/KeyError if malformed."""
        if data.get("version") == 1:
            return cls(ConsentState.from_json(data))
        if data.get("version") != 2:
            raise ValueError("unknown subject-state version")
        return cls(ConsentState.from_json(data["consent"]), CaseState.from_json(data["cases"]))
