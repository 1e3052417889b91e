"""Every registered world gets its own report section: tiny real runs through the runner, then
the report; and the repeated-game and split report parts checked against hand-computed cases."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from dilemmazoo.analysis import write_report
from dilemmazoo.analysis.report import WORLD_ANALYSES
from dilemmazoo.analysis.repeated_game_plots import (
    cooperation_by_round,
    nash_payoffs,
    outcome_counts,
    pareto_frontier,
    repeated_game_tables,
    stage_game,
)
from dilemmazoo.analysis.trust_split_plots import agreement_by_run, message_stats, split_shares
from dilemmazoo.envs import list_worlds
from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.runner import execute

PNG_IMG = '<img src="data:image/png;base64,'
SPLIT_PAIR = [{"kind": "scripted", "strategy": "split_greedy", "seats": 1},
              {"kind": "scripted", "strategy": "split_welfare_maximiser"}]

#: the smallest scripted run of every registered world, and text only its own section shows
WORLD_RUNS = {
    "dilemmazoo/public-goods-v0": (
        {"world": {"id": "public-goods", "kwargs": {"n_rounds": 3}},
         "agents": [{"kind": "scripted", "strategy": "always_cooperate", "seats": 1},
                    {"kind": "scripted", "strategy": "always_defect"}]},
        ['alt="Contribution rate by round"', "normalised_cooperation"],
    ),
    "dilemmazoo/donor-game-v0": (
        {"world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 2}},
         "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.5}}},
        ['alt="Average final resources"', "final_generation_avg_resources"],
    ),
    "dilemmazoo/repeated-game-v0": (
        {"world": {"id": "repeated-game", "kwargs": {"game": "prisoners_dilemma", "n_rounds": 4}},
         "agents": [{"kind": "scripted", "strategy": "tit_for_tat", "seats": 1},
                    {"kind": "scripted", "strategy": "always_defect"}]},
        ['alt="Cooperation by round"', "Outcome matrix: 0:scripted:tit_for_tat vs 1:scripted:always_defect",
         "Mean payoff per round against the one-shot Nash payoffs"],
    ),
    "dilemmazoo/trust-split-v0": (
        {"world": {"id": "trust-split", "kwargs": {"n_rounds": 3}}, "agents": SPLIT_PAIR},
        ["<h4>Split shares per player</h4>", "<h4>Agreement</h4>", "<h4>Messages</h4>", 'alt="Split efficiency by round"'],
    ),
    "dilemmazoo/split-nocomm-v0": (
        {"world": {"id": "split-nocomm", "kwargs": {"n_rounds": 3}}, "agents": SPLIT_PAIR},
        ["<h4>Split shares per player</h4>", "<h4>Agreement</h4>", 'alt="Split shares"'],
    ),
    "dilemmazoo/commons-v0": (
        {"world": {"id": "commons", "kwargs": {"n_agents": 5, "n_months": 3, "communication": False}},
         "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.3}}},
        ['alt="Stock over time"', "<td>collapsed in month 1</td>"],
    ),
    "dilemmazoo/cpr-v0": (
        {"world": {"id": "cpr", "kwargs": {"n_rounds": 3}},
         "agents": {"kind": "scripted", "strategy": "cpr_fixed_effort", "params": {"effort": 0.2}}},
        ['alt="Norms over time"', "norm_similarity"],
    ),
    "dilemmazoo/cleanup-v0": (
        {"world": {"id": "cleanup", "kwargs": {"n_agents": 2, "grid_map": "small_cleanup", "episode_length": 8}},
         "agents": {"kind": "scripted", "strategy": "grid_random"}},
        ['alt="Social outcomes by episode"', "sustainability"],
    ),
    "dilemmazoo/gathering-v0": (
        {"world": {"id": "gathering", "kwargs": {"n_agents": 2, "grid_map": "small_harvest", "episode_length": 8}},
         "agents": {"kind": "scripted", "strategy": "grid_random"}},
        ['alt="Social outcomes by episode"', "peace"],
    ),
    "dilemmazoo/tax-world-v0": (
        {"world": {"id": "tax-world", "kwargs": {"n_workers": 4, "n_steps": 4, "tax_year": 2, "planner": "saez"}},
         "agents": {"kind": "scripted", "strategy": "tax_rational"}},
        ['alt="Tax rates per bracket"', 'alt="Social welfare over time"', "final_swf_llm_economist", "<h4>Tax years</h4>"],
    ),
    "dilemmazoo/team-production-v0": (
        {"world": {"id": "team-production", "kwargs": {"n_members": 3, "n_rounds": 3}},
         "agents": {"kind": "scripted", "strategy": "team_equilibrium"}},
        ['alt="Effort by round against the equilibrium"', 'alt="Effort and payoff per member"', "equilibrium_effort"],
    ),
    "dilemmazoo/atp-exploration-v0": (
        {"world": {"id": "atp-exploration", "kwargs": {"n_agents": 2, "supervision": "alternating_supervised"}},
         "agents": {"kind": "scripted", "strategy": "atp_violate_when_unsupervised"}},
        ['alt="Violation rate by round"', "violation_rate_unsupervised", "tipping_round"],
    ),
    "dilemmazoo/atp-diffusion-v0": (
        {"world": {"id": "atp-diffusion", "kwargs": {"n_agents": 4, "threshold": 2, "n_rounds": 3, "graph": "ring"}},
         "agents": [{"kind": "scripted", "strategy": "atp_committed", "seats": 1},
                    {"kind": "scripted", "strategy": "atp_threshold", "params": {"m": 1}}]},
        ['alt="Collective share by round"', 'alt="Who chose the collective option when"', "final_mean_capital"],
    ),
}


def test_every_registered_world_has_a_tiny_run_here_and_an_analysis():
    assert set(WORLD_RUNS) == set(list_worlds())  # a new world must add its run here and its analysis
    assert set(WORLD_ANALYSES) == set(list_worlds())


@pytest.mark.parametrize("world", sorted(WORLD_RUNS))
def test_the_report_of_every_registered_world_has_its_own_section(world, tmp_path):
    config, markers = WORLD_RUNS[world]
    result = execute(validate({"name": "tiny", "seeds": [0], **config}), tmp_path / "runs", progress=False)
    html = write_report(result.run_dir).read_text(encoding="utf-8")
    assert "no world-specific analysis" not in html
    assert f'<h2 id="world-1">{world}</h2>' in html
    for marker in markers:
        assert marker in html, marker
    assert "failed (" not in html  # no plot or table broke
    assert html.count(PNG_IMG) >= 2  # the world's plots and the parse-failure plot
    assert "<strong>Decisions:</strong>" in html.split('<h2 id="runs">')[0]  # counts in the opening lines
    assert not re.search(r'(src|href)="(?!data:image/png;base64,|#)', html)  # self-contained: nothing to fetch


# --- repeated games -------------------------------------------------------------------------------

def test_nash_payoffs_pure_and_mixed():
    prisoners = stage_game({"game": "prisoners_dilemma"})
    assert nash_payoffs(prisoners.payoffs, prisoners.labels) == [("Defect/Defect", 1.0, 1.0)]
    # chicken: two pure equilibria and the mixed one at q = (0 - 1) / (3 - 1 - 4 + 0) = 1/2, payoff 3/2 + 1/2 = 2
    chicken = stage_game({"game": "chicken"})
    assert nash_payoffs(chicken.payoffs, chicken.labels) == [
        ("Swerve/Straight", 1.0, 4.0), ("Straight/Swerve", 4.0, 1.0), ("mixed (p=0.5, q=0.5)", 2.0, 2.0)]
    # battle of the sexes (10/7, 7/10): the column player mixes q = 7/17 on Football, the row player's
    # payoff is 10 q = 70/17; the row player mixes p = 10/17 and the column player gets 7 p = 70/17
    sexes = nash_payoffs(stage_game({"game": "battle_of_the_sexes"}).payoffs)
    assert sexes[:2] == [("0/0", 10.0, 7.0), ("1/1", 7.0, 10.0)]
    assert sexes[2][1:] == pytest.approx((70 / 17, 70 / 17))
    # matching pennies has no pure equilibrium: only the 50/50 mix, worth 0 to both
    assert nash_payoffs(stage_game({"game": "matching_pennies"}).payoffs) == [("mixed (p=0.5, q=0.5)", 0.0, 0.0)]


def test_pareto_frontier_is_the_upper_right_edge_of_the_convex_hull():
    assert pareto_frontier(stage_game({"game": "prisoners_dilemma"}).payoffs).tolist() == [[0, 5], [3, 3], [5, 0]]
    assert pareto_frontier(stage_game({"game": "stag_hunt"}).payoffs).tolist() == [[4, 4]]
    assert pareto_frontier(stage_game({"game": "battle_of_the_sexes"}).payoffs).tolist() == [[7, 10], [10, 7]]
    # (2, 2) is Pareto-efficient among the pure outcomes but lies under the chord from (0, 5) to (5, 0)
    payoffs = np.array([[[0, 5], [2, 2]], [[5, 0], [0, 0]]], dtype=float)
    assert pareto_frontier(payoffs).tolist() == [[0, 5], [5, 0]]


def repeated_steps(moves: list[tuple[int, int]], fallbacks: set[tuple[int, int]] = frozenset()) -> pd.DataFrame:
    """Prisoner's dilemma records: ``moves[r]`` the actions played in round r + 1; ``fallbacks`` (round, seat)."""
    payoffs = stage_game({"game": "prisoners_dilemma"}).payoffs
    rows = []
    for round_, (first, second) in enumerate(moves, start=1):
        for seat, (own, other) in enumerate(((first, second), (second, first))):
            row_action, column_action = (own, other) if seat == 0 else (other, own)
            rows.append({"episode": 0, "step": round_, "round": round_, "agent": f"player_{seat}", "phase": "act",
                         "policy": f"{seat}:scripted:{'tft' if seat == 0 else 'mixed'}", "decided": True,
                         "fallback_used": (round_, seat) in fallbacks, "intended": own, "played": own,
                         "reward": float(payoffs[row_action, column_action, seat])})
    return pd.DataFrame(rows)


def test_cooperation_outcomes_and_payoffs_of_a_repeated_game():
    # rounds: CC, CD, DC, DD; player_1's choice in round 1 fell back (to Cooperate, action 0)
    steps = repeated_steps([(0, 0), (0, 1), (1, 0), (1, 1)], fallbacks={(1, 1)})
    # round 1: only player_0's choice is real (cooperate): 1.0; then 1/2, 1/2, 0
    assert cooperation_by_round(steps).tolist() == [1.0, 0.5, 0.5, 0.0]
    counts, left_out = outcome_counts(steps, 2)["0:scripted:tft vs 1:scripted:mixed"]
    assert counts.tolist() == [[0, 1], [1, 1]] and left_out == 1  # round 1 left out
    payoff_table, matrix = repeated_game_tables({"seed 0": steps}, {"game": "prisoners_dilemma"})
    # payoffs of every round: player_0 3 + 0 + 5 + 1 = 9 -> 2.25, player_1 3 + 5 + 0 + 1 -> 2.25
    assert payoff_table["rows"] == [["0:scripted:tft vs 1:scripted:mixed", 4, 1, 2.25, 2.25, 4.5, 1.5]]
    assert "Defect/Defect: 1, 1" in payoff_table["note"] and "Best total of one round" in payoff_table["note"]
    assert matrix["rows"] == [["Cooperate", "0 (0%)", "1 (33%)"], ["Defect", "1 (33%)", "1 (33%)"]]
    assert "1 round(s) with a fallback left out" in matrix["note"]


def test_a_repeated_game_where_every_decision_fell_back_shows_no_rate(tmp_path):
    script = tmp_path / "answers.txt"
    script.write_text("I am a teapot.")
    config = validate({
        "name": "all_fallbacks", "seeds": [0],
        "world": {"id": "repeated-game", "kwargs": {"game": "prisoners_dilemma", "n_rounds": 3}},
        "agents": {"kind": "llm", "backend": f"scripted:{script}", "decision": "generate", "max_retries": 0},
    })
    result = execute(config, tmp_path / "runs", progress=False)
    assert result.summary["counts"]["fallbacks"] == 6
    steps = result.steps
    assert cooperation_by_round(steps).isna().all()
    html = write_report(result.run_dir).read_text(encoding="utf-8")
    lead = html.split('<h2 id="runs">')[0]
    assert "<strong>Decisions:</strong> 6 · <strong>fallbacks:</strong> 6 (100.0%)" in lead
    assert "over 0 rounds without a fallback" in html and "3 round(s) with a fallback left out" in html
    cells = headline_cells(html)
    assert cells["valid decisions"] == "0" and cells["fallbacks"] == "6"
    # fallbacks are not choices: no cooperation rate at all, never 1.0 from the fallback move
    assert cells["cooperation_rate"].startswith("– (")  # with the reason the metrics give


def headline_cells(html: str) -> dict[str, str]:
    """Column name -> cell text of the first run's row in the headline table."""
    table = html.split("<h3>Headline metrics</h3>")[1].split("</table>")[0]
    header, first = table.split("</tr>")[:2]
    names = re.findall(r"<th>(.*?)</th>", header)
    values = [re.sub(r"<[^>]+>", "", value).strip() for value in re.findall(r"<td[^>]*>(.*?)</td>", first, flags=re.S)]
    return dict(zip(names, values))


# --- the split worlds -------------------------------------------------------------------------------

def nocomm_round(round_: int, claims: tuple[list[int], list[int]], values: tuple[list[float], list[float]],
                 fallback: tuple[bool, bool] = (False, False)) -> list[dict]:
    """Split No-Comm rows of one round (items hats, books, balls; 10 units each), allocated by the rule."""
    rows = []
    coins = [[0.0] * 3, [0.0] * 3]
    for item in range(3):
        total = claims[0][item] + claims[1][item]
        for seat in (0, 1):
            coins[seat][item] = float(claims[seat][item]) if total <= 10 else 10 * claims[seat][item] / total
    best = sum(max(values[0][i], values[1][i]) * 10 for i in range(3))
    for seat in (0, 1):
        row = {"episode": 0, "step": round_, "round": round_, "agent": f"player_{seat}", "policy": f"{seat}:p{seat}",
               "decided": True, "fallback_used": fallback[seat], "max_welfare": best,
               "reward": sum(coins[seat][i] * values[seat][i] for i in range(3))}
        for i, item in enumerate(("hats", "books", "balls")):
            row[f"proposal_{item}"] = claims[seat][i]
            row[f"coins_{item}"] = coins[seat][i]
        rows.append(row)
    return rows


def test_split_shares_and_agreement_of_split_nocomm():
    world = "dilemmazoo/split-nocomm-v0"
    values = ([10.0, 1.0, 10.0], [10.0, 1.0, 10.0])
    steps = pd.DataFrame(
        # round 1: 10/10/10 against 5/5/5 -> every item over-claimed, 20/3 and 10/3 units each: no agreement
        nocomm_round(1, ([10, 10, 10], [5, 5, 5]), values)
        # round 2: 6/0/4 against 4/10/6 -> every claim fits: agreement; player_0 gets 6 + 0 + 4 of 30
        + nocomm_round(2, ([6, 0, 4], [4, 10, 6]), values)
        # round 3: player_1 fell back (5/5/5): left out of its shares and of agreement
        + nocomm_round(3, ([0, 0, 0], [5, 5, 5]), values, fallback=(False, True))
    )
    shares = split_shares(steps, world, {}).set_index("policy")
    # player_0 claims 30/30, 10/30 and 0/30 -> mean 4/9; receives 20/30, 10/30, 0/30 -> 1/3
    assert shares.loc["0:p0", "decisions"] == 3 and shares.loc["0:p0", "fallbacks"] == 0
    assert shares.loc["0:p0", "claim"] == pytest.approx(4 / 9)
    assert shares.loc["0:p0", "received"] == pytest.approx(1 / 3)
    # reward shares: round 1 140 of 210; round 2 6*10 + 4*10 = 100 of 100 + (40 + 10 + 60); round 3 0 of 105
    assert shares.loc["0:p0", "reward_share"] == pytest.approx((2 / 3 + 100 / 210 + 0.0) / 3)
    # player_1: two real decisions (15/30, 20/30 claimed)
    assert shares.loc["1:p1", "fallbacks"] == 1
    assert shares.loc["1:p1", "claim"] == pytest.approx((0.5 + 20 / 30) / 2)
    agreement = agreement_by_run({"seed 0": steps}, world, {})
    assert agreement.to_dict("records") == [{"run": "seed 0", "rounds": 3, "rounds_with_fallback": 1, "agreement_rate": 0.5}]


def test_message_statistics_of_trust_and_split():
    rows = [
        {"phase": "message", "policy": "a", "decided": True, "fallback_used": False, "message": "I hold rock."},
        {"phase": "message", "policy": "a", "decided": True, "fallback_used": False, "message": "Let us share."},
        {"phase": "message", "policy": "a", "decided": False, "fallback_used": False, "message": ""},  # listening
        {"phase": "message", "policy": "b", "decided": True, "fallback_used": True, "message": ""},
        {"phase": "message", "policy": "b", "decided": True, "fallback_used": False, "message": "   "},
        {"phase": "proposal", "policy": "b", "decided": True, "fallback_used": False, "message": ""},
    ]
    table = message_stats(pd.DataFrame(rows)).set_index("policy")
    # a: 2 messages, 12 and 13 characters, 3 and 3 words, one claims a hand (rock)
    assert table.loc["a"].to_dict() == {"fallbacks": 0, "empty": 0, "messages": 2, "mean_chars": 12.5,
                                        "mean_words": 3.0, "claim_share": 0.5}
    assert table.loc["b", "messages"] == 0 and table.loc["b", "fallbacks"] == 1 and table.loc["b", "empty"] == 1
    assert math.isnan(table.loc["b", "mean_chars"])
