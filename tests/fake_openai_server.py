"""The loopback OpenAI-compatible server, re-exported for tests and benchmarks, with its fixture.

The server lives in the package (:mod:`dilemmazoo.agents.backends.loopback`, which the
conformance kit ``dilemmazoo check-backend`` uses too); test modules and benchmarks keep
importing it from here: ``from fake_openai_server import FakeOpenAIServer``.
"""

from __future__ import annotations

from dilemmazoo.agents.backends.loopback import MODES, Behaviour, FakeOpenAIServer, RecordedRequest

__all__ = ["MODES", "Behaviour", "FakeOpenAIServer", "RecordedRequest", "fake_openai_server"]

try:  # the fixture, for test modules that import it; benchmarks need no pytest
    import pytest
except ImportError:  # pragma: no cover
    pass
else:
    @pytest.fixture
    def fake_openai_server():
        """A running :class:`FakeOpenAIServer`, stopped when the test ends."""
        with FakeOpenAIServer(lifetime_s=120.0) as server:
            yield server
