"""analysis.mechanisms: seat scores, metagame, RD and DR from hand-built records, normalised
cooperation by hand, and the report's tournament section beside CoopEval's published table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dilemmazoo.analysis.mechanisms import (game_of, mechanism_of, mechanism_table, normalised, plot_replicator_path,
                                            published_mechanism_table, seat_scores, tournament_metrics,
                                            tournament_result)

PD_WORLD = {"id": "repeated-game", "kwargs": {"game": "coopeval_pd", "n_rounds": 1}}
TYPES = [{"label": "C", "kind": "scripted"}, {"label": "D", "kind": "scripted"}]
#: PD stage payoffs (CoopEval): CC 2,2  CD 0,3  DC 3,0  DD 1,1
PAYOFF = {("C", "C"): (2.0, 2.0), ("C", "D"): (0.0, 3.0), ("D", "C"): (3.0, 0.0), ("D", "D"): (1.0, 1.0)}


def _config(mechanism=None, focal=(), world=PD_WORLD):
    return {"world": world, "agents": TYPES, "mechanism": mechanism, "tournament": {"repeats": 1, "focal": list(focal)}}


def _one_shot_steps() -> pd.DataFrame:
    """The four PD profiles, one step each, as the runner records them."""
    rows = []
    for episode, profile in enumerate([("C", "C"), ("C", "D"), ("D", "C"), ("D", "D")]):
        for seat, (label, reward) in enumerate(zip(profile, PAYOFF[profile])):
            rows.append({"episode": episode, "step": 1, "agent": f"player_{seat}", "name": f"{label}#P{seat + 1}",
                         "policy": label, "reward": reward})
    return pd.DataFrame(rows)


def test_repetition_scores_are_discounted_rounds_with_the_configs_discount():
    # one episode, 3 rounds: C earns 2, 0, 0 and D 2, 3, 1; d = 0.5: weights 0.5, 0.25, tail 0.25
    rows = [{"episode": 0, "step": r, "agent": f"player_{s}", "policy": "CD"[s], "reward": reward,
             "mechanism_round": r} for r, pair in enumerate([(2, 2), (0, 3), (0, 1)], start=1)
            for s, reward in enumerate(pair)]
    config = _config({"name": "repetition", "kwargs": {"discount": 0.5}})
    scores = seat_scores(pd.DataFrame(rows), config).set_index("type")["score"]
    assert (scores["C"], scores["D"]) == (1.0, 0.5 * 2 + 0.25 * 3 + 0.25 * 1)
    # a random horizon weighs every played round the same; without a mechanism the rounds add up
    random = seat_scores(pd.DataFrame(rows), _config({"name": "repetition", "kwargs": {"horizon": "random"}}))
    assert random.set_index("type")["score"].to_dict() == pytest.approx({"C": 2 / 3, "D": 2.0})
    assert seat_scores(pd.DataFrame(rows), _config()).set_index("type")["score"].to_dict() == {"C": 2.0, "D": 6.0}


def test_metagame_rd_and_dr_from_a_hand_built_record_frame():
    result = tournament_result(_one_shot_steps(), _config(focal=["C"]))
    # T[i, j]: type i's mean score against j, seats averaged
    np.testing.assert_array_equal(result.tensor, [[2.0, 0.0], [3.0, 1.0]])
    assert result.means.to_dict() == {"C": 1.0, "D": 2.0}  # (2 + 0 + 0 + 2) / 4 and (3 + 3 + 1 + 1) / 4
    # defection dominates: RD goes to all-D, where C's fitness is T[C, D] = 0 and D's T[D, D] = 1
    assert result.history[0].tolist() == [0.5, 0.5] and result.history[-1][1] > 1 - 1e-6
    np.testing.assert_allclose(result.fitness, [0.0, 1.0], atol=1e-6)
    # DR: deviating to D gains 1 wherever the other plays; C is rated -1, D 0
    assert result.ratings.tolist() == pytest.approx([-1.0, 0.0], abs=1e-8) and result.ranks.tolist() == [2.0, 1.0]
    metrics = tournament_metrics(_one_shot_steps(), _config(focal=["C"]))
    assert metrics["tournament_mean"] == 1.0 and metrics["tournament_normalised_mean"] == 0.0
    assert metrics["tournament_fitness"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["tournament_normalised_fitness"] == pytest.approx(-1.0, abs=1e-6)


def test_reputation_has_means_but_no_metagame():
    steps = _one_shot_steps().assign(episode=0, agent=[f"player_{i}" for i in range(8)])
    config = _config({"name": "reputation", "kwargs": {"nesting": 1}})
    result = tournament_result(steps, config)
    assert result.tensor is None and result.history is None and "no metagame" in result.note
    assert result.means.to_dict() == {"C": 1.0, "D": 2.0}
    assert set(tournament_metrics(steps, config)) == {"tournament_mean", "tournament_normalised_mean"}
    assert (mechanism_of(config), mechanism_of(_config({"name": "reputation"})), mechanism_of(_config())) == \
        ("reputation-", "reputation+", "none")


def test_normalised_cooperation_by_hand():
    pg = {"id": "public-goods", "kwargs": {"n_players": 3, "endowment": 2.0, "multiplier": 2.0}}
    assert game_of(_config(world=pg)) == ("PG", (2.0, 4.0))  # all free-ride: e = 2; all contribute: m e = 4
    assert normalised(3.0, (2.0, 4.0)) == 0.5
    td = {"id": "repeated-game", "kwargs": {"game": "travellers_dilemma"}}
    assert game_of(_config(world=td)) == ("TD", (2.0, 5.0))
    assert normalised(2.75, (2.0, 5.0)) == 0.25  # (2.75 - 2) / (5 - 2)
    assert game_of(_config(world={"id": "repeated-game", "kwargs": {"game": "trust"}})) == ("Trust", (4.0, 10.0))
    assert math.isnan(normalised(3.0, None))


def test_six_mechanism_table_averages_games_and_sits_beside_the_papers():
    pd_result = tournament_result(_one_shot_steps(), _config())
    td_world = {"id": "repeated-game", "kwargs": {"game": "travellers_dilemma"}}
    td_result = tournament_result(_one_shot_steps(), _config(world=td_world))
    table = mechanism_table([pd_result, td_result]).set_index("id")
    # PD: mean 1.5 -> (1.5 - 1) / 1 = 0.5; the same rewards in TD: (1.5 - 2) / 3 = -1/6
    assert table.loc["none", "mean (normalised)"] == pytest.approx((0.5 - 1 / 6) / 2)
    assert table.loc["none", "mean s.e."] == pytest.approx(np.std([0.5, -1 / 6], ddof=1) / np.sqrt(2))
    assert (table.loc["none", "raw PD"], table.loc["none", "raw TD"], table.loc["none", "games"]) == (1.5, 1.5, 2)
    side = published_mechanism_table(mechanism_table([pd_result, td_result])).set_index("mechanism")
    assert side.loc["NoMechanism", "mean (normalised): paper"] == 0.072
    assert side.loc["NoMechanism", "mean (normalised): run"] == pytest.approx((0.5 - 1 / 6) / 2)
    assert side.loc["Contracting", "raw Trust: paper"] == 8.667
    assert side.loc["Reputation+ (order 3)", "fitness after RD (normalised): paper"] == "n/a"
    assert pd.isna(side.loc["Contracting", "mean (normalised): run"])  # not run


def test_rd_path_plot_draws_one_line_per_type():
    result = tournament_result(_one_shot_steps(), _config())
    figure = plot_replicator_path(result.history, result.types)
    assert isinstance(figure, Figure)
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["C", "D"]
    np.testing.assert_array_equal(lines[1].get_ydata(), result.history[:, 1])
    with pytest.raises(ValueError, match="history"):
        plot_replicator_path(result.history, ["C"])


def test_the_report_prints_the_published_table_beside_the_runs(tmp_path):
    from dilemmazoo.analysis.report import write_report
    from dilemmazoo.experiments.config import validate
    from dilemmazoo.experiments.runner import run_experiment

    config = validate({
        "name": "coopeval_mini", "world": PD_WORLD, "seeds": [0],
        "agents": [{"kind": "scripted", "strategy": "first_option", "label": "C"},
                   {"kind": "scripted", "strategy": "last_option", "label": "D"}],
        "tournament": {"repeats": 1},
        "grid": {"mechanism": {"none": None, "repetition": {"name": "repetition", "kwargs": {"rounds": 3}}}},
    })
    run_experiment(config, tmp_path, progress=False)
    html = write_report(tmp_path / "coopeval_mini").read_text()
    assert "Mechanism tournament: coopeval_mini" in html
    assert "this run beside CoopEval" in html and "0.801" in html and "8.667" in html  # the paper's numbers
    assert "RD path: PD, Repetition" in html or "Replicator dynamics: PD, Repetition" in html
    assert "DR rating" in html
