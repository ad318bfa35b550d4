"""A text report of py-spy's raw output (``py-spy record --threads --format raw``): where one hub worker's time went.

py-spy writes one line per distinct stack, root first, with the number of samples that saw it::

    thread (4242): MainThread;_run_module_as_main (<frozen runpy>:198);...;run (schakel/streams/cli.py:86);Worker.\
execute_from_commandline (mode/worker.py:264);Sender._send_produce_req (aiokafka/producer/sender.py:288);... 17

The first frame is the thread (``thread (TID): NAME``, the OS thread id; ``thread (TID)`` alone when it has no name);
every other frame is ``FUNCTION (FILE:LINE)`` (``FUNCTION (FILE)`` when py-spy knows no line), the file already
relative to its ``sys.path`` entry in most cases. Idle stacks are left out unless py-spy runs with ``--idle``, but a
thread blocked in C code called from Python and woken often can still be caught running: in a test here two thread
pool workers, idle in their queue's ``get`` but woken every few milliseconds, used 0.01 s of CPU in 4 s and were
sampled as running 4% and 7% of the time. The hub's executor threads and mode's ``ServiceThread`` show up so, as the
leaves ``_worker`` and ``ServiceThread._start_thread``.

The report: samples per thread; the functions by own time (the sample's leaf frame) and by inclusive time (a function
anywhere on the stack, counted once per sample however often it recurses); and the main thread's samples split by
what its event loop ran (the first frames under ``Worker.execute_from_commandline``: with uvloop the loop itself is
C, so these are the tasks' coroutines - Faust's agents and services, aiokafka's sender). Line numbers are dropped, so
a function's lines add up; file paths are shortened to the package-relative path. Every share is of all the samples
in the file. Pure: no Kafka, no py-spy needed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EVENT_LOOP_ROOT", "Profile", "Sample", "parse", "render", "short_path", "write_report"]

EVENT_LOOP_ROOT = "Worker.execute_from_commandline"
"""The frame the main thread's event loop runs under (``mode.Worker``): what runs below it is the loop's work."""

_THREAD = re.compile(r"^thread \((?P<tid>[^)]*)\)(?:: (?P<name>.*))?$")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")
_PACKAGE_ROOTS = (re.compile(r"^.*/(?:site|dist)-packages/"), re.compile(r"^.*/lib/python\d+\.\d+/"))
_EDITABLE = re.compile(r"^.*/build/__editable__[^/]*/")


@dataclass(frozen=True)
class Sample:
    """One line of py-spy's raw output: a thread's stack (functions, root first, as ``FUNCTION (FILE)``) and how many
    samples saw it."""

    thread: str
    stack: tuple[str, ...]
    count: int


def short_path(path: str) -> str:
    """A source file's path relative to its package's root (``faust/agents/agent.py``); py-spy shortens most paths
    itself, this catches the absolute ones it leaves (an editable install's build directory, the standard library)."""
    for pattern in (_EDITABLE, *_PACKAGE_ROOTS):
        shortened, replaced = pattern.subn("", path, count=1)
        if replaced:
            return shortened
    return path


def _function(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:  # a frame without a file (py-spy's own markers, a native frame)
        return frame
    return f"{match['function']} ({short_path(match['file'])})"


def _thread(frame: str) -> str:
    match = _THREAD.match(frame)
    if not match:
        return frame
    return f"{match['name'] or 'unnamed'} ({match['tid']})"


def parse(text: str) -> list[Sample]:
    """The samples of py-spy's raw output (``--threads``: every stack starts with its thread)."""
    samples: list[Sample] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            raise ValueError(f"line {number}: not a collapsed stack with a count: {line[:120]!r}")
        frames = stack.split(";")
        samples.append(Sample(_thread(frames[0]), tuple(_function(frame) for frame in frames[1:]), int(count)))
    return samples


@dataclass
class Profile:
    """The samples summed: per thread, per function (own and inclusive) and per event-loop entry (main thread)."""

    total: int
    threads: Counter[str]
    own: Counter[str]
    inclusive: Counter[str]
    main_thread: int
    event_loop: Counter[tuple[str, ...]]
    """The main thread's samples per path of the first ``depth`` frames under :data:`EVENT_LOOP_ROOT`."""
    depth: int

    @classmethod
    def of(cls, samples: list[Sample], depth: int = 3) -> Profile:
        threads: Counter[str] = Counter()
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        event_loop: Counter[tuple[str, ...]] = Counter()
        main_thread = 0
        for sample in samples:
            threads[sample.thread] += sample.count
            if sample.stack:
                own[sample.stack[-1]] += sample.count
            for function in set(sample.stack):  # once per sample, however often it recurses
                inclusive[function] += sample.count
            if sample.thread.startswith("MainThread ("):
                main_thread += sample.count
                event_loop[_under_loop(sample.stack, depth)] += sample.count
        return cls(sum(threads.values()), threads, own, inclusive, main_thread, event_loop, depth)


def _under_loop(stack: tuple[str, ...], depth: int) -> tuple[str, ...]:
    """The first ``depth`` functions under the event loop's root frame (fewer when the stack ends sooner)."""
    for index, function in enumerate(stack):
        if function.startswith(EVENT_LOOP_ROOT + " ("):
            below = stack[index + 1 : index + 1 + depth]
            return below or ("(the event loop itself: no Python frame below it)",)
    return (f"(not under {EVENT_LOOP_ROOT}: start-up, shut-down)",)


def render(
    profile: Profile,
    *,
    title: str,
    rate: int,
    events_per_second: float | None = None,
    seconds: float | None = None,
    own: int = 40,
    inclusive: int = 60,
    smallest: float = 0.005,
) -> str:
    """The report as text (see the module docstring)."""

    def share(count: int) -> str:
        return f"{100 * count / profile.total:5.1f}%" if profile.total else "    -"

    lines = [title, ""]
    header = f"py-spy, {rate} samples/s per thread; {profile.total} samples (idle stacks not sampled)"
    if seconds is not None:
        header += f" in the measured window of {seconds:.1f} s"
    lines.append(header + ".")
    if events_per_second is not None:
        lines.append(
            f"Under the profiler: {events_per_second:,.0f} events/s - not comparable with the unprofiled runs."
        )
    lines.append("Shares are of all the samples above (every thread). A thread blocked in C code called from Python (a")
    lines.append("pool thread's queue wait, a thread's own event loop) can be caught as running: before reading a")
    lines.append("thread's share as CPU, see which frames its samples stopped in.")
    lines += ["", "Samples per thread:"]
    for thread, count in profile.threads.most_common():
        lines.append(f"  {count:7d} {share(count)}  {thread}")
    lines += ["", f"Top {own} functions by own time (the sample's innermost frame):"]
    lines += [f"  {count:7d} {share(count)}  {name}" for name, count in profile.own.most_common(own)]
    lines += ["", f"Top {inclusive} functions by inclusive time (anywhere on the stack, once per sample):"]
    lines += [f"  {count:7d} {share(count)}  {name}" for name, count in profile.inclusive.most_common(inclusive)]
    lines += ["", f"The main thread ({profile.main_thread} samples) by what its event loop ran:"]
    lines.append(
        f"the first {profile.depth} frames under {EVENT_LOOP_ROOT}, a level deeper per indent; a frame's count"
    )
    lines.append(
        f"includes the samples that stopped in it; frames below {smallest:.1%} of all samples summed up per level:"
    )
    lines += _tree(profile.event_loop, share, smallest * profile.total)
    return "\n".join(lines) + "\n"


def _tree(paths: Counter[tuple[str, ...]], share: Callable[[int], str], smallest: float) -> list[str]:
    """The paths as a tree, each level's frames by their samples (the paths through them), the biggest first; frames
    with fewer than ``smallest`` samples summed up per level."""
    totals: Counter[tuple[str, ...]] = Counter()
    for path, count in paths.items():
        for depth in range(1, len(path) + 1):
            totals[path[:depth]] += count
    lines: list[str] = []

    def level(prefix: tuple[str, ...]) -> None:
        indent = "  " * len(prefix)
        children = [path for path in totals if len(path) == len(prefix) + 1 and path[: len(prefix)] == prefix]
        small = [path for path in children if totals[path] < smallest]
        for child in sorted(set(children) - set(small), key=lambda path: (-totals[path], path)):
            lines.append(f"  {totals[child]:7d} {share(totals[child])}  {indent}{child[-1]}")
            level(child)
        if small:
            count = sum(totals[path] for path in small)
            lines.append(f"  {count:7d} {share(count)}  {indent}({len(small)} more, summed)")

    level(())
    return lines


def write_report(
    folded: Path,
    report: Path,
    *,
    title: str,
    rate: int,
    events_per_second: float | None = None,
    seconds: float | None = None,
) -> None:
    """Read py-spy's raw output from ``folded`` and write the text report to ``report``."""
    profile = Profile.of(parse(folded.read_text(encoding="utf-8")))
    text = render(profile, title=title, rate=rate, events_per_second=events_per_second, seconds=seconds)
    report.write_text(text, encoding="utf-8")
