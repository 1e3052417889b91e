"""Round-robin tournaments: parity with axelrod.Tournament, and the Axelrod adapter."""

from __future__ import annotations

import numpy as np
import pytest

from dilemmazoo.agents.axelrod_adapter import AxelrodAgent, axelrod_strategy_names, rpst_from_payoffs
from dilemmazoo.agents.base import Decision
from dilemmazoo.envs.repeated_game import RepeatedGameEnv, named_game
from dilemmazoo.experiments.tournament import main_tournament, play_match, round_robin

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


def test_round_robin_errors_and_cli(capsys):
    with pytest.raises(ValueError, match="at least two"):
        round_robin(["tit_for_tat"], turns=5)
    with pytest.raises(ValueError, match="unknown matrix strategy"):
        round_robin(["tit_for_tat", "nope"], turns=5)
    assert main_tournament(["tit_for_tat", "axelrod:Defector", "--turns", "5"]) == 0
    out = capsys.readouterr().out
    assert "axelrod:Defector" in out and "total" in out


def test_tournament_preset_and_overrides(tmp_path, capsys):
    from dilemmazoo.experiments.tournament import load_tournament, main_tournament, tournament_presets

    assert "axelrod_tournament" in tournament_presets()
    preset = load_tournament("axelrod_tournament")
    assert (preset["turns"], preset["repetitions"], preset["game"]) == (200, 5, "prisoners_dilemma")
    assert main_tournament(["--preset", "axelrod_tournament", "--turns", "4", "--repetitions", "1"]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert len(table) == 1 + len(preset["strategies"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategies: [tit_for_tat, grim]\nrounds: 3\n")
    with pytest.raises(SystemExit) as info:
        main_tournament(["--preset", str(bad)])
    assert info.value.code == 2 and "unknown tournament settings ['rounds']" in capsys.readouterr().err
