"""The grants generated from the topic layout (no broker): each principal gets what its job needs and no more."""

from __future__ import annotations

import pytest

from schakel.schemas import Organisation
from schakel.streams import access
from schakel.streams.topics import ADMIN, CONSOLE, HUB, LINEAGE, Grant, HubTopics, access_grants, principals

TOPICS = HubTopics("nh.")
GRANTS = access_grants(TOPICS)


def _of(principal: str) -> set[tuple[str, str, str]]:
    return {(grant.operation, grant.resource, grant.name) for grant in GRANTS if grant.principal == principal}


def test_a_partner_writes_its_ingress_reads_its_egress_and_writes_its_own_receipts_and_dead_letters() -> None:
    for org in Organisation:
        assert _of(org.value) == {
            ("WRITE", "TOPIC", f"nh.ingress.{org}"),
            ("READ", "TOPIC", f"nh.egress.{org}"),
            ("READ", "GROUP", f"nh-sink-{org}"),
            ("WRITE", "TOPIC", f"nh.receipts.{org}"),
            ("WRITE", "TOPIC", "nh.dlq"),
        }
    assert [grant.principal for grant in GRANTS if grant.name == "nh.lineage" and grant.operation == "WRITE"] == [
        HUB
    ], "only the hub writes lineage"


def test_no_grant_is_prefixed_except_the_hubs_internal_topics_and_the_lineage_stores_groups() -> None:
    assert [grant for grant in GRANTS if grant.prefixed] == [
        Grant(HUB, "TOPIC", "nh.hub-", "ALL", prefixed=True),
        Grant(LINEAGE, "GROUP", "schakel-lineage-store", "READ", prefixed=True),
    ]


def test_the_hub_reads_only_ingress_and_writes_only_outputs() -> None:
    hub = _of(HUB)
    assert {name for operation, kind, name in hub if operation == "READ" and kind == "TOPIC"} == set(
        TOPICS.all_ingress()
    )
    assert {name for operation, _, name in hub if operation == "WRITE"} == {
        *TOPICS.all_egress(),
        TOPICS.lineage,
        TOPICS.dlq,
    }
    assert ("READ", "GROUP", "nh.hub") in hub
    assert not any(operation == "DELETE" for operation, _, _ in hub), "the hub may not delete lineage"


def test_lineage_reads_lineage_and_console_reads_egress_dlq_lineage_and_the_zvhs_ingress_and_neither_writes() -> None:
    # The store's identity may also delete from the lineage and receipts topics what the store ingested and pruned.
    sources = ["nh.lineage", *(f"nh.receipts.{org}" for org in Organisation)]
    assert _of(LINEAGE) == {
        *(("READ", "TOPIC", name) for name in sources),
        *(("DELETE", "TOPIC", name) for name in sources),
        ("READ", "GROUP", "schakel-lineage-store"),
    }
    console = _of(CONSOLE)
    assert {name for operation, kind, name in console if kind == "TOPIC"} == {
        *TOPICS.all_egress(),
        TOPICS.dlq,
        TOPICS.lineage,
        TOPICS.ingress(Organisation.ZVH),
    }
    assert {operation for operation, _, _ in console} == {"READ"}


def test_admin_is_a_super_user_with_no_grants_and_every_principal_is_known() -> None:
    assert _of(ADMIN) == set()
    assert {grant.principal for grant in GRANTS} | {ADMIN} == set(principals())
    assert len(principals()) == 4 + len(Organisation)


def test_the_hubs_own_steps_and_tables_fall_under_its_prefixed_grant_and_no_one_else_may_touch_them() -> None:
    internal = [TOPICS.link, TOPICS.person, *(f"nh.hub-{table}-changelog" for table in ("subjects", "links"))]
    for name in internal:
        covering = [
            g for g in GRANTS if g.resource == "TOPIC" and (g.name == name or (g.prefixed and name.startswith(g.name)))
        ]
        assert [grant.principal for grant in covering if grant.operation == "ALL"] == [HUB], name
        assert {grant.principal for grant in covering} == {HUB}, name


def test_a_grant_the_broker_accepted_but_never_enforces_is_an_access_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """``apply_grants`` waits until the broker lists what it added; a broker that never does is an error naming how
    many are missing, not a silent success (fail closed: a component would start refused)."""
    monkeypatch.setattr(access, "_IN_FORCE_WITHIN", 0.3)
    asked: list[int] = []

    def never() -> set[str]:
        asked.append(1)
        return {str(GRANTS[0]), str(GRANTS[1])}

    with pytest.raises(access.AccessError, match="did not enforce 2 of them"):
        access._until_in_force(never, "the ACLs")
    assert len(asked) > 1, "asked again until the deadline"
    seen = iter([{str(GRANTS[0])}, set()])
    access._until_in_force(lambda: next(seen), "the ACLs")  # returns once nothing is missing
