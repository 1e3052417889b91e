"""CoopEval's games on repeated-game-v0: exact payoff tables, equilibria, the asymmetric trust game.

Tables written out by hand from the spec (Tewolde et al. 2026, configs/games/*.yaml and
games/travellers_dilemma.py, trust_game.py).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dilemmazoo.envs import ActionParseError
from dilemmazoo.envs.repeated_game import (
    COOPEVAL_REFERENCE,
    GAME_LABELS,
    RepeatedGameEnv,
    named_game,
    stage_nash_equilibria,
    travellers_dilemma,
)

pytestmark = [pytest.mark.filterwarnings("ignore:Observation is not a NumPy array")]

# (row = player_0, column = player_1) payoffs, profiles in row-major action order.
TWO_BY_TWO = {
    "coopeval_pd": [(2, 2), (0, 3), (3, 0), (1, 1)],  # CC, CD, DC, DD
    "coopeval_stag_hunt": [(5, 5), (0, 3), (3, 0), (3, 3)],  # SS, SH, HS, HH
    "trust": [(10, 10), (0, 20), (6, 2), (4, 4)],  # GG, GK, KG, KK (seat 1, seat 2)
    "matching_pennies": [(1, -1), (-1, 1), (-1, 1), (1, -1)],  # HH, HT, TH, TT
}
# Traveller's dilemma, claims 5, 4, 3, 2 (actions 0..3), bonus 2: equal claims X pay X each;
# else the lower claim L pays L + 2 to its claimant and L - 2 to the other.
TD_ROW = [
    [5, 2, 1, 0],
    [6, 4, 1, 0],
    [5, 5, 3, 0],
    [4, 4, 4, 2],
]
TD_COLUMN = [
    [5, 6, 5, 4],
    [2, 4, 5, 4],
    [1, 1, 3, 4],
    [0, 0, 0, 2],
]
EQUILIBRIA = {
    "coopeval_pd": [(1, 1)],
    "coopeval_stag_hunt": [(0, 0), (1, 1)],
    "trust": [(1, 1)],  # Keep/Keep, unique
    "matching_pennies": [],  # no pure equilibrium
    "travellers_dilemma": [(3, 3)],  # both claim 2, the lowest
}


def _expected(name: str, i: int, j: int) -> tuple[float, float]:
    if name == "travellers_dilemma":
        return TD_ROW[i][j], TD_COLUMN[i][j]
    return TWO_BY_TWO[name][2 * i + j]


@pytest.mark.parametrize("name", sorted(TWO_BY_TWO))
def test_two_by_two_tables_are_exact(name):
    payoffs = named_game(name)
    assert payoffs.shape == (2, 2, 2)
    cells = [tuple(payoffs[i, j]) for i, j in itertools.product(range(2), range(2))]
    assert cells == [tuple(float(v) for v in cell) for cell in TWO_BY_TWO[name]]


def test_travellers_dilemma_table_is_exact():
    payoffs = named_game("travellers_dilemma")
    assert payoffs.shape == (4, 4, 2)
    assert payoffs[:, :, 0].tolist() == TD_ROW
    assert payoffs[:, :, 1].tolist() == TD_COLUMN
    assert np.array_equal(payoffs[:, :, 1], payoffs[:, :, 0].T)  # symmetric game
    assert GAME_LABELS["travellers_dilemma"] == ("5", "4", "3", "2")


def test_travellers_dilemma_parameters():
    # claims 5 and 2 (spacing 3), bonus 1
    small = travellers_dilemma(min_claim=2, n_claims=2, claim_spacing=3, bonus=1)
    assert small.tolist() == [[[5, 5], [1, 3]], [[3, 1], [2, 2]]]
    assert np.array_equal(travellers_dilemma(), named_game("travellers_dilemma"))
    for kwargs in [{"n_claims": 1}, {"n_claims": 2.5}, {"bonus": 0}, {"claim_spacing": -1}, {"min_claim": float("nan")}]:
        with pytest.raises(ValueError, match="n_claims|bonus|claim_spacing|min_claim"):
            travellers_dilemma(**kwargs)


@pytest.mark.parametrize("name", [*sorted(TWO_BY_TWO), "travellers_dilemma"])
def test_world_pays_every_profile(name):
    n = named_game(name).shape[0]
    for i, j in itertools.product(range(n), range(n)):
        env = RepeatedGameEnv(game=name, n_rounds=1)
        env.reset(seed=0)
        _, rewards, terminations, _, infos = env.step({"player_0": np.int64(i), "player_1": np.int64(j)})
        assert (rewards["player_0"], rewards["player_1"]) == _expected(name, i, j)
        assert all(terminations.values()) and infos["player_1"]["other_played"] == i


@pytest.mark.parametrize("name", sorted(EQUILIBRIA))
def test_stage_equilibria(name):
    assert stage_nash_equilibria(named_game(name)) == EQUILIBRIA[name]


def test_trust_keeping_is_dominant_for_the_trustee_and_the_investor_matches():
    p = named_game("trust")
    give, keep = 0, 1
    assert all(p[i, keep, 1] > p[i, give, 1] for i in (give, keep))  # seat 2: 20 > 10, 4 > 2
    assert p[give, give, 0] > p[keep, give, 0] and p[keep, keep, 0] > p[give, keep, 0]  # seat 1: 10 > 6, 4 > 0
    assert not np.array_equal(p[:, :, 1], p[:, :, 0].T)  # seat-asymmetric


def test_trust_rules_give_each_seat_its_own_side():
    env = RepeatedGameEnv(game="trust", n_rounds=1)
    investor, trustee = env.rules("player_0"), env.rules("player_1")
    assert ("If you choose Option Give and the other player chooses Option Keep, then you win 0 points "
            "and the other player wins 20 points.") in investor
    assert ("If you choose Option Keep and the other player chooses Option Give, then you win 6 points "
            "and the other player wins 2 points.") in investor
    assert ("If you choose Option Give and the other player chooses Option Keep, then you win 2 points "
            "and the other player wins 6 points.") in trustee
    assert ("If you choose Option Keep and the other player chooses Option Give, then you win 20 points "
            "and the other player wins 0 points.") in trustee
    assert investor.startswith("You are playing a game once with another player.")
    assert "You will play 1 round." in investor and investor.endswith("as many points as possible.")


def test_repeated_rules_keep_their_wording():
    rules = RepeatedGameEnv(game="coopeval_pd", n_rounds=15).rules("player_0")
    assert rules.startswith("You are playing a game repeatedly with another player. In this game, you can choose "
                            "between Option Cooperate and Option Defect. You will play 15 rounds in total with the "
                            "same player. The rules of the game are as follows:")
    assert rules.endswith("Your goal is to win as many points as possible over all rounds.")


def test_claims_and_indexed_labels_parse():
    spec = RepeatedGameEnv(game="travellers_dilemma").action_spec("player_0")
    assert spec.labels == ("5", "4", "3", "2")
    assert spec.parse("Answer: 5") == 0 and spec.parse("Answer: Option 2") == 3
    with pytest.raises(ActionParseError):
        spec.parse("Answer: 6")
    indexed = RepeatedGameEnv(game="travellers_dilemma", labels="indexed").action_spec("player_0")
    assert indexed.labels == ("A0", "A1", "A2", "A3") and indexed.parse("Answer: A2") == 2
    assert RepeatedGameEnv(game="trust", labels="indexed").labels == ("A0", "A1")
    with pytest.raises(ValueError, match="indexed"):
        RepeatedGameEnv(game="trust", labels="numbered")


def test_existing_names_keep_their_payoffs():
    assert named_game("prisoners_dilemma").tolist() == [[[3, 3], [0, 5]], [[5, 0], [1, 1]]]
    assert named_game("stag_hunt").tolist() == [[[4, 4], [1, 3]], [[3, 1], [2, 2]]]


@pytest.mark.parametrize("name", ["coopeval_pd", "travellers_dilemma", "trust", "coopeval_stag_hunt"])
def test_coopeval_reference_points_are_the_tables(name):
    # NE: the mean payoff per player at the (payoff-dominated) pure equilibrium, here the last
    # one listed; coop: at action 0 for both (cooperate, top claim, give, stag).
    p = named_game(name)
    nash, cooperative = COOPEVAL_REFERENCE[name]
    i, j = stage_nash_equilibria(p)[-1]
    assert p[i, j].mean() == nash
    assert p[0, 0].mean() == cooperative
    assert COOPEVAL_REFERENCE["matching_pennies"] == (-1.0, 0.0)  # as CoopEval publishes it
