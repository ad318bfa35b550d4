"""How every command prints: tables for people, tab-separated rows for pipes, JSON lines on request, and progress.

One helper, so that every command behaves the same way:

- :func:`print_rows` prints a table. On a terminal it is a rich table; when standard output is not a terminal it
  prints plain tab-separated rows (a header line, then one line per row): no box drawing, no truncation, no
  wrapping, so ``| grep``, ``| cut -f2`` and ``| sort`` work. With ``as_json`` it prints one JSON object per row
  (JSON lines), whatever standard output is.
- :func:`progress` shows a rich progress bar on a terminal (standard error) and nothing at all on a pipe.

Judgement calls: the tab-separated form keeps its header line (a script that wants no header uses ``--json``, and
``tail -n +2`` drops it); a tab or newline inside a cell becomes a space so that one row stays one line; lists
are joined with ", " in a table and stay lists in JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Protocol

from rich import box
from rich.console import Console
from rich.table import Table

__all__ = ["Advance", "is_terminal", "print_rows", "progress"]


def is_terminal(stream: IO[str] | None = None) -> bool:
    """True when ``stream`` (standard output by default) is an interactive terminal."""
    target = sys.stdout if stream is None else stream
    isatty = getattr(target, "isatty", None)
    return bool(isatty and isatty())


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(_cell(item) for item in value)
    return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def print_rows(
    columns: Sequence[str],
    rows: Iterable[Mapping[str, object]],
    *,
    as_json: bool = False,
    title: str | None = None,
    stream: IO[str] | None = None,
    compact: bool = False,
    no_wrap: Collection[str] = (),
) -> int:
    """Print ``rows`` (each a mapping with at least ``columns``) and return how many were printed.

    For the terminal table only: ``compact`` draws a rule under the header, no borders and one space between columns
    (room for the values in 80 columns); the ``no_wrap`` columns are never wrapped (short ids, dates), so the others
    wrap instead, at spaces."""
    target = sys.stdout if stream is None else stream
    count = 0
    if as_json:
        for row in rows:
            target.write(json.dumps(dict(row), ensure_ascii=False, default=str) + "\n")
            count += 1
        target.flush()
        return count
    if is_terminal(target):
        table = Table(*columns, title=title, title_justify="left")
        if compact:
            table.box, table.padding, table.show_edge, table.pad_edge = box.SIMPLE_HEAD, (0, 0), False, False
        for column in table.columns:
            column.overflow = "fold"
            column.no_wrap = str(column.header) in no_wrap
        for row in rows:
            table.add_row(*(_cell(row.get(column)) for column in columns))
            count += 1
        Console(file=target, highlight=False).print(table)
        return count
    target.write("\t".join(columns) + "\n")
    for row in rows:
        target.write("\t".join(_cell(row.get(column)) for column in columns) + "\n")
        count += 1
    target.flush()
    return count


class Advance(Protocol):
    """Called with how much work was done since the last call (and, optionally, a new total)."""

    def __call__(self, done: int, total: int | None = None) -> None: ...


def _nothing(done: int, total: int | None = None) -> None:
    del done, total  # on a pipe, progress costs nothing and prints nothing


@contextmanager
def progress(description: str, total: int | None = None, *, stream: IO[str] | None = None) -> Iterator[Advance]:
    """A progress bar on standard error when it is a terminal; on a pipe, nothing (and no cost)."""
    target = sys.stderr if stream is None else stream
    if not is_terminal(target):
        yield _nothing
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=target),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)

        def advance(done: int, total: int | None = None) -> None:
            if total is not None:
                bar.update(task, total=total)
            bar.advance(task, done)

        yield advance
