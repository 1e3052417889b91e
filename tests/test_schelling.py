"""Schelling diagrams: the payoffs measured by running the worlds equal the hand-computed ones,
and the social-dilemma conditions (Macy & Flache 2002, Hughes et al. 2018) read off them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dilemmazoo.analysis.schelling import dilemma_conditions, plot_schelling, schelling_curves
from dilemmazoo.experiments.schelling import SCHELLING_SETUPS, schelling_diagram, schelling_payoffs

# Axelrod's prisoner's dilemma, per round.
R, S, T, P = 3.0, 0.0, 5.0, 1.0
# A harmony game: cooperating is best whatever the other does (no greed: T < R, no fear: P < S).
HARMONY = [[(4, 4), (2, 3)], [(3, 2), (1, 1)]]


def payoff(frame: pd.DataFrame, role: str, others: int) -> float:
    row = frame[(frame["role"] == role) & (frame["others_cooperating"] == others)]
    assert len(row) == 1
    return float(row["payoff"].iloc[0])


def test_repeated_prisoners_dilemma_equals_the_payoff_table_times_the_rounds():
    rounds = 7
    frame = schelling_payoffs("repeated_game", world_kwargs={"n_rounds": rounds})
    assert payoff(frame, "cooperator", 1) == pytest.approx(R * rounds)  # 21
    assert payoff(frame, "cooperator", 0) == pytest.approx(S * rounds)  # 0
    assert payoff(frame, "defector", 1) == pytest.approx(T * rounds)  # 35
    assert payoff(frame, "defector", 0) == pytest.approx(P * rounds)  # 7
    assert len(frame) == 4 and set(frame["n"]) == {2}
    # one cooperator and one defector: the group mean is (S + T) / 2 per round
    mixed = frame[frame["cooperators"] == 1]["group_payoff"]
    assert mixed.tolist() == pytest.approx([(S + T) / 2 * rounds] * 2)
    C, D = schelling_curves(frame)
    np.testing.assert_allclose(C, [S * rounds, R * rounds])
    np.testing.assert_allclose(D, [P * rounds, T * rounds])


def test_prisoners_dilemma_meets_every_dilemma_condition():
    result = dilemma_conditions(schelling_payoffs("repeated_game", world_kwargs={"n_rounds": 1}))
    assert (result["R"], result["S"], result["T"], result["P"]) == (R, S, T, P)
    holds = {c["name"]: (c["left"], c["right"], c["holds"]) for c in result["conditions"]}
    assert holds == {
        "R > P": (3.0, 1.0, True),
        "R > S": (3.0, 0.0, True),
        "2R > T + S": (6.0, 5.0, True),
        "greed: T > R": (5.0, 3.0, True),
        "fear: P > S": (1.0, 0.0, True),
    }
    assert result["greed"] and result["fear"] and result["social_dilemma"]
    assert result["defection_pays_at"] == [0, 1]


def test_harmony_game_is_not_a_social_dilemma():
    frame = schelling_payoffs("repeated_game", world_kwargs={"game": None, "payoffs": HARMONY, "n_rounds": 2})
    assert schelling_curves(frame)[0].tolist() == [4.0, 8.0]  # S = 2, R = 4 per round
    assert schelling_curves(frame)[1].tolist() == [2.0, 6.0]  # P = 1, T = 3 per round
    result = dilemma_conditions(frame)
    assert not result["greed"] and not result["fear"]
    assert result["defection_pays_at"] == []
    assert result["social_dilemma"] is False


def test_stag_hunt_has_fear_but_no_greed():
    # R4 T3 P2 S1: a dilemma by fear alone (Macy & Flache's "assurance" game)
    result = dilemma_conditions(schelling_payoffs("repeated_game", world_kwargs={"game": "stag_hunt", "n_rounds": 1}))
    assert result["fear"] and not result["greed"]
    assert result["defection_pays_at"] == [0]
    assert result["social_dilemma"]


def curves_frame(cooperator: list[float], defector: list[float]) -> pd.DataFrame:
    """A Schelling frame written by hand (no world run)."""
    n = len(cooperator)
    rows = [{"others_cooperating": i, "role": "cooperator", "payoff": v, "n": n} for i, v in enumerate(cooperator)]
    rows += [{"others_cooperating": i, "role": "defector", "payoff": v, "n": n} for i, v in enumerate(defector)]
    return pd.DataFrame(rows)


def test_n_player_verdicts_of_macy_flache_and_hughes():
    # 3 players: R = C(2) = 10, S = C(0) = 1, T = D(2) = 30, P = D(0) = 2. A lone defector gains so
    # much that 2R = 20 < T + S = 31: Macy & Flache's condition 3 fails, Hughes et al.'s n-player
    # definition (R > P, R > S, fear or greed) holds, and for n > 2 that is the verdict.
    result = dilemma_conditions(curves_frame([1.0, 4.0, 10.0], [2.0, 6.0, 30.0]))
    assert (result["R"], result["S"], result["T"], result["P"]) == (10.0, 1.0, 30.0, 2.0)
    assert [c["holds"] for c in result["conditions"]] == [True, True, False, True, True]
    assert result["conditions"][2]["curves"] == "2 C(2) > D(2) + C(0)"
    assert not result["macy_flache"] and result["hughes"] and result["social_dilemma"]
    # deadlock-like: mutual defection beats mutual cooperation (R = 3 < P = 4): no dilemma by either
    deadlock = dilemma_conditions(curves_frame([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]))
    assert not deadlock["conditions"][0]["holds"] and not deadlock["hughes"] and not deadlock["social_dilemma"]


def test_equal_payoffs_with_float_rounding_are_not_an_inequality():
    result = dilemma_conditions(curves_frame([0.1 + 0.2, 3.0], [0.3, 3.0 + 1e-13]))
    assert not result["fear"] and not result["greed"] and result["defection_pays_at"] == []
    assert dilemma_conditions(curves_frame([0.3, 3.0], [0.3, 3.001]))["greed"]


def test_donor_game_follows_the_donation_rule():
    # 2 players, 2 rounds, 10 units, b = 2, cooperators give half of what they hold.
    # Both cooperate: the round-1 donor gives 5 (keeps 5, the other has 10 + 10 = 20); in round 2
    # the other gives 10 (keeps 10) and the first has 5 + 20 = 25: returns +15 and 0, mean 7.5.
    # A cooperator with a defector gives 5 once and gets nothing: -5; the defector gets +10.
    frame = schelling_payoffs(
        "donor_game", n=2,
        world_kwargs={"n_rounds": 2, "endowment": 10.0, "donation_multiplier": 2.0},
        cooperate=("fixed_fraction", {"fraction": 0.5}), seeds=(0, 1, 2),
    )
    assert payoff(frame, "cooperator", 1) == pytest.approx(7.5)
    assert payoff(frame, "cooperator", 0) == pytest.approx(-5.0)
    assert payoff(frame, "defector", 1) == pytest.approx(10.0)
    assert payoff(frame, "defector", 0) == pytest.approx(0.0)
    assert set(frame["episodes"]) == {3}
    result = dilemma_conditions(frame)
    assert [c["holds"] for c in result["conditions"]] == [True, True, True, True, True]  # 2R = 15 > T + S = 5


def test_commons_sustainable_group_and_greedy_group_by_hand():
    # GovSim without talk, 5 players, 12 months: sustainable players take f(t) // n = 10 each
    # month and the stock doubles back to 100, so 120 each; greedy players (a fifth of the stock,
    # 20 each) empty it in month 1 and the resource collapses: 20 each.
    frame = schelling_payoffs("commons")
    assert payoff(frame, "cooperator", 4) == pytest.approx(120.0)
    assert payoff(frame, "defector", 0) == pytest.approx(20.0)
    assert sorted(frame["others_cooperating"].unique()) == [0, 1, 2, 3, 4]
    assert dilemma_conditions(frame)["social_dilemma"]


def test_team_production_by_hand():
    # Pant & Yu's base payoff pi_i = omega S^beta / n - c a_i; with k full-effort members (a_max)
    # and the rest free riding (a_min): S = k a_max + (n - k) a_min.
    omega, beta, c, a_min, a_max, n = 25.0, 0.7, 1.0, 0.01, 50.0, 3
    frame = schelling_payoffs("team_production", n=n)

    def share(k: int) -> float:
        return omega * (k * a_max + (n - k) * a_min) ** beta / n

    for others in range(n):
        assert payoff(frame, "cooperator", others) == pytest.approx(share(others + 1) - c * a_max)
        assert payoff(frame, "defector", others) == pytest.approx(share(others) - c * a_min)
    # full effort beats free riding at every l for 3 members (the extra 50 units raise one's share
    # of Q by more than their cost c a_max): no greed, no fear, no dilemma between these two efforts
    three = dilemma_conditions(frame)
    assert three["defection_pays_at"] == [] and not three["social_dilemma"]
    # at the paper's 5 members a lone free rider among workers gains (T > R: greed), while a lone
    # worker still out-earns a free rider among free riders (no fear): a dilemma by greed alone
    five = dilemma_conditions(schelling_payoffs("team_production"))
    assert five["T"] == pytest.approx(omega * (4 * a_max + a_min) ** beta / 5 - c * a_min)
    assert five["R"] == pytest.approx(omega * (5 * a_max) ** beta / 5 - c * a_max)
    assert five["greed"] and not five["fear"] and five["social_dilemma"]
    assert five["defection_pays_at"] == [1, 2, 3, 4]  # shirking pays once anyone else works


def test_seeded_runs_reproduce_and_seeds_matter():
    kwargs = {"n": 4, "world_kwargs": {"n_rounds": 4}, "episodes": 2}
    first = schelling_payoffs("donor_game", seeds=(0, 1), **kwargs)
    again = schelling_payoffs("donor_game", seeds=(0, 1), **kwargs)
    pd.testing.assert_frame_equal(first, again)
    other = schelling_payoffs("donor_game", seeds=(5, 6), **kwargs)
    assert not np.allclose(first["payoff"], other["payoff"])  # random halves and seats differ


def test_any_registered_world_with_strategies():
    frame = schelling_payoffs("repeated-game", cooperate="always_cooperate", defect="always_defect",
                              world_kwargs={"n_rounds": 1})
    assert schelling_curves(frame)[0].tolist() == [S, R]
    with pytest.raises(ValueError, match="give cooperate and defect"):
        schelling_payoffs("repeated-game")


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("no_such_world",), {}, "unknown world 'no_such_world'"),
        ((3,), {}, "world must be a Schelling setup name"),
        (("donor_game",), {"n": 1}, "n must be an integer of at least 2"),
        (("repeated_game",), {"n": 3}, "fixed number of players"),
        (("donor_game",), {"seeds": ()}, "seeds must be"),
        (("donor_game",), {"episodes": 0}, "episodes must be"),
        (("donor_game",), {"cooperate": "no_such_strategy"}, "unknown scripted strategy"),
        (("donor_game",), {"cooperate": 5}, "cooperate must be a scripted strategy name"),
    ],
)
def test_bad_inputs_raise_clear_value_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        schelling_payoffs(*args, **kwargs)


def test_incomplete_frames_are_refused():
    frame = schelling_payoffs("repeated_game", world_kwargs={"n_rounds": 1})
    with pytest.raises(ValueError, match="payoff"):
        dilemma_conditions(frame.drop(columns="payoff"))
    with pytest.raises(ValueError, match="cooperator curve needs one payoff"):
        dilemma_conditions(frame[~((frame["role"] == "cooperator") & (frame["others_cooperating"] == 0))])


def test_diagram_in_one_call_draws_both_curves_and_the_group_mean():
    frame, figure = schelling_diagram("repeated_game", world_kwargs={"n_rounds": 1})
    try:
        assert isinstance(figure, Figure)
        lines = figure.axes[0].get_lines()
        assert [list(line.get_ydata()) for line in lines] == [[S, R], [P, T], [P, (S + T) / 2, R]]
        assert lines[2].get_linestyle() == "--"
        assert figure.axes[0].get_xlabel() == "number of other cooperators"
    finally:
        plt.close(figure)
    bare = plot_schelling(frame[["others_cooperating", "role", "payoff"]], group_mean=False)
    assert len(bare.axes[0].get_lines()) == 2
    plt.close(bare)


def test_every_setup_names_a_registered_world():
    from dilemmazoo.envs import list_worlds

    assert set(SCHELLING_SETUPS) >= {"repeated_game", "donor_game", "commons", "team_production"}
    for name, setup in SCHELLING_SETUPS.items():
        assert setup.world in list_worlds(), name
        frame = schelling_payoffs(name)
        cooperator, defector = schelling_curves(frame)
        assert len(cooperator) == len(defector) == setup.n, name
        assert frame.attrs["setup"] == name and frame.attrs["world"] == setup.world
