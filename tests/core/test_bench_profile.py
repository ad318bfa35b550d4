"""The bench's py-spy report (``tests/bench/_profile.py``) on a hand-written collapsed-stack text: no Kafka, no py-spy.

Three threads, 25 samples: the main thread (16) - 10 in the consent decision under an agent (two lines of one
function), 5 in a recursive aiokafka helper under the sender, 1 before the event loop ran; a named pump thread (3) in
the same helper, whose path py-spy left absolute; an unnamed thread (6).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench._profile import Profile, Sample, parse, render, short_path, write_report

LOOP = "<module> (schakel/cli.py:10);Worker.execute_from_commandline (mode/worker.py:273)"
AGENT = "Agent._execute_actor (faust/agents/agent.py:600);ingress (schakel/streams/hub.py:40)"
RAW = f"""\
thread (100): MainThread;{LOOP};{AGENT};decide (schakel/consent/policy.py:12) 6
thread (100): MainThread;{LOOP};{AGENT};decide (schakel/consent/policy.py:15) 4
thread (100): MainThread;{LOOP};Sender._sender_routine (aiokafka/producer/sender.py:80);\
walk (/v/lib/python3.11/site-packages/aiokafka/util.py:5);walk (aiokafka/util.py:7);walk (aiokafka/util.py:7) 5
thread (100): MainThread;<module> (schakel/cli.py:10);load_policy (schakel/consent/loading.py:3) 1
thread (200): Thread-2 (pump);Thread._bootstrap (threading.py:1002);walk (aiokafka/util.py:7) 3

thread (300);Thread._bootstrap (threading.py:1002);sleep_a_bit (mode/timers.py:3) 6
"""


@pytest.fixture
def profile() -> Profile:
    return Profile.of(parse(RAW))


def test_a_line_is_its_thread_its_functions_without_line_numbers_and_its_count() -> None:
    samples = parse(RAW)
    assert len(samples) == 6  # the blank line skipped
    assert samples[4] == Sample(
        "Thread-2 (pump) (200)", ("Thread._bootstrap (threading.py)", "walk (aiokafka/util.py)"), 3
    )
    assert samples[5].thread == "unnamed (300)"
    assert samples[2].stack[-3:] == ("walk (aiokafka/util.py)",) * 3  # the absolute path shortened, lines dropped


def test_samples_per_thread(profile: Profile) -> None:
    assert profile.total == 25
    assert profile.threads == {"MainThread (100)": 16, "unnamed (300)": 6, "Thread-2 (pump) (200)": 3}


def test_own_time_is_the_leaf_and_a_functions_lines_add_up(profile: Profile) -> None:
    assert profile.own == {
        "decide (schakel/consent/policy.py)": 10,  # lines 12 and 15
        "walk (aiokafka/util.py)": 8,  # 5 on the main thread, 3 on the pump thread
        "sleep_a_bit (mode/timers.py)": 6,
        "load_policy (schakel/consent/loading.py)": 1,
    }
    assert sum(profile.own.values()) == profile.total


def test_inclusive_time_counts_a_recursive_function_once_per_sample(profile: Profile) -> None:
    assert profile.inclusive["walk (aiokafka/util.py)"] == 8  # not 5 * 3 + 3
    assert profile.inclusive["<module> (schakel/cli.py)"] == 16
    assert profile.inclusive["Worker.execute_from_commandline (mode/worker.py)"] == 15
    assert profile.inclusive["ingress (schakel/streams/hub.py)"] == 10
    assert profile.inclusive["Thread._bootstrap (threading.py)"] == 9


def test_the_main_thread_split_by_what_its_event_loop_ran(profile: Profile) -> None:
    assert profile.main_thread == 16
    assert profile.event_loop == {
        (
            "Agent._execute_actor (faust/agents/agent.py)",
            "ingress (schakel/streams/hub.py)",
            "decide (schakel/consent/policy.py)",
        ): 10,
        (
            "Sender._sender_routine (aiokafka/producer/sender.py)",
            "walk (aiokafka/util.py)",
            "walk (aiokafka/util.py)",
        ): 5,
        ("(not under Worker.execute_from_commandline: start-up, shut-down)",): 1,
    }


def test_the_report_gives_counts_and_shares_of_all_samples(profile: Profile, tmp_path: Path) -> None:
    folded = tmp_path / "hub.folded"
    folded.write_text(RAW)
    report = tmp_path / "hub-profile.txt"
    write_report(folded, report, title="One hub worker", rate=100, events_per_second=1234.4, seconds=12.5)
    text = report.read_text()
    assert text == render(profile, title="One hub worker", rate=100, events_per_second=1234.4, seconds=12.5)
    lines = text.splitlines()
    assert lines[0] == "One hub worker"
    assert lines[2].startswith("py-spy, 100 samples/s per thread; 25 samples")
    assert lines[2].endswith("in the measured window of 12.5 s.")
    assert lines[3] == "Under the profiler: 1,234 events/s - not comparable with the unprofiled runs."
    assert "       16  64.0%  MainThread (100)" in lines
    assert "        3  12.0%  Thread-2 (pump) (200)" in lines
    own = lines.index("Top 40 functions by own time (the sample's innermost frame):")
    assert lines[own + 1] == "       10  40.0%  decide (schakel/consent/policy.py)"
    assert lines[own + 2] == "        8  32.0%  walk (aiokafka/util.py)"
    inclusive = lines.index("Top 60 functions by inclusive time (anywhere on the stack, once per sample):")
    assert lines[inclusive + 1] == "       16  64.0%  <module> (schakel/cli.py)"
    split = lines.index("The main thread (16 samples) by what its event loop ran:")
    assert lines[split + 3 :] == [
        "       10  40.0%  Agent._execute_actor (faust/agents/agent.py)",
        "       10  40.0%    ingress (schakel/streams/hub.py)",
        "       10  40.0%      decide (schakel/consent/policy.py)",
        "        5  20.0%  Sender._sender_routine (aiokafka/producer/sender.py)",
        "        5  20.0%    walk (aiokafka/util.py)",
        "        5  20.0%      walk (aiokafka/util.py)",
        "        1   4.0%  (not under Worker.execute_from_commandline: start-up, shut-down)",
    ]


def test_the_event_loops_small_frames_are_summed_up_per_level(profile: Profile) -> None:
    lines = render(profile, title="t", rate=100, smallest=0.1).splitlines()  # 0.1: below 2.5 samples
    assert lines[-1] == "        1   4.0%  (1 more, summed)"


def test_paths_are_shortened_to_the_package() -> None:
    assert short_path("/w/.venv/lib/python3.11/site-packages/faust/agents/agent.py") == "faust/agents/agent.py"
    assert short_path("/usr/lib/python3.11/asyncio/events.py") == "asyncio/events.py"
    assert short_path("/w/build/__editable__.schakel-0.1.0-py3-none-any/schakel/streams/hub.py") == (
        "schakel/streams/hub.py"
    )
    assert short_path("schakel/streams/hub.py") == "schakel/streams/hub.py"


def test_a_line_without_a_count_is_refused() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse("thread (1): MainThread;f (a.py:1) 3\nthread (1): MainThread;f (a.py:1)\n")
