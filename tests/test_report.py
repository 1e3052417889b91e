"""write_report on run directories built by hand, file by file, as the record contract says."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dilemmazoo.analysis import find_runs, load_run, write_report
from dilemmazoo.analysis.report import format_number

DONOR_GAME = "dilemmazoo/donor-game-v0"
PNG_IMG = '<img src="data:image/png;base64,'
#      round 1: A -> B, C -> D; round 2: B -> A, D -> C
PAIRS = {1: {"A": "B", "C": "D"}, 2: {"B": "A", "D": "C"}}
EVIL_STRATEGY = "My strategy will be <script>alert('x')</script> & share."


def donor_steps(fractions: dict[int, float]) -> pd.DataFrame:
    """4 agents, 1 game per generation, 2 rounds, every donor gives ``fractions[generation]``
    of its resources with multiplier 2, from an endowment of 10."""
    rows = []
    for episode, (generation, fraction) in enumerate(sorted(fractions.items())):
        resources = dict.fromkeys("ABCD", 10.0)
        for round_, pairs in PAIRS.items():
            given = {donor: fraction * resources[donor] for donor in pairs}
            for donor, recipient in pairs.items():
                resources[donor] -= given[donor]
                resources[recipient] += 2 * given[donor]
            for agent in "ABCD":
                donor = agent in pairs
                recipient = agent in pairs.values()
                rows.append({
                    "episode": episode, "generation": generation, "game": 1, "step": round_, "agent": f"player_{agent}",
                    "name": f"{generation}_{agent}", "decided": donor,
                    "action": json.dumps({"amount": given[agent]}) if donor else "",
                    "reward": 0.0, "utility": 0.0, "parse_failures": 0, "fallback_used": False,
                    "role": "donor" if donor else "recipient" if recipient else "idle",
                    "partner": pairs.get(agent, ""), "move": "donate" if donor else "",
                    "amount": given.get(agent, 0.0), "fraction": fraction if donor else math.nan,
                    "resources": resources[agent], "round": round_,
                })
    return pd.DataFrame(rows)


def write_run(run_dir: Path, *, run_id: str, seed: int, fractions: dict[int, float], world: str = DONOR_GAME) -> Path:
    run_dir.mkdir(parents=True)
    steps = donor_steps(fractions)
    steps.to_parquet(run_dir / "steps.parquet")
    final = steps.sort_values("step").groupby(["generation", "game", "agent"]).tail(1)
    episodes = final[["episode", "generation", "game", "agent", "name", "resources"]].assign(
        **{"return": final["resources"] - 10.0, "utility_return": final["resources"] - 10.0, "steps": 2}
    )
    episodes.to_parquet(run_dir / "episodes.parquet")
    last = max(fractions)
    pd.DataFrame({
        "generation": [last, last], "name": [f"{last}_A", f"{last}_B"],
        "strategy": [EVIL_STRATEGY, "My strategy will be to give half."],
        "params": ["{}", "{}"], "parents": ["", "1_A,1_C"], "score": [25.0, 10.0], "survived": [True, False],
    }).to_parquet(run_dir / "population.parquet")
    pd.DataFrame({
        "episode": [0, 0, -1], "generation": [1, 1, 1], "step": [1, 1, 0], "agent": ["player_A", "player_C", "2_A"],
        "purpose": ["act", "act", "strategy"], "prompt_hash": ["h1", "h2", "h3"],
        "prompt_tokens": [300, 310, 500], "completion_tokens": [40, 42, 60], "latency_s": [0.5, 0.0, 1.5],
        "cached": [False, True, False], "cost_usd": [0.0, 0.0, 0.0], "text": ["Answer: 5", "Answer: 2", "My strategy"],
        "error": ["", "", ""],
    }).to_parquet(run_dir / "llm_calls.parquet")
    config = {"experiment": "donor_smoke", "world": {"id": world, "kwargs": {"donation_multiplier": 2.0, "rounds": 2}}, "seed": seed}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    summary = {
        "experiment": "donor_smoke", "run_id": run_id, "world": world, "seed": seed, "status": "complete",
        "episodes": len(fractions), "generations": len(fractions), "wall_time_s": 3.25,
        "counts": {"steps": len(steps)}, "metrics": {"recorded_metric": 7.5},
    }
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def test_report_of_one_run(tmp_path):
    # gen 1 gives half:   A 5, B 20, C 5, D 20 -> B gives 10, D gives 10 -> 25, 10, 25, 10: mean 17.5
    # gen 2 gives all:    A 0, B 30, C 0, D 30 -> B gives 30, D gives 30 -> 60, 0, 60, 0:   mean 30
    run = write_run(tmp_path / "runs" / "donor_smoke" / "abc123", run_id="abc123", seed=1, fractions={1: 0.5, 2: 1.0})
    path = write_report(run)
    assert path == run / "report.html"
    html = path.read_text(encoding="utf-8")
    # two Donor Game plots + parse failures/fallbacks: punishment is off (the world's default) and unused
    assert html.count(PNG_IMG) == 3
    assert "Punishment use" not in html
    assert '<td class="num">30</td>' in html  # final_generation_avg_resources
    assert '<td class="num">17.5</td>' in html  # generation 1 of avg_final_resources
    # the by-generation tables give each generation's decisions (2 donors x 2 rounds) and fallbacks
    by_generation = html.split("<h3>avg_final_resources by generation</h3>")[1].split("</table>")[0]
    assert '<td class="num">17.5</td><td class="num">4</td><td class="num">0</td>' in by_generation
    assert '<td class="num">0.5</td>' in html  # initial cooperation
    assert "abc123" in html and "donor_smoke" in html
    assert "world.kwargs.donation_multiplier=2.0" in html  # key config values
    assert '<td class="num">3.25</td>' in html  # wall time
    assert '<td class="num">1,110</td>' in html  # prompt tokens
    assert '<td class="num">0.3333</td>' in html  # cache hit rate
    # strategy texts are escaped, never markup
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; share." in html


def test_report_of_an_experiment_with_two_runs(tmp_path):
    experiment = tmp_path / "donor_smoke"
    write_run(experiment / "run-a", run_id="run-a", seed=1, fractions={1: 0.5, 2: 1.0})
    write_run(experiment / "run-b", run_id="run-b", seed=2, fractions={1: 0.0, 2: 0.5})
    (experiment / "unfinished").mkdir()  # no summary.json: not a run yet
    assert find_runs(experiment) == [experiment / "run-a", experiment / "run-b"]

    out = tmp_path / "out" / "grid.html"
    assert write_report(experiment, out=out) == out
    html = out.read_text(encoding="utf-8")
    assert html.count(PNG_IMG) == 3
    assert "run-a" in html and "run-b" in html and "seed 1" in html and "seed 2" in html
    # run-b: gen 1 gives nothing -> 10 each; gen 2 gives half -> 17.5; means over runs 13.75 and 23.75
    assert '<td class="num">13.75</td>' in html and '<td class="num">23.75</td>' in html
    assert "Across runs" in html
    assert "seed=1" not in html  # the seed is its own column, not a grid axis

    assert write_report(experiment) == experiment / "report.html"


def test_unknown_world_and_missing_files_get_the_generic_sections(tmp_path):
    run = write_run(tmp_path / "r", run_id="r1", seed=3, fractions={1: 0.5}, world="dilemmazoo/elsewhere-v0")
    (run / "llm_calls.parquet").unlink()
    (run / "population.parquet").unlink()
    records = load_run(run)
    assert records.llm_calls.empty and records.population.empty and records.world == "dilemmazoo/elsewhere-v0"
    html = write_report(run).read_text(encoding="utf-8")
    assert PNG_IMG in html  # parse failures and fallbacks
    assert "recorded_metric" in html and '<td class="num">7.5</td>' in html  # summary.json metrics
    assert "no world-specific analysis registered" in html
    assert "no population records" in html


def test_report_of_a_run_without_steps_falls_back_to_summary_metrics(tmp_path):
    run = write_run(tmp_path / "r", run_id="r2", seed=4, fractions={1: 0.5})
    pd.DataFrame().to_parquet(run / "steps.parquet")
    html = write_report(run).read_text(encoding="utf-8")
    assert "recorded_metric" in html
    assert html.count(PNG_IMG) == 3


def test_no_runs_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="summary.json"):
        write_report(tmp_path)
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "absent")


@pytest.mark.parametrize(
    ("value", "text"),
    [(30720.0, "30,720"), (30720.5, "30,720.5"), (12.25, "12.25"), (0.95 / 3, "0.3167"), (None, "–"), (math.nan, "–"), (3, "3"), (True, "yes"), (False, "no")],
)
def test_format_number(value, text):
    assert format_number(value) == text


# --- commons worlds and grid cells ------------------------------------------------------------

CPR = "dilemmazoo/cpr-v0"
GOVSIM = "dilemmazoo/commons-v0"
STEP_DEFAULTS = {"generation": 1, "game": 1, "name": "", "policy": "scripted", "decided": True, "action": "",
                 "reward": 0.0, "utility": 0.0, "parse_failures": 0, "fallback_used": False}


def cpr_steps(efforts: list[float], regrowth: float, *, n_rounds: int = 4, norm: float = -1.0) -> pd.DataFrame:
    """One CPR episode with a toy rule: agent i harvests 20 * e_i each round, the stock then
    regrows by ``regrowth`` up to 100, and collapses when the stock left is below 20."""
    rows, stock = [], 100.0
    for round_ in range(1, n_rounds + 1):
        harvests = [20.0 * effort for effort in efforts]
        left = stock - sum(harvests)
        collapsed = left < 20.0
        after = left if collapsed else min(100.0, left + regrowth)
        for index, (effort, harvest) in enumerate(zip(efforts, harvests)):
            rows.append({
                **STEP_DEFAULTS, "episode": 0, "step": round_, "agent": f"player_{index}",
                "round": round_, "phase": "harvest", "round_end": True, "stock_before": stock, "stock": after,
                "effort": effort, "harvest": harvest, "group_norm": norm, "over_norm": bool(norm >= 0 and harvest > norm),
                "inspected": False, "sanctioned": False, "fine_paid": 0.0, "punish_cost_paid": 0.0, "punishments_made": 0,
                "proposal": -1.0, "vote": -1, "elected_norm": -1.0, "wealth": 0.0, "collapsed": collapsed,
                "consumption": 1.0, "max_sustainable_yield": 10.0, "collapse_threshold": 20.0,
            })
        if collapsed:
            break
        stock = after
    return pd.DataFrame(rows)


def write_commons_run(run_dir: Path, *, world: str, seed: int, steps: pd.DataFrame, kwargs: dict, prior: str,
                      experiment: str = "cpr_grid") -> Path:
    """A run directory as experiments/store.py writes it: the resolved single-seed config."""
    run_dir.mkdir(parents=True)
    steps.to_parquet(run_dir / "steps.parquet", index=False)
    config = {
        "name": experiment, "description": f"seed {seed} of the grid", "world": {"id": world, "kwargs": kwargs},
        "agents": {"kind": "scripted", "strategy": "fixed_effort", "params": {"prior": prior}},
        "population": None, "episodes_per_generation": 1, "seeds": [seed], "grid": {}, "cache": True, "workers": 4,
    }
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    summary = {"experiment": experiment, "run_id": run_dir.name, "world": world, "seed": seed, "status": "complete",
               "episodes": 1, "generations": 1, "wall_time_s": 0.5, "counts": {}, "metrics": {}}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


CPR_EFFORTS = {  # (prior, seed) -> efforts of the two agents
    ("altruistic", 0): [0.25, 0.25], ("altruistic", 1): [0.25, 0.25],
    ("selfish", 0): [1.0, 0.8], ("selfish", 1): [1.0, 1.0],
}


def write_cpr_grid(root: Path) -> Path:
    """A 2 x 2 grid (growth_rate x prior) with seeds 0 and 1, 8 runs in hash-named folders.

    growth 0.2 (regrowth 10): altruistic takes 10 a round and holds the stock at 100; selfish
    takes 36 (seed 0: 100 -> 74 -> 48 -> 12, collapse in round 3) or 40 (100 -> 70 -> 40 ->
    0, round 3). growth 0.6 (regrowth 30): everyone lasts the 4 rounds.
    """
    experiment = root / "cpr_grid"
    index = 0
    for growth_rate, regrowth in ((0.6, 30.0), (0.2, 10.0)):
        for prior in ("selfish", "altruistic"):
            for seed in (0, 1):
                index += 1
                steps = cpr_steps(CPR_EFFORTS[prior, seed], regrowth, norm=5.0 if prior == "altruistic" else -1.0)
                write_commons_run(
                    experiment / f"{index:02d}f{seed}", world=CPR, seed=seed, steps=steps, prior=prior,
                    kwargs={"n_agents": 2, "n_rounds": 4, "growth_rate": growth_rate},
                )
    return experiment


def test_grid_cells_group_runs_that_differ_only_in_the_seed():
    from dilemmazoo.analysis.report import grid_cells

    def config(growth, prior, seed, workers=1):
        return {"name": "g", "description": str(seed), "world": {"id": CPR, "kwargs": {"growth_rate": growth, "voting": True}},
                "agents": {"params": {"prior": prior, "seed": seed}}, "seeds": [seed], "workers": workers}

    configs = [config(0.6, "selfish", 0), config(0.2, "selfish", 0), config(0.6, "selfish", 1, workers=8),
               config(0.2, "altruistic", 2), config(0.2, "selfish", 3)]
    cells = grid_cells(configs)
    assert [cell.label for cell in cells] == [
        "world.kwargs.growth_rate=0.2, agents.params.prior=altruistic",
        "world.kwargs.growth_rate=0.2, agents.params.prior=selfish",
        "world.kwargs.growth_rate=0.6, agents.params.prior=selfish",
    ]
    assert [cell.members for cell in cells] == [(3,), (1, 4), (0, 2)]
    assert cells[1].values == {"world.kwargs.growth_rate": "0.2", "agents.params.prior": "selfish"}
    assert [cell.label for cell in grid_cells([config(0.2, "selfish", 0), config(0.2, "selfish", 1)])] == ["all runs"]
    # a key only some runs have tells cells apart too
    odd = config(0.2, "selfish", 5)
    odd["world"]["kwargs"]["extra"] = 1
    assert [cell.label for cell in grid_cells([config(0.2, "selfish", 0), odd])] == [
        "world.kwargs.extra=1", "world.kwargs.extra=–",  # numbers first
    ]


def cell_row(html: str, number: int, section: int = 1) -> str:
    """The row of grid cell ``number`` in the opening cell comparison table."""
    table = html.split(f'<h2 id="grid-{section}">')[1].split("</table>")[0]
    return table.split(f'href="#world-{section}-cell-{number}"')[1].split("</tr>")[0]


def test_report_of_a_cpr_grid_has_a_section_per_cell(tmp_path):
    experiment = write_cpr_grid(tmp_path)
    html = write_report(experiment).read_text(encoding="utf-8")
    labels = [
        "world.kwargs.growth_rate=0.2, agents.params.prior=altruistic",
        "world.kwargs.growth_rate=0.2, agents.params.prior=selfish",
        "world.kwargs.growth_rate=0.6, agents.params.prior=altruistic",
        "world.kwargs.growth_rate=0.6, agents.params.prior=selfish",
    ]
    # the page opens with the cell comparison, before the runs table
    assert html.index('<h2 id="grid-1">Grid cells</h2>') < html.index('<h2 id="runs">')
    positions = [html.index(f'<h3 id="world-1-cell-{number}" class="cell">{label}') for number, label in enumerate(labels, start=1)]
    assert positions == sorted(positions)
    for label in labels:  # stock and norm plots of every cell
        assert f'alt="{label}: Stock over time"' in html
        assert f'alt="{label}: Norms over time"' in html
    # one band plot over the cells (stock by round), then per cell its 2 plots + parse failures
    assert html.count(PNG_IMG) == 1 + 4 * 3
    assert 'alt="Stock after each round"' in html and "95% t-interval" in html
    # survival time per cell: 0.2/selfish collapses in round 3 for both seeds, the others last 4
    selfish_row = cell_row(html, 2)
    assert "<td>0, 1</td>" in selfish_row  # its seeds, in order
    assert '<td class="num">3 <span class="ci">[3, 3]</span></td>' in selfish_row  # survival_time
    assert '<td class="num">0 <span class="ci">[0, 0]</span></td>' in selfish_row  # survival_rate
    altruistic_row = cell_row(html, 1)
    assert '<td class="num">4 <span class="ci">[4, 4]</span></td>' in altruistic_row
    assert '<td class="num">1 <span class="ci">[1, 1]</span></td>' in altruistic_row
    # norm similarity of 0.2/selfish: seed 0 1 - 0.2 = 0.8, seed 1 1.0 -> mean 0.9, s 0.1414;
    # t(0.975, 1) = 12.706, half width 12.706 * 0.1414 / sqrt(2) = 1.2706
    assert '<td class="num">0.9 <span class="ci">[-0.3706, 2.171]</span></td>' in selfish_row
    header = html.split('<h2 id="grid-1">')[1].split("</tr>")[0]
    for name in ("world.kwargs.growth_rate", "agents.params.prior", "survival_time", "survival_rate", "efficiency",
                 "norm_similarity", "sanction_rate", "valid decisions", "fallbacks"):
        assert f"<th>{name}</th>" in header
    # the runs are grouped by cell, in the runs and the headline tables, and named by cell and seed
    runs_table = html.split('<h2 id="runs">')[1].split("</table>")[0]
    assert [runs_table.index(f"<td>{label}, seed {seed}</td>") for label in labels for seed in (0, 1)] == sorted(
        runs_table.index(f"<td>{label}, seed {seed}</td>") for label in labels for seed in (0, 1))
    # CPR outcomes in words: 0.2/selfish collapsed in round 3, the others survived all 4 rounds
    assert html.count("<td>collapsed in round 3</td>") == 2 and html.count("<td>survived all 4 rounds</td>") == 6
    assert "seed=" not in html and "workers=" not in html


def test_report_of_one_cell_has_no_cell_section_and_reads_the_horizon_from_the_config(tmp_path):
    rows = []
    for index in range(5):  # GovSim month 1: five agents take 20 of 100 each and the lake collapses
        rows.append({
            **STEP_DEFAULTS, "episode": 0, "step": 1, "agent": f"player_{index}", "round": 1, "phase": "harvest",
            "round_end": True, "stock_before": 100.0, "stock_after_harvest": 0.0, "stock": 0.0, "sustainable_total": 50.0,
            "threshold": 10.0, "requested": 20, "harvest": 20.0, "present": True, "collapsed": True,
            "collapse_threshold": 5.0, "n_present": 5, "speaker": "", "message": "",
        })
    steps = pd.DataFrame(rows)
    experiment = tmp_path / "govsim"
    for seed in (0, 1):
        write_commons_run(experiment / f"run{seed}", world=GOVSIM, seed=seed, steps=steps, prior="none",
                          kwargs={"n_agents": 5, "n_months": 24}, experiment="govsim")
    html = write_report(experiment).read_text(encoding="utf-8")
    assert "Grid cells" not in html
    assert 'alt="Stock over time"' in html and 'alt="Requests against the sustainable threshold"' in html
    assert '<td class="num">0.08333</td>' in html  # efficiency 100 / (24 * 50), T from world.kwargs.n_months
    assert '<td class="num">24</td>' in html  # n_months
    assert "over_usage" in html and "share of (agent, month) harvest requests" in html


def test_report_of_a_govsim_grid_run_by_the_runner(tmp_path):
    """End to end: the runner plays GovSim (no talk) with scripted harvesters, then the report.

    fraction 0.1: everyone asks for 10 of 100 each month and the lake lasts 12 months;
    fraction 0.3: 5 x 30 = 150 > 100, the lake collapses in month 1 (efficiency 100/600).
    """
    pytest.importorskip("dilemmazoo.envs.commons")
    from dilemmazoo.experiments import run_grid

    config = {
        "name": "govsim_grid", "world": {"id": GOVSIM, "kwargs": {"n_agents": 5, "n_months": 12, "communication": False}},
        "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.1}},
        "seeds": [0, 1], "grid": {"agents.params.fraction": [0.3, 0.1]},
    }
    path = tmp_path / "govsim_grid.yaml"
    path.write_text(yaml.safe_dump(config))
    results = run_grid(path, out=tmp_path / "runs", progress=False)
    assert len(results) == 4
    html = write_report(tmp_path / "runs" / "govsim_grid").read_text(encoding="utf-8")
    labels = ["fraction=0.1", "fraction=0.3"]  # grid keys shortened to their last part
    for number, label in enumerate(labels, start=1):
        assert f'<h3 id="world-1-cell-{number}" class="cell">{label}' in html
        assert f'alt="{label}: Stock over time"' in html
        assert f'alt="{label}: Requests against the sustainable threshold"' in html
    sustainable, greedy = cell_row(html, 1), cell_row(html, 2)
    assert '<a href="#world-1-cell-1">0.1</a>' in html  # the swept value is its own column
    assert '<td class="num">12 <span class="ci">[12, 12]</span></td>' in sustainable  # months
    assert '<td class="num">1 <span class="ci">[1, 1]</span></td>' in sustainable  # survival rate
    assert '<td class="num">0.1667 <span class="ci">[0.1667, 0.1667]</span></td>' in greedy  # efficiency
    assert html.count("<td>collapsed in month 1</td>") == 2 and html.count("<td>survived all 12 months</td>") == 2


def test_the_punishment_plot_and_metric_appear_only_where_punishment_was_on(tmp_path):
    run = write_run(tmp_path / "r", run_id="r1", seed=1, fractions={1: 0.5})
    html = write_report(run).read_text(encoding="utf-8")
    assert "Punishment use" not in html and "punishment_rate" not in html.split('<h2 id="configs">')[0]
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["world"]["kwargs"]["punishment"] = True
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    html = write_report(run).read_text(encoding="utf-8")
    assert 'alt="Punishment use"' in html and html.count(PNG_IMG) == 4
    assert "<h3>punishment_rate by generation</h3>" in html
