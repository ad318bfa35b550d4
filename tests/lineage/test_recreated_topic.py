"""A recreated lineage topic is not a replay: new records at old offsets start a new chain segment, never vanish."""

from __future__ import annotations

from schakel.lineage import LineagePosition, LineageStore
from tests.lineage.factory import decision, receipt

TOPIC = "schakel.lineage"


def test_new_records_at_offsets_already_chained_start_a_new_segment(store: LineageStore) -> None:
    old = [(decision(recipient="om"), LineagePosition(TOPIC, 0, offset)) for offset in range(3)]
    assert store.append(old).appended == 3
    # The topic is deleted and created again: its offsets start over with new records.
    new = [(decision(recipient="om"), LineagePosition(TOPIC, 0, offset)) for offset in range(2)]
    result = store.append(new)
    assert (result.appended, result.duplicates, result.segments) == (2, 0, (f"{TOPIC}#0/1",))
    for record, _ in new:
        assert store.trace(record.event_id).found
    assert store.verify().ok
    heads = store.heads()
    assert (heads[f"{TOPIC}#0"].next_seq, heads[f"{TOPIC}#0/1"].next_seq) == (3, 2)
    # A replay of the recreated topic changes nothing; its next record goes on in the new segment.
    assert store.append(new).duplicates == 2
    assert store.append([*new[1:], (decision(recipient="om"), LineagePosition(TOPIC, 0, 2))]).segments == ()
    assert store.heads()[f"{TOPIC}#0/1"].next_seq == 3
    assert store.verify().ok


def test_a_replay_is_still_a_replay(store: LineageStore) -> None:
    made = decision()
    first = [(made, LineagePosition(TOPIC, 0, 0)), (receipt(made), LineagePosition(TOPIC, 0, 1))]
    # The hub re-emitted the decision at offset 2: a duplicate by record id, not chained.
    first.append((made, LineagePosition(TOPIC, 0, 2)))
    assert store.append(first)[:3] == (2, 1, 0)
    heads = store.heads()
    assert heads[f"{TOPIC}#0"].last_offset == 1  # the offset of the last chained record, nothing else
    replay = store.append(first)
    assert (replay.appended, replay.duplicates, replay.segments) == (0, 3, ())
    assert store.heads() == heads


def test_a_duplicate_at_a_recreated_offset_still_opens_the_segment_for_the_new_records(store: LineageStore) -> None:
    made = decision()
    assert store.append([(decision(), LineagePosition(TOPIC, 0, o)) for o in range(4)]).appended == 4
    store.append([(made, None)])  # stored elsewhere (the local chain)
    again = store.append([(made, LineagePosition(TOPIC, 0, 0)), (decision(), LineagePosition(TOPIC, 0, 1))])
    assert (again.appended, again.duplicates, again.segments) == (1, 1, (f"{TOPIC}#0/1",))
    assert store.verify().ok
