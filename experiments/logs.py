"""Where the package's log records go: the terminal (``--log-level``) and each run's ``run.log``.

The package logs with stdlib :mod:`logging`, one logger per module (``logging.getLogger(__name__)``,
so names run ``dilemmazoo.<layer>.<module>``), and library code configures no handler. Two
places here decide where records go, and nowhere else:

- :func:`configure_logging` (called by the CLI with ``--log-level``): rich's
  :class:`~rich.logging.RichHandler` on **stderr** for the ``dilemmazoo`` logger, at the level
  asked (``warning`` by default: retries and waits show only with ``info``). stdout stays for run
  folders.
- :func:`run_log`: while one run executes, a file handler writes ``run.log`` in its folder, at
  ``INFO`` and above whatever the terminal shows: the run's start and end, each retry and
  rate-limit wait (attempt n of m, the wait, the error class), each parse/answer fallback, each
  sandbox failure. Workers (local executor, Ray) open it themselves around the runs they
  execute, so every run folder gets one.

Secrets never reach either: every record passes
:func:`~dilemmazoo.agents.backends.redaction.redact_text` when it is made
(:func:`~dilemmazoo.agents.backends.redaction.install_log_redaction`), and ``run.log``'s formatter
redacts the formatted line again (tracebacks included) before it is written.

``run.log`` is a log, not a record: it is appended to (a redone run keeps the earlier attempt's
lines, each execution headed by its start line), is written after the completion marker, and is
not listed in ``complete.json``. Runs in one process execute one after another, so the handler
takes every ``dilemmazoo`` record of the process (backends log from their event-loop threads).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LEVELS", "PACKAGE_LOGGER", "RUN_LOG_FILE", "RUN_LOG_LEVEL", "configure_logging", "run_log", "terminal_level"]

#: the logger every module's logger sits under
PACKAGE_LOGGER = "dilemmazoo"
#: the log file in every run folder
RUN_LOG_FILE = "run.log"
#: what ``run.log`` keeps, whatever the terminal shows
RUN_LOG_LEVEL = logging.INFO
#: the names ``--log-level`` takes
LEVELS = ("debug", "info", "warning", "error", "critical")

_RUN_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def _level(level: str | int) -> int:
    """A logging level from a name in :data:`LEVELS` (any case) or a number."""
    if isinstance(level, int):
        return level
    if level.lower() not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}; got {level!r}")
    return logging.getLevelName(level.upper())


#: the stderr handler :func:`configure_logging` installed, replaced by its next call
_terminal: logging.Handler | None = None


def configure_logging(level: str | int = "warning") -> None:
    """Show the package's records at ``level`` and above on stderr, rendered by rich.

    Idempotent: a second call replaces the handler the first installed (and sets the new
    level); handlers others attached are left alone. Records also pass secret redaction.
    """
    from rich.logging import RichHandler

    from dilemmazoo.agents.backends.redaction import install_log_redaction
    from dilemmazoo.agents.progress import stderr_console

    global _terminal
    number = _level(level)
    install_log_redaction()
    logger = logging.getLogger(PACKAGE_LOGGER)
    if _terminal is not None:
        logger.removeHandler(_terminal)
    _terminal = RichHandler(console=stderr_console(), show_path=False, markup=False, log_time_format="[%X]")
    _terminal.setLevel(number)
    logger.addHandler(_terminal)
    _lower_to(logger, number)


def terminal_level() -> int | None:
    """The level :func:`configure_logging` set for the terminal, or None when it was not called
    (the runner hands it to its worker processes, so their records show on the same stderr)."""
    return None if _terminal is None else _terminal.level


def _lower_to(logger: logging.Logger, number: int) -> int:
    """Let ``logger`` pass records at ``number`` (its handlers still filter); returns the old level."""
    old = logger.level
    if logger.getEffectiveLevel() > number:
        logger.setLevel(number)
    return old


class _RedactingFormatter(logging.Formatter):
    """Formats a record, then removes any secret from the whole line (traceback included)."""

    def format(self, record: logging.LogRecord) -> str:
        from dilemmazoo.agents.backends.redaction import redact_text

        return redact_text(super().format(record))


class _PassOn(logging.Handler):
    """What the loggers above the package logger get while :func:`run_log` has lowered its level:
    only records at the level it had before, as if ``run.log`` were not there.

    The package logger stops propagating for the block and this handler, at the old level, hands
    each record on as :meth:`logging.Logger.callHandlers` would: to the handlers of every logger
    above it (an application's, pytest's), or to :data:`logging.lastResort` (stderr, warnings and
    above) when no logger has a handler. So a ``logging.basicConfig()`` application sees no INFO
    lines appear because a run is writing its log.
    """

    def __init__(self, logger: logging.Logger, level: int, file_handler: logging.Handler):
        super().__init__(level)
        self.logger, self.file_handler = logger, file_handler

    def emit(self, record: logging.LogRecord) -> None:
        found = sum(1 for h in self.logger.handlers if h is not self and h is not self.file_handler)
        current = self.logger.parent
        while current is not None:
            for handler in current.handlers:
                found += 1
                if record.levelno >= handler.level:
                    handler.handle(record)
            current = current.parent if current.propagate else None
        if not found and logging.lastResort is not None and record.levelno >= logging.lastResort.level:
            logging.lastResort.handle(record)


@contextmanager
def run_log(run_dir: str | Path, *, level: int = RUN_LOG_LEVEL) -> Iterator[Path]:
    """Write the package's records at ``level`` and above to ``<run_dir>/run.log`` during the block.

    The file is opened for appending when the first record comes (so a run that logs nothing
    writes no empty file before its folder exists), and closed at the end of the block; yields
    its path. The ``dilemmazoo`` logger's level is lowered to ``level`` for the block if needed
    (the loggers above it still get only what they got before: :class:`_PassOn`), and restored after.
    """
    from dilemmazoo.agents.backends.redaction import install_log_redaction

    install_log_redaction()
    path = Path(run_dir) / RUN_LOG_FILE
    handler = logging.FileHandler(path, mode="a", encoding="utf-8", delay=True)
    handler.setLevel(level)
    handler.setFormatter(_RedactingFormatter(_RUN_LOG_FORMAT))
    logger = logging.getLogger(PACKAGE_LOGGER)
    effective, propagate = logger.getEffectiveLevel(), logger.propagate
    old_level = _lower_to(logger, level)
    pass_on = _PassOn(logger, effective, handler) if propagate and effective > level else None
    logger.addHandler(handler)
    if pass_on is not None:
        logger.addHandler(pass_on)
        logger.propagate = False
    try:
        yield path
    finally:
        logger.removeHandler(handler)
        if pass_on is not None:
            logger.removeHandler(pass_on)
            logger.propagate = propagate
        logger.setLevel(old_level)
        handler.close()
