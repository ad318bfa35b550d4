"""The art. 15 report in words: the model behind the letter (HTML, PDF) and the contact point's JSON.

``history -> SubjectReport -> AccessReport -> html | pdf | json``: :func:`schakel.lineage.answers.build_subject_report`
says what lineage holds about one person (codes); :func:`access_report` puts every code into words from the
translation table (:mod:`schakel.lineage.wording`) and orders it the way a person reads it. The renderers
(:mod:`schakel.lineage.report`, :mod:`schakel.lineage.report_pdf`) only lay this model out, so the page and the
letter say the same; :func:`access_report_json` is the model itself, with its codes beside the words. Pure: no I/O.

Judgement calls:

- **Per partner, shared first.** A partner's section lists what it *received* (each message: when, which data in
  words, why - the purpose described -, on which legal bases - each named and explained in a sentence -, and under
  which covenant), then, briefly, what it was refused. A decided sharing whose delivery was dead-lettered never
  reached the partner: it is listed as *not shared*, with that reason.
- **The summary says "shared" and "not shared" without contradiction.** A field shared in one message and withheld
  from another counts as shared in the summary; *never shared* lists only what the partner never received (the old
  page listed such a field under both). Each refusal still names what that one message held back.
- **The person's consent gets its own short list** ("Uw toestemming"): each consent given or withdrawn that was passed
  on to a partner (lineage knows that a ``ConsentChange`` went out, not which: it holds no values), and each message
  a partner did not get because the consent was withdrawn, expired, missing or given to another party - so that a
  withdrawal reads as what it did, beside the per-partner account that names the same refusals.
- Partners that received data come first, those that received nothing (only refusals) after them.
- **No code reaches the page.** A code the table has no words for (a covenant retired before this table, a field
  a newer schema added) is shown in general words ("gegevens waarvoor nog geen omschrijving is") and listed in
  ``untranslated``, for the contact point to see and for the table to be completed; the report is never refused for
  it, since the person's right of access does not wait for a label. The tests keep the shipped table complete.
- **The reference (kenmerk) is not the pseudonym.** The hub-wide pseudonym stays inside the hub; the letter carries a
  short hash of it and of the time the report was made, which the JSON record beside it lets the contact point find.
- The JSON is for the contact point's records: stable keys (``format`` names the version, ``schakel.art15/1``),
  codes and words both, documented in the README.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from schakel.lineage.answers import Disclosure, PartnerSection, RequestStep, SubjectReport
from schakel.lineage.wording import Text, Wording, wording

__all__ = [
    "FORMAT",
    "AccessReport",
    "ConsentStep",
    "Explained",
    "Label",
    "PartnerAccount",
    "Refusal",
    "RequestUpdate",
    "Sharing",
    "access_report",
    "access_report_json",
]

FORMAT = "schakel.art15/1"
"""The version of the JSON record's shape; a change to a key's meaning is a new version."""

_UNKNOWN_FIELD = Text(nl="gegevens waarvoor nog geen omschrijving is", en="data not yet described")
_UNKNOWN_TYPE = Text(nl="een bericht", en="a message")
_UNKNOWN_ORGANISATION = Text(nl="een partner van het samenwerkingsverband", en="a partner of the partnership")
_UNKNOWN_PURPOSE = Text(nl="een doel van het samenwerkingsverband", en="a purpose of the partnership")
_UNKNOWN_PURPOSE_TEXT = Text(
    nl="Een doel uit de afspraken van het samenwerkingsverband.", en="A purpose from the partnership's agreements."
)
_UNKNOWN_COVENANT = Text(nl="een convenant van het samenwerkingsverband", en="a covenant of the partnership")
_UNKNOWN_BASIS = Text(nl="een wettelijke grondslag", en="a legal basis")
_UNKNOWN_BASIS_TEXT = Text(
    nl="Het contactpunt kan u uitleggen wat deze grondslag inhoudt.", en="The contact point can explain this basis."
)
_UNKNOWN_REQUEST = Text(nl="een verzoek over uw gegevens", en="a request about your data")
_UNKNOWN_STEP = Text(nl="is behandeld", en="was handled")
_UNKNOWN_REASON = Text(nl="Dit was volgens de afspraken niet toegestaan.", en="The agreements did not allow this.")
_SHARED = frozenset({"delivered", "pending"})
_NOT_A_REASON = frozenset({"permitted", "fields-withheld"})
"""Reason codes that say nothing a refusal's more specific reasons do not (shown only when alone)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Label(_Model):
    """A code and its words."""

    code: str
    nl: str
    en: str


class Explained(_Model):
    """A code, its words, and one sentence that explains it (a purpose or a legal basis)."""

    code: str
    nl: str
    en: str
    explanation_nl: str
    explanation_en: str


class Sharing(_Model):
    """One message a partner received (or will have, delivery unconfirmed) about the person."""

    event_id: str
    at: datetime
    delivered_at: datetime | None
    delivery: Label
    message: Label
    sender: Label
    data: tuple[Label, ...]
    purpose: Explained
    legal_bases: tuple[Explained, ...]
    covenant: Label | None
    withheld: tuple[Label, ...]
    """What this message held that the partner did not get."""
    notes: tuple[Label, ...]
    """Why part of the message was held back, and what else the person should know (the BSN replaced by a
    reference)."""


class Refusal(_Model):
    """One message, or part of one, that a partner asked for or was sent but did not receive."""

    event_id: str
    at: datetime
    message: Label
    sender: Label
    data: tuple[Label, ...]
    reasons: tuple[Label, ...]


class ConsentStep(_Model):
    """Something that happened because of, or to, the person's consent: a consent given or withdrawn passed on to a
    partner, or a message not shared with a partner because of the consent."""

    at: datetime
    step: Label
    """``passed-on``, or the reason code (``consent-withdrawn``, ...) that kept the message from the partner."""
    organisation: Label
    """The partner it concerns."""
    message: Label
    sender: Label


class RequestUpdate(_Model):
    """A step of one of the person's requests: it arrived at the contact point, a partner carried it out, or the
    contact point answered it."""

    request_id: str
    at: datetime
    request: Label
    """What was asked."""
    step: Label
    """What happened (``received``, ``confirmed``, ``answered``)."""
    organisation: Label
    """Who did it."""


class PartnerAccount(_Model):
    """What one partner received about the person, and what it did not."""

    organisation: Label
    shared_data: tuple[Label, ...]
    """Every kind of data the partner received, in any message."""
    never_shared_data: tuple[Label, ...]
    """Data withheld from the partner that it received in no message."""
    first_shared: datetime | None
    last_shared: datetime | None
    shared: tuple[Sharing, ...]
    not_shared: tuple[Refusal, ...]


class AccessReport(_Model):
    """The art. 15 answer, in words (the JSON record of it: :func:`access_report_json`)."""

    format: str = FORMAT
    reference: str
    """The kenmerk printed on the letter."""
    data_subject_id: str
    data_subject_ids: tuple[str, ...]
    generated_at: datetime
    records: int
    records_by_identifier: dict[str, int]
    partners: tuple[PartnerAccount, ...]
    consent: tuple[ConsentStep, ...]
    """The person's consent as lineage shows it, in time order (see :class:`ConsentStep`)."""
    requests: tuple[RequestUpdate, ...] = ()
    """The person's requests (access, erasure, ...) and what became of them, in time order."""
    untranslated: tuple[str, ...]
    """Codes the translation table had no words for (shown in general words); empty for the shipped catalogue."""


class _Words:
    """Looks codes up in the table and remembers the ones it had no words for."""

    def __init__(self, table: Wording) -> None:
        self.table = table
        self.missing: set[str] = set()

    def _get(self, section: str, found: Text | None, code: str, fallback: Text) -> Label:
        if found is None:
            self.missing.add(f"{section}:{code}")
            found = fallback
        return Label(code=code, nl=found.nl, en=found.en)

    def organisation(self, code: str) -> Label:
        return self._get("organisations", self.table.organisations.get(code), code, _UNKNOWN_ORGANISATION)

    def event_type(self, code: str) -> Label:
        return self._get("event_types", self.table.event_types.get(code), code, _UNKNOWN_TYPE)

    def fields(self, event_type: str, names: Iterable[str]) -> tuple[Label, ...]:
        labels = (
            self._get("fields", self.table.field(event_type, n), f"{event_type}.{n}", _UNKNOWN_FIELD) for n in names
        )
        return _distinct(labels)

    def covenant(self, policy: str | None) -> Label | None:
        if policy is None:
            return None
        covenant_id = policy.partition("@")[0]
        return self._get("covenants", self.table.covenants.get(covenant_id), covenant_id, _UNKNOWN_COVENANT)

    def reason(self, code: str) -> Label:
        return self._get("reasons", self.table.reasons.get(code), code, _UNKNOWN_REASON)

    def consent_step(self, code: str) -> Label:
        return self._get("consent_steps", self.table.consent_steps.get(code), code, _UNKNOWN_REASON)

    def request(self, code: str) -> Label:
        return self._get("requests", self.table.requests.get(code), code, _UNKNOWN_REQUEST)

    def request_step(self, code: str) -> Label:
        return self._get("request_steps", self.table.request_steps.get(code), code, _UNKNOWN_STEP)

    def delivery(self, code: str) -> Label:
        return self._get("delivery", self.table.delivery.get(code), code, _UNKNOWN_REASON)

    def purpose(self, code: str) -> Explained:
        found = self.table.purposes.get(code)
        if found is None:
            self.missing.add(f"purposes:{code}")
            label, text = _UNKNOWN_PURPOSE, _UNKNOWN_PURPOSE_TEXT
        else:
            label, text = found.label, found.description
        return Explained(code=code, nl=label.nl, en=label.en, explanation_nl=text.nl, explanation_en=text.en)

    def basis(self, code: str) -> Explained:
        found = self.table.legal_bases.get(code)
        if found is None:
            self.missing.add(f"legal_bases:{code}")
            name, text = _UNKNOWN_BASIS, _UNKNOWN_BASIS_TEXT
        else:
            name, text = found.name, found.explanation
        return Explained(code=code, nl=name.nl, en=name.en, explanation_nl=text.nl, explanation_en=text.en)


def _distinct(labels: Iterable[Label]) -> tuple[Label, ...]:
    """Labels once each (by their words: two unknown fields read the same), in their first order."""
    return tuple({label.nl: label for label in labels}.values())


def _sharing(d: Disclosure, words: _Words) -> Sharing:
    notes = [words.reason(r) for r in d.reasons if r not in _NOT_A_REASON]
    # A code without words says "not allowed" on a refusal; beside data that was shared it would mislead: left out.
    notes = [n for n in notes if n.code in words.table.reasons]
    if d.derived_from:
        notes.append(_made_from(d.derived_from, words))
    pseudonymised = "bsn-pseudonymised" in d.reasons
    return Sharing(
        event_id=str(d.event_id),
        at=d.decided_at,
        delivered_at=d.delivered_at,
        delivery=words.delivery(d.delivery),
        message=words.event_type(d.event_type),
        sender=words.organisation(d.sender),
        data=words.fields(d.event_type, d.fields_sent),
        purpose=words.purpose(d.purpose),
        legal_bases=tuple(words.basis(b) for b in d.legal_basis),
        covenant=words.covenant(d.policy),
        withheld=words.fields(d.event_type, (f for f in d.fields_withheld if f != "subject.bsn" or not pseudonymised)),
        notes=tuple(notes),
    )


def _made_from(derived_from: tuple[str, ...], words: _Words) -> Label:
    """A bundle (the ZVH's agenda proposal) in words: how many signals it was made of, from which partners."""
    partners = [
        words.organisation(key.split("/", 1)[0]) for key in dict.fromkeys(k.split("/", 1)[0] for k in derived_from)
    ]
    nl = [p.nl for p in partners]
    en = [p.en for p in partners]
    count = len(derived_from)
    return Label(
        code="derived-from",
        nl=f"Dit overzicht is samengesteld uit {count} signalen over u, van {_and(nl, 'en')}.",
        en=f"This overview was made from {count} signals about you, from {_and(en, 'and')}.",
    )


def _and(texts: list[str], conjunction: str) -> str:
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + f" {conjunction} " + texts[-1]


def _refusal(d: Disclosure, words: _Words) -> Refusal | None:
    """What the partner did not receive of this decision: all of it (a denial, a failed delivery), or None when the
    decision's data reached it (its withheld part is named with the sharing)."""
    data: tuple[str, ...]
    reasons: tuple[Label, ...]
    if d.delivery == "dead-lettered":
        data, reasons = d.fields_sent, (words.delivery("dead-lettered"),)
    elif d.delivery == "none":
        data = d.fields_withheld
        reasons = tuple(words.reason(r) for r in (tuple(r for r in d.reasons if r not in _NOT_A_REASON) or d.reasons))
    else:
        return None
    return Refusal(
        event_id=str(d.event_id),
        at=d.decided_at,
        message=words.event_type(d.event_type),
        sender=words.organisation(d.sender),
        data=words.fields(d.event_type, data),
        reasons=reasons,
    )


def _account(section: PartnerSection, words: _Words) -> PartnerAccount:
    shared = [_sharing(d, words) for d in section.decisions if d.delivery in _SHARED]
    refused = [r for d in section.decisions if (r := _refusal(d, words)) is not None]
    shared_data = _distinct(label for s in shared for label in s.data)
    got = {label.nl for label in shared_data}
    held_back = [*(label for s in shared for label in s.withheld), *(label for r in refused for label in r.data)]
    return PartnerAccount(
        organisation=words.organisation(section.recipient),
        shared_data=shared_data,
        never_shared_data=_distinct(label for label in held_back if label.nl not in got),
        first_shared=min((s.at for s in shared), default=None),
        last_shared=max((s.at for s in shared), default=None),
        shared=tuple(shared),
        not_shared=tuple(refused),
    )


_CONSENT_CHANGE = "ConsentChange"


def _consent_steps(report: SubjectReport, words: _Words) -> tuple[ConsentStep, ...]:
    """Consent changes passed on to partners, and messages a partner did not get because of the consent."""
    steps: list[ConsentStep] = []
    for section in report.partners:
        for d in section.decisions:
            if d.event_type == _CONSENT_CHANGE and d.delivery in _SHARED:
                codes: tuple[str, ...] = ("passed-on",)
            elif d.delivery == "none":
                codes = tuple(r for r in d.reasons if r.startswith("consent-"))[:1]
            else:
                continue
            steps.extend(
                ConsentStep(
                    at=d.decided_at,
                    step=words.consent_step(code),
                    organisation=words.organisation(d.recipient),
                    message=words.event_type(d.event_type),
                    sender=words.organisation(d.sender),
                )
                for code in codes
            )
    return tuple(sorted(steps, key=lambda s: (s.at, s.organisation.code)))


def _request_update(step: RequestStep, words: _Words) -> RequestUpdate:
    return RequestUpdate(
        request_id=str(step.request_id),
        at=step.at,
        request=words.request(step.request),
        step=words.request_step(step.step),
        organisation=words.organisation(step.organisation),
    )


def _reference(report: SubjectReport) -> str:
    digest = hashlib.sha256(f"{report.data_subject_id}|{report.generated_at.isoformat()}".encode()).hexdigest()
    return "-".join(digest[i : i + 4] for i in range(0, 12, 4)).upper()


def access_report(report: SubjectReport, table: Wording | None = None) -> AccessReport:
    """The report in words (the shipped table unless another is given)."""
    words = _Words(table or wording())
    accounts = [_account(p, words) for p in report.partners]
    # Partners that received something first (in the report's order, by organisation code), then the others.
    partners = tuple(sorted(accounts, key=lambda a: not a.shared))
    return AccessReport(
        reference=_reference(report),
        data_subject_id=report.data_subject_id,
        data_subject_ids=report.data_subject_ids,
        generated_at=report.generated_at,
        records=report.records,
        records_by_identifier=report.records_by_identifier,
        partners=partners,
        consent=_consent_steps(report, words),
        requests=tuple(_request_update(step, words) for step in report.requests),
        untranslated=tuple(sorted(words.missing)),
    )


def access_report_json(report: AccessReport) -> str:
    """The contact point's JSON record of the report (keys: see the README, *The art. 15 report*)."""
    return report.model_dump_json(indent=2) + "\n"
