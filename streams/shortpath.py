"""The short path: an event with a BSN and a case id the hub already linked is decided at the ingress step. Pure.

The long path of such an event has three steps (``schakel.streams.hub``): ingress (keyed by the BSN's pseudonym
``P``) -> ``hub-link`` (keyed by the case ``C``) -> ``hub-person`` (keyed by ``P``). Most of a region's events are
not a case's first: the case is linked to the person already, and the person's reverse link ``links[P]`` - on
``P``'s partition, the ingress partition of ``P``'s events - names it. Such an event is decided at the ingress step,
on ``P``'s state, as a BSN-only event is.

Rules, in order:

1. *Conflicts stay impossible to miss.* The short path is taken only for a case the reverse link names, and the
   reverse link names ``C`` only after an event with ``P`` and ``C`` was decided at the person step - that is, after
   ``links[C] = P`` was found or written at the link step. A case once linked is never re-linked (another BSN with
   ``C`` reaches the link step, since ``C`` is not in *that* person's reverse link, and is dead-lettered there), and
   a purge removes both directions (``schakel.streams.purge``).
2. *The sender's order per subject.* An event of key ``P`` must not be decided before an earlier event of key ``P``
   still on its way through ``hub-link``/``hub-person``. So the reverse link also holds ``pending``: the ingress
   positions (``topic:partition:offset``) of ``P``'s events forwarded on the long path and not yet decided. The
   ingress step adds a position when it forwards; the person step removes it when it decides or dead-letters the
   event (the forwarded record carries its origin position in headers). The person step runs on partition ``P``
   of ``hub-person``, which Faust assigns together with ingress partition ``P`` (co-partitioned topics), so both
   steps read and write the same table entry on the same worker. An event dead-lettered before it reaches the
   person step - a conflict at the link step, or a forward the broker refused - sends a small
   :func:`settled_notice` to ``hub-person`` keyed by ``P`` that removes its position. *The notice follows the
   forward it settles:* a refusal can be ambiguous - the forward stored all the same (aiokafka's idempotent producer
   fails a batch it sent once and could not resend while the partition had no leader for the whole producer
   timeout, though the old leader may have taken it) - and a notice that overtook the forward would let ``P``'s
   later events take the short path while the forwarded one is still to be decided (a withdrawal overtaken by the
   signal behind it). So the ingress step sends its notice to ``hub-link`` keyed by ``C``, behind the forward on the
   same partition, and the link step passes it on to ``hub-person`` keyed by ``P`` (behind the forward it made of
   that event, if any); the link step's own notice goes to ``hub-person``, the partition its refused forward was
   for. The short path is taken only
   when nothing of ``P`` is pending; otherwise the event takes the long path too, behind the pending ones.
   *Behind means on the same partition* (:func:`long_path`): one case's events travel through the same ``hub-link``
   partition, in order, but a signal of case ``C`` held back by a withdrawal of case ``D`` and sent keyed by ``C``
   passed another partition, and reached the person step first whenever the link step took ``C``'s partition first
   (``D``'s out of reach for a while): the partner got data the person had withdrawn consent for. So the reverse
   link also remembers, beside each pending position, the ``hub-link`` key its forward went under (``via``), and an
   event of a case the reverse link names goes keyed by the key of ``P``'s *last* pending event, marked as a
   pass-through to ``P`` (:data:`THROUGH_HEADER`, the hub's own: never taken over from an ingress record); the link
   step passes it on to ``hub-person`` keyed by ``P`` without reading ``links`` (the case is linked to ``P``
   already: rule 1; and its state as its own person was merged when it was linked - it has none of its own after).
   Its notice, if it ends as a dead letter at the ingress step, goes under that same key, behind it; at the link
   step, to ``hub-person`` as any other. A case the reverse link does not name (its first event) still needs the
   link step on its own partition, keyed by the case. An entry written before the reverse link kept the keys has no
   ``via`` for its pending positions: the event then goes keyed by its own case, as before (order between two cases
   as in limit (a)); such entries are gone once their pending events are decided.
3. *Crashes and rebalances.* The entry is in a changelogged table, so it moves with the partition. It is a set of
   positions, not a count: a replayed forward adds the position it added before, and a repeated decision removes
   one already gone - both idempotent.

Limits: (a) a BSN-only event is decided at the ingress step even while a case event of the same person is pending,
as before this path existed - events on different paths are decided in the hub's arrival order (hub.py's docstring).
So is a case's *first* event (not linked yet, it needs the link step on its own partition) sent while another case's
event is pending: the two pass different ``hub-link`` partitions and reach ``hub-person`` in whichever order the link
step takes them - two cases' first events, as before. An event held behind such events queues behind the last of
them only (one partition): when ``P``'s pending events went under different keys (only after a first event came while
another case's was pending), it may still pass the earlier ones - never the last.
(b) A position whose removal is lost (e.g. the notice of a dead letter could not be produced, or the table write
adding it reached the changelog only after a new owner of the partition had restored it) keeps ``P`` on the long
path: slower, never out of order. The purge of the person clears it. Pending positions are few (a person's events
in flight), so the entry stays small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schakel.consent import SubjectState
from schakel.streams.processor import Record
from schakel.streams.purge import linked_cases
from schakel.streams.records import ORIGIN_HEADERS, SETTLED_HEADER, THROUGH_HEADER, Message

__all__ = [
    "SETTLED_HEADER",
    "THROUGH_HEADER",
    "CaseLink",
    "LongPath",
    "case_link",
    "decided_at_ingress",
    "is_notice",
    "long_path",
    "passed_person",
    "pending_positions",
    "position",
    "settled_notice",
    "with_pending",
    "without_pending",
]

_PENDING = "pending"
_VIA = "via"


def position(topic: str, partition: int, offset: int) -> str:
    """An ingress record's position as the ``pending`` list holds it (topic names cannot contain ``:``)."""
    return f"{topic}:{partition}:{offset}"


def pending_positions(entry: Any) -> tuple[str, ...]:
    """The positions a person's reverse link holds as pending (none for a forward link, a missing or a foreign
    entry)."""
    if not isinstance(entry, Mapping):
        return ()
    held = entry.get(_PENDING)
    return tuple(str(at) for at in held) if isinstance(held, list) else ()


def decided_at_ingress(entry: Any, case: str) -> bool:
    """Whether an event of the person with reverse link ``entry`` and case ``case`` is decided at the ingress step:
    the case is linked to the person and nothing of the person is on its way on the long path."""
    return case in linked_cases(entry) and not pending_positions(entry)


def _vias(entry: Any) -> dict[str, str]:
    """The ``hub-link`` key each pending position's forward went under (none known for an entry written before the
    reverse link kept them)."""
    if not isinstance(entry, Mapping):
        return {}
    via = entry.get(_VIA)
    if not isinstance(via, Mapping):
        return {}
    return {str(at): key for at, key in via.items() if isinstance(key, str)}


def with_pending(entry: Any, at: str, via: str | None = None) -> dict[str, Any]:
    """The reverse link once ``at`` is pending (the same entry's content when it already is); ``via``: the ``hub-link``
    key its forward goes under, kept beside it (a position already pending keeps the key it has)."""
    kept = dict(entry) if isinstance(entry, Mapping) else {}
    held = pending_positions(entry)
    kept[_PENDING] = list(held) if at in held else [*held, at]
    vias = _vias(entry)
    if via is not None and at not in vias:
        kept[_VIA] = {**vias, at: via}
    return kept


def without_pending(entry: Any, at: str) -> dict[str, Any] | None:
    """The reverse link once ``at`` is no longer pending; None when nothing is left of it (no entry)."""
    kept = dict(entry) if isinstance(entry, Mapping) else {}
    rest = [held for held in pending_positions(entry) if held != at]
    if rest:
        kept[_PENDING] = rest
    else:
        kept.pop(_PENDING, None)
    vias = {held: key for held, key in _vias(entry).items() if held in rest}
    if vias:
        kept[_VIA] = vias
    else:
        kept.pop(_VIA, None)
    return kept or None


@dataclass(frozen=True)
class LongPath:
    """Where the ingress step forwards an event of a person with a case id that it does not decide at once."""

    key: str
    """The ``hub-link`` key to send the forward (and, if it ends as a dead letter, its notice) under."""
    through: bool
    """A pass-through: the case is linked to the person already, and the forward only queues behind the person's
    last pending event on that event's ``hub-link`` partition; the link step passes it on to ``hub-person`` keyed
    by the person without reading ``links`` (:data:`THROUGH_HEADER`)."""


def long_path(entry: Any, case: str, at: str) -> LongPath:
    """The long path of the ingress record at position ``at`` with case ``case``, of the person with reverse link
    ``entry`` (rule 2 of the module docstring).

    A case the reverse link does not name needs the link step on its own partition: keyed by the case. A linked case
    (held back only because something of the person is pending) goes where the person's last pending event went, so
    that it reaches the person step behind it; a record delivered again goes the way it went before. A pending
    position whose key the entry does not hold (written before the reverse link kept them) falls back to the case's
    own partition - the order between two cases is then the link step's, as it was."""
    if case not in linked_cases(entry):
        return LongPath(case, through=False)
    vias = _vias(entry)
    held = pending_positions(entry)
    if at in held:
        ahead = at
    elif held:
        ahead = held[-1]
    else:  # nothing pending: decided at the ingress step, not forwarded (decided_at_ingress)
        return LongPath(case, through=True)
    via = vias.get(ahead)
    if via is None:
        return LongPath(case, through=False)
    return LongPath(via, through=True)


def passed_person(headers: Sequence[tuple[str, bytes]]) -> str | None:
    """The person a ``hub-link`` record passing through is for (:attr:`LongPath.through`); None: not one."""
    for name, value in headers:
        if name == THROUGH_HEADER:
            return value.decode() if value else None
    return None


@dataclass(frozen=True)
class CaseLink:
    """What the link step does with an event of a case found to be about another person (:func:`case_link`)."""

    write: bool
    """Write the case's link to the person (it has none yet)."""
    merge: SubjectState | None
    """The state the case had as its own person, carried to the person step to be merged into the person's."""


def case_link(linked: str | None, person: str, case: str, case_state: Mapping[str, Any] | None) -> CaseLink:
    """At the link step, an event of ``case`` found to be about ``person`` (``linked``: the person the case's link
    names, None: no link yet; ``case_state``: the case's own ``subjects`` entry, None: none).

    The case's state is carried along whenever it has one, not only with the event that writes the link: that write is
    kept when the forward carrying the state is refused (the event is dead-lettered) or when the worker stops before
    the broker stored it (the record is delivered again), and a state carried only the first time was then lost for
    good - a consent withdrawal recorded under the case id before its first BSN event never reached the person's
    decisions, and their copies went out as if it had not been made. The merge is a union (a change counted once by
    its event id), so carrying it again changes nothing."""
    if person == case:
        return CaseLink(write=False, merge=None)
    merge = SubjectState.from_json(dict(case_state)) if case_state is not None else None
    return CaseLink(write=linked is None, merge=merge)


def settled_notice(topic: str, origin: Record, key: bytes | None = None) -> Message | None:
    """The notice to the person step (``topic``, keyed by the person: the ``origin`` record's key) that the ingress
    record ``origin``, forwarded on the long path, was dead-lettered before it reached that step; None without a key
    (then nothing of it was pending). ``key``: another key to send it under - the case's, when it goes to the person
    step by way of ``hub-link`` (the ingress step's notice, see the module docstring)."""
    if not origin.key:
        return None
    headers = [
        (ORIGIN_HEADERS[0], origin.topic.encode()),
        (ORIGIN_HEADERS[1], str(origin.partition).encode()),
        (ORIGIN_HEADERS[2], str(origin.offset).encode()),
        (ORIGIN_HEADERS[3], origin.key),
        (SETTLED_HEADER, b"1"),
    ]
    return Message(topic, key or origin.key, b"", headers)


def is_notice(headers: Sequence[tuple[str, bytes]]) -> bool:
    """Whether a ``hub-person`` record is a :func:`settled_notice` (not an event)."""
    return any(name == SETTLED_HEADER for name, _ in headers)
