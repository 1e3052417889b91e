"""The one progress bar of the package: rich, on stderr, and nothing at all when disabled.

Runs, grids, replays and trainers all show their progress the same way, so they share one
helper instead of each building its own :class:`rich.progress.Progress`. The bar goes to
**stderr**: stdout of ``dilemmazoo run`` carries only run folders, for scripts to read.

Two forms::

    with progress(total=len(runs), title="donor_game (2 workers)", unit="runs") as bar:
        for run in runs:
            bar.describe(f"run {run}")      # the phase, at the right end of the line
            ...
            bar.advance()

    for frame in track(frames, total=n, title="replay episode 0", unit="frames"):
        ...

``disable=True`` (a quiet run, a worker process, a test) gives the same object that does
nothing, so callers never branch on it. A line reads::

    donor_game  ━━━━━━━━━━━━━━━━━━━━━━━━  4/9 runs  0:00:12  left 0:00:15  run 5/9, cell 2/3

It lives in the agents layer because trainers (agents) use it as well as the runner
(experiments, which may import agents).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from contextlib import contextmanager
from typing import TypeVar

__all__ = ["ProgressBar", "progress", "stderr_console", "track"]

T = TypeVar("T")

_CONSOLE = None


def stderr_console():
    """The one :class:`rich.console.Console` on stderr that bars and log lines share: rich prints a
    log line above a live bar only when both go through the same console."""
    global _CONSOLE
    if _CONSOLE is None:
        from rich.console import Console

        _CONSOLE = Console(stderr=True)
    return _CONSOLE


class ProgressBar:
    """A rich progress bar on stderr counting ``total`` ``unit``, or nothing when ``disable``.

    ``title`` heads the line (bold); ``description`` is the phase shown at its end and can be
    changed with :meth:`describe`. ``completed`` is where the count starts (a resumed trainer).
    ``remaining`` shows the time left at the pace so far. A ``total`` of None draws a pulsing bar.
    The bar starts when built and stops at :meth:`close` (or the end of a ``with`` block).
    """

    def __init__(self, total: int | None, title: str = "", *, unit: str = "", description: str = "",
                 completed: int = 0, remaining: bool = True, disable: bool = False):
        if total is not None and total < 0:
            raise ValueError(f"total must be >= 0 (or None when unknown); got {total}")
        self._progress = None
        self._task = None
        if disable:
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        columns = [TextColumn("[bold]{task.fields[title]}"), BarColumn(), MofNCompleteColumn()]
        if unit:
            columns.append(TextColumn(unit))
        columns.append(TimeElapsedColumn())
        if remaining:
            columns += [TextColumn("left"), TimeRemainingColumn()]
        columns.append(TextColumn("{task.description}"))
        self._progress = Progress(*columns, transient=False, console=stderr_console())
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, completed=completed, title=title)

    @property
    def enabled(self) -> bool:
        """Whether a bar is drawn (false when disabled or closed)."""
        return self._progress is not None

    def describe(self, text: str) -> None:
        """Show ``text`` as the current phase."""
        if self._progress is not None:
            self._progress.update(self._task, description=text)

    def advance(self, steps: int = 1, *, description: str | None = None) -> None:
        """Count ``steps`` more done, and show ``description`` as the phase when given."""
        if self._progress is not None:
            if description is None:
                self._progress.advance(self._task, steps)
            else:
                self._progress.update(self._task, advance=steps, description=description)

    def close(self) -> None:
        """Stop drawing (the last line stays on the terminal). Safe to call twice."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def progress(total: int | None, title: str = "", *, unit: str = "", description: str = "", completed: int = 0,
             remaining: bool = True, disable: bool = False) -> Iterator[ProgressBar]:
    """A :class:`ProgressBar` for the ``with`` block, closed at its end (also on an error)."""
    bar = ProgressBar(total, title, unit=unit, description=description, completed=completed,
                      remaining=remaining, disable=disable)
    try:
        yield bar
    finally:
        bar.close()


def track(items: Iterable[T], total: int | None = None, title: str = "", *, unit: str = "",
          remaining: bool = True, disable: bool = False) -> Iterator[T]:
    """Yield ``items``, advancing a bar after each one. ``total`` defaults to ``len(items)``
    where the iterable has a length; the bar closes when the loop ends or is left."""
    if total is None and isinstance(items, Sized):
        total = len(items)
    with progress(total, title, unit=unit, remaining=remaining, disable=disable) as bar:
        for item in items:
            yield item
            bar.advance()
