"""The policy model: a covenant and its rules, as loaded from a covenant file.

These are the checked, typed form of a covenant file (see :mod:`schakel.consent.loading` for the file format and
the checks). The decision engine does not read them per decision: :class:`~schakel.consent.Policy` compiles them
once into an index.

Validity: a covenant is in force from the start of ``valid_from`` up to and including the whole of ``valid_until``,
in Dutch time (Europe/Amsterdam), because covenants are signed and end on calendar days in the Netherlands.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from schakel.schemas import EventType, Organisation, Theme

__all__ = ["CONTROLLER", "SECRECY_GROUNDS", "Conditions", "Covenant", "Rule"]

CONTROLLER = "controller"
"""In ``consent_recorded_by``: the controller of the data being shared - the event's sender."""

SECRECY_GROUNDS = ("consent", "legal_duty", "conflict_of_duties")
"""The grounds on which a professional bound by secrecy (GGZ) may share: the client's consent, a legal duty to
report, or a documented conflict of duties (conflict van plichten)."""

_AMSTERDAM = ZoneInfo("Europe/Amsterdam")
_END_OF_TIME = datetime(9999, 12, 31, tzinfo=ZoneInfo("UTC"))


class Conditions(BaseModel):
    """What must hold, besides the rule matching, before the rule lets anything pass."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    consent: bool = False
    """The subject's consent must be on file for this recipient and the rule's purpose (given, not withdrawn,
    not expired), recorded by a party of ``consent_recorded_by``."""
    consent_recorded_by: tuple[str, ...] = ()
    """Who may record the consent this rule rests on: :data:`CONTROLLER` (the sender of the data) and/or
    organisation codes (e.g. ``zvh`` as the WGS contact point). Required exactly when a consent counts."""
    secrecy_grounds: tuple[str, ...] = ()
    """If not empty: the event must record one of these secrecy grounds (``secrecy_ground``); ``consent`` also
    needs the consent on file, ``conflict_of_duties`` also a ``deliberation_ref``."""
    invited: bool = False
    """The rule applies only to case partners the ZVH invited to the event's case (the hub's case state, see
    :mod:`schakel.consent.case_state`) - never to whom the sender addressed."""

    @property
    def needs_consent(self) -> bool:
        """Whether a consent on file can be what this rule rests on."""
        return self.consent or "consent" in self.secrecy_grounds

    def recorders(self, sender: Organisation) -> tuple[frozenset[Organisation], Organisation | None]:
        """Whose recorded consent counts for data ``sender`` shares under this rule: the named organisations, and
        the controller (``sender``) where :data:`CONTROLLER` is named - the arguments of ``ConsentState.check``."""
        named = frozenset(Organisation(party) for party in self.consent_recorded_by if party != CONTROLLER)
        return named, sender if CONTROLLER in self.consent_recorded_by else None


class Rule(BaseModel):
    """One permission of a covenant: these senders may share these event types' fields with these recipients for
    this purpose, on this legal basis, under these conditions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    event_types: tuple[EventType, ...]
    senders: tuple[Organisation, ...]
    recipients: tuple[Organisation, ...]
    purpose: str
    fields: tuple[str, ...]
    legal_basis: dict[str, tuple[str, ...]]
    """Citations per category: ``general`` and, where the rule lets them pass, ``bsn``, ``health``, ``belief``,
    ``criminal``, ``youth``."""
    conditions: Conditions = Conditions()


class Covenant(BaseModel):
    """A covenant (convenant): its partners, purposes, validity and rules. ``version`` is the hash of its content."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    version: str
    source: str
    """The file it was loaded from."""
    title_nl: str
    title_en: str
    based_on: str | None = None
    valid_from: date
    valid_until: date | None
    partners: dict[str, tuple[Organisation, ...]]
    """Partners by role (e.g. ``kernpartners``, ``casuspartners``)."""
    purposes: dict[str, str]
    """Purpose slug -> its description."""
    purpose_themes: dict[str, tuple[Theme, ...]]
    """Purpose slug -> the themes an event may carry under it. Which sender may claim a purpose for which event
    type follows from the rules (a sender claims a purpose for a type only where some rule lets it send that type
    for that purpose)."""
    rules: tuple[Rule, ...]
    agenda_window_days: int | None = None
    """How long a signal shared under this covenant counts towards the ZVH's agenda (``schakel.streams.agenda``)."""

    @property
    def ref(self) -> str:
        """``id@version``."""
        return f"{self.id}@{self.version}"

    @property
    def all_partners(self) -> frozenset[Organisation]:
        """Every partner, whatever its role."""
        return frozenset(org for orgs in self.partners.values() for org in orgs)

    @property
    def in_force_from(self) -> datetime:
        """The first instant the covenant is in force."""
        return datetime.combine(self.valid_from, time(0), tzinfo=_AMSTERDAM)

    @property
    def in_force_until(self) -> datetime:
        """The first instant the covenant is no longer in force (exclusive)."""
        if self.valid_until is None:
            return _END_OF_TIME
        return datetime.combine(self.valid_until + timedelta(days=1), time(0), tzinfo=_AMSTERDAM)

    def in_force(self, at: datetime) -> bool:
        """Whether the covenant is in force at ``at`` (a timezone-aware instant)."""
        return self.in_force_from <= at < self.in_force_until

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id (KeyError if there is none)."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)
