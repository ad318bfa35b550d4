"""The hub's partitioner chooses Kafka's default partition for every key, remembered or not."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st

from schakel.streams.partitioner import KeyPartitioner

_partitions = st.integers(min_value=1, max_value=64).map(lambda n: list(range(n)))


@given(keys=st.lists(st.binary(max_size=80), min_size=1, max_size=40), partitions=_partitions)
@settings(max_examples=200)
def test_every_key_goes_where_kafkas_default_partitioner_sends_it(keys: list[bytes], partitions: list[int]) -> None:
    ours, kafkas = KeyPartitioner(remembered=8), DefaultPartitioner()
    for key in keys + keys:  # the second round from what is remembered (or forgotten again: 8 at most)
        assert ours(key, partitions, partitions) == kafkas(key, partitions, partitions)


def test_a_remembered_key_follows_a_topic_that_grew() -> None:
    ours, kafkas = KeyPartitioner(), DefaultPartitioner()
    key = b"0123456789abcdef0123456789abcdef"
    for count in (3, 12, 48):
        partitions = list(range(count))
        assert ours(key, partitions, partitions) == kafkas(key, partitions, partitions)


def test_it_forgets_the_oldest_keys_beyond_its_bound() -> None:
    ours, partitions = KeyPartitioner(remembered=100), list(range(12))
    for number in range(1000):
        ours(str(number).encode(), partitions, partitions)
    assert len(ours._hashes) == 100
    assert b"999" in ours._hashes
    assert b"0" not in ours._hashes


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    ours = KeyPartitioner()
    assert {ours(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
