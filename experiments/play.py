"""Play a world in the terminal against an agent: ``dilemmazoo play``.

    dilemmazoo play repeated-game [--game prisoners_dilemma] [--rounds 10]
                                  [--opponent tit_for_tat | axelrod:TitForTat | llm:embedded | llm:scripted:PATH]
                                  [--labels named|neutral] [--seat 0|1] [--seed 0] [--noise 0]
                                  [--decision auto|generate|score]

A classroom tool: a person takes one seat of ``dilemmazoo/repeated-game-v0`` (Akata et al.
2023; Axelrod 1984 for the iterated prisoner's dilemma, R=3 S=0 T=5 P=1) and an agent takes
the other. Both seats go through the world itself: the person's answer is read with the
world's own :class:`~dilemmazoo.envs.base.Choice` (a label, its first letter or the option
number), the opponent gets a :class:`~dilemmazoo.agents.base.Decision` like in any run.

Opponents: a matrix strategy name (``tit_for_tat``, ``grim``, ...), ``axelrod:Name`` (needs
the ``games`` extra) or ``llm:BACKEND_SPEC`` (``llm:embedded`` loads the shipped model,
``llm:scripted:answers.txt`` replays answers). An LLM answer that cannot be parsed is retried
and then replaced by the world's fallback, and the summary counts both (STYLE.md rule 4).

``trust-split`` and ``split-nocomm`` (and any two-player language world, through
:func:`play_world`) are played with typed answers: messages, then proposals, read by the
world's own action specs; the default opponent there is ``split_greedy``.

Each round of a repeated game shows both played moves, the round payoffs, the running scores and the history;
``q`` or end of input stops early and reports the score so far. Output is plain text, so it
reads the same in a terminal, a pipe or a notebook.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from dilemmazoo.agents.backends.base import BackendError
from dilemmazoo.agents.base import Action, Decision
from dilemmazoo.envs.base import ActionParseError, Choice
from dilemmazoo.envs.repeated_game import NAMED_GAMES, RepeatedGameEnv

__all__ = ["PlayResult", "WorldPlayResult", "main_play", "parse_answer", "parse_move", "payoff_table",
           "play_repeated_game", "play_world"]

LLM_PREFIX = "llm:"
AXELROD_PREFIX = "axelrod:"
QUIT_WORDS = ("q", "quit", "exit")


@dataclass
class PlayResult:
    """What happened in one game between a person and an agent.

    ``moves`` holds the *played* action indices per completed round as ``(person, opponent)``;
    ``scores`` the totals in the same order. ``quit`` is True when the person stopped early.
    """

    opponent: str
    rounds: int
    moves: list[tuple[int, int]] = field(default_factory=list)
    scores: tuple[float, float] = (0.0, 0.0)
    quit: bool = False
    opponent_parse_failures: int = 0
    opponent_fallbacks: int = 0

    @property
    def rounds_played(self) -> int:
        return len(self.moves)

    def rate(self, who: int, action: int = 0) -> float:
        """Share of completed rounds in which ``who`` (0 person, 1 opponent) played ``action``."""
        if not self.moves:
            return 0.0
        return sum(m[who] == action for m in self.moves) / len(self.moves)


# ---------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:g}"


def payoff_table(env: RepeatedGameEnv, seat: int) -> str:
    """The stage game from seat ``seat``'s point of view: rows are your move, columns the
    other's, each cell ``you, them``."""
    labels = env.labels
    rows = []
    for own in range(env.n_actions):
        cells = []
        for other in range(env.n_actions):
            profile = (own, other) if seat == 0 else (other, own)
            stage = env.payoffs[profile]
            cells.append(f"{_fmt(stage[seat])}, {_fmt(stage[1 - seat])}")
        rows.append((f"you {labels[own]}", cells))
    header = [f"they {label}" for label in labels]
    first = max(len(r[0]) for r in rows)
    widths = [max(len(header[j]), *(len(r[1][j]) for r in rows)) for j in range(env.n_actions)]
    lines = ["  ".join([" " * first] + [h.center(w) for h, w in zip(header, widths)])]
    for name, cells in rows:
        lines.append("  ".join([name.ljust(first)] + [c.center(w) for c, w in zip(cells, widths)]))
    return "\n".join(lines) + "\n(each cell: your points, their points)"


def parse_move(text: str, spec: Choice) -> Any:
    """The action a person's typed ``text`` names: a label (read by the world's own
    ``spec.parse``), its first letter (case-insensitive, when no other label shares it) or
    the option number (1-based). Raises :class:`ActionParseError` with a readable message."""
    answer = text.strip()
    if not answer:
        raise ActionParseError("Type a move.")
    if answer.isdigit():
        number = int(answer)
        if 1 <= number <= len(spec.labels):
            return spec.action_for_option(number - 1)
        raise ActionParseError(f"There is no option {number}; pick 1 to {len(spec.labels)}.")
    try:
        return spec.parse(f"Answer: {answer}")
    except ActionParseError:
        pass
    if len(answer) == 1:
        hits = [i for i, label in enumerate(spec.labels) if label[0].lower() == answer.lower()]
        if len(hits) == 1:
            return spec.action_for_option(hits[0])
        if len(hits) > 1:
            raise ActionParseError(f"{answer!r} is the first letter of more than one move; type the move or its number.")
    raise ActionParseError(f"{answer!r} is not a move here.")


def _short_labels(labels: tuple[str, ...]) -> tuple[str, ...]:
    firsts = [label[0].upper() for label in labels]
    return tuple(firsts) if len(set(firsts)) == len(firsts) else labels


# ---------------------------------------------------------------------------------------------
# Opponents
# ---------------------------------------------------------------------------------------------


class _Opponent:
    """One seat played by an agent (reset/act) or an LLM policy (act_batch), with a description."""

    def __init__(self, name: str, env: RepeatedGameEnv, seed: int, noise: float, decision: str = "auto"):
        self.name = name
        self.policy = None
        self.agent = None
        if name.startswith(LLM_PREFIX):
            from dilemmazoo.agents.backends import make_backend
            from dilemmazoo.agents.llm import LLMPolicy

            backend_spec = name[len(LLM_PREFIX):]
            self.policy = LLMPolicy(make_backend(backend_spec), decision=decision, seed=seed)
            self.description = f"a language model (backend {backend_spec!r}) answering the world's prompt"
        else:
            from dilemmazoo.experiments.tournament import make_entrant

            self.agent = make_entrant(name, payoffs=env.payoffs, turns=env.n_rounds, noise=noise)
            if name.startswith(AXELROD_PREFIX):
                self.description = f"the Axelrod strategy {name[len(AXELROD_PREFIX):]}"
                doc = (self.agent.cls.__doc__ or "").strip()
            else:
                self.description = f"the scripted strategy {name}"
                doc = (type(self.agent).__doc__ or "").strip()
            if doc:
                sentence = " ".join(doc.split("\n\n")[0].split()).split(". ")[0].rstrip(".")
                self.description += f" ({sentence})"

    def reset(self, seat: str, rules: str, rng: np.random.Generator) -> None:
        if self.agent is not None:
            self.agent.reset(seat, rules, rng)

    def act(self, request: Decision) -> Action:
        if self.agent is not None:
            return self.agent.act(request)
        return self.policy.act_batch([request])[0]


_QUIT = object()


def _ask(read: Callable[[str], str], say: Callable[[str], None], prompt: str,
         parse: Callable[[str], Any], complaint: Callable[[ActionParseError], str]) -> Any:
    """Ask until ``parse`` accepts the line; :data:`_QUIT` on ``q`` or end of input."""
    while True:
        try:
            text = read(prompt)
        except EOFError:
            return _QUIT
        if text.strip().lower() in QUIT_WORDS:
            return _QUIT
        try:
            return parse(text)
        except ActionParseError as error:
            say(complaint(error))


def _stdin_reader(output: TextIO) -> Callable[[str], str]:
    def read(prompt: str) -> str:
        output.write(prompt)
        output.flush()
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        if not sys.stdin.isatty():  # piped input: show it, so the transcript reads like a session
            output.write(line if line.endswith("\n") else line + "\n")
        return line.rstrip("\n")

    return read


# ---------------------------------------------------------------------------------------------
# The game loop
# ---------------------------------------------------------------------------------------------


def play_repeated_game(
    *,
    game: str = "prisoners_dilemma",
    rounds: int = 10,
    opponent: str = "tit_for_tat",
    labels: str = "named",
    seat: int = 0,
    seed: int = 0,
    noise: float = 0.0,
    decision: str = "auto",
    input_fn: Callable[[str], str] | None = None,
    output: TextIO | None = None,
) -> PlayResult:
    """Play ``rounds`` rounds of ``game`` against ``opponent``, reading moves with ``input_fn``
    (``input``-like: takes a prompt, returns a line, raises ``EOFError`` at the end) and
    writing to ``output`` (default: stdin and stdout). Invalid moves are asked again; ``q``
    or end of input stops early. ``decision`` is the LLM opponent's mode (:class:`LLMPolicy`:
    ``auto`` scores the options when the backend can, ``generate`` parses a written answer).
    Raises ``ValueError`` for bad arguments or opponents."""
    output = sys.stdout if output is None else output
    read = _stdin_reader(output) if input_fn is None else input_fn
    if seat not in (0, 1):
        raise ValueError(f"seat must be 0 (row player) or 1 (column player), got {seat!r}")
    env = RepeatedGameEnv(game=game, n_rounds=rounds, noise=noise, labels=labels)
    me, them = env.possible_agents[seat], env.possible_agents[1 - seat]
    rival = _Opponent(opponent, env, seed, env.noise, decision)

    def say(text: str = "") -> None:
        print(text, file=output, flush=True)

    observations, _ = env.reset(seed=seed)
    rival.reset(them, env.rules(them), np.random.default_rng(np.random.default_rng(seed).integers(2**63 - 1)))
    result = PlayResult(opponent=rival.description, rounds=env.n_rounds)
    short = _short_labels(env.labels)
    options = "  ".join(f"[{i + 1}] {label}" for i, label in enumerate(env.labels))

    plural = "s" if env.n_rounds != 1 else ""
    say(f"Repeated {env.game.replace('_', ' ')}: {env.n_rounds} round{plural} against {rival.description}.")
    say(f"You are {me} ({'row' if seat == 0 else 'column'} player). Payoffs per round:")
    say(payoff_table(env, seat))
    if env.noise > 0:
        say(f"Hands tremble: with probability {_fmt(env.noise)} a chosen move is replaced by the other one.")
    say("Type a move, its first letter or its number; q quits.")

    step = 0
    while env.agents:
        say()
        say(f"Round {env.round} of {env.n_rounds}.  {options}")
        spec = env.action_spec(me)
        mine = _ask(read, say, "Your move: ", lambda text: parse_move(text, spec),
                    lambda error: f"{error} Choose one of: {options} (or q to quit).")
        result.quit = mine is _QUIT
        if result.quit:
            say()
            say(f"You stopped after {result.rounds_played} of {env.n_rounds} rounds.")
            break
        request = Decision(
            agent_id=them, observation=observations[them], text=env.describe(them),
            spec=env.action_spec(them), rules=env.rules(them), step=step, episode=0,
        )
        answer = rival.act(request)
        result.opponent_parse_failures += answer.parse_failures
        result.opponent_fallbacks += int(answer.fallback_used)
        observations, rewards, _, _, infos = env.step({me: mine, them: answer.value})
        step += 1
        mine_info, their_info = infos[me], infos[them]
        result.moves.append((mine_info["played"], their_info["played"]))
        say(f"You played {env.labels[mine_info['played']]}, they played {env.labels[their_info['played']]}.")
        for who, info in (("your", mine_info), ("their", their_info)):
            if info["intended"] != info["played"]:
                say(f"  ({who} hand trembled: {env.labels[info['intended']]} was chosen)")
        if answer.fallback_used:
            say("  (their answer could not be read, so the world's fallback move was played)")
        say(f"This round: you {_fmt(rewards[me])}, they {_fmt(rewards[them])}.  "
            f"Total: you {_fmt(env.scores[seat])}, they {_fmt(env.scores[1 - seat])}.")
        say(f"History  you: {' '.join(short[m[0]] for m in result.moves)}")
        say(f"        they: {' '.join(short[m[1]] for m in result.moves)}")

    result.scores = (float(env.scores[seat]), float(env.scores[1 - seat]))
    _summary(result, env, say)
    return result


def _summary(result: PlayResult, env: RepeatedGameEnv, say: Callable[[str], None]) -> None:
    first = env.labels[0]
    say()
    say(f"Final score after {result.rounds_played} of {result.rounds} rounds: "
        f"you {_fmt(result.scores[0])}, they {_fmt(result.scores[1])}.")
    if result.moves:
        rate = "cooperation rate" if first == "Cooperate" else f"share of {first}"
        say(f"Your {rate}: {result.rate(0):.0%}; theirs: {result.rate(1):.0%}.")
    say(f"Your opponent was {result.opponent}.")
    if result.opponent_parse_failures or result.opponent_fallbacks:
        say(f"Their unreadable answers: {result.opponent_parse_failures} (fallback moves: {result.opponent_fallbacks}).")


# ---------------------------------------------------------------------------------------------
# Any two-player language world (Trust-and-Split, Split No-Comm, ...)
# ---------------------------------------------------------------------------------------------


@dataclass
class WorldPlayResult:
    """What a game of :func:`play_world` came to, seen from the person's seat."""

    opponent: str
    scores: tuple[float, float] = (0.0, 0.0)
    steps: int = 0
    quit: bool = False
    opponent_parse_failures: int = 0
    opponent_fallbacks: int = 0


def parse_answer(text: str, spec) -> Any:
    """A typed answer through the world's own spec: ``Answer: ...`` may be left out."""
    if "answer" in text.lower():
        return spec.parse(text)
    return spec.parse(f"Answer: {text}")


def _world_opponent(name: str, decision: str, seed: int):
    """``llm:BACKEND`` as an LLM policy, or any scripted strategy name; with its description."""
    if name.startswith(LLM_PREFIX):
        from dilemmazoo.agents.backends import make_backend
        from dilemmazoo.agents.llm import LLMPolicy

        spec = name[len(LLM_PREFIX):]
        policy = LLMPolicy(make_backend(spec), decision=decision, seed=seed)
        return (lambda request: policy.act_batch([request])[0]), f"a language model (backend {spec!r})"
    from dilemmazoo.agents.scripted import make_scripted

    agent = make_scripted(name)
    doc = " ".join(((type(agent).__doc__ or "").strip().split("\n\n")[0]).split()).replace("``", "")
    return agent.act, f"the scripted strategy {name}" + (f" ({doc.split('. ')[0].rstrip('.')})" if doc else "")


def play_world(
    world: str,
    *,
    opponent: str = "split_greedy",
    seat: int = 0,
    seed: int = 0,
    decision: str = "generate",
    world_kwargs: dict[str, Any] | None = None,
    input_fn: Callable[[str], str] | None = None,
    output: TextIO | None = None,
) -> WorldPlayResult:
    """Play any two-player dilemmazoo world against ``opponent`` with typed answers.

    The person sees what a language agent sees (``rules``, ``describe``, the action spec's
    instruction) and answers in words; the world's own spec parses it, and an answer it
    cannot read is asked again with the parse error. Messages, proposals and moves all go
    through the same path, so every language world can be played."""
    from dilemmazoo.envs import make_world

    output = sys.stdout if output is None else output
    read = _stdin_reader(output) if input_fn is None else input_fn
    env = make_world(world, **(world_kwargs or {}))
    if len(env.possible_agents) != 2:
        raise ValueError(f"play mode takes two-player worlds; {world!r} has {len(env.possible_agents)} players")
    if seat not in (0, 1):
        raise ValueError(f"seat must be 0 or 1, got {seat!r}")
    me, them = env.possible_agents[seat], env.possible_agents[1 - seat]
    act, description = _world_opponent(opponent, decision, seed)
    result = WorldPlayResult(opponent=description)
    totals = {me: 0.0, them: 0.0}

    def say(text: str = "") -> None:
        print(text, file=output, flush=True)

    observations, _ = env.reset(seed=seed)
    say(env.rules(me))
    say(f"You play against {description}. Type your answers; q quits.")
    while env.agents:
        result.steps += 1
        deciders = env.deciders()
        actions = {}
        if me in deciders:
            spec = env.action_spec(me)
            say()
            say(env.describe(me))
            say(spec.instruction)
            answer = _ask(read, say, "> ", lambda text: parse_answer(text, spec),
                          lambda error: f"Not understood: {error} Try again (q quits).")
            result.quit = answer is _QUIT
            if not result.quit:
                actions[me] = answer
            if result.quit:
                say(f"You stopped at step {result.steps}.")
                break
        if them in deciders:
            request = Decision(agent_id=them, observation=observations[them], text=env.describe(them),
                               spec=env.action_spec(them), rules=env.rules(them), step=result.steps, episode=0)
            answer = act(request)
            actions[them] = answer.value
            result.opponent_parse_failures += answer.parse_failures
            result.opponent_fallbacks += int(answer.fallback_used)
            if answer.fallback_used:
                say("(the other player's answer could not be read; the world's fallback was used)")
        for agent in env.agents:
            if agent not in actions:
                actions[agent] = env.idle_action(agent)
        observations, rewards, _, _, _ = env.step(actions)
        for agent in totals:
            totals[agent] += float(rewards.get(agent, 0.0))
        if rewards.get(me) or rewards.get(them):
            say(f"This step: you {_fmt(rewards.get(me, 0.0))}, the other player {_fmt(rewards.get(them, 0.0))}. "
                f"Total: you {_fmt(totals[me])}, the other player {_fmt(totals[them])}.")
    result.scores = (totals[me], totals[them])
    say()
    say(f"Final score: you {_fmt(totals[me])}, the other player {_fmt(totals[them])}. Your opponent was {description}.")
    if result.opponent_parse_failures or result.opponent_fallbacks:
        say(f"Their unreadable answers: {result.opponent_parse_failures} (fallbacks: {result.opponent_fallbacks}).")
    return result


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def main_play(argv: list[str] | None = None, *, input_fn: Callable[[str], str] | None = None,
              output: TextIO | None = None) -> int:
    """``dilemmazoo play repeated-game ...``: play against an agent in the terminal."""
    parser = argparse.ArgumentParser(prog="dilemmazoo play", description="Play a world in the terminal against an agent.")
    parser.add_argument("world", choices=["repeated-game", "trust-split", "split-nocomm"],
                        help="the world to play")
    parser.add_argument("--game", default="prisoners_dilemma",
                        help=f"{', '.join(NAMED_GAMES)} or ordinal:N (default: prisoners_dilemma)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--opponent", default="tit_for_tat",
                        help="a matrix strategy (tit_for_tat, grim, pavlov, ...), axelrod:Name, a splitting-world "
                             "strategy (split_greedy, split_welfare_maximiser), or llm:BACKEND "
                             "(llm:embedded, llm:scripted:PATH)")
    parser.add_argument("--labels", choices=["named", "neutral"], default="named")
    parser.add_argument("--seat", type=int, choices=[0, 1], default=0, help="0: row player, 1: column player")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.0, help="trembling-hand probability")
    parser.add_argument("--decision", choices=["auto", "generate", "score"], default="auto",
                        help="how an llm: opponent decides (auto: score the options when the backend can)")
    args = parser.parse_args(argv)
    try:
        if args.world != "repeated-game":
            opponent = "split_greedy" if args.opponent == "tit_for_tat" else args.opponent
            play_world(args.world, opponent=opponent, seat=args.seat, seed=args.seed,
                       decision="generate" if args.decision == "auto" else args.decision,
                       world_kwargs={"n_rounds": args.rounds}, input_fn=input_fn, output=output)
            return 0
        play_repeated_game(game=args.game, rounds=args.rounds, opponent=args.opponent, labels=args.labels,
                           seat=args.seat, seed=args.seed, noise=args.noise, decision=args.decision,
                           input_fn=input_fn, output=output)
    except (ValueError, ImportError, BackendError) as error:
        parser.exit(2, f"error: {error}\n")
    except KeyboardInterrupt:
        print("\ninterrupted.", file=sys.stderr)
        return 130
    return 0
