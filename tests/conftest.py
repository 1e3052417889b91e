"""Shared pytest fixtures. Keep this file small; fixtures used by one test file live there."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def embedded_backend():
    """The embedded SmolLM2 backend, loaded once per test session (~15 s on CPU)."""
    from dilemmazoo.agents.backends import make_backend

    return make_backend("embedded")
