"""Exact tests of the pure institution rules: monitoring with (graduated) sanctions (Gupta et al.,
arXiv 2510.14401; Ostrom 1990) and propose-then-vote by plurality."""

from __future__ import annotations

import numpy as np
import pytest

from dilemmazoo.envs.institutions.sanctions import check_sanction_terms, graduated_fine, monitor_and_punish
from dilemmazoo.envs.institutions.voting import distinct_proposals, elect, is_vote_round, option_of_seat, plurality
from dilemmazoo.norms.sanctions import MonitoringPunishment
from dilemmazoo.norms.voting import ProposeThenVote

# --------------------------------------------------------------------------------------------
# Graduated fines
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "offences, graduated, expected",
    [
        (0, True, 2.0),  # first offence: the base fine
        (1, True, 4.0),
        (2, True, 6.0),
        (7, True, 6.0),  # capped at max_multiplier = 3
        (0, False, 2.0),
        (7, False, 2.0),  # not graduated: the record does not matter
    ],
)
def test_graduated_fine_table(offences, graduated, expected):
    assert graduated_fine(2.0, offences, graduated=graduated, max_multiplier=3.0) == expected


def test_graduated_fine_on_arrays_and_fractional_cap():
    fines = graduated_fine(1.5, np.array([0, 1, 2, 3]), graduated=True, max_multiplier=2.5)
    np.testing.assert_allclose(fines, [1.5, 3.0, 3.75, 3.75])


def test_graduated_fine_rejects_bad_arguments():
    with pytest.raises(ValueError, match="max_multiplier"):
        graduated_fine(2.0, 0, graduated=True, max_multiplier=0.5)
    with pytest.raises(ValueError, match="offences"):
        graduated_fine(2.0, -1, graduated=True, max_multiplier=3.0)


# --------------------------------------------------------------------------------------------
# Monitoring and punishment
# --------------------------------------------------------------------------------------------


def _punish(harvests, norm, seed=0, **kwargs):
    params = {"monitoring_prob": 1.0, "punish_prob": 1.0, "punish_cost": 1.0, "fine": 2.0} | kwargs
    return monitor_and_punish(harvests, norm, rng=np.random.default_rng(seed), **params)


def test_two_agents_full_monitoring_exact():
    # With two agents each can only inspect the other: agent 0 (3 > 1) is punished by agent 1.
    outcome = _punish([3.0, 0.5], 1.0)
    np.testing.assert_array_equal(outcome.targets, [1, 0])
    np.testing.assert_array_equal(outcome.punished_target, [False, True])
    np.testing.assert_array_equal(outcome.inspected, [True, True])
    np.testing.assert_array_equal(outcome.sanctioned, [True, False])
    np.testing.assert_array_equal(outcome.times_punished, [1, 0])
    np.testing.assert_array_equal(outcome.fines, [2.0, 0.0])
    np.testing.assert_array_equal(outcome.costs, [0.0, 1.0])
    np.testing.assert_array_equal(outcome.punishments_made, [0, 1])


def test_everyone_over_the_norm_pays_one_fine_per_punisher():
    # seed 0, four agents: offsets drawn by rng.integers(1, 4) give targets 1, 0, 0, 2, so agent 0
    # is punished twice (by 1 and 2) and agent 3, whom nobody inspects, goes free.
    outcome = _punish([5.0, 5.0, 5.0, 0.0], 1.0, seed=0)
    np.testing.assert_array_equal(outcome.targets, [1, 0, 0, 2])
    np.testing.assert_array_equal(outcome.times_punished, [2, 1, 1, 0])
    np.testing.assert_array_equal(outcome.fines, [4.0, 2.0, 2.0, 0.0])
    np.testing.assert_array_equal(outcome.costs, [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(outcome.sanctioned, [True, True, True, False])
    np.testing.assert_array_equal(outcome.inspected, [True, True, True, False])


def test_fixed_seed_partial_monitoring_hand_checked():
    # seed 3 draws: inspect u = .086 .237 .801 .582 (< .5: agents 0 and 1 inspect), offsets
    # 1 1 1 2 (0 -> 1, 1 -> 2), punish u = .479 .160 .735 .114. Agent 0 finds 0.5 <= 1 (no
    # punishment); agent 1 finds 5 > 1 and punishes (0.160 < 0.5).
    outcome = _punish([5.0, 0.5, 5.0, 0.0], 1.0, seed=3, monitoring_prob=0.5, punish_prob=0.5)
    np.testing.assert_array_equal(outcome.targets, [1, 2, -1, -1])
    np.testing.assert_array_equal(outcome.punished_target, [False, True, False, False])
    np.testing.assert_array_equal(outcome.inspected, [False, True, True, False])
    np.testing.assert_array_equal(outcome.fines, [0.0, 0.0, 2.0, 0.0])
    np.testing.assert_array_equal(outcome.costs, [0.0, 1.0, 0.0, 0.0])


def test_no_monitoring_no_sanctions():
    outcome = _punish([9.0, 9.0, 9.0], 1.0, monitoring_prob=0.0)
    np.testing.assert_array_equal(outcome.targets, [-1, -1, -1])
    assert not outcome.inspected.any() and not outcome.sanctioned.any()
    assert outcome.fines.sum() == 0.0 and outcome.costs.sum() == 0.0


def test_no_norm_means_nobody_is_punished_but_inspections_happen():
    outcome = _punish([9.0, 0.0], None)
    np.testing.assert_array_equal(outcome.targets, [1, 0])
    assert not outcome.sanctioned.any() and outcome.fines.sum() == 0.0


def test_punish_prob_zero_inspects_without_punishing():
    outcome = _punish([9.0, 9.0], 1.0, punish_prob=0.0)
    assert outcome.inspected.all() and not outcome.punished_target.any() and outcome.costs.sum() == 0.0


def test_harvest_at_the_norm_is_not_punished():
    outcome = _punish([1.0 + 1e-12, 1.0], 1.0)
    assert not outcome.sanctioned.any()


def test_graduated_sanctions_use_the_offence_record():
    outcome = _punish([3.0, 0.5], 1.0, offences=[2, 0], graduated=True, max_multiplier=3.0)
    np.testing.assert_array_equal(outcome.fines, [6.0, 0.0])
    outcome = _punish([3.0, 0.5], 1.0, offences=[1, 0], graduated=True, max_multiplier=3.0)
    np.testing.assert_array_equal(outcome.fines, [4.0, 0.0])
    outcome = _punish([3.0, 0.5], 1.0, offences=[2, 0], graduated=False)
    np.testing.assert_array_equal(outcome.fines, [2.0, 0.0])


def test_single_agent_has_nobody_to_inspect():
    outcome = _punish([9.0], 1.0)
    np.testing.assert_array_equal(outcome.targets, [-1])
    assert not outcome.sanctioned.any()


def test_draws_do_not_depend_on_the_sanction_parameters():
    # Common random numbers: the generator ends in the same state whatever m, p and the norm.
    states = []
    for m, p, norm in [(0.0, 1.0, 1.0), (1.0, 1.0, 1.0), (0.3, 0.0, None)]:
        rng = np.random.default_rng(5)
        monitor_and_punish([3.0, 0.0, 1.0], norm, monitoring_prob=m, punish_prob=p, punish_cost=1.0, fine=2.0, rng=rng)
        states.append(rng.random())
    assert states[0] == states[1] == states[2]


def test_same_seed_same_outcome():
    a = _punish([3.0, 2.0, 0.0, 4.0, 1.5], 1.0, seed=11, monitoring_prob=0.6, punish_prob=0.7)
    b = _punish([3.0, 2.0, 0.0, 4.0, 1.5], 1.0, seed=11, monitoring_prob=0.6, punish_prob=0.7)
    for field in ("targets", "punished_target", "fines", "costs"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"monitoring_prob": 1.5}, "monitoring_prob"),
        ({"punish_prob": -0.1}, "punish_prob"),
        ({"punish_cost": -1.0}, "punish_cost"),
        ({"fine": float("inf")}, "fine"),
        ({"offences": [0, 0, 0]}, "offences"),
    ],
)
def test_monitor_and_punish_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _punish([1.0, 2.0], 1.0, **kwargs)


def test_monitoring_punishment_institution():
    institution = MonitoringPunishment(monitoring_prob=1.0, fine=3.0)
    assert institution.name == "monitoring_punishment" and institution.moves == ()
    outcome = institution.apply([3.0, 0.5], 1.0, np.random.default_rng(0))
    np.testing.assert_array_equal(outcome.fines, [3.0, 0.0])
    with pytest.raises(ValueError, match="monitoring_prob"):
        MonitoringPunishment(monitoring_prob=2.0)
    with pytest.raises(ValueError, match="max_multiplier"):
        MonitoringPunishment(max_multiplier=0.0)
    with pytest.raises(ValueError, match="graduated"):
        MonitoringPunishment(graduated=1)


@pytest.mark.parametrize(
    "terms, name",
    [
        ({"monitoring_prob": -0.1}, "monitoring_prob"),
        ({"punish_prob": True}, "punish_prob"),
        ({"punish_cost": float("inf")}, "punish_cost"),
        ({"fine": -2.0}, "fine"),
        ({"graduated": "yes"}, "graduated"),
        ({"max_multiplier": float("nan")}, "max_multiplier"),
    ],
)
def test_check_sanction_terms_names_the_bad_term(terms, name):
    good = dict(monitoring_prob=0.5, punish_prob=1.0, punish_cost=1.0, fine=2.0, graduated=True, max_multiplier=3.0)
    assert check_sanction_terms(**good) is None
    with pytest.raises(ValueError, match=name):
        check_sanction_terms(**{**good, **terms})


# --------------------------------------------------------------------------------------------
# Voting
# --------------------------------------------------------------------------------------------


def test_plurality_clear_winner():
    winner, counts = plurality([0, 1, 1, 2], 3, np.random.default_rng(0))
    assert winner == 1
    np.testing.assert_array_equal(counts, [1, 2, 1])


def test_plurality_counts_options_without_votes():
    winner, counts = plurality([3, 3], 5, np.random.default_rng(0))
    assert winner == 3
    np.testing.assert_array_equal(counts, [0, 0, 0, 2, 0])


def test_plurality_breaks_ties_uniformly_and_reproducibly():
    winners = [plurality([0, 2, 0, 2], 3, np.random.default_rng(seed))[0] for seed in range(400)]
    assert set(winners) == {0, 2}
    assert 0.4 < winners.count(0) / 400 < 0.6
    assert winners == [plurality([0, 2, 0, 2], 3, np.random.default_rng(seed))[0] for seed in range(400)]


def test_plurality_always_draws_one_number():
    a, b = np.random.default_rng(1), np.random.default_rng(1)
    plurality([0, 0, 1], 2, a)  # no tie
    plurality([0, 1], 2, b)  # tie
    assert a.random() == b.random()


def test_plurality_rejects_bad_ballots():
    with pytest.raises(ValueError, match="ballots"):
        plurality([0, 3], 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_options"):
        plurality([0], 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="ballots"):
        plurality([0.5], 2, np.random.default_rng(0))


def test_distinct_proposals_rounds_and_sorts():
    np.testing.assert_array_equal(distinct_proposals([2.5, 1.04, 0.96, 1.0]), [1.0, 2.5])
    np.testing.assert_array_equal(distinct_proposals([2.5, 1.04, 0.96, 1.0], decimals=0), [1.0, 2.0])  # 2.5 -> 2 (half to even)
    np.testing.assert_array_equal(distinct_proposals([3.333, 3.334], decimals=2), [3.33])
    with pytest.raises(ValueError, match="decimals"):
        distinct_proposals([1.0], decimals=-1)
    with pytest.raises(ValueError, match="proposals"):
        distinct_proposals([])


def test_option_of_seat():
    options, seat_option = option_of_seat([5.0, 1.04, 0.96, 3.0])
    np.testing.assert_array_equal(options, [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(seat_option, [2, 0, 0, 1])


def test_elect_pools_votes_for_the_same_rounded_proposal():
    # Seats 0 and 1 propose 1.0 and 1.04 (one option, 1.0); the votes for seats 2 and 3 (both 3.0)
    # make 3.0 the winner with 3 votes.
    election = elect([1.0, 1.04, 3.0, 3.0, 5.0], [0, 1, 2, 3, 3], np.random.default_rng(0))
    np.testing.assert_array_equal(election.options, [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(election.counts, [2, 3, 0])
    assert election.winner_index == 1 and election.winner == 3.0
    with pytest.raises(ValueError, match="seats"):
        elect([1.0, 2.0], [0, 2], np.random.default_rng(0))


def test_propose_then_vote_institution():
    institution = ProposeThenVote(vote_every=10)
    assert institution.moves == ("propose", "vote")
    assert [r for r in range(1, 32) if institution.is_vote_round(r)] == [1, 11, 21, 31]
    assert institution.elect([2.0, 2.0, 4.0], [2, 0, 1], np.random.default_rng(0)).winner == 2.0
    with pytest.raises(ValueError, match="vote_every"):
        ProposeThenVote(vote_every=0)


def test_is_vote_round_table():
    assert [r for r in range(1, 11) if is_vote_round(r, 3)] == [1, 4, 7, 10]
    assert all(is_vote_round(r, 1) for r in range(1, 6))
    assert [r for r in range(1, 25) if is_vote_round(r, 12)] == [1, 13]
    with pytest.raises(ValueError, match="vote_every"):
        is_vote_round(1, 0)
    with pytest.raises(ValueError, match="round_number"):
        is_vote_round(0, 10)


@pytest.mark.parametrize("module", ["sanctions", "voting"])
def test_rule_modules_are_pure_leaves(module):
    # Worlds call these rules, so they import numpy, the standard library and the worlds' shared
    # argument checks only (no world, nothing above the envs layer).
    import ast
    import importlib
    import pathlib

    source = pathlib.Path(importlib.import_module(f"dilemmazoo.envs.institutions.{module}").__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or ".")
    allowed = {"__future__", "dataclasses", "math", "numbers", "typing", "numpy", "dilemmazoo.envs.checks"}
    assert imported <= allowed, imported
