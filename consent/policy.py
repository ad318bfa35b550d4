"""The decision engine: covenants compiled into an index, and one pure decision per (event, recipient).

How a decision is reached (the judgement calls are marked *why*):

1. **Index.** At load time every rule is unrolled into entries keyed by ``(event type, sender, recipient,
   purpose)``. A decision looks up its key (one dict lookup) and evaluates only the few rules under it, so its cost
   does not grow with covenants and rules that do not apply. A second set, keyed without the purpose, only tells a
   purpose mismatch from no rule at all (for the reason code).
2. **Purpose binding.** The event's envelope ``purpose`` must equal the rule's purpose exactly. *Why:* doelbinding
   - a sender shares for one purpose, and data shared for case consultation may not ride on a CTER rule.
   The purpose is the sender's claim, so it is checked first (:meth:`Policy.claim`): some covenant must have the
   purpose, some rule of it must let this sender send this event type for it, and the event's ``theme`` must be one
   of the purpose's themes in such a covenant. Otherwise every recipient is denied with ``purpose-unknown``,
   ``purpose-not-for-sender`` or ``purpose-not-for-theme`` (and the hub dead-letters the event). *Why derived from
   the rules:* a separate list of claimable purposes per sender would repeat the rules and drift from them.
3. **Conditions.** A rule counts only if its covenant is in force at ``at`` (the decision time, not the event
   time: a covenant that ended yesterday permits nothing today), the recipient is invited to the event's case where
   the rule demands it (``invited``: the ZVH's decision in the hub's case state, passed in by the caller - never the
   sender's ``addressees``), the event records an accepted secrecy ground where the rule demands one (``consent``
   also needs the consent on file for the recipient, ``conflict_of_duties`` a ``deliberation_ref``), and the
   subject's consent holds at ``at`` for this recipient and purpose where the rule is consent-conditioned - counting
   only consents recorded by their own grantor where the rule names that party (``consent_recorded_by``:
   ``controller`` = the event's sender, or e.g. ``zvh``; see :mod:`schakel.consent.consent_state`).
4. **Several satisfied rules: one wins, none are merged.** The satisfied rule that sends the most of the event's
   present fields wins (ties: the covenant that comes first by file name, then the rule that comes first in the
   file). *Why:* every sent field must rest on one named rule, legal basis and covenant@version that lineage records
   and an AVG art. 15 answer can show; a union would mix bases. Covenant authors layer rules as supersets (a
   consent-conditioned rule repeats the fields of the rule without the condition and adds the sensitive ones), so
   "most fields" picks the richest lawful one. Reasons of rules that did not hold are added to the decision, so a
   partial says *why* the richer rule did not apply (e.g. ``consent-missing``).
5. **Fields.** Only the winning rule's fields pass; every other present field is withheld, including fields the
   catalogue does not govern. Special categories, criminal data and the BSN can only pass where a rule names them,
   and the loader refuses such a rule without a basis for that category, so the engine needs no extra check.
   A field without a value is neither sent nor withheld. Envelope metadata always travels with a delivered copy.
6. **Deny by default.** No key, no rule in force, or no satisfied rule: ``deny``, nothing at all is sent. A denial
   that a rule's condition caused names that rule (the first one evaluated) and carries every failed condition's
   reason; a denial without any rule names none.
7. **Candidates.** The addressees the sender named (they narrow who is asked; they never satisfy a condition);
   otherwise every organisation that some rule of a covenant in
   force lets receive this event type from this sender, whatever the purpose (so a purpose mismatch is a recorded
   denial, not silence). The sender is never its own implicit candidate. No organisation is special in code: the
   ZVH (process director) receives referrals and signals because the covenants say so, and a ``ConsentChange``
   event is delivered only where a rule names it (the hub applies it to the consent state regardless).

Decisions are deterministic: same event, recipient, consent state and time, same decision. The engine holds a
one-event cache of the event's present fields (so :meth:`Policy.decide_all` reads the event once) and a cache of
outcomes per (rule, present fields); neither changes results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from operator import attrgetter
from typing import Any

from schakel.consent.consent_state import ConsentState
from schakel.consent.covenant import CONTROLLER, Covenant, Rule
from schakel.consent.decision import Decision, Outcome, Reason
from schakel.consent.legal import GENERAL, LEGAL_BASES, Regime, regime_of
from schakel.schemas import Event, EventType, Organisation, Sensitivity, Theme, field_sensitivities

__all__ = ["Policy"]

_REASON_ORDER = {reason: index for index, reason in enumerate(Reason)}
_ORGANISATION_ORDER = {org: index for index, org in enumerate(Organisation)}
_WITHHELD_REASON = {
    Sensitivity.HEALTH: Reason.SPECIAL_CATEGORY_WITHHELD,
    Sensitivity.BELIEF: Reason.SPECIAL_CATEGORY_WITHHELD,
    Sensitivity.CRIMINAL: Reason.CRIMINAL_DATA_WITHHELD,
    Sensitivity.YOUTH: Reason.YOUTH_DATA_WITHHELD,
    Sensitivity.BSN: Reason.BSN_PSEUDONYMISED,
}
_CATEGORY_ORDER = (
    Sensitivity.BSN,
    Sensitivity.HEALTH,
    Sensitivity.BELIEF,
    Sensitivity.CRIMINAL,
    Sensitivity.YOUTH,
)
_OUTCOME_CACHE_LIMIT = 4096


def _ordered(reasons: Iterable[Reason]) -> tuple[Reason, ...]:
    return tuple(sorted(set(reasons), key=_REASON_ORDER.__getitem__))


class _TypeFields:
    """The governed fields of one event type, in catalogue order, and how to read them from an event."""

    __slots__ = ("getter", "names", "payload_names", "sensitivity")

    def __init__(self, event_type: EventType) -> None:
        self.sensitivity = dict(field_sensitivities(event_type))
        self.names = tuple(self.sensitivity)
        paths = [name if name.startswith("subject.") else f"payload.{name}" for name in self.names]
        self.getter = attrgetter(*paths)
        self.payload_names = frozenset(n for n in self.names if not n.startswith("subject."))


@dataclass(frozen=True, slots=True)
class _Outcome:
    sent: tuple[str, ...]
    withheld: tuple[str, ...]
    legal_basis: tuple[str, ...]
    reasons: tuple[Reason, ...]


@cache
def _type_fields(event_type: EventType) -> _TypeFields:
    return _TypeFields(event_type)


def _bases_for(rule: Rule, regime: Regime) -> dict[str, tuple[str, ...]]:
    """The rule's citations that belong to the sender's regime, per category."""
    return {
        category: tuple(c for c in citations if regime in LEGAL_BASES[c].regimes)
        for category, citations in rule.legal_basis.items()
    }


def _merged(spans: list[tuple[datetime, datetime]]) -> tuple[tuple[datetime, datetime], ...]:
    """The union of validity spans as few disjoint ones (many rules share one covenant's span)."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(set(spans)):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


class _Entry:
    """One rule compiled for one (event type, sender): everything a decision needs, precomputed."""

    __slots__ = (
        "_cache",
        "bases",
        "consent",
        "controller_records",
        "covenant_id",
        "covenant_version",
        "fields",
        "invited",
        "order",
        "recorders",
        "rule_id",
        "secrecy_grounds",
        "type_fields",
        "valid_from",
        "valid_until",
    )

    def __init__(
        self,
        covenant: Covenant,
        rule: Rule,
        order: int,
        span: tuple[datetime, datetime],
        bases: dict[str, tuple[str, ...]],
        type_fields: _TypeFields,
    ) -> None:
        self.covenant_id = covenant.id
        self.covenant_version = covenant.version
        self.rule_id = rule.id
        self.order = order
        self.fields = frozenset(rule.fields)
        self.valid_from, self.valid_until = span
        self.consent = rule.conditions.consent
        self.secrecy_grounds = frozenset(rule.conditions.secrecy_grounds)
        self.invited = rule.conditions.invited
        recorded_by = rule.conditions.consent_recorded_by
        self.controller_records = CONTROLLER in recorded_by
        self.recorders = frozenset(Organisation(r) for r in recorded_by if r != CONTROLLER)
        self.type_fields = type_fields
        self.bases = bases
        self._cache: dict[frozenset[str], _Outcome] = {}

    def check(
        self,
        event: Any,
        recipient: Organisation,
        consent: ConsentState,
        at: datetime,
        invited: frozenset[Organisation],
    ) -> Reason | None:
        """None if the rule holds for this event, recipient, consent, invitations and time; otherwise the first
        reason why not."""
        if not self.valid_from <= at < self.valid_until:
            return Reason.COVENANT_NOT_IN_FORCE
        if self.invited and recipient not in invited:
            return Reason.NOT_INVITED
        if self.secrecy_grounds:
            payload = event.payload
            ground = payload.secrecy_ground
            if ground is None:
                return Reason.SECRECY_GROUND_MISSING
            if ground not in self.secrecy_grounds:
                return Reason.SECRECY_GROUND_NOT_ACCEPTED
            if ground == "conflict_of_duties" and not payload.deliberation_ref:
                return Reason.DELIBERATION_MISSING
            if ground == "consent":
                refused = consent.check(
                    recipient, event.purpose, at, self.recorders, event.source if self.controller_records else None
                )
                if refused is not None:
                    return refused
        if self.consent:
            return consent.check(
                recipient, event.purpose, at, self.recorders, event.source if self.controller_records else None
            )
        return None

    def outcome(self, present: frozenset[str]) -> _Outcome:
        """What passes of an event whose governed fields with a value are ``present`` (cached)."""
        found = self._cache.get(present)
        if found is not None:
            return found
        names = self.type_fields.names
        sensitivity = self.type_fields.sensitivity
        sent = tuple(n for n in names if n in present and n in self.fields)
        withheld = tuple(n for n in names if n in present and n not in self.fields)
        categories = {sensitivity[n] for n in sent}
        bases = list(self.bases.get(GENERAL, ()))
        for category in _CATEGORY_ORDER:
            if category in categories:
                bases.extend(self.bases.get(category.value, ()))
        reasons = [Reason.PERMITTED]
        if withheld:
            reasons.append(Reason.FIELDS_WITHHELD)
            reasons.extend(_WITHHELD_REASON[sensitivity[n]] for n in withheld if sensitivity[n] in _WITHHELD_REASON)
        found = _Outcome(sent, withheld, tuple(dict.fromkeys(bases)), _ordered(reasons))
        if len(self._cache) >= _OUTCOME_CACHE_LIMIT:
            self._cache.clear()
        self._cache[present] = found
        return found


_Key = tuple[EventType, Organisation, Organisation, str]
_Read = tuple[Any, frozenset[str], tuple[str, ...], tuple[str, ...], tuple[Reason, ...] | None]
_make = Decision._make
_DENY, _PARTIAL, _PERMIT = Outcome.DENY, Outcome.PARTIAL, Outcome.PERMIT
_NO_RULE = (Reason.NO_RULE,)
_PURPOSE_MISMATCH = (Reason.PURPOSE_MISMATCH,)
_NOBODY: frozenset[Organisation] = frozenset()


class Policy:
    """The compiled covenants. Build it with :func:`~schakel.consent.load_policy` (or from :class:`Covenant`
    values); then :meth:`candidates`, :meth:`decide` and :meth:`decide_all` are pure and need no I/O."""

    def __init__(self, covenants: Iterable[Covenant]) -> None:
        self.covenants: tuple[Covenant, ...] = tuple(sorted(covenants, key=lambda c: (c.source, c.id)))
        self._by_id = {c.id: c for c in self.covenants}
        self._types = {t: _type_fields(t) for t in EventType}
        self._unknown_names: dict[type, tuple[str, ...]] = {}
        self._last: _Read | None = None
        by_key: dict[_Key, list[_Entry]] = {}
        triples: set[tuple[EventType, Organisation, Organisation]] = set()
        receivers: dict[tuple[EventType, Organisation], dict[Organisation, list[tuple[datetime, datetime]]]] = {}
        claims: set[tuple[EventType, Organisation, str, Theme]] = set()
        claimable: set[tuple[EventType, Organisation, str]] = set()
        purposes: set[str] = set()
        for covenant_index, covenant in enumerate(self.covenants):
            purposes.update(covenant.purposes)
            # In UTC: comparing datetimes that share one tzinfo object skips utcoffset() (zoneinfo lookups).
            span = (covenant.in_force_from.astimezone(UTC), covenant.in_force_until.astimezone(UTC))
            for rule_index, rule in enumerate(covenant.rules):
                order = covenant_index * 1_000_000 + rule_index
                bases = {regime: _bases_for(rule, regime) for regime in {regime_of(s) for s in rule.senders}}
                for event_type in rule.event_types:
                    for sender in rule.senders:
                        claimable.add((event_type, sender, rule.purpose))
                        for theme in covenant.purpose_themes.get(rule.purpose, ()):
                            claims.add((event_type, sender, rule.purpose, theme))
                        entry = _Entry(covenant, rule, order, span, bases[regime_of(sender)], self._types[event_type])
                        for recipient in rule.recipients:
                            if recipient == sender:
                                continue
                            by_key.setdefault((event_type, sender, recipient, rule.purpose), []).append(entry)
                            triples.add((event_type, sender, recipient))
                            spans = receivers.setdefault((event_type, sender), {}).setdefault(recipient, [])
                            spans.append((entry.valid_from, entry.valid_until))
        self._by_key: dict[_Key, tuple[_Entry, ...]] = {
            key: tuple(sorted(entries, key=lambda e: e.order)) for key, entries in by_key.items()
        }
        self._triples = frozenset(triples)
        self._claims = frozenset(claims)
        self._claimable = frozenset(claimable)
        self._purposes = frozenset(purposes)
        self._receivers = {
            pair: tuple(
                (org, _merged(spans))
                for org, spans in sorted(by_org.items(), key=lambda kv: _ORGANISATION_ORDER[kv[0]])
            )
            for pair, by_org in receivers.items()
        }

    def covenant(self, covenant_id: str) -> Covenant:
        """The covenant with this id (KeyError if there is none)."""
        return self._by_id[covenant_id]

    def rules_for(
        self, event_type: EventType, sender: Organisation, recipient: Organisation, purpose: str
    ) -> tuple[tuple[Covenant, Rule], ...]:
        """The rules that could apply to this event type, sender, recipient and purpose (in evaluation order)."""
        found: dict[tuple[str, str], tuple[Covenant, Rule]] = {}
        for entry in self._by_key.get((event_type, sender, recipient, purpose), ()):
            covenant = self._by_id[entry.covenant_id]
            found.setdefault((entry.covenant_id, entry.rule_id), (covenant, covenant.rule(entry.rule_id)))
        return tuple(found.values())

    @property
    def rule_count(self) -> int:
        """The number of rules over all covenants."""
        return sum(len(c.rules) for c in self.covenants)

    def candidates(self, event: Event, at: datetime) -> tuple[Organisation, ...]:
        """The organisations to decide for: the event's addressees, or else every organisation that a rule of a
        covenant in force at ``at`` lets receive this event type from this sender (catalogue order)."""
        if event.addressees:
            return tuple(dict.fromkeys(event.addressees))
        at = at.astimezone(UTC)
        entries = self._receivers.get((event.type, event.source), ())
        return tuple(org for org, spans in entries if any(start <= at < end for start, end in spans))

    def claim(self, event: Event) -> Reason | None:
        """None if the event's sender may claim its purpose for its type and theme; otherwise why not (a code)."""
        if event.purpose not in self._purposes:
            return Reason.PURPOSE_UNKNOWN
        if (event.type, event.source, event.purpose) not in self._claimable:
            return Reason.PURPOSE_NOT_FOR_SENDER
        if (event.type, event.source, event.purpose, event.theme) not in self._claims:
            return Reason.PURPOSE_NOT_FOR_THEME
        return None

    def decide_all(
        self, event: Event, consent: ConsentState, at: datetime, *, invited: frozenset[Organisation] = _NOBODY
    ) -> tuple[Decision, ...]:
        """One decision per candidate recipient, denials included."""
        return tuple(
            self.decide(event, recipient, consent, at, invited=invited) for recipient in self.candidates(event, at)
        )

    def decide(
        self,
        event: Event,
        recipient: Organisation,
        consent: ConsentState,
        at: datetime,
        *,
        invited: frozenset[Organisation] = _NOBODY,
    ) -> Decision:
        """What ``recipient`` may receive of ``event`` at ``at`` (timezone-aware), given the subject's consent and
        the partners the ZVH invited to the event's case (the caller reads them from the case state; see
        :class:`~schakel.consent.SubjectState`, which both the hub and the CLI decide through)."""
        if at.tzinfo is not UTC:
            if at.tzinfo is None:
                raise ValueError("the decision time must carry a timezone")
            at = at.astimezone(UTC)
        last = self._last
        if last is None or last[0] is not event:
            last = self._read(event)
        event_type = event.type
        source = event.source
        purpose = event.purpose
        if last[4] is not None:
            return _make(event.id, recipient, _DENY, (), last[2], None, None, None, purpose, (), last[4])
        entries = self._by_key.get((event_type, source, recipient, purpose))
        if entries is None:
            reason = _PURPOSE_MISMATCH if (event_type, source, recipient) in self._triples else _NO_RULE
            return _make(event.id, recipient, _DENY, (), last[2], None, None, None, purpose, (), reason)

        present = last[1]
        best: _Entry | None = None
        best_outcome: _Outcome | None = None
        failed: list[tuple[_Entry, Reason]] | None = None
        for entry in entries:
            why = entry.check(event, recipient, consent, at, invited)
            if why is not None:
                if failed is None:
                    failed = []
                failed.append((entry, why))
                continue
            outcome = entry.outcome(present)
            if best_outcome is None or len(outcome.sent) > len(best_outcome.sent):
                best, best_outcome = entry, outcome
        if best is None or best_outcome is None:
            assert failed is not None  # entries is never empty
            first = failed[0][0]
            return _make(
                event.id,
                recipient,
                _DENY,
                (),
                last[2],
                first.covenant_id,
                first.covenant_version,
                first.rule_id,
                purpose,
                (),
                _ordered(why for _, why in failed),
            )

        withheld = best_outcome.withheld
        reasons = best_outcome.reasons
        unknown = last[3]
        if unknown or failed:
            extra: list[Reason] = [why for _, why in failed or ()]
            if unknown:
                withheld = withheld + unknown
                extra += [Reason.FIELDS_WITHHELD, Reason.UNKNOWN_FIELDS_WITHHELD]
            reasons = _ordered((*reasons, *extra))
        return _make(
            event.id,
            recipient,
            _PARTIAL if withheld else _PERMIT,
            best_outcome.sent,
            withheld,
            best.covenant_id,
            best.covenant_version,
            best.rule_id,
            purpose,
            best_outcome.legal_basis,
            reasons,
        )

    def _read(self, event: Event) -> _Read:
        """Read the event once: its present governed fields, those in catalogue order followed by the ungoverned
        payload fields that carry a value (what a denial withholds), and the ungoverned ones alone."""
        type_fields = self._types[event.type]
        values = type_fields.getter(event)
        ordered = tuple([name for name, value in zip(type_fields.names, values, strict=True) if value is not None])
        payload = event.payload
        unknown_names = self._unknown_names.get(type(payload))
        if unknown_names is None:
            declared = getattr(type(payload), "model_fields", {})
            unknown_names = tuple(n for n in declared if n not in type_fields.payload_names)
            self._unknown_names[type(payload)] = unknown_names
        unknown = tuple(n for n in unknown_names if getattr(payload, n, None) is not None)
        extra = getattr(payload, "__pydantic_extra__", None)
        if extra:
            unknown += tuple(n for n, v in extra.items() if v is not None and n not in unknown)
        refused = self.claim(event)
        read: _Read = (event, frozenset(ordered), ordered + unknown, unknown, (refused,) if refused else None)
        self._last = read
        return read
