"""Which partition a keyed record goes to: Kafka's default (murmur2 of the key), with the hash remembered per key.

Every record the hub produces is keyed, and every key is hashed to its partition by aiokafka's murmur2, written in
pure Python: about 11 us per call for a 32-byte key on the bench machine (0.2 us remembered), and the hub makes
about eight keyed sends per event (its copies, the event's lineage pack, the tables' changelog records) - several
with a key it hashed a moment ago (the person's pseudonym, the recipients' pseudonyms of a person whose case is
under way). :class:`KeyPartitioner` keeps the last :data:`REMEMBERED` keys' hashes, so a repeated key costs a
dictionary look-up.

It must choose exactly the partition Kafka's default partitioner chooses - the hub's tables, steps and ingress
topics are co-partitioned, and every producer of an ingress topic (the connectors, Java clients) partitions that
way. So it keeps the hash, never the partition (a topic's partition count can grow), and a record without a key is
left to aiokafka's default (a random available partition). ``tests/streams/test_partitioner.py`` checks the choice
against aiokafka's for any key and partition list. Keys hold pseudonyms and table keys only, never personal data
(the hub's rule for keys), so remembering them keeps nothing new in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.partitioner import DefaultPartitioner, murmur2

__all__ = ["REMEMBERED", "KeyPartitioner"]

REMEMBERED = 32768
"""Keys whose hash is kept, at most (the oldest is forgotten first): a few MiB."""


class KeyPartitioner:
    """Kafka's default choice of partition, remembering the hash of recent keys (a producer's ``partitioner``)."""

    def __init__(self, remembered: int = REMEMBERED) -> None:
        self._remembered = remembered
        self._hashes: dict[bytes, int] = {}
        self._default = DefaultPartitioner()

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return int(self._default(key, all_partitions, available))
        hashed = self._hashes.get(key)
        if hashed is None:
            hashed = murmur2(key) & 0x7FFFFFFF
            self._hashes[key] = hashed
            if len(self._hashes) > self._remembered:
                del self._hashes[next(iter(self._hashes))]
        return all_partitions[hashed % len(all_partitions)]
