"""Loading covenant files: strict, so that a mistake in a covenant stops the hub instead of leaking data.

One YAML file per covenant (``consent/covenants/*.yaml`` ships the network's covenants). The format::

    id: cter                                  # slug, unique in the directory
    title: {nl: "...", en: "..."}
    based_on: "NCTV modelconvenant ..."       # optional
    valid_from: 2025-01-01                    # in force from the start of this day (Dutch time) ...
    valid_until: 2027-12-31                   # ... to the end of this one; null = open-ended
    partners: {kernpartners: [gemeente-veiligheid, politie, om], ...}   # role -> organisation codes
    purposes: {cter-person-centred: {nl: "...", en: "...", themes: [CTER]}}   # themes an event may carry
    retention:                                # optional: periods (schakel.consent.retention), each optional
      note: "..."                             #   for readers
      delivered_after_close: P5Y              #   ISO 8601 duration or days; positive, at most 30 years
      signal_without_case: P6M
      consent_history: P5Y
      lineage: P7Y
    agenda_window_days: 90                    # optional: how long a signal counts for the ZVH's agenda (1..3650)
    rules:
      - id: "3"
        title: "..."
        events: [Signal]
        from: [gemeente-sociaal]
        to: [politie]
        purpose: cter-person-centred
        fields: [observed_behaviour, urgency]   # names from schakel.schemas.field_sensitivities
        legal_basis: {general: [AVG 6(1)(e), WGS 2.1], criminal: [AVG 10, UAVG 33]}
        conditions: {consent: false, secrecy_grounds: [], invited: false}   # optional
        # with consent (or the secrecy ground consent): who may record it - controller (the sender) and/or codes
        #   conditions: {consent: true, consent_recorded_by: [controller, zvh]}
        note: "..."                           # optional, for readers

Everything is checked, and every problem is reported (not only the first) with the file, the rule and what is
wrong: unknown keys, organisations, event types, fields, purposes and citations; a sender or recipient that is not a
partner; a sensitive field (BSN, health, belief, criminal, youth) without a basis for that category in each sender's
regime (:mod:`schakel.consent.legal`); a GGZ rule without a secrecy-ground condition where the event type records
the ground (``InformationContribution``), or without a consent or secrecy-ground condition where it cannot (then the
client's consent on file is the recorded ground); a secrecy-ground condition on an event type that cannot record
one; a consent condition that does not say who may record the consent (``consent_recorded_by``: ``controller``
and/or partner codes), or says so without a consent condition; ``addressed`` (replaced by ``invited``: the ZVH's
invitation in the case state); a purpose without its ``themes``; invalid dates; duplicate keys, rule ids or
covenant ids.

Dates are read as text and parsed here (YAML's own date parsing would fail on ``2025-02-30`` without saying where).
A covenant's version is the first 12 hex digits of the SHA-256 of its content in canonical JSON (sorted keys): a
change of meaning changes the version, a change of comments or layout does not.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schakel.consent.covenant import CONTROLLER, SECRECY_GROUNDS, Conditions, Covenant, Rule
from schakel.consent.errors import CovenantError
from schakel.consent.legal import GENERAL, LEGAL_BASES, Regime, regime_of
from schakel.consent.retention import PERIOD_NAMES, Retention, parse_period
from schakel.schemas import EventType, Organisation, Sensitivity, Theme, field_sensitivities
from schakel.strict_yaml import load_folder

if TYPE_CHECKING:
    from schakel.consent.policy import Policy

__all__ = ["covenant_version", "load_covenants", "load_policy", "parse_covenant", "shipped_covenants_dir"]

_SLUG = re.compile(r"^[a-z][a-z0-9-]{1,63}$")
_COVENANT_KEYS = frozenset(
    {
        "id",
        "title",
        "based_on",
        "valid_from",
        "valid_until",
        "partners",
        "purposes",
        "retention",
        "rules",
        "agenda_window_days",
    }
)
_RULE_KEYS = frozenset(
    {"id", "title", "events", "from", "to", "purpose", "fields", "legal_basis", "conditions", "note"}
)
_CONDITION_KEYS = frozenset({"consent", "consent_recorded_by", "secrecy_grounds", "invited"})
_SENSITIVE = tuple(s.value for s in Sensitivity if s is not Sensitivity.PLAIN)
_CATEGORIES = (GENERAL, *_SENSITIVE)
_CATEGORY_WORDS = {
    Sensitivity.BSN.value: "the BSN",
    Sensitivity.HEALTH.value: "health data (AVG art. 9)",
    Sensitivity.BELIEF.value: "belief data (AVG art. 9)",
    Sensitivity.CRIMINAL.value: "criminal data (AVG art. 10)",
    Sensitivity.YOUTH.value: "youth data",
    GENERAL: "the sharing as such",
}


def shipped_covenants_dir() -> Path:
    """The directory of the covenants that ship with schakel."""
    return Path(str(files("schakel.consent.covenants")))


def load_policy(directory: Path | None = None) -> Policy:
    """Load every covenant in ``directory`` (None: the shipped ones) and compile them into a :class:`Policy`.

    Raises :class:`CovenantError` listing every problem if any file does not load."""
    from schakel.consent.policy import Policy

    return Policy(load_covenants(directory))


def load_covenants(directory: Path | None = None) -> tuple[Covenant, ...]:
    """Load and check every ``*.yaml`` / ``*.yml`` covenant file in ``directory`` (None: the shipped ones)."""
    directory = shipped_covenants_dir() if directory is None else Path(directory)
    if not directory.is_dir():
        raise CovenantError([f"{directory}: not a directory of covenant files"])
    covenants, problems = load_folder(directory, parse_covenant, "covenant")
    if not covenants and not problems:
        raise CovenantError([f"{directory}: no covenant files (*.yaml); without covenants nothing may be shared"])
    if problems:
        raise CovenantError(problems)
    return tuple(covenants)


def covenant_version(document: Mapping[str, Any]) -> str:
    """The version of a covenant: a hash of its content (canonical JSON), 12 hex digits."""
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []

    def add(self, where: str | None, what: str) -> None:
        self.lines.append(f"{self.source}: {where}: {what}" if where else f"{self.source}: {what}")


def parse_covenant(document: object, source: str) -> Covenant:
    """Check one covenant document (the parsed YAML) and build the :class:`Covenant`; ``source`` names it in
    error messages. Raises :class:`CovenantError` listing every problem."""
    problems = _Problems(source)
    if not isinstance(document, dict):
        raise CovenantError([f"{source}: a covenant file must be a mapping (id, title, valid_from, ..., rules)"])
    for key in sorted(set(document) - _COVENANT_KEYS, key=str):
        problems.add(None, f"unknown key '{key}' (allowed: {', '.join(sorted(_COVENANT_KEYS))})")

    covenant_id = document.get("id")
    if not isinstance(covenant_id, str) or not _SLUG.match(covenant_id):
        problems.add(None, f"'id' must be a slug like 'cter' (lowercase letters, digits, '-'), not {covenant_id!r}")
        covenant_id = "?"
    title_nl, title_en = _texts(document.get("title"), "title", None, problems)
    based_on = document.get("based_on")
    if based_on is not None and not isinstance(based_on, str):
        problems.add(None, "'based_on' must be text")
        based_on = None
    valid_from = _date(document.get("valid_from"), "valid_from", problems, required=True)
    valid_until = _date(document.get("valid_until"), "valid_until", problems, required=False)
    if valid_from is not None and valid_until is not None and valid_until < valid_from:
        problems.add(None, f"valid_until {valid_until} is before valid_from {valid_from}")

    partners = _partners(document.get("partners"), problems)
    all_partners = frozenset(org for orgs in partners.values() for org in orgs)
    purposes, purpose_themes = _purposes(document.get("purposes"), problems)

    raw_rules = document.get("rules")
    rules: list[Rule] = []
    if not isinstance(raw_rules, list) or not raw_rules:
        problems.add(None, "'rules' must be a non-empty list")
        raw_rules = []
    seen_ids: set[str] = set()
    for index, raw in enumerate(raw_rules, start=1):
        rule = _rule(raw, index, all_partners, purposes, problems)
        if rule is not None:
            for recorder in rule.conditions.consent_recorded_by:
                if recorder != CONTROLLER and Organisation(recorder) not in all_partners:
                    problems.add(f"rule {rule.id}", f"consent_recorded_by names '{recorder}', not a partner")
        if rule is None:
            continue
        if rule.id in seen_ids:
            problems.add(f"rule {rule.id}", "duplicate rule id")
            continue
        seen_ids.add(rule.id)
        rules.append(rule)

    window = document.get("agenda_window_days")
    if window is not None and (type(window) is not int or not 1 <= window <= 3650):
        problems.add(None, "'agenda_window_days' must be a whole number of days from 1 to 3650")
        window = None
    retention = _retention(document.get("retention"), problems)
    if problems.lines or valid_from is None:
        raise CovenantError(problems.lines or [f"{source}: 'valid_from' is missing"])
    return Covenant(
        retention=retention,
        agenda_window_days=window,
        id=covenant_id,
        version=covenant_version(document),
        source=source,
        title_nl=title_nl,
        title_en=title_en,
        based_on=based_on,
        valid_from=valid_from,
        valid_until=valid_until,
        partners=partners,
        purposes={slug: text for slug, text in purposes.items()},
        purpose_themes=purpose_themes,
        rules=tuple(rules),
    )


def _retention(value: object, problems: _Problems) -> Retention:
    """The covenant's retention periods: a mapping of ``note`` and the periods of
    :data:`~schakel.consent.retention.PERIOD_NAMES`, or (the older form) a text for readers only."""
    if value is None:
        return Retention()
    if isinstance(value, str):
        return Retention(note=value)
    if not isinstance(value, dict):
        problems.add("retention", "must be a mapping of periods (delivered_after_close, ...) and a note")
        return Retention()
    allowed = ("note", *PERIOD_NAMES)
    for key in sorted(set(value) - set(allowed), key=str):
        problems.add("retention", f"unknown key '{key}' (allowed: {', '.join(allowed)})")
    note = value.get("note")
    if note is not None and not isinstance(note, str):
        problems.add("retention", "'note' must be text")
        note = None
    periods = {}
    for name in PERIOD_NAMES:
        if name not in value:
            continue
        try:
            periods[name] = parse_period(value[name])
        except ValueError as error:
            problems.add(f"retention {name}", f"{value[name]!r} {error}")
    return Retention(note=note, **periods)


def _texts(value: object, key: str, where: str | None, problems: _Problems) -> tuple[str, str]:
    """A text in Dutch and English: ``{nl: ..., en: ...}`` or one string for both."""
    if isinstance(value, str) and value.strip():
        return value, value
    if isinstance(value, dict) and set(value) == {"nl", "en"} and all(isinstance(v, str) for v in value.values()):
        return value["nl"], value["en"]
    problems.add(where, f"'{key}' must be text or {{nl: ..., en: ...}}")
    return "", ""


def _date(value: object, key: str, problems: _Problems, *, required: bool) -> date | None:
    if value is None:
        if required:
            problems.add(None, f"'{key}' is missing (a date like 2025-01-31)")
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    problems.add(None, f"'{key}' is not a valid date (YYYY-MM-DD): {value!r}")
    return None


def _organisation(value: object, where: str | None, what: str, problems: _Problems) -> Organisation | None:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return Organisation(value)
    except ValueError:
        known = ", ".join(o.value for o in Organisation)
        problems.add(where, f"unknown organisation {value!r} in {what} (known: {known})")
        return None


def _partners(value: object, problems: _Problems) -> dict[str, tuple[Organisation, ...]]:
    if not isinstance(value, dict) or not value:
        problems.add(None, "'partners' must map roles to lists of organisation codes")
        return {}
    partners: dict[str, tuple[Organisation, ...]] = {}
    for role, codes in value.items():
        if not isinstance(codes, list) or not codes:
            problems.add(None, f"partners.{role} must be a non-empty list of organisation codes")
            continue
        orgs = [_organisation(code, None, f"partners.{role}", problems) for code in codes]
        partners[str(role)] = tuple(org for org in orgs if org is not None)
    return partners


def _purposes(value: object, problems: _Problems) -> tuple[dict[str, str], dict[str, tuple[Theme, ...]]]:
    """Purpose slug -> description ``{nl, en}`` and the ``themes`` an event may carry under it."""
    if not isinstance(value, dict) or not value:
        problems.add(None, "'purposes' must map purpose slugs to {nl: ..., en: ..., themes: [...]}")
        return {}, {}
    purposes: dict[str, str] = {}
    themes: dict[str, tuple[Theme, ...]] = {}
    known = ", ".join(t.value for t in Theme)
    for slug, text in value.items():
        if not isinstance(slug, str) or not _SLUG.match(slug):
            problems.add(None, f"purpose {slug!r} is not a slug (lowercase letters, digits, '-')")
            continue
        where = f"purposes.{slug}"
        if not isinstance(text, dict) or "themes" not in text:
            problems.add(None, f"{where} must name the 'themes' an event may carry under it (known: {known})")
            purposes[slug], themes[slug] = "", ()
            continue
        described = {k: v for k, v in text.items() if k != "themes"}
        nl, _ = _texts(described, where, None, problems)
        found: list[Theme] = []
        for name in _string_list(text["themes"], f"{where}.themes", where, problems):
            try:
                found.append(Theme(name))
            except ValueError:
                problems.add(where, f"unknown theme '{name}' (known: {known})")
        purposes[slug] = nl
        themes[slug] = tuple(found)
    return purposes, themes


def _string_list(value: object, key: str, where: str, problems: _Problems, *, allow_empty: bool = False) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (not value and not allow_empty):
        problems.add(where, f"'{key}' must be a {'' if allow_empty else 'non-empty '}list of names")
        return []
    if len(set(value)) != len(value):
        problems.add(where, f"'{key}' names something twice")
    return list(dict.fromkeys(value))


def _rule(
    raw: object,
    index: int,
    partners: frozenset[Organisation],
    purposes: Mapping[str, str],
    problems: _Problems,
) -> Rule | None:
    if not isinstance(raw, dict):
        problems.add(f"rule #{index}", "a rule must be a mapping (id, title, events, from, to, ...)")
        return None
    raw_id = raw.get("id")
    rule_id = str(raw_id) if isinstance(raw_id, (str, int)) and str(raw_id).strip() else None
    where = f"rule {rule_id}" if rule_id else f"rule #{index}"
    before = len(problems.lines)
    if rule_id is None:
        problems.add(where, "'id' is missing")
    for key in sorted(set(raw) - _RULE_KEYS, key=str):
        problems.add(where, f"unknown key '{key}' (allowed: {', '.join(sorted(_RULE_KEYS))})")
    title, _ = _texts(raw.get("title"), "title", where, problems)

    event_types: list[EventType] = []
    for name in _string_list(raw.get("events"), "events", where, problems):
        try:
            event_type = EventType(name)
        except ValueError:
            problems.add(where, f"unknown event type '{name}' (known: {', '.join(t.value for t in EventType)})")
            continue
        if event_type is EventType.SIGNAL_BUNDLE:  # made by the hub for the ZVH (streams/agenda.py), never shared
            problems.add(where, "SignalBundle is the hub's agenda proposal to the ZVH; no rule may share one")
            continue
        if event_type is EventType.RETENTION_EXPIRED:  # made by the hub's retention job, never shared
            problems.add(where, "RetentionExpired is the hub's notice to a partner; no rule may share one")
            continue
        event_types.append(event_type)

    def organisations(key: str) -> list[Organisation]:
        found: list[Organisation] = []
        for code in _string_list(raw.get(key), key, where, problems):
            org = _organisation(code, where, f"'{key}'", problems)
            if org is None:
                continue
            if org not in partners:
                problems.add(where, f"organisation '{org.value}' in '{key}' is not a partner of this covenant")
                continue
            found.append(org)
        return found

    senders = organisations("from")
    recipients = organisations("to")
    if senders and recipients and set(senders) == set(recipients) == {senders[0]}:
        problems.add(where, "a rule cannot only let an organisation send to itself")

    purpose = raw.get("purpose")
    if not isinstance(purpose, str) or purpose not in purposes:
        problems.add(where, f"purpose {purpose!r} is not one of the covenant's purposes ({', '.join(purposes)})")
        purpose = "?"

    fields = _string_list(raw.get("fields"), "fields", where, problems, allow_empty=True)
    needed: dict[str, list[str]] = {}  # category -> fields that need it
    for event_type in event_types:
        governed = field_sensitivities(event_type)
        for name in fields:
            sensitivity = governed.get(name)
            if sensitivity is None:
                known = ", ".join(governed)
                problems.add(where, f"unknown field '{name}' for event type {event_type.value} (known: {known})")
            elif sensitivity is not Sensitivity.PLAIN:
                needed.setdefault(sensitivity.value, []).append(name)

    legal_basis = _legal_basis(raw.get("legal_basis"), where, problems)
    for category in (GENERAL, *needed):
        for sender in senders:
            regime = regime_of(sender)
            # The sharing as such needs a basis of the sender's own regime: the WGS (all regimes) supplements it.
            fits = [LEGAL_BASES[c].regimes for c in legal_basis.get(category, ())]
            if category == GENERAL:
                fits = [regimes for regimes in fits if regimes != frozenset(Regime)]
            if not any(regime in regimes for regimes in fits):
                if category == GENERAL:
                    what = f"no general legal basis in the {regime.value} regime of sender '{sender.value}'"
                else:
                    names = ", ".join(f"'{n}'" for n in dict.fromkeys(needed[category]))
                    what = (
                        f"field {names} ({category}) is allowed without a legal basis for "
                        f"{_CATEGORY_WORDS[category]} in the {regime.value} regime of sender '{sender.value}'"
                    )
                problems.add(where, what)

    conditions = _conditions(raw.get("conditions"), where, problems)
    for event_type in event_types:
        governed = field_sensitivities(event_type)
        if conditions.secrecy_grounds and "secrecy_ground" not in governed:
            problems.add(where, f"a secrecy-ground condition, but {event_type.value} cannot record a secrecy ground")
        if "conflict_of_duties" in conditions.secrecy_grounds and "deliberation_ref" not in governed:
            problems.add(where, f"conflict_of_duties accepted, but {event_type.value} cannot refer to a deliberation")
    if Organisation.GGZ in senders:
        recordable = [t.value for t in event_types if "secrecy_ground" in field_sensitivities(t)]
        if recordable and not conditions.secrecy_grounds:
            problems.add(
                where,
                f"sender 'ggz' is bound by professional secrecy and {', '.join(recordable)} records the ground: "
                "the rule needs a 'secrecy_grounds' condition",
            )
        elif not (conditions.consent or conditions.secrecy_grounds):
            problems.add(
                where,
                "sender 'ggz' is bound by professional secrecy: the rule needs a 'consent' or 'secrecy_grounds' "
                "condition",
            )

    if len(problems.lines) > before or rule_id is None:
        return None
    return Rule(
        id=rule_id,
        title=title,
        event_types=tuple(event_types),
        senders=tuple(senders),
        recipients=tuple(recipients),
        purpose=purpose,
        fields=tuple(fields),
        legal_basis=legal_basis,
        conditions=conditions,
    )


def _legal_basis(value: object, where: str, problems: _Problems) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        problems.add(where, f"'legal_basis' must map categories ({', '.join(_CATEGORIES)}) to lists of citations")
        return {}
    result: dict[str, tuple[str, ...]] = {}
    for category, citations in value.items():
        if category not in _CATEGORIES:
            problems.add(where, f"unknown legal-basis category {category!r} (known: {', '.join(_CATEGORIES)})")
            continue
        good: list[str] = []
        for citation in _string_list(citations, f"legal_basis.{category}", where, problems):
            basis = LEGAL_BASES.get(citation)
            if basis is None:
                problems.add(where, f"unknown legal basis '{citation}' (known: {', '.join(LEGAL_BASES)})")
            elif category not in basis.categories:
                problems.add(where, f"'{citation}' cannot justify {_CATEGORY_WORDS[category]}")
            else:
                good.append(citation)
        result[category] = tuple(good)
    return result


def _conditions(value: object, where: str, problems: _Problems) -> Conditions:
    if value is None:
        return Conditions()
    if not isinstance(value, dict):
        problems.add(where, "'conditions' must be a mapping (consent, consent_recorded_by, secrecy_grounds, invited)")
        return Conditions()
    for key in sorted(set(value) - _CONDITION_KEYS, key=str):
        if key == "addressed":
            problems.add(
                where,
                "condition 'addressed' is gone: the sender's addressees are a claim, not an invitation - use "
                "'invited' (the partners the ZVH invited to the case)",
            )
            continue
        problems.add(where, f"unknown condition '{key}' (known: {', '.join(sorted(_CONDITION_KEYS))})")
    flags: dict[str, bool] = {}
    for key in ("consent", "invited"):
        flag = value.get(key, False)
        if not isinstance(flag, bool):
            problems.add(where, f"condition '{key}' must be true or false")
            flag = False
        flags[key] = flag
    grounds = _string_list(value.get("secrecy_grounds", []), "secrecy_grounds", where, problems, allow_empty=True)
    for ground in grounds:
        if ground not in SECRECY_GROUNDS:
            problems.add(where, f"unknown secrecy ground '{ground}' (known: {', '.join(SECRECY_GROUNDS)})")
    recorders = _string_list(
        value.get("consent_recorded_by", []), "consent_recorded_by", where, problems, allow_empty=True
    )
    for recorder in recorders:
        if recorder != CONTROLLER:
            _organisation(recorder, where, f"'consent_recorded_by' ({CONTROLLER} or an organisation)", problems)
    needs_consent = flags["consent"] or "consent" in grounds
    if needs_consent and not recorders:
        problems.add(
            where,
            "a consent condition must say who may record the consent: consent_recorded_by: [controller] (the sender "
            "of the data) and/or partner codes such as zvh (the WGS contact point)",
        )
    if recorders and not needs_consent:
        problems.add(where, "consent_recorded_by without a consent condition (consent: true or secrecy ground consent)")
    return Conditions(
        consent=flags["consent"],
        consent_recorded_by=tuple(recorders),
        invited=flags["invited"],
        secrecy_grounds=tuple(g for g in grounds if g in SECRECY_GROUNDS),
    )
