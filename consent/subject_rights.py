"""The data subject's rights applied to the policy's decisions: restriction (AVG art. 18) and the recipients of a
request (art. 19). Pure: the hub keeps the state (``schakel.streams.requests``) and asks these two functions.

1. **Restriction.** While the person's processing is restricted, every decision that would deliver something about
   them becomes a denial with :attr:`Reason.PROCESSING_RESTRICTED` (:func:`restrict`). The rule the policy applied
   stays named (covenant@version, rule), so lineage and ``consent explain --restricted`` say what would have passed
   and why it did not; every field it would have sent is withheld. *Why every delivery, with no exception for the
   grounds of art. 18(2):* the hub cannot tell from an event whether one of them (the person's consent, a legal
   claim, another's rights, an important public interest) applies; a partner that relies on one asks the ZVH to lift
   or narrow the restriction, which is then recorded - fail closed.
2. **Whom a request goes to.** A subject request from the contact point is forwarded to every partner the covenants
   let receive it *and* that received data about the person (art. 19: "each recipient to whom the personal data have
   been disclosed"); any other candidate gets a denial with :attr:`Reason.NO_DATA_RECEIVED`
   (:func:`only_recipients`). Requests and confirmations themselves are never restricted: they are how the person
   exercises the rights.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from schakel.consent.decision import Decision, Outcome, Reason
from schakel.schemas import Organisation

__all__ = ["only_recipients", "restrict"]


def _denied(decision: Decision, reason: Reason) -> Decision:
    if decision.outcome is Outcome.DENY:
        return decision
    return Decision(
        event_id=decision.event_id,
        recipient=decision.recipient,
        outcome=Outcome.DENY,
        fields_sent=(),
        fields_withheld=(*decision.fields_sent, *decision.fields_withheld),
        covenant_id=decision.covenant_id,
        covenant_version=decision.covenant_version,
        rule=decision.rule,
        purpose=decision.purpose,
        legal_basis=(),
        reasons=(reason,),
    )


def restrict(decisions: Sequence[Decision]) -> tuple[Decision, ...]:
    """The decisions while the person's processing is restricted: every delivery denied, the rule kept."""
    return tuple(_denied(decision, Reason.PROCESSING_RESTRICTED) for decision in decisions)


def only_recipients(decisions: Sequence[Decision], recipients: Collection[Organisation | str]) -> tuple[Decision, ...]:
    """A request's decisions: delivered only to the partners that received data about the person."""
    known = {str(recipient) for recipient in recipients}
    return tuple(
        decision if str(decision.recipient) in known else _denied(decision, Reason.NO_DATA_RECEIVED)
        for decision in decisions
    )
