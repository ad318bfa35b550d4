"""Who may reach which page and see which organisation's items. Pure: no I/O, no web framework.

Every request the console serves asks this module first; the page never decides (a hidden link is not a guard).

1. An account belongs to one organisation and holds one or more roles (:class:`Role`).
2. ``case-manager``: the inbox, the case view and the items of *its own* organisation's egress topic - exactly what
   the hub delivered to that organisation. Any other organisation's inbox, item or stream is refused (403), whatever
   else the account may do.
3. ``process-director``: the case board. Only the ZVH has process directors (the ZVH runs the case process); an
   account of another organisation cannot hold the role.
4. ``compliance``: the compliance pages (trace, denials, disclosure register, art. 15, chain verification, dead
   letters). *Why ZVH only*: these pages read the whole lineage store - every partner's decisions - and under the
   WGS the partnership's contact point (the ZVH) answers a data-subject request for all joint controllers. A partner's
   own compliance officer gets its disclosure register from the CLI or the API, not from this console.
5. ``admin``: no data pages at all (separation of duties); accounts are managed with ``schakel console users``.

Roles combine by union; anything not granted above is refused (deny by default).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from schakel.schemas import Organisation

__all__ = [
    "COMPLIANCE_PAGES",
    "Page",
    "Principal",
    "Role",
    "may_reach",
    "may_read_inbox",
    "reachable_pages",
    "role_allowed",
]


class Role(StrEnum):
    CASE_MANAGER = "case-manager"
    PROCESS_DIRECTOR = "process-director"
    COMPLIANCE = "compliance"
    ADMIN = "admin"


class Page(StrEnum):
    INBOX = "inbox"
    CASE_BOARD = "board"
    TRACE = "trace"
    DENIALS = "denials"
    DISCLOSURES = "disclosures"
    SUBJECT_REPORT = "subject"
    VERIFY = "verify"
    DEAD_LETTERS = "dead-letters"


COMPLIANCE_PAGES = (
    Page.TRACE,
    Page.DENIALS,
    Page.DISCLOSURES,
    Page.SUBJECT_REPORT,
    Page.VERIFY,
    Page.DEAD_LETTERS,
)

_PAGE_ROLES: dict[Page, Role] = {
    Page.INBOX: Role.CASE_MANAGER,
    Page.CASE_BOARD: Role.PROCESS_DIRECTOR,
    **{page: Role.COMPLIANCE for page in COMPLIANCE_PAGES},
}

# Roles that only one organisation may hold (see the module docstring, points 3 and 4).
_ONLY_AT: dict[Role, Organisation] = {
    Role.PROCESS_DIRECTOR: Organisation.ZVH,
    Role.COMPLIANCE: Organisation.ZVH,
}


def role_allowed(organisation: Organisation, role: Role) -> bool:
    """May an account of ``organisation`` hold ``role``?"""
    only = _ONLY_AT.get(role)
    return only is None or only is organisation


@dataclass(frozen=True)
class Principal:
    """A signed-in user: who, of which organisation, in which roles (roles it may not hold are dropped)."""

    username: str
    organisation: Organisation
    roles: frozenset[Role]

    @classmethod
    def of(cls, username: str, organisation: Organisation, roles: Iterable[Role]) -> Principal:
        return cls(username, organisation, frozenset(role for role in roles if role_allowed(organisation, role)))


def may_reach(principal: Principal, page: Page) -> bool:
    """May ``principal`` open ``page`` at all?"""
    return _PAGE_ROLES[page] in principal.roles


def may_read_inbox(principal: Principal, organisation: Organisation | str) -> bool:
    """May ``principal`` see what was delivered to ``organisation`` (its inbox, an item, its stream, its cases)?"""
    return may_reach(principal, Page.INBOX) and str(principal.organisation) == str(organisation)


def reachable_pages(principal: Principal) -> list[Page]:
    """The pages ``principal`` may open, in menu order."""
    return [page for page in Page if may_reach(principal, page)]
