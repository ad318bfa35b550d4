"""Decisions in plain sentences, in Dutch or English, for the professionals who send and receive.

``explain`` says who may receive what under which covenant rule and legal basis, and for every withheld field why
it was withheld: no rule names it, or the rule that names it did not apply (and why), or - for the BSN - that the
recipient gets its own pseudonym instead. It reads only names and codes; it never repeats a value from the event.
"""

from __future__ import annotations

from collections.abc import Sequence

from schakel.consent.covenant import CONTROLLER
from schakel.consent.decision import Decision, Outcome, Reason
from schakel.consent.policy import Policy
from schakel.schemas import Event, Sensitivity, field_sensitivities

__all__ = ["LANGUAGES", "explain"]

LANGUAGES = ("en", "nl")

_CATEGORY = {
    "en": {
        Sensitivity.BSN: "the BSN",
        Sensitivity.HEALTH: "health data, AVG art. 9",
        Sensitivity.BELIEF: "belief data, AVG art. 9",
        Sensitivity.CRIMINAL: "criminal data, AVG art. 10",
        Sensitivity.YOUTH: "youth data",
    },
    "nl": {
        Sensitivity.BSN: "het BSN",
        Sensitivity.HEALTH: "gezondheidsgegevens, art. 9 AVG",
        Sensitivity.BELIEF: "levensbeschouwing, art. 9 AVG",
        Sensitivity.CRIMINAL: "strafrechtelijke gegevens, art. 10 AVG",
        Sensitivity.YOUTH: "jeugdgegevens",
    },
}

_REASON = {
    "en": {
        Reason.NO_RULE: "no rule of any covenant lets {recipient} receive a {type} from {sender}",
        Reason.PURPOSE_MISMATCH: "there are rules for a {type} from {sender} to {recipient}, but none for the "
        "purpose {purpose}",
        Reason.COVENANT_NOT_IN_FORCE: "the covenant is not in force at the time of the decision",
        Reason.NOT_INVITED: "the rule applies only to case partners the ZVH invited to the case, and {recipient} is "
        "not invited (the sender's addressees do not count; a closed case invites nobody)",
        Reason.CONSENT_MISSING: "the rule needs the person's consent for {recipient} and purpose {purpose}, and none "
        "is on file",
        Reason.CONSENT_WITHDRAWN: "the person withdrew the consent for {recipient} and purpose {purpose}",
        Reason.CONSENT_EXPIRED: "the person's consent for {recipient} and purpose {purpose} has expired",
        Reason.CONSENT_WRONG_PARTY: "a consent for {recipient} and purpose {purpose} is on file, but it was not "
        "recorded by a party the rule names for it ({recorders}): a consent counts only where its grantor recorded it "
        "itself, so it is kept in the history and does not count",
        Reason.PURPOSE_UNKNOWN: "no covenant has the purpose {purpose}",
        Reason.PURPOSE_NOT_FOR_SENDER: "no covenant lets {sender} claim the purpose {purpose} for a {type}",
        Reason.PURPOSE_NOT_FOR_THEME: "the purpose {purpose} is not for events with theme {theme}",
        Reason.SECRECY_GROUND_MISSING: "GGZ information needs a recorded ground for breaking professional secrecy, "
        "and the event records none",
        Reason.SECRECY_GROUND_NOT_ACCEPTED: "the recorded secrecy ground is not one the rule accepts",
        Reason.DELIBERATION_MISSING: "a conflict of duties needs a reference to the recorded deliberation "
        "(deliberation_ref), and the event has none",
        Reason.PROCESSING_RESTRICTED: "the person asked for restriction of processing (AVG art. 18): nothing about "
        "them is delivered until the restriction is lifted",
        Reason.NO_DATA_RECEIVED: "{recipient} received no data about the person, so the request is not forwarded "
        "to it (AVG art. 19)",
    },
    "nl": {
        Reason.NO_RULE: "geen regel van enig convenant staat toe dat {recipient} een {type} van {sender} ontvangt",
        Reason.PURPOSE_MISMATCH: "er zijn regels voor een {type} van {sender} aan {recipient}, maar niet voor het "
        "doel {purpose}",
        Reason.COVENANT_NOT_IN_FORCE: "het convenant is op het moment van het besluit niet van kracht",
        Reason.NOT_INVITED: "de regel geldt alleen voor casuspartners die het ZVH voor de casus heeft uitgenodigd, en "
        "{recipient} is niet uitgenodigd (de geadresseerden van de afzender tellen niet; een afgesloten casus nodigt "
        "niemand uit)",
        Reason.CONSENT_MISSING: "de regel vraagt toestemming van de betrokkene voor {recipient} en doel {purpose}, "
        "en die is niet vastgelegd",
        Reason.CONSENT_WITHDRAWN: "de betrokkene heeft de toestemming voor {recipient} en doel {purpose} ingetrokken",
        Reason.CONSENT_EXPIRED: "de toestemming van de betrokkene voor {recipient} en doel {purpose} is verlopen",
        Reason.CONSENT_WRONG_PARTY: "er is toestemming voor {recipient} en doel {purpose} vastgelegd, maar niet door "
        "een partij die de regel daarvoor noemt ({recorders}): toestemming telt alleen als degene aan wie zij is "
        "gegeven haar zelf vastlegt; zij blijft in de historie en telt niet",
        Reason.PURPOSE_UNKNOWN: "geen convenant kent het doel {purpose}",
        Reason.PURPOSE_NOT_FOR_SENDER: "geen convenant staat {sender} toe een {type} voor doel {purpose} te sturen",
        Reason.PURPOSE_NOT_FOR_THEME: "het doel {purpose} hoort niet bij berichten met thema {theme}",
        Reason.SECRECY_GROUND_MISSING: "GGZ-informatie vraagt een vastgelegde grond voor doorbreking van het "
        "beroepsgeheim, en het bericht noemt er geen",
        Reason.SECRECY_GROUND_NOT_ACCEPTED: "de vastgelegde grond voor doorbreking van het beroepsgeheim is er geen "
        "die de regel aanvaardt",
        Reason.DELIBERATION_MISSING: "een conflict van plichten vraagt een verwijzing naar de vastgelegde afweging "
        "(deliberation_ref), en het bericht heeft die niet",
        Reason.PROCESSING_RESTRICTED: "de betrokkene heeft om beperking van de verwerking gevraagd (art. 18 AVG): "
        "over hem of haar gaat niets meer uit tot de beperking is opgeheven",
        Reason.NO_DATA_RECEIVED: "{recipient} heeft geen gegevens over de betrokkene ontvangen, dus het verzoek gaat "
        "niet naar {recipient} (art. 19 AVG)",
    },
}

_TEXT = {
    "en": {
        "may": "{recipient} may receive {fields} of this {type} from {sender} under {covenant} rule {rule} "
        "({basis}); covenant {ref}, purpose {purpose}.",
        "envelope_only": "only the envelope (no governed fields)",
        "nothing": "{recipient} may receive nothing of this {type} from {sender}: {why}.",
        "evaluated": "Rule evaluated: {covenant} rule {rule} (covenant {ref}).",
        "withheld": "Withheld:",
        "not_named": "no rule lets {recipient} receive it from {sender} for this purpose",
        "only_under": "only {rules} would let it pass, and {why}",
        "pseudonym": "{recipient} gets its own pseudonym of the person instead",
        "unknown": "the catalogue does not govern this field",
        "also": "A rule that would send more did not apply: {why}.",
        "controller": "the sender of the data ({sender})",
        "and": "and",
        "rule": "rule",
        "accepts": "it accepts",
    },
    "nl": {
        "may": "{recipient} mag {fields} van deze {type} van {sender} ontvangen op grond van {covenant} regel {rule} "
        "({basis}); convenant {ref}, doel {purpose}.",
        "envelope_only": "alleen de envelop (geen beschermde velden)",
        "nothing": "{recipient} mag niets van deze {type} van {sender} ontvangen: {why}.",
        "evaluated": "Beoordeelde regel: {covenant} regel {rule} (convenant {ref}).",
        "withheld": "Niet verstrekt:",
        "not_named": "geen regel staat toe dat {recipient} het voor dit doel van {sender} ontvangt",
        "only_under": "alleen {rules} zou het doorlaten, en {why}",
        "pseudonym": "{recipient} krijgt in plaats daarvan een eigen pseudoniem van de persoon",
        "unknown": "de catalogus kent dit veld niet",
        "also": "Een regel die meer zou verstrekken was niet van toepassing: {why}.",
        "controller": "de verstrekker van de gegevens ({sender})",
        "and": "en",
        "rule": "regel",
        "accepts": "wel aanvaard",
    },
}


def _join(items: Sequence[str], word: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def _recorders(decision: Decision, event: Event, policy: Policy, text: dict[str, str]) -> str:
    """Who may record the consent the decision's rules rest on (for ``consent-wrong-party``)."""
    if Reason.CONSENT_WRONG_PARTY not in decision.reasons:
        return ""
    names: list[str] = []
    for _, rule in policy.rules_for(event.type, event.source, decision.recipient, decision.purpose):
        for recorder in rule.conditions.consent_recorded_by:
            name = text["controller"].format(sender=event.source.value) if recorder == CONTROLLER else recorder
            if name not in names:
                names.append(name)
    return _join(names, text["and"])


def explain(decision: Decision, event: Event, policy: Policy, lang: str = "en") -> str:
    """The decision in plain sentences (``lang``: ``en`` or ``nl``)."""
    if lang not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
    text, reason_text = _TEXT[lang], _REASON[lang]
    names = {
        "recipient": decision.recipient.value,
        "sender": event.source.value,
        "type": event.type.value,
        "purpose": decision.purpose,
        "theme": event.theme.value,
        "recorders": _recorders(decision, event, policy, text),
    }
    condition_reasons = [r for r in decision.reasons if r in reason_text]
    why = "; ".join(reason_text[r].format(**names) for r in condition_reasons)
    if Reason.SECRECY_GROUND_NOT_ACCEPTED in condition_reasons and decision.rule is not None:
        rule = policy.covenant(decision.covenant_id or "").rule(decision.rule)
        if rule.conditions.secrecy_grounds:
            why += f" ({text['accepts']}: {', '.join(rule.conditions.secrecy_grounds)})"
    lines: list[str] = []
    if decision.outcome is Outcome.DENY:
        lines.append(text["nothing"].format(why=why or reason_text[Reason.NO_RULE].format(**names), **names))
        if decision.rule is not None:
            lines.append(
                text["evaluated"].format(covenant=decision.covenant_id, rule=decision.rule, ref=decision.covenant_ref)
            )
        return "\n".join(lines)

    fields = _join(decision.fields_sent, text["and"]) or text["envelope_only"]
    lines.append(
        text["may"].format(
            fields=fields,
            covenant=decision.covenant_id,
            rule=decision.rule,
            basis=", ".join(decision.legal_basis),
            ref=decision.covenant_ref,
            **names,
        )
    )
    if decision.fields_withheld:
        sensitivity = field_sensitivities(event.type)
        candidates = policy.rules_for(event.type, event.source, decision.recipient, decision.purpose)
        lines.append(text["withheld"])
        for name in decision.fields_withheld:
            label = sensitivity.get(name)
            head = f"{name} ({_CATEGORY[lang][label]})" if label in _CATEGORY[lang] else name
            if label is None:
                detail = text["unknown"]
            else:
                naming = [
                    f"{covenant.id} {text['rule']} {rule.id}"
                    for covenant, rule in candidates
                    if name in rule.fields and not (covenant.id == decision.covenant_id and rule.id == decision.rule)
                ]
                if naming and why:
                    detail = text["only_under"].format(rules=_join(naming, text["and"]), why=why)
                else:
                    detail = text["not_named"].format(**names)
                if label is Sensitivity.BSN:
                    detail += "; " + text["pseudonym"].format(**names)
            lines.append(f"  - {head}: {detail}")
    elif why:
        lines.append(text["also"].format(why=why))
    return "\n".join(lines)
