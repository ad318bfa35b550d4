"""A purge whose partition moved to another worker while it waited for the broker, on the real broker with two
workers: what it would have deleted is no longer its to delete (``schakel.streams.purge``, ``carry_out``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from schakel.consent import Pseudonymizer, subject_key
from schakel.schemas import EventType, Organisation, Theme
from schakel.schemas.examples import example_event
from schakel.streams.purge import PURGE
from schakel.streams.records import Message
from schakel.streams.topics import HubTopics
from tests.streams.conftest import Hub, Worker, changelog_tails

pytestmark = pytest.mark.kafka

THEME, SENDER = Theme.MONEY_MULE, Organisation.GEMEENTE_SOCIAAL.value

# A member that does not rejoin within this is dropped from the group and its partitions go to the others (Faust's
# default is 60 s: the same race, a slower test).
_REBALANCE = {"BROKER_REBALANCE_TIMEOUT": "15"}


def _subjects_tail(hub: Hub, person: bytes) -> bytes | None:
    """The person's last ``subjects`` changelog record - what a worker taking the partition up restores (None: a
    tombstone, or no record)."""
    tails = changelog_tails(hub.settings, ("subjects",))["subjects"]
    records = [record for (_, key), record in tails.items() if key == person]
    return records[0].value if records else None


def _wait(what: str, done: Callable[[], bool], hub: Hub, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(1)
    raise AssertionError(f"{what} did not happen\n{hub.logs()}")


def _logged(worker: Worker, line: str) -> bool:
    return line in worker.log.read_text(errors="replace")


def test_a_purge_revoked_while_it_waited_leaves_the_new_owners_entries_alone(hub: Hub, tmp_path: Path) -> None:
    """Worker A purges a person, and waits for the broker to store the purge command for the person's case (A cannot
    reach the purge topic for a while). Worker B joins; A is still waiting and is dropped from the group, B takes
    every partition, carries the purge out itself, and then records the person's new consent withdrawal. When A's
    wait ends, its deletes must not reach the changelog B keeps: the withdrawal must still be what a worker taking
    the partition up restores - not a tombstone."""
    first = example_event(EventType.CONSENT_CHANGE, theme=THEME, source=SENDER, case_id="ZVH-2026-75001")
    payload = {"change": "withdrawn", "grantees": ["politie"], "valid_until": None}
    subject = first.subject.model_dump(mode="json")
    withdrawal = example_event(
        EventType.CONSENT_CHANGE, theme=THEME, source=SENDER, subject=subject, case_id=None, payload=payload
    )
    pseudonymizer = Pseudonymizer(hub.settings.pseudonym_key.get_secret_value().encode())
    person = pseudonymizer.subject(subject_key(first)).encode()
    topics = HubTopics.of(hub.settings)
    release = tmp_path / "release"
    a = hub.worker(
        module="tests.streams.held_worker",
        env={**_REBALANCE, "SCHAKEL_TEST_HOLD": topics.purge, "SCHAKEL_TEST_RELEASE": str(release)},
    )
    hub.send(first)  # the person and their case, linked
    hub.flush()
    _wait("the person's first event decided", lambda: _subjects_tail(hub, person) is not None, hub)

    hub.produce(Message(topics.purge, person, PURGE))
    hub.flush()
    _wait("A holding the case's purge command", lambda: _logged(a, "held_worker: holding"), hub)
    hub.worker(env=_REBALANCE)  # B
    _wait("B carrying the purge out", lambda: _subjects_tail(hub, person) is None, hub)

    hub.send(withdrawal)
    hub.flush()
    _wait("B recording the withdrawal", lambda: _subjects_tail(hub, person) is not None, hub)
    recorded = _subjects_tail(hub, person)

    release.touch()  # A's wait ends
    _wait("A's held records sent", lambda: _logged(a, "held_worker: released"), hub)
    deadline = time.monotonic() + 15  # A's deletes, if it makes them, reach the changelog within a commit interval
    while time.monotonic() < deadline:
        assert _subjects_tail(hub, person) == recorded, f"A's purge deleted what B recorded after it\n{hub.logs()}"
        time.sleep(1)
