"""``dilemmazoo play``: a person against an agent in repeated-game-v0, driven through stdin."""

from __future__ import annotations

import io
import sys

import pytest

from dilemmazoo.envs.base import ActionParseError
from dilemmazoo.envs.repeated_game import RepeatedGameEnv
from dilemmazoo.experiments.cli import main
from dilemmazoo.experiments.play import main_play, parse_move, payoff_table, play_repeated_game

C, D = 0, 1


def feeder(*lines: str):
    """An ``input``-like function answering ``lines`` in order, then end of input."""
    queue = list(lines)

    def read(prompt: str) -> str:
        if not queue:
            raise EOFError
        return queue.pop(0)

    return read


def play(*lines: str, **kwargs):
    out = io.StringIO()
    result = play_repeated_game(input_fn=feeder(*lines), output=out, **kwargs)
    return result, out.getvalue()


def test_payoff_table_is_from_the_persons_point_of_view():
    env = RepeatedGameEnv(game="prisoners_dilemma")
    row = payoff_table(env, 0).splitlines()
    assert row[1].split() == ["you", "Cooperate", "3,", "3", "0,", "5"]
    assert row[2].split() == ["you", "Defect", "5,", "0", "1,", "1"]
    assert payoff_table(env, 1) == payoff_table(env, 0)  # symmetric game
    bos = RepeatedGameEnv(game="battle_of_the_sexes")
    assert payoff_table(bos, 0).splitlines()[1].split()[2:4] == ["10,", "7"]
    assert payoff_table(bos, 1).splitlines()[1].split()[2:4] == ["7,", "10"]  # column player's view


def test_parse_move_accepts_label_letter_and_number():
    spec = RepeatedGameEnv().action_spec("player_0")
    assert [int(parse_move(t, spec)) for t in ("Cooperate", "defect", "c", "D", "1", "2", " 2 ")] == [C, D, C, D, C, D, D]
    for bad in ("", "x", "3", "0", "cooperate or defect"):
        with pytest.raises(ActionParseError):
            parse_move(bad, spec)
    chicken = RepeatedGameEnv(game="chicken").action_spec("player_0")  # Swerve, Straight
    with pytest.raises(ActionParseError, match="more than one"):
        parse_move("s", chicken)
    assert int(parse_move("straight", chicken)) == 1


def test_five_rounds_against_tit_for_tat_exact_scores():
    # person C D C C D; tit for tat C C D C C
    result, text = play("c", "d", "1", "Cooperate", "D", rounds=5, opponent="tit_for_tat")
    assert result.moves == [(C, C), (D, C), (C, D), (C, C), (D, C)]
    assert result.scores == (3 + 5 + 0 + 3 + 5, 3 + 0 + 5 + 3 + 0)
    assert not result.quit and result.rounds_played == 5
    assert result.rate(0) == pytest.approx(0.6) and result.rate(1) == pytest.approx(0.8)
    assert "Final score after 5 of 5 rounds: you 16, they 11." in text
    assert "Your cooperation rate: 60%; theirs: 80%." in text
    assert "tit_for_tat" in text.splitlines()[-1]
    assert "History  you: C D C C D" in text and "they: C C D C C" in text


def test_seat_one_sees_the_same_game_mirrored():
    result, _ = play("d", "d", "c", rounds=3, opponent="tit_for_tat", seat=1)
    assert result.moves == [(D, C), (D, D), (C, D)]
    assert result.scores == (5 + 1 + 0, 0 + 1 + 5)


def test_invalid_input_asks_again():
    result, text = play("maybe", "7", "", "d", rounds=1, opponent="always_cooperate")
    assert result.moves == [(D, C)] and result.scores == (5, 0)
    assert text.count("Choose one of: [1] Cooperate  [2] Defect") == 3
    assert "'maybe' is not a move here." in text and "There is no option 7" in text


@pytest.mark.parametrize("stop", ["q", "QUIT", None])  # None: end of input
def test_quit_reports_the_partial_score(stop):
    lines = ["c", "d"] + ([stop] if stop else [])
    result, text = play(*lines, rounds=5, opponent="tit_for_tat")
    assert result.quit and result.rounds_played == 2
    assert result.scores == (3 + 5, 3 + 0)
    assert "You stopped after 2 of 5 rounds." in text
    assert "Final score after 2 of 5 rounds: you 8, they 3." in text


def test_axelrod_grudger_never_forgives():
    pytest.importorskip("axelrod")
    result, text = play("c", "d", "c", "c", "c", rounds=5, opponent="axelrod:Grudger")
    assert [m[1] for m in result.moves] == [C, C, D, D, D]
    assert result.scores == (3 + 5 + 0 + 0 + 0, 3 + 0 + 5 + 5 + 5)
    assert "Axelrod strategy Grudger" in text


def test_llm_opponent_from_a_scripted_backend(tmp_path):
    answers = tmp_path / "answers.txt"
    answers.write_text("Answer: Defect\nAnswer: Cooperate\n")
    result, text = play("c", "c", "c", rounds=3, opponent=f"llm:scripted:{answers}")
    assert [m[1] for m in result.moves] == [D, C, D]
    assert result.scores == (0 + 3 + 0, 5 + 3 + 5)
    assert result.opponent_fallbacks == 0 and "language model" in text


def test_llm_opponent_unreadable_answers_fall_back_and_are_counted(tmp_path):
    answers = tmp_path / "answers.txt"
    answers.write_text("I am not sure.\n")
    result, text = play("d", rounds=1, opponent=f"llm:scripted:{answers}", decision="generate")
    # the world's declared fallback (action 0) after the first try and two retries
    assert result.moves == [(D, C)]
    assert result.opponent_fallbacks == 1 and result.opponent_parse_failures == 3
    assert "fallback" in text


def test_neutral_labels_and_noise():
    result, text = play("j", "F", rounds=2, opponent="always_cooperate", labels="neutral")
    assert result.moves == [(C, C), (D, C)]
    assert "[1] J  [2] F" in text
    result, text = play(*["c"] * 20, rounds=20, opponent="always_cooperate", noise=0.5, seed=3)
    assert result.rounds_played == 20 and "trembled" in text


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="unknown matrix strategy"):
        play(rounds=1, opponent="nobody")
    with pytest.raises(ValueError, match="seat"):
        play(rounds=1, seat=2)


def test_cli_play_reads_stdin(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("c\nd\nc\n"))
    assert main(["play", "repeated-game", "--rounds", "3", "--opponent", "grim", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "Final score after 3 of 3 rounds: you 8, they 8." in out
    assert "Your move: d\n" in out  # piped input is echoed


def test_cli_play_llm_scripted(monkeypatch, capsys, tmp_path):
    answers = tmp_path / "answers.txt"
    answers.write_text("I defect.\nAnswer: Defect\n")
    monkeypatch.setattr(sys, "stdin", io.StringIO("c\n"))
    argv = ["play", "repeated-game", "--rounds", "1", "--opponent", f"llm:scripted:{answers}", "--decision", "generate"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "you 0, they 5." in out and "Their unreadable answers: 1 (fallback moves: 0)." in out


def test_cli_play_bad_opponent_exits_2(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(SystemExit) as exit_info:
        main_play(["repeated-game", "--opponent", "nobody"])
    assert exit_info.value.code == 2
    assert "unknown matrix strategy" in capsys.readouterr().err


def test_trust_split_against_the_greedy_liar_by_typed_answers(monkeypatch, capsys):
    import io

    from dilemmazoo.experiments.cli import main

    # two rounds: a message (bad proposal text first, asked again) and 0 coins each round
    monkeypatch.setattr("sys.stdin", io.StringIO("I hold rock.\nall of them\n0\nhello\n0\n"))
    assert main(["play", "trust-split", "--rounds", "2", "--opponent", "split_greedy", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("Write your message") == 2 and "Not understood:" in out
    assert "I have the upper hand this round" in out  # the liar's message is shown
    assert "Final score: you 0," in out  # proposing nothing earns nothing, whatever the hands


def test_split_nocomm_exact_scores_and_quit():
    import io

    from dilemmazoo.experiments.play import play_world

    out = io.StringIO()
    answers = iter(["hats 10, books 10, balls 10", "0, 0, 0", "q"])
    result = play_world("split-nocomm", opponent="split_welfare_maximiser", world_kwargs={"n_rounds": 3},
                        input_fn=lambda prompt: next(answers), output=out)
    assert result.quit and result.steps == 3
    assert result.scores[0] > 0 and "You stopped at step 3." in out.getvalue()
    with pytest.raises(ValueError, match="two-player"):
        play_world("donor-game", world_kwargs={"n_agents": 4, "n_rounds": 2}, input_fn=lambda p: "q", output=io.StringIO())
