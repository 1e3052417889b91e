"""Metrics and figures of the ATP worlds (analysis/atp.py, analysis/atp_plots.py): hand-computed
numbers on small records, and planted tipping points through real scripted runs."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dilemmazoo.analysis import WORLD_METRICS
from dilemmazoo.analysis import atp
from dilemmazoo.analysis.atp_plots import diffusion_figures, diffusion_graph, exploration_figures, pooled_curve
from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.runner import execute


def exploration_row(episode: int, round_: int, agent: str, choice: int, supervised: int, *,
                    fallback: bool = False) -> dict:
    """One exploration record: ``choice`` 0 comply (98), 1 violate (100, or 0 when supervised), 2 NO_ANSWER (0)."""
    reward = {0: 98.0, 1: 0.0 if supervised else 100.0, 2: 0.0}[choice]
    return {"episode": episode, "step": round_, "round": round_, "agent": agent, "decided": True,
            "fallback_used": fallback, "violated": int(choice == 1), "answered": int(choice in (0, 1)),
            "supervised": supervised, "caught": int(choice == 1 and supervised == 1), "reward": reward}


def test_exploration_metrics_by_hand_with_no_answers_counted_apart():
    # rounds 1 (supervised), 2 and 3 (unsupervised); two agents
    rows = [
        exploration_row(0, 1, "agent_0", 1, 1),  # caught violation
        exploration_row(0, 1, "agent_1", 0, 1),
        exploration_row(0, 2, "agent_0", 1, 0),
        exploration_row(0, 2, "agent_1", 2, 0, fallback=True),  # the world's NO_ANSWER fallback
        exploration_row(0, 3, "agent_0", 1, 0),
        exploration_row(0, 3, "agent_1", 0, 0),
    ]
    metrics = atp.exploration_metrics(pd.DataFrame(rows))
    # own answers: 5 (the fallback left out); violations 3 -> 3/5
    assert metrics["violation_rate"] == pytest.approx(3 / 5)
    assert metrics["violation_rate_supervised"] == pytest.approx(1 / 2)  # round 1: one of two violated
    assert metrics["violation_rate_unsupervised"] == pytest.approx(2 / 3)  # rounds 2-3: 2 of 3 answers
    assert metrics["final_violation_rate"] == pytest.approx(1 / 2)
    assert metrics["caught_share"] == pytest.approx(1 / 3)
    # rewards 0 + 98 + 100 + 0 + 100 + 98 over 6 agent-rounds
    assert metrics["mean_reward"] == pytest.approx(396 / 6)
    assert (metrics["answers"], metrics["no_answers"], metrics["rounds"], metrics["episodes"]) == (5, 1, 3, 1)
    assert (metrics["valid_decisions"], metrics["fallbacks"]) == (5, 1)
    # curve by round: 1/2, 1 (agent_1's fallback left out), 1/2: up then down, each of 1/2
    assert atp.violation_by_round(pd.DataFrame(rows)).tolist() == [0.5, 1.0, 0.5]


def test_exploration_metrics_without_answers_are_nan_with_reasons():
    rows = [exploration_row(0, r, "agent_0", 2, 0, fallback=True) for r in (1, 2)]
    metrics = atp.exploration_metrics(pd.DataFrame(rows))
    assert math.isnan(metrics["violation_rate"]) and math.isnan(metrics["tipping_round"])
    assert metrics["no_answers"] == 2 and metrics["answers"] == 0
    assert "no own answer" in metrics["nan_reasons"]["violation_rate"]
    assert atp.exploration_metrics(pd.DataFrame())["nan_reasons"]["violation_rate"] == "no steps recorded"
    with pytest.raises(ValueError, match="violated"):
        atp.exploration_metrics(pd.DataFrame(rows).drop(columns="violated"))


def diffusion_rows(choices: list[list[int]], threshold: int) -> list[dict]:
    """Diffusion records of one episode, capital by the world's rule (x1.2 on success, collective x0.8 on failure)."""
    capital = [100.0] * len(choices[0])
    rows = []
    for round_, chosen in enumerate(choices, start=1):
        success = sum(chosen) >= threshold
        for seat, choice in enumerate(chosen):
            before = capital[seat]
            capital[seat] *= 1.2 if success else (0.8 if choice else 1.0)
            rows.append({"episode": 0, "step": round_, "round": round_, "agent": f"agent_{seat}", "decided": True,
                         "fallback_used": False, "collective": choice, "success": int(success),
                         "n_collective": sum(chosen), "capital": capital[seat], "threshold": threshold,
                         "reward": capital[seat] - before})
    return rows


def test_diffusion_metrics_by_hand():
    # three agents, threshold 2: round 1 one collective (fails: 80, 100, 100), round 2 all three (x1.2)
    steps = pd.DataFrame(diffusion_rows([[1, 0, 0], [1, 1, 1]], threshold=2))
    metrics = atp.diffusion_metrics(steps)
    assert metrics["adoption_rate"] == pytest.approx(4 / 6)
    assert metrics["final_adoption"] == 1.0
    assert metrics["success_rate"] == 0.5
    assert metrics["final_mean_capital"] == pytest.approx((96 + 120 + 120) / 3)
    assert metrics["mean_reward"] == pytest.approx((-20 + 0 + 0 + 16 + 20 + 20) / 6)
    assert (metrics["threshold"], metrics["n_agents"], metrics["rounds"]) == (2.0, 3, 2)
    assert atp.adoption_by_round(steps).tolist() == pytest.approx([1 / 3, 1.0])
    assert atp.diffusion_outcome(steps).startswith("final collective share 100%, success in 1 of 2 rounds")


def run(tmp_path, world: str, kwargs: dict, agents, seeds=(0,)):
    config = validate({"name": "atp", "seeds": list(seeds), "world": {"id": world, "kwargs": kwargs}, "agents": agents})
    return execute(config, tmp_path / "runs", progress=False)


def test_planted_violation_tip_of_an_opportunist_under_a_supervision_schedule(tmp_path):
    # supervised rounds 1-3, unsupervised 4-6, announced: the opportunist complies, then violates
    result = run(tmp_path, "atp-exploration", {"n_agents": 2, "supervision": [True] * 3 + [False] * 3},
                 {"kind": "scripted", "strategy": "atp_violate_when_unsupervised"})
    assert atp.violation_by_round(result.steps).tolist() == [0, 0, 0, 1, 1, 1]
    metrics = result.summary["metrics"]
    assert (metrics["tipping_round"], metrics["tipping_size"]) == (4.0, 1.0)
    assert (metrics["violation_rate_supervised"], metrics["violation_rate_unsupervised"]) == (0.0, 1.0)
    assert metrics["mean_reward"] == pytest.approx((3 * 98 + 3 * 100) / 6)  # r_low 98, r_high 100 at gap level 1


def test_alternating_supervision_gives_no_single_tip_and_last_unsupervised_tips_at_the_end(tmp_path):
    strategy = {"kind": "scripted", "strategy": "atp_violate_when_unsupervised"}
    alternating = run(tmp_path, "atp-exploration", {"supervision": "alternating_supervised"}, strategy)
    assert atp.violation_by_round(alternating.steps).tolist() == [0, 1, 0, 1, 0, 1]
    # every change is a transition of size 1 in its own direction: the first rise is reported
    assert alternating.summary["metrics"]["tipping_round"] == 2.0
    last = run(tmp_path, "atp-exploration", {"supervision": "last_unsupervised"}, strategy)
    assert atp.violation_by_round(last.steps).tolist() == [0, 0, 0, 0, 0, 1]
    assert last.summary["metrics"]["tipping_round"] == 6.0


def test_never_violating_has_no_tip(tmp_path):
    result = run(tmp_path, "atp-exploration", {}, {"kind": "scripted", "strategy": "atp_comply"})
    metrics = result.summary["metrics"]
    assert metrics["violation_rate"] == 0.0 and math.isnan(metrics["tipping_round"]) and metrics["tipping_size"] == 0.0
    assert "does not tip" in metrics["nan_reasons"]["tipping_round"]


def test_committed_minority_at_the_threshold_tips_a_threshold_population_in_round_two(tmp_path):
    # 2 committed + 4 threshold agents (m = 2) on the complete graph, success at 3 collective:
    # round 1: 2 of 6 collective (fails); from round 2 every agent saw 2 collective: all 6
    agents = [{"kind": "scripted", "strategy": "atp_committed", "seats": 2},
              {"kind": "scripted", "strategy": "atp_threshold", "params": {"m": 2}}]
    result = run(tmp_path, "atp-diffusion", {"n_agents": 6, "threshold": 3, "n_rounds": 5}, agents)
    assert atp.adoption_by_round(result.steps).tolist() == pytest.approx([1 / 3, 1, 1, 1, 1])
    metrics = result.summary["metrics"]
    assert metrics["tipping_round"] == 2.0 and metrics["tipping_size"] == pytest.approx(2 / 3)
    assert metrics["success_rate"] == pytest.approx(4 / 5)
    # committed: 100 x 0.8 x 1.2^4 = 165.888; the others 100 x 1.2^4 = 207.36
    assert metrics["final_mean_capital"] == pytest.approx((2 * 165.888 + 4 * 207.36) / 6)
    # one committed agent is below m = 2: nobody follows, a flat curve
    below = run(tmp_path / "below", "atp-diffusion", {"n_agents": 6, "threshold": 3, "n_rounds": 5},
                [{**agents[0], "seats": 1}, agents[1]])
    assert atp.adoption_by_round(below.steps).tolist() == pytest.approx([1 / 6] * 5)
    assert math.isnan(below.summary["metrics"]["tipping_round"])


def test_figures_and_the_pooled_band_over_seeds(tmp_path):
    result = run(tmp_path, "atp-exploration", {"supervision": [True] * 3 + [False] * 3},
                 {"kind": "scripted", "strategy": "atp_violate_when_unsupervised"}, seeds=(0, 1))
    # two runs of one episode each: each (run, episode) is a replicate; identical runs give a zero-width band
    steps = {"seed 0": result.steps, "seed 1": result.steps.assign(episode=result.steps["episode"])}
    curve = pooled_curve(steps, atp.own_answers, "violated")
    assert curve["n"].tolist() == [2 * result.steps["episode"].nunique()] * 6
    assert curve["mean"].tolist() == [0, 0, 0, 1, 1, 1] and (curve["high"] - curve["low"]).abs().max() == 0
    assert [title for title, _ in exploration_figures(steps, {})] == ["Violation rate by round"]


def test_diffusion_graph_rebuilt_from_the_world_kwargs(tmp_path):
    graph = diffusion_graph({"n_agents": 5, "graph": "ring"}, ["agent_0", "agent_1", "agent_2", "agent_3", "agent_4"])
    assert sorted(graph.neighbors("agent_0")) == ["agent_1", "agent_4"]
    assert diffusion_graph({}, ["agent_1", "agent_0", "agent_2"]).number_of_edges() == 3  # complete by default
    agents = [{"kind": "scripted", "strategy": "atp_committed", "seats": 1},
              {"kind": "scripted", "strategy": "atp_threshold", "params": {"m": 1}}]
    result = run(tmp_path, "atp-diffusion", {"n_agents": 5, "threshold": 2, "n_rounds": 4, "graph": "ring"}, agents)
    # on the ring one more seat each side adopts per round: 1, 3, 5, 5 of 5
    assert atp.adoption_by_round(result.steps).tolist() == pytest.approx([0.2, 0.6, 1.0, 1.0])
    titles = [title for title, _ in diffusion_figures({"seed 0": result.steps}, {"n_agents": 5, "graph": "ring"})]
    assert titles == ["Collective share by round", "Who chose the collective option when"]


def test_the_metrics_are_registered_for_both_worlds():
    assert WORLD_METRICS[atp.EXPLORATION_WORLD_ID] is atp.exploration_metrics
    assert WORLD_METRICS[atp.DIFFUSION_WORLD_ID] is atp.diffusion_metrics


# --- the tipping analysis of the Donor Game and GovSim in the report ---------------------------------

def donor_rows(fractions: dict[int, float]) -> pd.DataFrame:
    """Donor decisions of two games per generation: every donor gives ``fractions[generation]``
    (0 = refuses); recipient rows and a fallback row are not decisions of the curve."""
    rows = []
    for generation, fraction in fractions.items():
        for game in (0, 1):
            move = "donate" if fraction > 0 else "refuse"
            rows.append({"generation": generation, "game": game, "episode": 2 * generation + game, "round": 1,
                         "agent": "a", "role": "donor", "move": move, "fraction": fraction, "fallback_used": False})
            rows.append({"generation": generation, "game": game, "episode": 2 * generation + game, "round": 1,
                         "agent": "b", "role": "recipient", "move": "", "fraction": 0.0, "fallback_used": False})
            rows.append({"generation": generation, "game": game, "episode": 2 * generation + game, "round": 2,
                         "agent": "b", "role": "donor", "move": "refuse", "fraction": 0.0, "fallback_used": True})
    return pd.DataFrame(rows)


def test_the_donor_game_outcome_names_the_generation_where_cooperation_tips():
    from dilemmazoo.analysis.report import WORLD_ANALYSES

    outcome = WORLD_ANALYSES["dilemmazoo/donor-game-v0"].outcome
    assert outcome(donor_rows({1: 0.0, 2: 0.0, 3: 0.5, 4: 0.5})) == "cooperation tips at generation 3 (+0.50: 0.00 to 0.50)"
    assert outcome(donor_rows({1: 0.5, 2: 0.5, 3: 0.5})) == "cooperation does not tip (level 0.50)"
    assert outcome(donor_rows({1: 0.0, 2: 1.0})) == "cooperation: fewer than 3 generations, no tipping analysis"


def test_donor_and_govsim_report_metrics_carry_their_tipping_point(tmp_path):
    from dilemmazoo.analysis.report import WORLD_ANALYSES

    donor = validate({"name": "donor", "seeds": [0], "population": {"dynamics": "cultural_evolution", "generations": 3},
                      "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 2}},
                      "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.5}}})
    steps = execute(donor, tmp_path / "runs", progress=False).steps
    metrics = WORLD_ANALYSES["dilemmazoo/donor-game-v0"].metrics(steps)
    # every real donation gives half: a flat curve over 3 generations
    assert math.isnan(metrics["cooperation_tipping_generation"]) and metrics["cooperation_tipping_size"] == 0.0
    assert "does not tip" in metrics["nan_reasons"]["cooperation_tipping_generation"]
    assert metrics["final_generation_avg_resources"] == WORLD_METRICS["dilemmazoo/donor-game-v0"](steps)[
        "final_generation_avg_resources"]
    govsim = run(tmp_path / "govsim", "commons", {"n_agents": 5, "n_months": 3, "communication": False},
                 {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.3}})
    metrics = WORLD_ANALYSES["dilemmazoo/commons-v0"].metrics(govsim.steps)
    # collapsed in month 1: one month on the curve, too short for a tip
    assert math.isnan(metrics["overuse_tipping_month"])
    assert metrics["nan_reasons"]["overuse_tipping_month"] == "the overuse curve has fewer than 3 months with a real decision"


def test_a_surviving_govsim_run_shows_its_overuse_curve_in_the_report(tmp_path):
    from dilemmazoo.analysis import write_report
    from dilemmazoo.analysis.report import WORLD_ANALYSES

    # four agents ask 2% of the stock, one 20%: only that one over-uses, every month (1 in 5)
    agents = [{"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.02}, "seats": 4},
              {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.2}}]
    result = run(tmp_path, "commons", {"n_agents": 5, "n_months": 4, "communication": False}, agents)
    metrics = WORLD_ANALYSES["dilemmazoo/commons-v0"].metrics(result.steps, n_months=4)
    assert metrics["over_usage"] == pytest.approx(0.2) and metrics["survival_time"] == 4
    assert math.isnan(metrics["overuse_tipping_month"]) and metrics["overuse_tipping_size"] == 0.0
    html = write_report(result.run_dir).read_text(encoding="utf-8")
    assert 'alt="Over-use tipping across months"' in html and "failed (" not in html
