"""Retiring a person (the retention job's :func:`~schakel.retention.job.retire`) while the hub goes on deciding
events about them: the job waits for the broker between reading whom to tell and destroying the key, and the hub
does not wait for the job."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

from schakel.retention import Kek, KeyStore
from schakel.retention.job import retire
from schakel.schemas import RetentionReason
from schakel.settings import Settings
from schakel.streams.records import Message
from schakel.streams.topics import HubTopics

SETTINGS = Settings(topic_prefix="r.")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PERSON = "ab" * 32  # a hub pseudonym (hex)


def _event(store: KeyStore, at: datetime, recipients: dict[str, str]) -> str:
    """The hub decides an event about the person (signals, no case: each restarts the one-day clock)."""
    key_id, _ = store.key_for_event(
        PERSON,
        at=at,
        names_case=False,
        closes_case=False,
        after_close=None,
        without_case=timedelta(days=1),
        recipients=recipients,
    )
    return key_id


def test_a_person_with_an_event_during_their_retirement_keeps_their_key_until_every_partner_is_told(
    keystore_url: str,
) -> None:
    """A signal about the person, to a partner that never had one, is decided while the job waits for the broker to
    confirm the notices: the job destroyed the key all the same - the new partner never told to delete (AVG art. 19),
    the new signal's copy unreadable, the restarted clock forgotten. The broker's confirmation is held until the hub's
    event is in the key store."""
    store = KeyStore(keystore_url, Kek.derive("a-key-encryption-key"))
    egress = {recipient: HubTopics.of(SETTINGS).egress(recipient) for recipient in ("politie", "om")}
    key_id = _event(store, T0, {"politie": "politie-pseudonym"})
    now = T0 + timedelta(days=2)
    (due,) = store.due(now)
    told: list[str] = []
    sending, confirm = asyncio.Event(), asyncio.Event()

    async def send(message: Message) -> Awaitable[Any]:
        told.extend(r for r, topic in egress.items() if message.topic == topic)
        sending.set()

        async def confirmed() -> None:
            await confirm.wait()  # the broker is slow to confirm

        return asyncio.ensure_future(confirmed())

    async def hub_decides_an_event_meanwhile() -> None:
        await sending.wait()
        _event(store, now, {"om": "om-pseudonym"})
        confirm.set()

    async def scenario() -> tuple[int, int]:
        hub = asyncio.create_task(hub_decides_an_event_meanwhile())
        retired = await retire(SETTINGS, store, send, PERSON, RetentionReason.SIGNALS_WITHOUT_CASE, due.due_at, now)
        await hub
        return retired

    try:
        notices, destroyed = asyncio.run(scenario())
        assert (notices, told) == (1, ["politie"])
        assert destroyed == 0, "the key was destroyed with a partner not told and a signal just sealed with it"
        assert store.key(key_id) is not None
        assert set(store.recipients(PERSON)) == {"politie", "om"}
        # Once the restarted clock runs out, the next run tells both and destroys the key.
        later = now + timedelta(days=2)
        (due,) = store.due(later)
        confirm.set()
        told.clear()
        result = asyncio.run(
            retire(SETTINGS, store, send, PERSON, RetentionReason.SIGNALS_WITHOUT_CASE, due.due_at, later)
        )
        assert (result, sorted(told)) == ((2, 1), ["om", "politie"])
        assert store.key(key_id) is None
    finally:
        store.close()
