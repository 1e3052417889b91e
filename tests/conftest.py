"""Shared pytest fixtures. Keep this file small; fixtures used by one test file live there."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(scope="session")
def embedded_backend():
    """The embedded SmolLM2 backend, loaded once per test session (~15 s on CPU)."""
    from dilemmazoo.agents.backends import make_backend

    return make_backend("embedded")


@pytest.fixture(autouse=True)
def close_open_figures():
    """Plots are pyplot figures: close what a test left open (matplotlib warns past 20)."""
    yield
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
