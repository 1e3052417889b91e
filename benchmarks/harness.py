"""What every benchmark shares: the ``--json`` and ``--profile`` flags, a profiler, and peak memory.

Each script in ``benchmarks/`` runs with this folder on ``sys.path`` (``python benchmarks/x.py``), so

    from harness import add_common_args, emit, peak_rss_mb, profiled

    parser = argparse.ArgumentParser(...)
    add_common_args(parser)            # --json, --profile
    args = parser.parse_args()
    figures = profiled(args, measure)  # cProfile's top functions to stderr under --profile
    emit(figures, args)                # the table, peak_rss_mb, and the JSON line last under --json

- ``--profile`` runs the measured function under :mod:`cProfile` and prints the ``top`` functions
  (25 by default) sorted by cumulative time to stderr, so stdout keeps the table and the JSON
  line as its last line.
- ``peak_rss_mb`` is the larger of the process's own peak resident set and the largest peak of its
  waited-for children (``resource.getrusage`` ``RUSAGE_SELF`` and ``RUSAGE_CHILDREN``;
  ``ru_maxrss`` is in KiB on Linux, bytes on macOS), in MiB. ``RUSAGE_CHILDREN`` reports the
  largest single descendant that has been waited for, not the sum of concurrent ones, so for a
  pool of workers the figure is the biggest process, which is what each core's memory must hold.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from bench_report import print_figures

T = TypeVar("T")

PROFILE_TOP = 25


def add_common_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--json`` (one JSON object of the figures as the last line) and ``--profile`` to ``parser``."""
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures last")
    parser.add_argument(
        "--profile", action="store_true",
        help=f"print where the time goes (cProfile, top {PROFILE_TOP} functions by cumulative time) to stderr",
    )
    return parser


def profiled(args: argparse.Namespace, fn: Callable[..., T], *fn_args: Any, top: int = PROFILE_TOP, **fn_kwargs: Any) -> T:
    """Return ``fn(*fn_args, **fn_kwargs)``; under ``args.profile``, print its profile to stderr.

    The profile lists the ``top`` functions sorted by cumulative time, headed by ``fn``'s name.
    Without ``args.profile`` (or with no such attribute) ``fn`` runs as it is.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    if not getattr(args, "profile", False):
        return fn(*fn_args, **fn_kwargs)
    profiler = cProfile.Profile()
    try:
        return profiler.runcall(fn, *fn_args, **fn_kwargs)
    finally:
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer)
        stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(top)
        name = getattr(fn, "__qualname__", repr(fn))
        print(f"--- profile of {name}: top {top} functions by cumulative time ---", file=sys.stderr)
        print(buffer.getvalue().strip("\n"), file=sys.stderr)
        sys.stderr.flush()


def _maxrss_mb(who: int) -> float:
    kib = resource.getrusage(who).ru_maxrss
    if sys.platform == "darwin":  # bytes there, KiB on Linux
        kib /= 1024
    return kib / 1024


def peak_rss_mb() -> float:
    """Peak resident memory so far in MiB: max of this process and its largest waited-for child.

    Both come from ``resource.getrusage(...).ru_maxrss`` (``RUSAGE_SELF``, ``RUSAGE_CHILDREN``).
    Children still running are not counted until they have been waited for. Linux carries the
    high-water mark across fork and exec, so a process started from a bigger one reports at least
    that one's size at the fork: start measured work from a small parent (``benchmarks/memory.py``
    runs each case in a fresh interpreter started by its small parent).
    """
    return max(_maxrss_mb(resource.RUSAGE_SELF), _maxrss_mb(resource.RUSAGE_CHILDREN))


def emit(
    figures: Mapping[str, float],
    args: argparse.Namespace,
    *,
    digits: int | None = 2,
    json_digits: int = 3,
    goals: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """Print ``figures`` plus ``peak_rss_mb`` as a table, then the JSON line when ``args.json``.

    Returns the figures printed (``peak_rss_mb`` added last, unless ``figures`` has one).
    The other keywords are :func:`bench_report.print_figures`'s.
    """
    out = dict(figures)
    out.setdefault("peak_rss_mb", peak_rss_mb())
    sys.stderr.flush()
    print_figures(out, as_json=getattr(args, "json", False), digits=digits, json_digits=json_digits, goals=goals, extra=extra)
    sys.stdout.flush()
    return out
