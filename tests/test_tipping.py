"""Tipping analysis: adoption curves with hand-computed t-intervals, planted tipping points
found at their round (steps, ramps, noise) and none on flat curves, the extractors of the
Donor Game and GovSim records, the backend table and the figures."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dilemmazoo.analysis.tipping import (
    NEVER_COLOUR,
    TippingPoint,
    adoption_curve,
    commons_overuse_by_month,
    compare_backends,
    default_penalty,
    detect_tipping,
    donor_cooperation_by_generation,
    first_adoption_round,
    plot_adoption,
    plot_diffusion,
)

N_ROUNDS = 20


def step_curve(r: int, low: float = 0.1, high: float = 0.9, n: int = N_ROUNDS) -> np.ndarray:
    """``low`` in rounds 1 .. r-1, ``high`` from round r on."""
    return np.where(np.arange(1, n + 1) >= r, high, low)


# --- detect_tipping on planted curves ---------------------------------------------------------


@pytest.mark.parametrize("method", ["pelt", "binseg"])
@pytest.mark.parametrize("r", [2, 5, 10, 14, 20])
def test_a_step_tips_at_its_round(r, method):
    tip = detect_tipping(step_curve(r), method=method)
    assert tip.round == r
    assert tip.size == pytest.approx(0.8)
    assert (tip.before, tip.after) == (pytest.approx(0.1), pytest.approx(0.9))
    assert tip.method == method
    assert tip.penalty == pytest.approx(0.1**2 / 4)  # noise-free: the min_jump floor


@pytest.mark.parametrize("r", [4, 9, 16])
def test_a_falling_step_tips_at_its_round_with_a_negative_size(r):
    tip = detect_tipping(step_curve(r, low=0.8, high=0.2))
    assert tip.round == r and tip.size == pytest.approx(-0.6)


@pytest.mark.parametrize("method", ["pelt", "binseg"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_a_noisy_step_tips_at_its_round(seed, method):
    rng = np.random.default_rng(seed)
    curve = np.r_[np.full(12, 0.2), np.full(18, 0.7)] + rng.normal(0.0, 0.05, 30)
    tip = detect_tipping(curve, method=method)
    assert tip.round == 13
    assert tip.size == pytest.approx(0.5, abs=0.06)


@pytest.mark.parametrize("method", ["pelt", "binseg"])
def test_a_ramp_tips_at_its_middle(method):
    # 0 in rounds 1-10, 0.1 .. 0.9 in rounds 11-19, 1 in rounds 20-29: half adoption in round 15
    curve = np.r_[np.zeros(10), np.linspace(0.0, 1.0, 11)[1:-1], np.ones(10)]
    tip = detect_tipping(curve, method=method)
    assert tip.round == 15
    assert (tip.before, tip.after, tip.size) == (0.0, 1.0, 1.0)


def test_a_steeper_ramp_elsewhere_tips_at_its_middle():
    # 0.2 in rounds 1-6, then rounds 7-9 at 0.4, 0.6, 0.8, 1.0 from round 10 (mid level 0.6: round 8)
    curve = np.r_[np.full(6, 0.2), [0.4, 0.6, 0.8], np.ones(11)]
    tip = detect_tipping(curve)
    assert tip.round == 8 and tip.size == pytest.approx(0.8)


@pytest.mark.parametrize("method", ["pelt", "binseg"])
def test_a_flat_curve_has_no_tip(method):
    tip = detect_tipping(np.full(N_ROUNDS, 0.4), method=method)
    assert tip == TippingPoint(None, 0.0, pytest.approx(0.4), pytest.approx(0.4), method, pytest.approx(0.0025))


@pytest.mark.parametrize("method", ["pelt", "binseg"])
@pytest.mark.parametrize("seed", range(10))
def test_a_flat_curve_with_small_noise_has_no_tip(seed, method):
    rng = np.random.default_rng(seed)
    tip = detect_tipping(0.5 + rng.normal(0.0, 0.03, 30), method=method)
    assert tip.round is None and tip.size == 0.0


def test_a_change_below_min_jump_is_no_tip_and_above_it_is():
    curve = step_curve(8, low=0.50, high=0.55)
    assert detect_tipping(curve).round is None
    tip = detect_tipping(curve, min_jump=0.01)
    assert tip.round == 8 and tip.size == pytest.approx(0.05)


def test_the_largest_transition_is_the_tip():
    # up 0.1 at round 5, up 0.6 at round 12: the larger one; the two rises are one transition
    # only when adjacent in the segmentation, and here they are (no fall between): 0.1 -> 0.8
    # with its half-way level 0.45 first reached in round 12
    curve = np.r_[np.full(4, 0.1), np.full(7, 0.2), np.full(9, 0.8)]
    tip = detect_tipping(curve)
    assert tip.round == 12 and tip.size == pytest.approx(0.7)
    # a rise then a larger fall: the fall is the tip
    curve = np.r_[np.full(5, 0.3), np.full(5, 0.5), np.full(10, 0.0)]
    tip = detect_tipping(curve)
    assert tip.round == 11 and tip.size == pytest.approx(-0.5)


def test_rounds_come_from_a_series_index_or_an_adoption_frame():
    series = pd.Series(step_curve(6), index=range(101, 101 + N_ROUNDS))
    assert detect_tipping(series).round == 106
    frame = pd.DataFrame({"generation": range(1, N_ROUNDS + 1), "mean": step_curve(9), "low": np.nan,
                          "high": np.nan, "n": 1})
    frame.attrs["by"] = "generation"
    assert detect_tipping(frame).round == 9


def test_default_penalty_is_bic_of_the_difference_noise_or_the_min_jump_floor():
    assert default_penalty(step_curve(5), 0.2) == pytest.approx(0.01)
    # differences 0.1, -0.1, 0.3, -0.3, 0: median 0, absolute deviations 0.1, 0.1, 0.3, 0.3, 0,
    # MAD 0.1, sigma = 0.1 / (0.6745 sqrt 2); six values: 2 sigma^2 ln 6 = 0.0394 > the floor 0.0025
    curve = [0.0, 0.1, 0.0, 0.3, 0.0, 0.0]
    sigma = 0.1 / (0.6744897501960817 * math.sqrt(2))
    assert default_penalty(curve) == pytest.approx(2 * sigma**2 * math.log(6))
    assert default_penalty(curve) == pytest.approx(0.03938, abs=1e-5)


def test_an_explicit_penalty_is_used():
    # a huge penalty allows no change at all
    assert detect_tipping(step_curve(5), penalty=100.0).round is None
    assert detect_tipping(step_curve(5), penalty=0.5).penalty == 0.5


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "dynp"}, "method"),
    ({"min_size": 0}, "min_size"),
    ({"min_jump": -0.1}, "min_jump"),
    ({"penalty": 0.0}, "penalty"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        detect_tipping(step_curve(5), **kwargs)


def test_bad_curves_are_refused():
    with pytest.raises(ValueError, match="finite"):
        detect_tipping([0.1, float("nan"), 0.3])
    with pytest.raises(ValueError, match="one-dimensional"):
        detect_tipping(np.zeros((3, 2)))


# --- adoption curves --------------------------------------------------------------------------


def records() -> pd.DataFrame:
    """Two episodes, two rounds, two agents; one fallback row (value 1) that must not count."""
    rows = [
        # episode, round, agent, collective, fallback_used
        (0, 1, "a", 0, False), (0, 1, "b", 1, False), (0, 2, "a", 1, False), (0, 2, "b", 1, False),
        (1, 1, "a", 0, False), (1, 1, "b", 0, False), (1, 2, "a", 1, False), (1, 2, "b", 0, False),
        (1, 2, "c", 1, True),
    ]
    return pd.DataFrame(rows, columns=["episode", "round", "agent", "collective", "fallback_used"])


def test_adoption_curve_means_per_replicate_then_t_interval_over_replicates():
    curve = adoption_curve(records(), "collective")
    assert curve["round"].tolist() == [1, 2]
    assert curve["n"].tolist() == [2, 2]
    # round 1: episode means 0.5 and 0.0; round 2: 1.0 and 0.5 (the fallback row left out)
    assert curve["mean"].tolist() == pytest.approx([0.25, 0.75])
    half = 12.706204736174707 * math.sqrt(0.125) / math.sqrt(2)  # t_{0.975, 1} s / sqrt(n), s^2 = 0.125
    assert curve["low"].tolist() == pytest.approx([0.25 - half, 0.75 - half])
    assert curve["high"].tolist() == pytest.approx([0.25 + half, 0.75 + half])
    assert curve.attrs["by"] == "round" and curve.attrs["group"] == "episode"


def test_adoption_curve_over_one_replicate_has_no_band():
    curve = adoption_curve(records()[records()["episode"] == 0], "collective")
    assert curve["mean"].tolist() == [0.5, 1.0]
    assert curve["low"].isna().all() and curve["high"].isna().all()


def test_adoption_curve_by_seed_and_missing_values():
    steps = records().assign(seed=lambda f: f["episode"] + 7, collective=lambda f: f["collective"].astype(float))
    steps.loc[0, "collective"] = np.nan  # agent a did not decide: the round-1 mean of seed 7 is b's 1.0
    curve = adoption_curve(steps, "collective", group="seed")
    assert curve["mean"].tolist() == pytest.approx([0.5, 0.75])


def test_adoption_curve_errors_name_the_argument():
    with pytest.raises(ValueError, match="nope"):
        adoption_curve(records(), "nope")
    with pytest.raises(ValueError, match="by and group"):
        adoption_curve(records(), "collective", by="episode", group="episode")


def test_tipping_of_an_adoption_curve_from_many_episodes():
    rows = []
    for episode in range(4):
        for rnd in range(1, 13):
            for agent in range(5):
                # agent i adopts from round 6 on, except agent 4 in the odd episodes
                adopted = int(rnd >= 6 and not (agent == 4 and episode % 2))
                rows.append((episode, rnd, f"agent_{agent}", adopted))
    steps = pd.DataFrame(rows, columns=["episode", "round", "agent", "collective"])
    curve = adoption_curve(steps, "collective")
    assert curve["mean"].iloc[-1] == pytest.approx(0.9)
    tip = detect_tipping(curve)
    assert tip.round == 6 and tip.size == pytest.approx(0.9)


# --- backends compared ------------------------------------------------------------------------


def run(tip_round: int | None, n_rounds: int = 10, episodes: int = 3) -> pd.DataFrame:
    rows = [(e, r, f"agent_{a}", int(tip_round is not None and r >= tip_round))
            for e in range(episodes) for r in range(1, n_rounds + 1) for a in range(4)]
    return pd.DataFrame(rows, columns=["episode", "round", "agent", "violated"])


def test_compare_backends_one_row_per_backend():
    table = compare_backends({"model-a": run(4), "model-b": run(None)}, "violated")
    assert table["backend"].tolist() == ["model-a", "model-b"]
    assert table["final_rate"].tolist() == [1.0, 0.0]
    assert table["tipping_round"].tolist() == [4, None]
    assert table["tipping_size"].tolist() == [1.0, 0.0]
    assert table["n"].tolist() == [3, 3] and table["rounds"].tolist() == [10, 10]
    with pytest.raises(ValueError, match="runs"):
        compare_backends({}, "violated")


# --- extractors -------------------------------------------------------------------------------


def test_donor_cooperation_counts_what_donors_gave():
    steps = pd.DataFrame({
        "generation": [1, 1, 1, 1, 2, 2],
        "game": [1, 1, 1, 1, 1, 1],
        "episode": [0, 0, 0, 0, 1, 1],
        "round": [1, 1, 2, 2, 1, 1],
        "agent": ["p0", "p1", "p0", "p1", "p0", "p1"],
        "role": ["donor", "recipient", "donor", "donor", "donor", "donor"],
        "move": ["donate", "", "punish", "refuse", "donate", "abstain"],
        "fraction": [0.3, np.nan, 0.2, 0.0, 0.6, 0.0],
        "fallback_used": [False, False, False, False, False, True],
    })
    frame = donor_cooperation_by_generation(steps)
    assert frame["cooperation"].tolist() == [0.3, 0.0, 0.0, 0.6]  # punish and refuse give nothing
    assert frame["generation"].tolist() == [1, 1, 1, 2]
    curve = adoption_curve(frame, "cooperation", by="generation", group="game")
    assert curve["mean"].tolist() == pytest.approx([0.1, 0.6])
    with pytest.raises(ValueError, match="donor-game"):
        donor_cooperation_by_generation(steps.drop(columns="move"))


def test_commons_overuse_is_a_request_above_the_threshold():
    steps = pd.DataFrame({
        "episode": [0, 0, 0, 0, 0, 0],
        "round": [1, 1, 1, 2, 2, 2],
        "agent": ["a", "b", "c", "a", "b", "c"],
        "phase": ["harvest"] * 5 + ["talk"],
        "requested": [10.0, 11.0, 30.0, 8.0, 20.0, -1.0],
        "threshold": [10.0, 10.0, 10.0, 9.0, 9.0, 9.0],
        "present": [True, True, False, True, True, True],
        "fallback_used": [False, False, False, False, True, False],
    })
    frame = commons_overuse_by_month(steps)
    # c is absent in month 1, b's month-2 harvest is a fallback, c's month-2 row is talk
    assert list(zip(frame["round"], frame["agent"], frame["overuse"])) == [(1, "a", 0.0), (1, "b", 1.0), (2, "a", 0.0)]
    assert adoption_curve(frame, "overuse")["mean"].tolist() == [0.5, 0.0]


# --- figures ----------------------------------------------------------------------------------


def test_plot_adoption_draws_bands_and_the_tipping_line():
    curve = adoption_curve(run(4), "violated")
    tip = detect_tipping(curve)
    figure = plot_adoption({"model-a": curve}, tipping=tip)
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    vertical = [line for line in axes.lines if list(line.get_xdata()) == [4, 4]]
    assert len(vertical) == 1
    assert list(axes.lines[0].get_ydata()) == curve["mean"].tolist()
    plt.close(figure)
    empty = plot_adoption({})
    assert "no adoption values" in empty.axes[0].texts[0].get_text()
    plt.close(empty)


def test_plot_diffusion_colours_nodes_by_adoption_round_and_never_grey():
    graph = nx.path_graph(4)
    figure = plot_diffusion(graph, {0: 1, 1: 2, 2: 3, 3: None})
    axes = figure.axes[0]
    collections = [c for c in axes.collections if len(c.get_offsets()) and c.get_facecolors().shape[0]]
    never, adopted = collections[-2], collections[-1]  # drawn after the edges: never first, then adopters
    assert len(never.get_offsets()) == 1 and len(adopted.get_offsets()) == 3
    grey = plt.matplotlib.colors.to_rgba(NEVER_COLOUR)
    assert tuple(never.get_facecolors()[0]) == pytest.approx(grey)
    colours = adopted.get_facecolors()
    viridis = plt.matplotlib.colormaps["viridis"]
    assert tuple(colours[0]) == pytest.approx(viridis(0.0)) and tuple(colours[2]) == pytest.approx(viridis(1.0))
    assert "3 of 4 adopted" in axes.get_title()
    plt.close(figure)
    with pytest.raises(ValueError, match="not in the graph"):
        plot_diffusion(graph, {9: 1})


def test_first_adoption_round_per_agent_for_the_diffusion_plot():
    steps = pd.DataFrame({
        "episode": [0] * 6 + [1] * 2,
        "round": [1, 1, 2, 2, 3, 3, 1, 1],
        "agent": ["a", "b"] * 4,
        "collective": [0, 0, 1, 0, 1, 1, 1, 1],
        "fallback_used": [False, False, False, False, False, True, False, False],
    })
    assert first_adoption_round(steps, "collective") == {"a": 2, "b": None}  # b's round-3 row is a fallback
    assert first_adoption_round(steps, "collective", episode=1) == {"a": 1, "b": 1}
    with pytest.raises(ValueError, match="episode 5"):
        first_adoption_round(steps, "collective", episode=5)
