"""Whole runs on the embedded model: real LLM answers, counted failures, exact reproducibility."""

import pandas as pd
import pytest

from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.runner import execute

pytestmark = pytest.mark.slow


def tiny(decision, cache, **agents):
    return validate({
        "name": f"tiny_{decision}",
        "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 3}},
        "agents": {"kind": "llm", "backend": "embedded", "decision": decision, "max_tokens": 48,
                   "score_grid": [0, 0.5, 1], **agents},
        "population": {"dynamics": "cultural_evolution", "generations": 2},
        "cache": cache,
    })


@pytest.mark.parametrize("decision", ["score", "generate"])
def test_embedded_run_is_reproducible_without_cache(decision, tmp_path, embedded_backend):
    config = tiny(decision, cache=False)
    first = execute(config, tmp_path / "a", progress=False)
    second = execute(config, tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(first.steps, second.steps)
    pd.testing.assert_frame_equal(first.population, second.population)
    donors = first.steps[first.steps["decided"]]
    assert len(donors) == 2 * 3 * 2
    counts = first.summary["counts"]
    # Every decision either parsed or fell back; nothing else.
    assert counts["fallbacks"] == int(donors["fallback_used"].sum())
    assert set(donors.loc[donors["fallback_used"], "move"]) <= {"abstain"}
    assert set(donors.loc[~donors["fallback_used"], "move"]) <= {"donate"}
    calls = first.llm_calls
    assert (calls["purpose"] == "strategy").sum() == 4 + 2
    assert calls.loc[calls["purpose"] == "strategy", "text"].str.len().gt(0).all()


def test_embedded_rerun_is_served_by_the_cache(tmp_path, embedded_backend):
    config = tiny("generate", cache=True)
    first = execute(config, tmp_path, progress=False)
    (first.run_dir / "summary.json").unlink()
    second = execute(config, tmp_path, progress=False)
    assert second.summary["counts"]["cache_hits"] == len(second.llm_calls) > 0
    pd.testing.assert_frame_equal(first.steps, second.steps)
