"""The consent processor: covenants as data, and a pure, fail-closed decision engine.

It lets partners share what the law and their covenants allow - no more, and no less. Covenant files
(``consent/covenants/*.yaml``) are loaded strictly (:func:`load_policy`) and compiled once into a
:class:`Policy`; :meth:`Policy.decide` then returns, without I/O, a :class:`Decision` per (event, recipient):
``permit``, ``partial`` or ``deny``, the names of the fields sent and withheld, covenant@version, rule, purpose,
legal basis and reason codes. :func:`project` turns an event and a decision into the copy the recipient receives,
with the recipient's own pseudonym of the person (:class:`Pseudonymizer`) instead of a BSN no rule lets pass.
:class:`ConsentState` is the subject's consent history that consent-conditioned rules read, :class:`CaseState`
the partners the ZVH invited to the person's cases; :class:`SubjectState` holds both and is the one way the hub
and the CLI decide an event on a person's history.

How rules combine, how purposes bind, who the candidates are: see :mod:`schakel.consent.policy`. The covenant
file format and what the loader refuses: :mod:`schakel.consent.loading`. The legal bases: :mod:`schakel.consent.legal`.
"""

from schakel.consent.case_state import CaseInvitations, CaseState
from schakel.consent.consent_state import ConsentRecord, ConsentState
from schakel.consent.covenant import CONTROLLER, SECRECY_GROUNDS, Conditions, Covenant, Rule
from schakel.consent.decision import Decision, Outcome, Reason
from schakel.consent.errors import ConsentError, CovenantError
from schakel.consent.explanation import explain
from schakel.consent.legal import LEGAL_BASES, LegalBasis, Regime, regime_of
from schakel.consent.loading import load_covenants, load_policy, parse_covenant, shipped_covenants_dir
from schakel.consent.policy import Policy
from schakel.consent.projection import project
from schakel.consent.pseudonyms import Pseudonymizer, case_key, subject_key
from schakel.consent.subject_rights import only_recipients, restrict
from schakel.consent.subject_state import SubjectState

__all__ = [
    "CONTROLLER",
    "LEGAL_BASES",
    "SECRECY_GROUNDS",
    "CaseInvitations",
    "CaseState",
    "Conditions",
    "ConsentError",
    "ConsentRecord",
    "ConsentState",
    "Covenant",
    "CovenantError",
    "Decision",
    "LegalBasis",
    "Outcome",
    "Policy",
    "Pseudonymizer",
    "Reason",
    "Regime",
    "Rule",
    "SubjectState",
    "case_key",
    "explain",
    "load_covenants",
    "load_policy",
    "only_recipients",
    "parse_covenant",
    "project",
    "regime_of",
    "restrict",
    "shipped_covenants_dir",
    "subject_key",
]
