"""Census personas through the runner: ``personas: census`` gives each LLM seat its own persona."""

import json

import pandas as pd

from dilemmazoo.agents.personas import census_cells
from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.runner import execute

PERSONAS = ["I am Ana, a nurse who works night shifts.", "I am Ben, a welder saving for a house."]


def _config(tmp_path, personas="census"):
    script = tmp_path / "answers.txt"
    # the persona call comes first (one answer per seat, in seat order), then the hours answers
    script.write_text("\n---\n".join(PERSONAS + ["Answer: 40"] * 6))
    return validate({
        "name": "personas",
        "world": {"id": "tax-world", "kwargs": {"n_workers": 2, "n_steps": 2, "tax_year": 2, "planner": "flat:30",
                                                 "skills": [10.0, 20.0]}},
        "agents": {"kind": "llm", "backend": f"scripted:{script}", "decision": "generate", "personas": personas,
                   "persona": "You live in a small town."},
    })


def test_each_seat_gets_its_own_census_persona_after_the_shared_one(tmp_path):
    result = execute(_config(tmp_path), tmp_path / "runs", progress=False)
    calls = pd.read_parquet(result.run_dir / "llm_calls.parquet")
    acts = calls[calls["purpose"] != "persona"]
    prompts = {agent: group["prompt"].iloc[0] for agent, group in acts.groupby("agent")}
    assert set(prompts) == {"worker_0", "worker_1"}
    for agent, persona in zip(["worker_0", "worker_1"], PERSONAS):
        prompt = prompts[agent]
        assert persona in prompt
        assert prompt.index("You live in a small town.") < prompt.index(persona)  # shared preamble first
    assert PERSONAS[1] not in prompts["worker_0"]
    written = calls[calls["purpose"] == "persona"]  # the persona calls are records too, before the first step
    assert list(written["agent"]) == ["worker_0", "worker_1"] and list(written["step"]) == [0, 0]
    assert list(written["text"]) == PERSONAS and (written["error"] == "").all()
    steps = pd.read_parquet(result.run_dir / "steps.parquet")
    assert steps.loc[steps["decided"], "parse_failures"].sum() == 0  # the persona answers were not taken as moves

    agents = json.loads((result.run_dir / "summary.json").read_text())["provenance"]["agents"]
    cells = agents[0]["personas"]
    described = {cell.describe() for cell in census_cells()}
    assert set(cells) == {"worker_0", "worker_1"} and set(cells.values()) <= described
    assert agents[0]["persona_fallbacks"] == 0


def test_census_personas_are_seeded_and_absent_by_default(tmp_path):
    first = execute(_config(tmp_path), tmp_path / "a", progress=False)
    second = execute(_config(tmp_path), tmp_path / "b", progress=False)
    summary = [json.loads((r.run_dir / "summary.json").read_text()) for r in (first, second)]
    assert summary[0]["provenance"]["agents"][0]["personas"] == summary[1]["provenance"]["agents"][0]["personas"]

    plain = execute(_config(tmp_path, personas="none"), tmp_path / "c", progress=False)
    agents = json.loads((plain.run_dir / "summary.json").read_text())["provenance"]["agents"]
    assert "personas" not in agents[0]
    prompt = pd.read_parquet(plain.run_dir / "llm_calls.parquet")["prompt"].iloc[0]
    assert not any(p in prompt for p in PERSONAS)
