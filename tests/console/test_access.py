"""The authorisation rules, for every organisation and role (no broker, no browser)."""

from __future__ import annotations

import pytest

from schakel.console.access import (
    COMPLIANCE_PAGES,
    Page,
    Principal,
    Role,
    may_reach,
    may_read_inbox,
    reachable_pages,
    role_allowed,
)
from schakel.schemas import Organisation

ORGS = list(Organisation)


@pytest.mark.parametrize("own", ORGS)
@pytest.mark.parametrize("other", ORGS)
def test_a_case_manager_reads_only_its_own_organisations_inbox(own: Organisation, other: Organisation) -> None:
    manager = Principal.of("cm", own, [Role.CASE_MANAGER])
    assert may_read_inbox(manager, other) is (own is other)
    assert may_read_inbox(manager, str(other)) is (own is other)


@pytest.mark.parametrize("org", ORGS)
def test_no_other_role_opens_an_inbox(org: Organisation) -> None:
    everything_but = Principal.of("x", Organisation.ZVH, [Role.PROCESS_DIRECTOR, Role.COMPLIANCE, Role.ADMIN])
    assert not may_read_inbox(everything_but, org)


def test_a_politie_case_manager_cannot_read_ggz() -> None:
    assert not may_read_inbox(Principal.of("p", Organisation.POLITIE, [Role.CASE_MANAGER]), "ggz")


def test_an_unknown_organisation_is_nobodys_inbox() -> None:
    assert not may_read_inbox(Principal.of("p", Organisation.POLITIE, [Role.CASE_MANAGER]), "politie-x")


@pytest.mark.parametrize("org", [o for o in ORGS if o is not Organisation.ZVH])
@pytest.mark.parametrize("role", [Role.PROCESS_DIRECTOR, Role.COMPLIANCE])
def test_zvh_only_roles_are_dropped_elsewhere(org: Organisation, role: Role) -> None:
    assert not role_allowed(org, role)
    principal = Principal.of("x", org, [role])
    assert principal.roles == frozenset()
    assert reachable_pages(principal) == []


def test_pages_per_role() -> None:
    zvh = Organisation.ZVH
    assert reachable_pages(Principal.of("a", zvh, [Role.CASE_MANAGER])) == [Page.INBOX]
    assert reachable_pages(Principal.of("a", zvh, [Role.PROCESS_DIRECTOR])) == [Page.CASE_BOARD]
    assert reachable_pages(Principal.of("a", zvh, [Role.COMPLIANCE])) == list(COMPLIANCE_PAGES)
    assert reachable_pages(Principal.of("a", zvh, [Role.ADMIN])) == []
    both = Principal.of("a", zvh, [Role.CASE_MANAGER, Role.COMPLIANCE])
    assert all(may_reach(both, page) for page in (Page.INBOX, *COMPLIANCE_PAGES))
    assert not may_reach(both, Page.CASE_BOARD)
