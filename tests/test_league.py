"""Leagues (experiments/league.py) and their ratings (analysis/league.py).

The acceptance case: five scripted agents in the noise-free prisoner's dilemma (R3 S0 T5 P1,
10 rounds): always_cooperate (AC), always_defect (AD), tit_for_tat (TFT), grim and X, a
language agent on the scripted backend that answers Defect once and then Cooperate (the
script restarts with each match). Match scores by hand (row player first):

    AC-AD 0/50    AC-TFT 30/30   AC-grim 30/30   AC-X 27/32 (X: 5, then 9 x 3)
    AD-TFT 14/9   AD-grim 14/9   AD-X 46/1       (AD: 1, then 9 x 5; X: 1, then 0)
    TFT-grim 30/30                TFT-X 29/29    (DC 5/0, CD 0/5, then 8 x CC)
    grim-X 45/5                                  (X 5 in round 1, then grim defects on C: 9 x 5)

Round-robin totals: AD 124 > grim 114 > TFT 98 > AC 87 > X 67.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dilemmazoo.analysis.league import fit_ratings, leaderboard, round_scores
from dilemmazoo.experiments.league import LEAGUE_WORLDS, league, main_league, parse_spec
from dilemmazoo.experiments.tournament import round_robin

TOTALS = {"always_defect": 124.0, "grim": 114.0, "tit_for_tat": 98.0, "always_cooperate": 87.0, "X": 67.0}
HAND_MATCHES = {
    ("always_cooperate", "always_defect"): (0, 50), ("always_cooperate", "tit_for_tat"): (30, 30),
    ("always_cooperate", "grim"): (30, 30), ("always_cooperate", "X"): (27, 32),
    ("always_defect", "tit_for_tat"): (14, 9), ("always_defect", "grim"): (14, 9), ("always_defect", "X"): (46, 1),
    ("tit_for_tat", "grim"): (30, 30), ("tit_for_tat", "X"): (29, 29), ("grim", "X"): (45, 5),
}


@pytest.fixture(scope="module")
def five(tmp_path_factory):
    folder = tmp_path_factory.mktemp("league")
    script = folder / "defect_once.txt"
    script.write_text("Answer: Defect\n" + "Answer: Cooperate\n" * 9)
    x = f"llm:scripted:{script}"
    board = league(["always_cooperate", "always_defect", "tit_for_tat", "grim", x], ["pd"], seeds=2,
                   out=folder / "out")
    rename = {x: "X"}
    return board, rename, folder / "out"


def test_five_scripted_agents_rated_in_round_robin_order(five):
    board, rename, _ = five
    matches = board.matches.replace(rename)
    assert len(matches) == 2 * 10  # two rounds of the 10 pairs
    for row in matches.itertuples():
        assert (row.score_a, row.score_b) == HAND_MATCHES[(row.agent_a, row.agent_b)]
    rounds = board.rounds.replace(rename)
    for _, game in rounds.groupby("round"):
        assert dict(zip(game["agent"], game["score"])) == TOTALS
    by_total = sorted(TOTALS, key=TOTALS.get, reverse=True)
    table = board.table.replace(rename)
    assert list(table["agent"]) == by_total
    assert list(table["rank"]) == [1, 2, 3, 4, 5]
    assert table["mu"].is_monotonic_decreasing and table["mu"].nunique() == 5
    assert all(table["ordinal"] == table["mu"] - 3 * table["sigma"])
    assert all(table["sigma"] < 25 / 3) and all(table["rounds"] == 2)
    assert list(table["fallbacks"]) == [0] * 5 and list(table["decisions"]) == [80] * 5  # 4 matches x 10 x 2 rounds


def test_league_totals_agree_with_the_tournament_round_robin(five):
    board, rename, _ = five
    scripted = ["always_cooperate", "always_defect", "tit_for_tat", "grim"]
    expected = round_robin(scripted, turns=10).set_index("strategy")["total"]
    matches = board.matches.replace(rename)
    first = matches[(matches["round"] == 0) & matches["agent_a"].isin(scripted) & matches["agent_b"].isin(scripted)]
    totals = round_scores(first).set_index("agent")["score"]
    assert totals.to_dict() == expected.to_dict() == {"always_cooperate": 60.0, "always_defect": 78.0,
                                                      "tit_for_tat": 69.0, "grim": 69.0}


def test_outputs_written_and_page_self_contained(five):
    board, _, out = five
    for name in ("leaderboard.csv", "matches.csv", "rounds.csv", "league.json", "leaderboard.html"):
        assert (out / name).is_file()
    assert pd.read_csv(out / "leaderboard.csv")["agent"].tolist() == board.order()
    page = (out / "leaderboard.html").read_text()
    assert "always_defect" in page and "mu − 3σ" in page and "<style>" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_same_league_same_records_and_ratings():
    specs = ["tit_for_tat", "always_defect", "pavlov", "random"]
    kwargs = {"pd_noise": {"n_rounds": 6}, "stag_hunt": {"n_rounds": 6}}
    first = league(specs, ["pd_noise", "stag_hunt"], seeds=2, world_kwargs=kwargs)
    again = league(specs, ["pd_noise", "stag_hunt"], seeds=2, world_kwargs=kwargs)
    pd.testing.assert_frame_equal(first.matches, again.matches)
    pd.testing.assert_frame_equal(first.table, again.table)
    other = league(specs, ["pd_noise", "stag_hunt"], seeds=2, world_kwargs=kwargs, seed=100)
    assert not first.matches[["score_a", "score_b"]].equals(other.matches[["score_a", "score_b"]])


def test_donor_game_translation_and_sitting_out():
    board = league(["always_cooperate", "tit_for_tat", "grim"], ["donor_game"], seeds=1)
    assert board.notes == ["donor_game: grim sat out (no strategy of that name in this world)"]
    (match,) = board.matches.itertuples()
    # everyone gives everything (tit-for-tat as a reciprocator returns full donations): 4 rounds, b = 2, mean
    # final resources 10 * (1 + 2) / 2 * 2**3 = 120, so the 4 seats gain 4 * 110 in all; each entrant's score is
    # the mean over its 2 seats, so the two scores add up to 220 whichever halves the seats fall in
    assert (match.agent_a, match.agent_b, match.score_a + match.score_b) == ("always_cooperate", "tit_for_tat", 220)
    assert math.isnan(board.table.set_index("agent").loc["grim", "donor_game"])
    assert board.table.set_index("agent").loc["grim", "rounds"] == 0


def test_parse_spec_kinds(tmp_path):
    assert parse_spec("tit_for_tat") == {"kind": "scripted", "strategy": "tit_for_tat"}
    assert parse_spec("scripted:grim") == {"kind": "scripted", "strategy": "grim"}
    assert parse_spec("axelrod:Grudger") == {"kind": "scripted", "strategy": "axelrod:Grudger"}
    assert parse_spec("llm:openai:gpt-4o") == {"kind": "llm", "backend": "openai:gpt-4o"}
    group = tmp_path / "agent.yaml"
    group.write_text("{kind: llm, backend: embedded, temperature: 0.2, seats: 3}\n")
    assert parse_spec(str(group)) == {"kind": "llm", "backend": "embedded", "temperature": 0.2}
    for bad in ("", "llm:", str(tmp_path / "missing.yaml")):
        with pytest.raises(ValueError):
            parse_spec(bad)
    with pytest.raises(ValueError, match="temperature"):
        group.write_text("{kind: llm, temperature: 99}\n")
        parse_spec(str(group))


def test_bad_league_arguments():
    with pytest.raises(ValueError, match="at least two"):
        league(["tit_for_tat"], ["pd"])
    with pytest.raises(ValueError, match="unknown league world"):
        league(["tit_for_tat", "grim"], ["chess"])
    with pytest.raises(ValueError, match="seeds"):
        league(["tit_for_tat", "grim"], ["pd"], seeds=0)
    with pytest.raises(ValueError, match="unknown scripted strategy"):
        league(["tit_for_tat", "no_such_strategy"], ["donor_game", "pd"])
    assert set(LEAGUE_WORLDS) >= {"pd", "pd_noise", "stag_hunt", "donor_game"}


def test_cli_prints_and_writes(tmp_path, capsys):
    assert main_league(["tit_for_tat", "always_defect", "--worlds", "pd", "--seeds", "1",
                        "--set", "pd.n_rounds=3", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "tit_for_tat" in printed and "ordinal" in printed
    matches = pd.read_csv(tmp_path / "matches.csv")
    assert (matches["score_a"].item(), matches["score_b"].item()) == (2.0, 7.0)  # 0 + 1 + 1 against 5 + 1 + 1
    with pytest.raises(SystemExit) as exit_info:
        main_league(["tit_for_tat", "grim", "--set", "noise", "--out", str(tmp_path)])
    assert exit_info.value.code == 2


def test_ratings_from_rounds_by_hand():
    matches = pd.DataFrame([
        {"world": "w", "round": 0, "seed": 0, "match": 0, "agent_a": "a", "agent_b": "b", "score_a": 3.0,
         "score_b": 1.0, "fallbacks_a": 0, "fallbacks_b": 0, "decisions_a": 1, "decisions_b": 1},
        {"world": "w", "round": 0, "seed": 1, "match": 1, "agent_a": "a", "agent_b": "c", "score_a": 0.0,
         "score_b": 2.0, "fallbacks_a": 0, "fallbacks_b": 1, "decisions_a": 1, "decisions_b": 2},
        {"world": "w", "round": 0, "seed": 2, "match": 2, "agent_a": "b", "agent_b": "c", "score_a": 2.0,
         "score_b": 1.0, "fallbacks_a": 0, "fallbacks_b": 0, "decisions_a": 1, "decisions_b": 1},
    ])
    rounds = round_scores(matches)
    # totals a 3, b 3, c 3: a three-way tie, all rank 1; a tie moves no mean, only shrinks the uncertainty
    assert rounds["score"].tolist() == [3.0, 3.0, 3.0] and rounds["rank"].tolist() == [1, 1, 1]
    ratings = fit_ratings(rounds, ["a", "b", "c", "d"]).set_index("agent")
    assert ratings["mu"].tolist() == pytest.approx([25.0] * 4)
    assert all(ratings.loc[["a", "b", "c"], "sigma"] < 25 / 3)
    assert (ratings.loc["d", "sigma"], ratings.loc["d", "rounds"]) == (25 / 3, 0)  # unrated: the prior
    table = leaderboard(ratings.reset_index(), matches)
    assert table["agent"].tolist() == ["a", "b", "c", "d"] and table["rank"].tolist() == [1, 1, 1, 4]
    assert table.set_index("agent").loc["c", "fallbacks"] == 1
    # a second round that c wins outright and b loses: c first, b last of the three
    second = matches.assign(round=1, score_a=[1.0, 0.0, 0.0], score_b=[0.0, 5.0, 5.0])
    rounds = round_scores(pd.concat([matches, second], ignore_index=True))
    assert rounds[rounds["round"] == 1].set_index("agent")["score"].to_dict() == {"a": 1.0, "b": 0.0, "c": 10.0}
    order = leaderboard(fit_ratings(rounds), pd.concat([matches, second]))["agent"].tolist()
    assert order == ["c", "a", "b"]
    with pytest.raises(ValueError, match="rating model"):
        fit_ratings(rounds, model="Elo")


@pytest.mark.slow
def test_embedded_model_plays_a_league_reproducibly(embedded_backend, tmp_path):
    agent = tmp_path / "smollm.yaml"
    agent.write_text("{kind: llm, backend: embedded, decision: score}\n")  # scores the two options: one pass each
    specs = [str(agent), "always_defect"]
    kwargs = {"pd": {"n_rounds": 1}}  # one decision per league: the model's time is the test's time
    board = league(specs, ["pd"], seeds=1, world_kwargs=kwargs, backend=embedded_backend)
    model = board.table.set_index("agent").loc[str(agent)]
    assert (model["matches"], model["decisions"], model["fallbacks"]) == (1, 1, 0)  # scored answers never fall back
    (match,) = board.matches.itertuples()
    assert (match.score_a, match.score_b) in ((0.0, 5.0), (1.0, 1.0))  # C against D, or D against D
    again = league(specs, ["pd"], seeds=1, world_kwargs=kwargs, backend=embedded_backend)
    pd.testing.assert_frame_equal(board.matches, again.matches)
    pd.testing.assert_frame_equal(board.table, again.table)
