"""Real-browser helpers for the dashboard and classroom tests: headless Debian Chromium driven by
Playwright (pointed at the installed binary; nothing is downloaded), and a served page on loopback.

Tests that need a browser take the ``browser`` fixture (re-exported by the test module); it skips
with the reason when Chromium or Playwright is missing. ``make test`` installs Chromium as root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    """The Chromium binary: ``$DILEMMAZOO_CHROMIUM``, else the first of :data:`CHROMIUM_NAMES` on PATH."""
    named = os.environ.get("DILEMMAZOO_CHROMIUM")
    if named:
        return named if Path(named).exists() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium (Playwright), shared by a test module; skips with the reason when absent."""
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium installed (Debian: apt-get install -y chromium chromium-driver; `make test` does "
                    "this as root); browser tests skipped")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]'); browser tests skipped")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, headless=True,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield chromium
        finally:
            chromium.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served(command: list[str], url: str, *, timeout: float = 120.0, env: dict | None = None,
           log: Path | None = None) -> Iterator[subprocess.Popen]:
    """Start ``command`` (a server), wait until ``url`` answers, yield the process, then stop it.

    The server's output goes to ``log`` (shown in the failure message when it never answers).
    """
    log = log or Path(os.devnull)
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                text = log.read_text(errors="replace")[-3000:] if log.exists() and log != Path(os.devnull) else ""
                raise AssertionError(f"server {command} exited with {process.returncode} before answering:\n{text}")
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    text = log.read_text(errors="replace")[-3000:] if log.exists() and log != Path(os.devnull) else ""
                    raise AssertionError(f"server {command} did not answer {url} in {timeout:.0f} s:\n{text}") from None
                time.sleep(0.25)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cli(*args: str) -> list[str]:
    """The ``dilemmazoo`` command line run by this test session's Python."""
    return [sys.executable, "-m", "dilemmazoo.experiments.cli", *args]
