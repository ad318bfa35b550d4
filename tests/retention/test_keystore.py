"""The key store on each backend: the URL picks it, a key made twice at once is one key (by threads or processes), a
destroyed key is gone for every reader and never comes back for the person's next event, and two writers about one
person lose nothing of each other's - also when one gets in between a first event's read and its write."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schakel.retention import Kek, KeyStore, KeyStoreError, Opener, SealError
from schakel.retention.copies import seal_copy_with
from schakel.settings import Settings

KEK = Kek.derive("a-key-encryption-key")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
_R = "schakel-recipient"


def _at_once(workers: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``workers`` threads released together; their results in order."""
    start, results = threading.Barrier(workers), [None] * workers

    def run(index: int) -> None:
        start.wait()
        results[index] = work(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_the_url_picks_the_backend_and_an_unknown_one_is_refused_with_what_to_write(
    keystore_url: str, tmp_path: Path
) -> None:
    store = KeyStore.of(Settings(keystore_url=keystore_url))
    assert store.backend == ("postgresql" if keystore_url.startswith("postgresql://") else "sqlite")
    store.close()
    assert KeyStore.of(Settings(keystore_url=f"sqlite://{tmp_path}/other.sqlite3")).backend == "sqlite"
    assert (tmp_path / "other.sqlite3").exists()
    for url in ("mysql://user:secret@db/keys", "redis://cache", "file:///var/keys.sqlite3"):
        with pytest.raises(KeyStoreError, match="postgresql://") as refused:
            KeyStore.of(Settings(keystore_url=url))
        assert "secret" not in str(refused.value)


def test_several_processes_making_the_same_owners_key_at_once_get_one_key(keystore_url: str) -> None:
    stores = [KeyStore(keystore_url, KEK) for _ in range(4)]  # as four workers: four connections
    keys = _at_once(4, lambda i: stores[i].key_for("a-person"))
    assert len(set(keys)) == 1

    def first_event(index: int) -> tuple[str, bytes]:
        return stores[index].key_for_event(
            "another-person",
            at=T0,
            names_case=False,
            closes_case=False,
            after_close=None,
            without_case=timedelta(days=1),
            recipients={},
        )

    made = _at_once(4, first_event)
    assert len(set(made)) == 1
    assert stores[0].status(T0).data_keys == 2
    for store in stores:
        store.close()


def test_two_writers_about_one_person_lose_none_of_each_others_recipients(keystore_url: str) -> None:
    stores = [KeyStore(keystore_url, KEK) for _ in range(4)]
    partners = ("politie", "om", "ggz", "rvdk")

    def deliver(index: int) -> tuple[str, bytes]:
        return stores[index].key_for_event(
            "a-person",
            at=T0 + timedelta(hours=index),
            names_case=True,
            closes_case=False,
            after_close=timedelta(days=30),
            without_case=None,
            recipients={partners[index]: f"{partners[index]}-pseudonym"},
        )

    assert len(set(_at_once(4, deliver))) == 1
    assert stores[0].recipients("a-person") == {p: f"{p}-pseudonym" for p in partners}
    facts = stores[0].facts("a-person")
    assert facts is not None
    assert facts.has_case
    for store in stores:
        store.close()


def test_a_destroyed_key_is_gone_for_every_reader_at_once(keystore_url: str) -> None:
    hub, sink = KeyStore(keystore_url, KEK), KeyStore(keystore_url, KEK)
    key_id, key = hub.key_for_event(
        "a-person",
        at=T0,
        names_case=False,
        closes_case=False,
        after_close=None,
        without_case=timedelta(days=1),
        recipients={"om": "om-pseudonym"},
    )
    assert sink.key(key_id) == key  # the sink reads it on every open
    assert hub.shred_subject("a-person", "erasure") == 1
    assert sink.key(key_id) is None
    assert sink.recipients("a-person") == {}
    assert sink.facts("a-person") is None
    assert hub.key_for("a-person")[0] != key_id, "a person seen again gets a new key, never the old one"
    hub.close()
    sink.close()


@pytest.mark.postgres
def test_a_lost_postgresql_connection_is_an_error_of_the_store_and_the_next_call_reconnects(
    postgres_database: str, postgres_server: str
) -> None:
    import psycopg

    store = KeyStore(postgres_database, KEK)
    key_id, key = store.key_for("a-person")
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (postgres_database.rpartition("/")[2],),
        )
    with pytest.raises(KeyStoreError, match="data-key store") as lost:
        store.key(key_id)
    assert "a-person" not in str(lost.value)
    assert store.key(key_id) == key
    store.close()


def _first_event(store: KeyStore, index: int, *, names_case: bool, recipient: str) -> tuple[str, bytes]:
    return store.key_for_event(
        "a-person",
        at=T0 + timedelta(hours=index),
        names_case=names_case,
        closes_case=False,
        after_close=timedelta(days=30) if names_case else None,
        without_case=None if names_case else timedelta(days=1),
        recipients={recipient: f"{recipient}-pseudonym-{index}"},
    )


def test_a_writer_that_gets_in_between_a_first_events_read_and_its_write_loses_nothing(keystore_url: str) -> None:
    """A first event skips the read under the lock; another worker's event about the same person landing between the
    hub's read (nothing known) and its write must still be merged: one key, both recipients, both events' facts."""
    hub, other = KeyStore(keystore_url, KEK), KeyStore(keystore_url, KEK)
    read = hub._person
    got_in: list[tuple[str, bytes]] = []

    def read_then_let_the_other_write(run: Any, subject: str) -> Any:
        found = read(run, subject)
        if not got_in:  # once: after the hub's first read, before its write transaction
            got_in.append(_first_event(other, 1, names_case=True, recipient="om"))
        return found

    hub._person = read_then_let_the_other_write  # type: ignore[method-assign]
    key = _first_event(hub, 0, names_case=False, recipient="politie")
    assert got_in == [key], "one key for the person, the one the other writer made"
    assert hub.recipients("a-person") == {"om": "om-pseudonym-1", "politie": "politie-pseudonym-0"}
    facts = hub.facts("a-person")
    assert facts is not None
    assert (facts.has_case, facts.last_event_at) == (True, T0 + timedelta(hours=1)), "the other event's facts kept"
    assert facts.without_case == timedelta(days=1), "and the hub's own merged in"
    assert hub.status(T0).data_keys == 1
    hub.close()
    other.close()


def _first_key_in_a_process(url: str, index: int, start: Any, keys: Any) -> None:
    store = KeyStore(url, KEK)
    start.wait()
    keys.put(_first_event(store, index, names_case=index == 0, recipient=f"partner-{index}"))
    store.close()


def test_processes_making_one_persons_first_key_at_once_get_one_key_and_keep_every_recipient(keystore_url: str) -> None:
    context = multiprocessing.get_context("spawn")  # as separate workers: nothing shared but the store
    start, keys = context.Barrier(3), context.Queue()
    workers = [context.Process(target=_first_key_in_a_process, args=(keystore_url, i, start, keys)) for i in range(3)]
    for worker in workers:
        worker.start()
    made = [keys.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert len(set(made)) == 1
    store = KeyStore(keystore_url, KEK)
    assert store.recipients("a-person") == {f"partner-{i}": f"partner-{i}-pseudonym-{i}" for i in range(3)}
    facts = store.facts("a-person")
    assert facts is not None
    assert facts.has_case, "the one event that named a case is not lost to the others"
    assert store.status(T0).data_keys == 1
    store.close()


def test_after_shredding_the_next_event_gets_a_new_key_and_the_old_stays_gone(keystore_url: str) -> None:
    hub, sink = KeyStore(keystore_url, KEK), KeyStore(keystore_url, KEK)
    old_id, old = _first_event(hub, 0, names_case=True, recipient="om")
    sealed, headers = seal_copy_with((old_id, old), b"a copy", [("ce_source", b"/s"), ("ce_id", b"e1"), (_R, b"om")])
    assert Opener(sink).open_copy(sealed, headers) == b"a copy"
    hub.shred_subject("a-person", "erasure")
    new_id, new = _first_event(hub, 1, names_case=False, recipient="ggz")
    assert new_id != old_id, "a person seen again after shredding gets a new key, never the old one"
    assert new != old
    assert sink.key(old_id) is None
    with pytest.raises(SealError, match="destroyed"):
        Opener(sink).open_copy(sealed, headers)
    assert hub.recipients("a-person") == {"ggz": "ggz-pseudonym-1"}, "the recipients before the shredding are gone"
    hub.close()
    sink.close()
