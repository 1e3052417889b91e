"""Round-robin tournaments: parity with axelrod.Tournament, and the Axelrod adapter."""

from __future__ import annotations

import numpy as np
import pytest

from dilemmazoo.agents.axelrod_adapter import AxelrodAgent, axelrod_strategy_names, rpst_from_payoffs
from dilemmazoo.agents.base import Decision
from dilemmazoo.envs.repeated_game import RepeatedGameEnv, named_game
from dilemmazoo.experiments.tournament import main_tournament, play_match, ranking, round_robin

axl = pytest.importorskip("axelrod")

DETERMINISTIC = [
    "TitForTat",
    "Cooperator",
    "Defector",
    "Grudger",
    "WinStayLoseShift",
    "Alternator",
    "SuspiciousTitForTat",
    "TitFor2Tats",
]


def axelrod_scores(names, *, turns, game=None, repetitions=1, seed=1):
    players = [getattr(axl, name)() for name in names]
    tournament = axl.Tournament(players, turns=turns, repetitions=repetitions, seed=seed, game=game)
    results = tournament.play(progress_bar=False)  # serial: no worker processes in tests
    totals = [float(np.mean(scores)) for scores in results.scores]
    per_turn = [float(np.mean(scores)) for scores in results.normalised_scores]
    return totals, per_turn


def test_parity_with_axelrod_tournament_textbook_payoffs():
    totals, per_turn = axelrod_scores(DETERMINISTIC, turns=20)
    ours = round_robin([f"axelrod:{name}" for name in DETERMINISTIC], turns=20, seed=1)
    assert list(ours["strategy"]) == [f"axelrod:{name}" for name in DETERMINISTIC]
    assert list(ours["total"]) == totals
    assert np.allclose(ours["per_turn"], per_turn)


def test_parity_with_akata_payoffs_and_repetitions():
    names = DETERMINISTIC[:6]
    totals, _ = axelrod_scores(names, turns=10, game=axl.Game(r=8, s=0, t=10, p=5), repetitions=2)
    ours = round_robin([f"axelrod:{n}" for n in names], turns=10, game="akata_prisoners_dilemma", repetitions=2)
    assert list(ours["total"]) == totals


def test_our_strategies_score_like_their_axelrod_namesakes():
    ours = ["tit_for_tat", "always_cooperate", "always_defect", "grim", "pavlov"]
    theirs = ["TitForTat", "Cooperator", "Defector", "Grudger", "WinStayLoseShift"]
    mine = round_robin(ours, turns=30)
    totals, _ = axelrod_scores(theirs, turns=30)
    assert list(mine["total"]) == totals


def test_noisy_tournaments_repeat_with_the_seed():
    names = ["tit_for_tat", "axelrod:Random", "axelrod:GTFT", "random"]
    first = round_robin(names, turns=50, noise=0.1, seed=4, repetitions=2)
    assert first.equals(round_robin(names, turns=50, noise=0.1, seed=4, repetitions=2))
    assert not first.equals(round_robin(names, turns=50, noise=0.1, seed=5, repetitions=2))


def test_adapter_plays_through_the_choice_spec():
    env = RepeatedGameEnv(n_rounds=6)
    totals, played = play_match(env, [AxelrodAgent("TitForTat"), AxelrodAgent("Alternator")], seed=0)
    assert played == [(0, 0), (0, 1), (1, 0), (0, 1), (1, 0), (0, 1)]
    assert list(totals) == [3 + 0 + 5 + 0 + 5 + 0, 3 + 5 + 0 + 5 + 0 + 5]


def test_adapter_predicts_and_acts_in_the_predict_first_variant():
    env = RepeatedGameEnv(n_rounds=3, predict_first=True)
    _, played = play_match(env, [AxelrodAgent("TitForTat"), AxelrodAgent("Defector")], seed=0)
    assert played == [(0, 1), (1, 1), (1, 1)]


def test_adapter_errors():
    with pytest.raises(ValueError, match="Did you mean: TitForTat"):
        AxelrodAgent("TitForTatt")
    with pytest.raises(ValueError, match="inspects or manipulates"):
        AxelrodAgent("Darwin")
    assert AxelrodAgent("Tit For Tat").cls is axl.TitForTat
    assert "Grudger" in axelrod_strategy_names()
    with pytest.raises(ValueError, match="symmetric 2x2"):
        rpst_from_payoffs(named_game("battle_of_the_sexes"))
    assert rpst_from_payoffs(named_game("akata_prisoners_dilemma")) == (8, 5, 0, 10)
    env = RepeatedGameEnv(payoffs=np.zeros((3, 3, 2)))
    observations, _ = env.reset(seed=0)
    agent = AxelrodAgent("TitForTat")
    agent.reset("player_0", None, np.random.default_rng(0))
    with pytest.raises(ValueError, match="two moves"):
        agent.act(Decision("player_0", observations["player_0"], "", env.action_spec("player_0"), "", 0, 0))


def test_round_robin_errors_and_cli(tmp_path, capsys):
    with pytest.raises(ValueError, match="at least two"):
        round_robin(["tit_for_tat"], turns=5)
    with pytest.raises(ValueError, match="unknown matrix strategy"):
        round_robin(["tit_for_tat", "nope"], turns=5)
    assert main_tournament(["tit_for_tat", "axelrod:Defector", "--turns", "5", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "axelrod:Defector" in out and "mean score per turn [95% interval]" in out
    assert (tmp_path / "tournament_prisoners_dilemma_t5_r1_s0.csv").exists()


def test_ranking_by_hand():
    # prisoner's dilemma (T, R, P, S) = (5, 3, 1, 0), 10 turns:
    # always_defect: vs TFT 5 + 9*1 = 14, vs grim 14, vs always_cooperate 50 -> per turn 1.4, 1.4, 5.0
    # tit_for_tat: vs always_defect 9, vs grim 30, vs always_cooperate 30 -> 0.9, 3.0, 3.0 (grim the same)
    # always_cooperate: 0, 3.0, 3.0
    table = ranking(["tit_for_tat", "always_defect", "grim", "always_cooperate"], turns=10)
    assert table["strategy"].tolist() == ["always_defect", "tit_for_tat", "grim", "always_cooperate"]
    assert table["rank"].tolist() == [1, 2, 2, 4]  # tit_for_tat and grim tie
    assert table["mean_per_turn"].tolist() == pytest.approx([7.8 / 3, 6.9 / 3, 6.9 / 3, 2.0])
    assert table["total"].tolist() == [78.0, 69.0, 69.0, 60.0] and table["wins"].tolist() == [3.0, 0.0, 0.0, 0.0]
    # 95% t-interval over the three matches of always_defect: mean 2.6, sd 2.078, t(0.975, 2) = 4.3027
    half = 4.302652729749464 * np.std([1.4, 1.4, 5.0], ddof=1) / np.sqrt(3)
    assert (table.loc[0, "ci95_low"], table.loc[0, "ci95_high"]) == pytest.approx((2.6 - half, 2.6 + half))
    two = ranking(["tit_for_tat", "always_defect"], turns=10)  # one match each: no interval
    assert two["ci95_low"].isna().all() and two["rank"].tolist() == [1, 2]


def test_tournament_command_writes_the_ranking_as_csv(tmp_path, capsys):
    import pandas as pd

    target = tmp_path / "ranked.csv"
    assert main_tournament(["tit_for_tat", "always_defect", "grim", "always_cooperate", "--turns", "10",
                            "--csv", str(target)]) == 0
    out = capsys.readouterr().out
    written = pd.read_csv(target)
    assert written.columns.tolist() == ["rank", "strategy", "mean_per_turn", "ci95_low", "ci95_high", "total", "wins"]
    assert written["strategy"].tolist() == ["always_defect", "tit_for_tat", "grim", "always_cooperate"]
    lines = [line for line in out.splitlines() if "always_defect" in line]
    assert len(lines) == 1 and "2.600 [" in lines[0] and lines[0].split()[1] == "1"
    assert f"ranking: {target}" in out


def test_tournament_preset_and_overrides(tmp_path, capsys):
    from dilemmazoo.experiments.tournament import load_tournament, main_tournament, tournament_presets

    assert "axelrod_tournament" in tournament_presets()
    preset = load_tournament("axelrod_tournament")
    assert (preset["turns"], preset["repetitions"], preset["game"]) == (200, 5, "prisoners_dilemma")
    assert main_tournament(["--preset", "axelrod_tournament", "--turns", "4", "--repetitions", "1",
                            "--out", str(tmp_path)]) == 0
    written = tmp_path / "axelrod_tournament_prisoners_dilemma_t4_r1_s0.csv"
    assert len(written.read_text().strip().splitlines()) == 1 + len(preset["strategies"])
    assert f"ranking: {written}" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategies: [tit_for_tat, grim]\nrounds: 3\n")
    with pytest.raises(SystemExit) as info:
        main_tournament(["--preset", str(bad)])
    assert info.value.code == 2 and "unknown tournament settings ['rounds']" in capsys.readouterr().err
