"""A classroom game in the browser: ``dilemmazoo classroom``.

    dilemmazoo classroom [--game prisoners_dilemma|stag_hunt|trust-split|donor-game] [--rounds 5]
                         [--noise 0.0] [--opponent tit_for_tat|axelrod:Name|llm:embedded|llm:scripted:PATH]
                         [--fallback tit_for_tat] [--pace students|teacher] [--timeout 10]
                         [--port 8765] [--host 127.0.0.1] [--out runs] [--name class_YYYYMMDD] [--seed 0]
                         [--token TOKEN]

The teacher starts the server on a laptop in the classroom network. Students open
``http://HOST:PORT/`` in their browsers, join with a name and play the real dilemmazoo worlds
against each other; the console prints the teacher's address ``/teacher?token=...`` (the random
token guards it; ``--token`` sets it). Everything is served from this process: no accounts, no
external services, no files fetched from the internet (the pages carry their own CSS and
JavaScript). Use ``--host 0.0.0.0`` to let other machines of the room connect.

The games and their sources
---------------------------
- ``prisoners_dilemma``: the iterated prisoner's dilemma with Axelrod's (1984) payoffs R=3 S=0 T=5
  P=1, and ``stag_hunt`` (R4 T3 P2 S1): ``dilemmazoo/repeated-game-v0``
  (:mod:`dilemmazoo.envs.repeated_game`, after Akata et al. 2023); ``--noise`` is its trembling
  hand (a chosen move is replaced by the other with that probability).
- ``trust-split``: ``dilemmazoo/trust-split-v0`` (:mod:`dilemmazoo.envs.trust_split`, the TAS-RPS
  game of arXiv 2511.19405): each round one message each, then both claim coins.
- ``donor-game``: ``dilemmazoo/donor-game-v0`` (:mod:`dilemmazoo.envs.donor_game`, Vallinder &
  Hughes 2024): indirect reciprocity in one group.

Every question a student sees comes from the world itself: ``rules(seat)`` and
``describe(seat)`` are shown as they are told to language agents, and each answer is read with
the world's own ``action_spec(seat).parse`` (a move may also be typed by its first letter or
option number, as in ``dilemmazoo play``). An answer the world cannot read is shown back with
the world's message, to retry, and counted in ``parse_failures``.

Tables
------
When the teacher starts a game, the students present are shuffled (with the game's seed) and
seated. In the two-player worlds (the matrix games, Trust-and-Split) each pair of students
forms a table; with an odd number of students the last one plays the agent ``--opponent``. The
donor game is played by the whole class at one table of ``n_agents`` seats: the students, and
agents filling the seats up to an even number of at least ``max(4, rounds)`` (the world plays at
most ``n_agents`` rounds). Agents are dilemmazoo policies (a scripted or Axelrod strategy through
:class:`~dilemmazoo.agents.scripted.ScriptedPolicy`, or a language model through
:class:`~dilemmazoo.agents.llm.LLMPolicy`) and decide through ``act_batch`` with a
:class:`~dilemmazoo.agents.base.Decision`, as in any run. ``--pace students`` lets every table
play at its own speed; ``--pace teacher`` holds each round until the teacher releases it.

Leaving
-------
Each student page polls the server about once a second; that is the heartbeat. A student who
is silent for ``--timeout`` seconds, or whose page sends its ``pagehide`` beacon (closing the
tab), is marked away and the ``--fallback`` strategy plays their seat from the next decision
on, so the partner's game goes on. Each takeover is counted (teacher page, the partner's page,
the records). A student who comes back (the same browser, or joining again with the same name
while away) takes the seat back. The teacher's "End game" hands every student's remaining
decisions to the fallback (counted as takeovers too), for a table that would otherwise wait.

Records
-------
Each game the teacher starts is one run; each table is one episode of it. Game ``k`` is played
with the seed ``--seed + k - 1`` (the seating, each table's world seed, the agents' generators). "Export" on the
teacher's page (and stopping the server) writes every finished game as a normal run directory
``<out>/<name>/game=<k>/seed=<seed>/`` with :mod:`dilemmazoo.experiments.store` (``config.yaml``,
the four tables, ``summary.json``, ``complete.json``), so ``dilemmazoo report <out>/<name>``
reads a class's games. Game numbers continue after the games already under ``<out>/<name>``.
Students are recorded by name; their seats have ``policy == "person"`` and the extra column
``person`` true; ``taken_over`` marks the decisions the fallback made for an absent student.
The config's agent groups describe the seats: group ``person`` (kind scripted, its strategy the
fallback) and the agent group (the opponent); rerunning that config with ``dilemmazoo run``
plays the fallback in place of the students. ``summary.json`` holds ``counts.takeovers`` and a
``classroom`` entry with the students, the tables and the takeovers.

State lives in one :class:`Classroom` object behind one lock; the web server (starlette on
uvicorn) runs in this process, and a ticker thread advances agents and checks heartbeats.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import socket
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl

import numpy as np

from dilemmazoo.agents.base import Action, BatchPolicy, CallRecord, Decision
from dilemmazoo.envs import make_world, world_id
from dilemmazoo.envs.base import ActionParseError, Amount, Choice
from dilemmazoo.experiments import store
from dilemmazoo.experiments.play import parse_move
from dilemmazoo.experiments.runner import action_json, scalar_infos

__all__ = [
    "CLASSROOM_GAMES",
    "ClassSettings",
    "Classroom",
    "ClassroomError",
    "create_app",
    "main_classroom",
    "validate_name",
]

LLM_PREFIX = "llm:"
AXELROD_PREFIX = "axelrod:"
NAME_MAX_CHARS = 40
ANSWER_MAX_CHARS = 2000
PERSON = "person"
AGENT_PREFIX = "agent "
COOKIE = "dilemmazoo_student"


@dataclass(frozen=True)
class _GameKind:
    """A classroom game: the world it is, its family of strategies and its default agents."""

    world: str
    family: str  # "matrix" | "split" | "donor"
    title: str
    opponent: str
    fallback: str


#: the games a class can play (``--game``); matrix games take ``--noise``
CLASSROOM_GAMES: dict[str, _GameKind] = {
    "prisoners_dilemma": _GameKind("repeated-game", "matrix", "Prisoner's dilemma", "tit_for_tat", "tit_for_tat"),
    "stag_hunt": _GameKind("repeated-game", "matrix", "Stag hunt", "tit_for_tat", "tit_for_tat"),
    "trust-split": _GameKind("trust-split", "split", "Trust-and-Split", "split_greedy", "split_welfare_maximiser"),
    "donor-game": _GameKind("donor-game", "donor", "Donor game", "reciprocator", "reciprocator"),
}


class ClassroomError(ValueError):
    """Input the classroom refuses (a bad name, an unreadable request, a game that cannot start);
    the message is shown to the person who sent it."""


def _game_key(game: str) -> str:
    key = str(game).strip()
    for candidate in (key, key.replace("_", "-"), key.replace("-", "_")):
        if candidate in CLASSROOM_GAMES:
            return candidate
    raise ClassroomError(f"game must be one of {', '.join(CLASSROOM_GAMES)}; got {game!r}")


def _strategies_for(family: str) -> list[str]:
    """The scripted strategy names that can play a family's worlds."""
    if family == "matrix":
        from dilemmazoo.agents.matrix_strategies import MATRIX_STRATEGIES

        return sorted(MATRIX_STRATEGIES)
    if family == "split":
        from dilemmazoo.agents.split_strategies import SPLIT_STRATEGIES

        return sorted(SPLIT_STRATEGIES)
    from dilemmazoo.agents.scripted import SCRIPTED_AGENTS

    return sorted(SCRIPTED_AGENTS)


def _check_strategy(what: str, name: str, family: str, *, allow_llm: bool) -> str:
    name = str(name).strip()
    if allow_llm and name.startswith(LLM_PREFIX) and len(name) > len(LLM_PREFIX):
        return name
    if family == "matrix" and name.startswith(AXELROD_PREFIX) and len(name) > len(AXELROD_PREFIX):
        return name
    known = _strategies_for(family)
    if name not in known:
        extra = (", axelrod:Name" if family == "matrix" else "") + (", llm:BACKEND" if allow_llm else "")
        raise ClassroomError(f"{what} {name!r} cannot play this game; choose one of {', '.join(known)}{extra}")
    return name


@dataclass(frozen=True)
class ClassSettings:
    """What the next game is: the game, its rounds and noise, the agents, the pace.

    ``opponent``/``fallback`` of ``None`` take the game's defaults (:data:`CLASSROOM_GAMES`).
    ``noise`` is the matrix games' trembling hand (other games ignore it). ``timeout``: seconds
    of silence after which a student's seat is played by the fallback. ``pace``: ``students``
    (tables play at their own speed) or ``teacher`` (each round waits for the teacher).
    """

    game: str = "prisoners_dilemma"
    rounds: int = 5
    noise: float = 0.0
    opponent: str | None = None
    fallback: str | None = None
    pace: str = "students"
    timeout: float = 10.0
    seed: int = 0

    def checked(self) -> ClassSettings:
        """These settings with the game's defaults filled in; :class:`ClassroomError` names a bad one."""
        game = _game_key(self.game)
        kind = CLASSROOM_GAMES[game]
        rounds = _int("rounds", self.rounds, 1, 100)
        noise = _float("noise", self.noise, 0.0, 1.0)
        timeout = _float("timeout", self.timeout, 0.1, 3600.0)
        seed = _int("seed", self.seed, 0, 2**31 - 1)
        if self.pace not in ("students", "teacher"):
            raise ClassroomError(f"pace must be 'students' or 'teacher'; got {self.pace!r}")
        opponent = _check_strategy("opponent", self.opponent or kind.opponent, kind.family, allow_llm=True)
        fallback = _check_strategy("fallback", self.fallback or kind.fallback, kind.family, allow_llm=False)
        checked = replace(self, game=game, rounds=rounds, noise=noise, timeout=timeout, seed=seed, opponent=opponent,
                          fallback=fallback)
        for what, name in (("opponent", opponent), ("fallback", fallback)):
            if not name.startswith(LLM_PREFIX):  # build it once: an unknown Axelrod name fails here, not mid-class
                try:
                    _make_policy(name, checked, {})
                except (ValueError, ImportError) as error:
                    raise ClassroomError(f"{what}: {error}") from None
        return checked

    @property
    def kind(self) -> _GameKind:
        return CLASSROOM_GAMES[_game_key(self.game)]

    def title(self) -> str:
        words = f"{self.kind.title}, {self.rounds} round{'s' if self.rounds != 1 else ''}"
        if self.kind.family == "matrix" and self.noise > 0:
            words += f", noise {self.noise:g}"
        return words


def _int(what: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(str(value).strip()) if not isinstance(value, int) or isinstance(value, bool) else value
    except ValueError:
        raise ClassroomError(f"{what} must be a whole number from {low} to {high}; got {str(value)[:40]!r}") from None
    if isinstance(number, bool) or not low <= number <= high:
        raise ClassroomError(f"{what} must be a whole number from {low} to {high}; got {str(value)[:40]!r}")
    return number


def _float(what: str, value: Any, low: float, high: float) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ClassroomError(f"{what} must be a number from {low:g} to {high:g}; got {str(value)[:40]!r}") from None
    if not np.isfinite(number) or not low <= number <= high:
        raise ClassroomError(f"{what} must be a number from {low:g} to {high:g}; got {str(value)[:40]!r}")
    return number


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def validate_name(name: Any) -> str:
    """A student's name, stripped: non-empty, at most 40 characters, no control or invisible
    characters, not starting with ``agent`` (the agents' names); :class:`ClassroomError` says why not.
    (Uniqueness is checked by :meth:`Classroom.join`.)"""
    if not isinstance(name, str):
        raise ClassroomError("Type your name.")
    name = " ".join(name.split())
    if not name:
        raise ClassroomError("Type your name (it cannot be empty).")
    if len(name) > NAME_MAX_CHARS:
        raise ClassroomError(f"Your name is {len(name)} characters long; use at most {NAME_MAX_CHARS}.")
    if _CONTROL.search(name):
        raise ClassroomError("Your name holds invisible or control characters; type it with plain letters.")
    if name.lower().startswith(AGENT_PREFIX.strip()):
        raise ClassroomError("Names starting with 'agent' are kept for the computer players; choose another.")
    return name


# -- policies ----------------------------------------------------------------------------------

def _make_policy(name: str, settings: ClassSettings, backends: dict[str, Any]) -> BatchPolicy:
    """The policy playing ``name`` (a strategy, ``axelrod:Name`` or ``llm:BACKEND``) in this game."""
    family = settings.kind.family
    if name.startswith(LLM_PREFIX):
        from dilemmazoo.agents.backends import make_backend
        from dilemmazoo.agents.llm import LLMPolicy

        spec = name[len(LLM_PREFIX):]
        if spec not in backends:
            backends[spec] = make_backend(spec)
        return LLMPolicy(backends[spec], decision="auto" if family == "matrix" else "generate", seed=settings.seed)
    from dilemmazoo.agents.scripted import ScriptedPolicy

    params: dict[str, Any] = {}
    if name.startswith(AXELROD_PREFIX):
        from dilemmazoo.envs.repeated_game import game_payoffs

        params = {"payoffs": game_payoffs(settings.game).tolist(), "match_length": settings.rounds,
                  "noise": settings.noise}
    elif name in ("greedy", "welfare_maximiser"):
        params = {"game": settings.game}
    return ScriptedPolicy(name, params)


_RESERVED = {"episode", "generation", "game", "step", "agent", "name", "policy", "decided", "action", "reward",
             "utility", "parse_failures", "fallback_used", "return", "utility_return", "steps", "seed", "person",
             "taken_over", "takeovers"}


def _scalar_infos(info: dict[str, Any]) -> dict[str, Any]:
    """The world's scalar infos for a step row (as a run records them), without the reserved columns."""
    return {key: value for key, value in scalar_infos(info).items() if key not in _RESERVED}


# -- the classroom's state ---------------------------------------------------------------------

@dataclass
class Student:
    """A student who joined: the name, the browser's key (a cookie), when the page last polled."""

    name: str
    key: str
    last_seen: float
    away: bool = False
    order: int = 0


@dataclass
class _Seat:
    seat: str
    name: str
    person: bool
    policy: str  # the records' policy label: "person" or "agent:<opponent>"
    taken_over: bool = False
    takeovers: int = 0
    ret: float = 0.0
    failures: int = 0  # rejected answers for the open decision
    error: str = ""
    last_reward: float = 0.0


@dataclass
class _Records:
    steps: list[dict] = field(default_factory=list)
    episodes: list[dict] = field(default_factory=list)
    population: list[dict] = field(default_factory=list)
    calls: list[dict] = field(default_factory=list)

    def add_calls(self, calls: list[CallRecord], *, episode: int, step: int, agent: str) -> None:
        for call in calls:
            row = asdict(call)
            row.pop("agent_id", None)
            self.calls.append({"episode": episode, "generation": 1, "step": step, "agent": agent, **row})


class _Table:
    """One world and its seats: an episode of the game's run."""

    def __init__(self, game: _Game, index: int, world, seats: list[_Seat], seed: int, agent_policy, fallback_policy):
        self.game = game
        self.index = index
        self.world = world
        self.seats = {s.seat: s for s in seats}
        self.seed = seed
        self.agent_policy = agent_policy
        self.fallback_policy = fallback_policy
        names = {s.seat: s.name for s in seats}
        self.observations, _ = world.reset(seed=seed, options={"names": names, "generation": 1, "game": index + 1})
        self.rules = {seat: world.rules(seat) for seat in world.possible_agents}
        rng = np.random.default_rng([seed, 3])
        agents = [s.seat for s in seats if not s.person]
        people = [s.seat for s in seats if s.person]
        if agent_policy is not None and agents:
            agent_policy.set_strategies(dict.fromkeys(agents, ""))
            agent_policy.set_members({seat: {} for seat in agents})
            agent_policy.set_rules(self.rules[agents[0]])
            agent_policy.start_episode({seat: self.rules[seat] for seat in agents}, rng)
        if people:
            fallback_policy.set_strategies(dict.fromkeys(people, ""))
            fallback_policy.set_members({seat: {} for seat in people})
            fallback_policy.set_rules(self.rules[people[0]])
            fallback_policy.start_episode({seat: self.rules[seat] for seat in people}, np.random.default_rng([seed, 4]))
        self.step = 0  # steps completed
        self.deciders: list[str] | None = None  # the open step's deciders
        self.decided: dict[str, tuple[Action, bool]] = {}  # seat -> (action, taken over)
        self.busy = False  # agents are deciding outside the lock
        self.done = False
        self.last_infos: dict[str, dict] = {seat: {} for seat in world.possible_agents}
        self.news: list[str] = []  # what happened, newest last (shown on the pages)

    def round(self) -> int:
        """The round about to be played (the worlds' ``round`` observation), 1-based."""
        seat = self.world.possible_agents[0]
        return int(np.asarray(self.observations[seat]["round"]).reshape(-1)[0])

    def person_seat(self, name: str) -> _Seat | None:
        for seat in self.seats.values():
            if seat.person and seat.name == name:
                return seat
        return None


class _Game:
    """One game the teacher started: its settings, tables and records (one run)."""

    def __init__(self, number: int, settings: ClassSettings, started: float):
        self.number = number
        self.settings = settings
        self.seed = settings.seed + number - 1
        self.started = started
        self.started_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.wall_start = time.perf_counter()
        self.wall_time = 0.0
        self.tables: list[_Table] = []
        self.records = _Records()
        self.released = 1  # rounds the teacher released (pace "teacher")
        self.ended = False  # the teacher ended it: the fallback plays every student's seat to the end
        self.world_id = ""
        self.world_kwargs: dict[str, Any] = {}
        self.export_dir: Path | None = None
        self.people: list[str] = []

    @property
    def finished(self) -> bool:
        return bool(self.tables) and all(t.done for t in self.tables)


class Classroom:
    """The whole classroom: students, games, tables; every method takes the one lock.

    ``clock`` (seconds, monotonic) is injectable so tests can let time pass without sleeping.
    ``out``/``name``: where games are exported (``<out>/<name>/game=<k>/seed=<seed>/``).
    """

    def __init__(self, settings: ClassSettings | None = None, *, out: str | Path = "runs", name: str | None = None,
                 token: str | None = None, clock: Callable[[], float] = time.monotonic):
        self.settings = (settings or ClassSettings()).checked()
        self.out = Path(out)
        self.name = name or datetime.now().strftime("class_%Y%m%d")
        from dilemmazoo.experiments.config import NAME_PATTERN

        if not NAME_PATTERN.fullmatch(self.name):
            raise ClassroomError(f"name must be one folder name (letters, digits, '_', '-', '.'); got {self.name!r}")
        self.token = token or secrets.token_urlsafe(12)
        self.clock = clock
        self.lock = threading.RLock()
        self.session = uuid.uuid4().hex
        self.students: dict[str, Student] = {}  # name -> student
        self.keys: dict[str, str] = {}  # browser key -> name
        self.games: list[_Game] = []
        self.backends: dict[str, Any] = {}
        self.totals: dict[str, float] = {}
        self.first_game = self._next_game_number()

    # -- students --------------------------------------------------------------------------

    def join(self, name: Any, key: str | None = None) -> Student:
        """Let a student in; returns the :class:`Student` (its ``key`` goes into a cookie).

        A name already taken by a student who is here is refused; a student who is away may
        come back under the same name (taking their seat back)."""
        name = validate_name(name)
        with self.lock:
            for other in self.students.values():
                if other.name.casefold() == name.casefold():
                    if not other.away and other.key != key:
                        raise ClassroomError(f"The name {name!r} is taken; choose another.")
                    self._back(other)
                    return other
            student = Student(name=name, key=secrets.token_urlsafe(16), last_seen=self.clock(),
                              order=len(self.students))
            self.students[name] = student
            self.keys[student.key] = name
            self.totals.setdefault(name, 0.0)
            return student

    def student(self, key: str | None) -> Student | None:
        with self.lock:
            name = self.keys.get(key or "")
            return self.students.get(name) if name else None

    def heartbeat(self, key: str | None) -> Student | None:
        """A student's page polled: they are here (back, if they were away)."""
        with self.lock:
            student = self.student(key)
            if student is not None:
                student.last_seen = self.clock()
                if student.away:
                    self._back(student)
            return student

    def leave(self, key: str | None) -> None:
        """The student's page went away (its ``pagehide`` beacon): the fallback plays their seat."""
        with self.lock:
            student = self.student(key)
            if student is not None:
                self._away(student, "left the game (page closed)")

    def _back(self, student: Student) -> None:
        student.away = False
        student.last_seen = self.clock()
        for table in self._tables_of(student.name):
            seat = table.person_seat(student.name)
            if seat.taken_over and not table.done and not table.game.ended:
                seat.taken_over = False
                decided = table.decided.get(seat.seat)
                if decided is not None and decided[1]:  # the open step is not played yet: the student decides it
                    del table.decided[seat.seat]
                table.news.append(f"{student.name} is back and plays again.")

    def _away(self, student: Student, why: str) -> None:
        if student.away:
            return
        student.away = True
        for table in self._tables_of(student.name):
            seat = table.person_seat(student.name)
            if not table.done and not seat.taken_over:
                seat.taken_over = True
                seat.takeovers += 1
                fallback = table.game.settings.fallback
                table.news.append(f"{student.name} {why}; {fallback} plays their seat now.")

    def _tables_of(self, name: str) -> list[_Table]:
        game = self.current
        if game is None:
            return []
        return [t for t in game.tables if t.person_seat(name) is not None]

    def check_heartbeats(self) -> None:
        """Mark away every student silent for longer than the timeout."""
        with self.lock:
            now = self.clock()
            for student in self.students.values():
                if not student.away and now - student.last_seen > self.settings.timeout:
                    self._away(student, f"was silent for more than {self.settings.timeout:g} s")

    # -- the teacher -----------------------------------------------------------------------

    def check_token(self, token: str | None) -> bool:
        return isinstance(token, str) and secrets.compare_digest(token.encode(), self.token.encode())

    def configure(self, **changes: Any) -> ClassSettings:
        """Change the next game's settings (game, rounds, noise, opponent, fallback, pace, timeout).
        Changing the game resets the opponent and fallback to its defaults unless they are given."""
        allowed = {"game", "rounds", "noise", "opponent", "fallback", "pace", "timeout"}
        unknown = set(changes) - allowed
        if unknown:
            raise ClassroomError(f"unknown setting(s) {sorted(unknown)}; settings are {sorted(allowed)}")
        changes = {k: v for k, v in changes.items() if v is not None and v != ""}
        with self.lock:
            current = self.settings
            if "game" in changes and _game_key(changes["game"]) != current.game:
                current = replace(current, opponent=None, fallback=None)
            self.settings = replace(current, **changes).checked()
            return self.settings

    @property
    def current(self) -> _Game | None:
        return self.games[-1] if self.games else None

    def start_game(self) -> _Game:
        """Seat the students who are here and start a game with the current settings."""
        if self.settings.opponent.startswith(LLM_PREFIX):  # load a model before taking the lock (seconds)
            try:
                _make_policy(self.settings.opponent, self.settings, self.backends)
            except Exception as error:  # noqa: BLE001 - a backend that cannot start: the teacher reads why
                raise ClassroomError(f"the opponent {self.settings.opponent} cannot start: "
                                     f"{type(error).__name__}: {error}") from None
        with self.lock:
            if self.current is not None and not self.current.finished:
                raise ClassroomError(f"game {self.current.number} is still being played; start the next one when it ends")
            present = sorted((s for s in self.students.values() if not s.away), key=lambda s: s.order)
            if not present:
                raise ClassroomError("no student has joined yet (or all are away)")
            settings = self.settings
            number = self.first_game + len(self.games)
            game = _Game(number, settings, self.clock())
            rng = np.random.default_rng([game.seed, 1])
            names = [present[i].name for i in rng.permutation(len(present))]
            game.people = names
            kind = settings.kind
            if kind.family == "matrix":
                game.world_kwargs = {"game": settings.game, "n_rounds": settings.rounds, "noise": settings.noise}
            elif kind.family == "split":
                game.world_kwargs = {"n_rounds": settings.rounds}
            else:
                seats = max(4, settings.rounds, len(names))
                seats += seats % 2
                game.world_kwargs = {"n_agents": seats, "n_rounds": settings.rounds}
            game.world_id = world_id(kind.world)
            if kind.family == "donor":
                groups = [names]
            else:
                groups = [names[i:i + 2] for i in range(0, len(names), 2)]
            episode_rng = np.random.default_rng([game.seed, 2])
            agent_count = 0
            for index, people in enumerate(groups):
                world = make_world(kind.world, **game.world_kwargs)
                seats = []
                for position, seat in enumerate(world.possible_agents):
                    if position < len(people):
                        seats.append(_Seat(seat, people[position], True, PERSON))
                    else:
                        agent_count += 1
                        seats.append(_Seat(seat, f"{AGENT_PREFIX}{agent_count}", False, f"agent:{settings.opponent}"))
                needs_agent = any(not s.person for s in seats)
                agent_policy = _make_policy(settings.opponent, settings, self.backends) if needs_agent else None
                fallback_policy = _make_policy(settings.fallback, settings, self.backends)
                table = _Table(game, index, world, seats, int(episode_rng.integers(2**31)), agent_policy, fallback_policy)
                game.tables.append(table)
            self.games.append(game)
        self.advance()
        return game

    def finish_game(self) -> _Game:
        """End the current game early: the fallback plays the remaining decisions of every student
        (each counts as a takeover, with the teacher named as the reason)."""
        with self.lock:
            game = self.current
            if game is None or game.finished:
                raise ClassroomError("no game is being played")
            for table in game.tables:
                if table.done:
                    continue
                for seat in table.seats.values():
                    if seat.person and not seat.taken_over:
                        seat.taken_over = True
                        seat.takeovers += 1
                table.news.append(f"The teacher ended the game: {game.settings.fallback} plays the remaining "
                                  "rounds for the students.")
            game.released = game.settings.rounds
            game.ended = True
        self.advance()
        return game

    def release_round(self) -> int:
        """Pace ``teacher``: let the tables play the next round; returns the rounds released."""
        with self.lock:
            game = self.current
            if game is None or game.finished:
                raise ClassroomError("no game is being played")
            game.released = min(game.released + 1, game.settings.rounds)
            released = game.released
        self.advance()
        return released

    # -- playing ---------------------------------------------------------------------------

    def answer(self, key: str | None, text: Any) -> dict[str, Any]:
        """A student's answer to their open decision, read by the world's own spec.

        Returns ``{"ok": True}`` or ``{"ok": False, "error": <the world's message>}`` (the
        rejected answer is counted in ``parse_failures``); :class:`ClassroomError` when there is
        nothing to answer."""
        if not isinstance(text, str):
            raise ClassroomError("Send your answer as text.")
        if len(text) > ANSWER_MAX_CHARS:
            raise ClassroomError(f"Your answer is {len(text)} characters long; keep it under {ANSWER_MAX_CHARS}.")
        with self.lock:
            student = self.heartbeat(key)
            if student is None:
                raise ClassroomError("Join the class first.")
            table, seat = self._open_seat(student.name)
            if seat is None:
                raise ClassroomError("There is nothing to answer right now.")
            spec = table.world.action_spec(seat.seat)
            try:
                # a move by label, first letter or number (as in `dilemmazoo play`); other answers are read as the
                # world reads a model's reply ending "Answer: <text>" (the last "Answer:" counts, so typing one is fine)
                value = parse_move(text, spec) if isinstance(spec, Choice) else spec.parse(f"Answer: {text}")
            except ActionParseError as error:
                seat.failures += 1
                seat.error = str(error)
                return {"ok": False, "error": seat.error}
            seat.error = ""
            table.decided[seat.seat] = (Action(value=value, parse_failures=seat.failures, raw_text=text), False)
        self.advance()
        return {"ok": True}

    def _open_seat(self, name: str) -> tuple[_Table | None, _Seat | None]:
        """The table where ``name`` must decide now, and the seat; ``(table, None)`` when nothing is asked."""
        for table in self._tables_of(name):
            seat = table.person_seat(name)
            if (not table.done and table.deciders is not None and seat.seat in table.deciders
                    and seat.seat not in table.decided and not seat.taken_over):
                return table, seat
            return table, None
        return None, None

    def _open(self, table: _Table) -> bool:
        """Open the table's next step unless it waits for the teacher; whether a step is open."""
        if table.done:
            return False
        if table.deciders is None:
            game = table.game
            if game.settings.pace == "teacher" and table.round() > game.released:
                return False
            table.deciders = list(table.world.deciders())
            table.decided = {}
            for seat in table.seats.values():
                seat.failures, seat.error = 0, ""
        return True

    def _machine_requests(self, table: _Table) -> list[tuple[BatchPolicy, list[Decision], bool]]:
        """The open step's decisions that agents (or the fallback, for absent students) make."""
        work = []
        for policy, seats, taken in ((table.agent_policy, [s for s in table.seats.values() if not s.person], False),
                                     (table.fallback_policy, [s for s in table.seats.values() if s.person
                                                              and s.taken_over], True)):
            mine = [s.seat for s in seats if s.seat in table.deciders and s.seat not in table.decided]
            if mine:
                world = table.world
                requests = [Decision(agent_id=seat, observation=table.observations[seat], text=world.describe(seat),
                                     spec=world.action_spec(seat), rules=table.rules[seat], step=table.step + 1,
                                     episode=table.index, generation=1) for seat in mine]
                work.append((policy, requests, taken))
        return work

    def advance(self) -> None:
        """Move every table as far as it can: agents and fallbacks decide (outside the lock, one
        ``act_batch`` per policy and table), and a step whose decisions are all in is played."""
        while True:
            work = []
            with self.lock:
                game = self.current
                if game is None:
                    return
                for table in game.tables:
                    while not table.busy and self._open(table):
                        requests = self._machine_requests(table)
                        if requests:
                            table.busy = True
                            work.append((table, requests))
                            break
                        if all(seat in table.decided for seat in table.deciders):
                            self._play_step(table)
                            continue
                        break
                if game.finished and not game.wall_time:
                    game.wall_time = round(time.perf_counter() - game.wall_start, 3)
            if not work:
                return
            for table, requests in work:
                answers = []
                try:
                    for policy, batch, taken in requests:
                        answers.append((batch, policy.act_batch(batch), taken))
                finally:
                    with self.lock:
                        table.busy = False
                        for batch, actions, taken in answers:
                            for request, action in zip(batch, actions):
                                seat = table.seats[request.agent_id]
                                if taken and not seat.taken_over:
                                    continue  # the student came back meanwhile and decides this step
                                if table.deciders is not None and request.agent_id not in table.decided:
                                    table.decided[request.agent_id] = (action, taken)

    def _play_step(self, table: _Table) -> None:
        world, game = table.world, table.game
        actions = {seat: table.decided[seat][0].value if seat in table.decided else world.idle_action(seat)
                   for seat in world.agents}
        live = list(world.agents)
        table.observations, rewards, _, _, infos = world.step(actions)
        table.step += 1
        for seat_id in live:
            seat = table.seats[seat_id]
            action, taken = table.decided.get(seat_id, (None, False))
            reward = float(rewards.get(seat_id, 0.0))
            seat.ret += reward
            seat.last_reward = reward
            if seat.person:
                self.totals[seat.name] = self.totals.get(seat.name, 0.0) + reward
            info = _scalar_infos(infos.get(seat_id, {}))
            table.last_infos[seat_id] = info
            game.records.steps.append({
                "episode": table.index, "generation": 1, "game": table.index + 1, "step": table.step,
                "agent": seat_id, "name": seat.name, "policy": seat.policy, "decided": action is not None,
                "action": action_json(action.value) if action else "", "reward": reward, "utility": reward,
                "parse_failures": action.parse_failures if action else 0,
                "fallback_used": action.fallback_used if action else False,
                "person": seat.person, "taken_over": bool(taken), **info,
            })
            if action is not None:
                game.records.add_calls(action.calls, episode=table.index, step=table.step, agent=seat_id)
        table.deciders, table.decided = None, {}
        if not world.agents:
            table.done = True
            table.news.append("The game is over.")
            for seat in table.seats.values():
                game.records.episodes.append({
                    "episode": table.index, "generation": 1, "game": table.index + 1, "agent": seat.seat,
                    "name": seat.name, "policy": seat.policy, "return": seat.ret, "utility_return": seat.ret,
                    "steps": table.step, "seed": table.seed, "person": seat.person, "takeovers": seat.takeovers,
                    **table.last_infos[seat.seat],
                })

    def tick(self) -> None:
        """Check heartbeats and move the tables (the server's ticker calls this a few times a second)."""
        self.check_heartbeats()
        self.advance()

    # -- what the pages show -----------------------------------------------------------------

    def leaderboard(self) -> list[dict[str, Any]]:
        """Every student: points in the current game, total over the session, whether here; best first."""
        with self.lock:
            game = self.current
            rows = []
            for student in self.students.values():
                now = None
                if game is not None:
                    for table in game.tables:
                        seat = table.person_seat(student.name)
                        if seat is not None:
                            now = seat.ret
                rows.append({"name": student.name, "game": now, "total": round(self.totals.get(student.name, 0.0), 6),
                             "away": student.away})
            rows.sort(key=lambda row: (-row["total"], row["name"].casefold()))
            return rows

    def student_view(self, key: str | None) -> dict[str, Any] | None:
        """What a student's page shows (JSON); ``None`` for an unknown key."""
        with self.lock:
            student = self.heartbeat(key)
            if student is None:
                return None
            game = self.current
            view: dict[str, Any] = {"name": student.name, "status": "waiting", "game": None, "table": None,
                                    "next": self.settings.title(), "leaderboard": self.leaderboard()}
            if game is None:
                return view
            view["game"] = {"number": game.number, "title": game.settings.title(), "finished": game.finished}
            tables = self._tables_of(student.name)
            if not tables:
                view["status"] = "waiting"
                return view
            table = tables[0]
            seat = table.person_seat(student.name)
            world = table.world
            others = [s for s in table.seats.values() if s is not seat]
            asked = (not table.done and table.deciders is not None and seat.seat in table.deciders
                     and seat.seat not in table.decided and not seat.taken_over)
            spec = world.action_spec(seat.seat) if asked else None
            waiting_teacher = (not table.done and table.deciders is None and game.settings.pace == "teacher")
            view["status"] = "finished" if table.done else "playing"
            view["table"] = {
                "index": table.index + 1,
                "seat": seat.seat,
                "round": min(table.round(), game.settings.rounds),
                "rounds": game.settings.rounds,
                "step": table.step,
                "key": f"{game.number}-{table.index}-{table.step}",
                "players": [{"name": s.name, "person": s.person, "taken_over": s.taken_over, "score": s.ret}
                            for s in others],
                "score": seat.ret,
                "last_reward": seat.last_reward if table.step else None,
                "rules": table.rules[seat.seat],
                "describe": world.describe(seat.seat),
                "asked": asked,
                "answered": seat.seat in table.decided,
                "taken_over": seat.taken_over,
                "waiting_teacher": waiting_teacher,
                "error": seat.error,
                "news": table.news[-5:],
                "takeovers": sum(s.takeovers for s in others),
                "done": table.done,
                "form": _form(spec) if spec is not None else None,
            }
            return view

    def teacher_view(self) -> dict[str, Any]:
        """What the teacher's page shows (JSON)."""
        with self.lock:
            now = self.clock()
            game = self.current
            busy_names = {}
            if game is not None:
                for table in game.tables:
                    for seat in table.seats.values():
                        if seat.person:
                            busy_names[seat.name] = table.index + 1
            view: dict[str, Any] = {
                "settings": {**asdict(self.settings), "title": self.settings.title()},
                "games": list(CLASSROOM_GAMES),
                "strategies": {name: _strategies_for(kind.family) + (["axelrod:Name"] if kind.family == "matrix" else [])
                               for name, kind in CLASSROOM_GAMES.items()},
                "students": [{"name": s.name, "away": s.away, "silent_s": round(max(0.0, now - s.last_seen), 1),
                              "table": busy_names.get(s.name)}
                             for s in sorted(self.students.values(), key=lambda s: s.order)],
                "leaderboard": self.leaderboard(),
                "game": None,
                "exports": [{"game": g.number, "dir": str(g.export_dir)} for g in self.games if g.export_dir],
                "out": str(self.out / self.name),
            }
            if game is not None:
                view["game"] = {
                    "number": game.number, "title": game.settings.title(), "finished": game.finished,
                    "pace": game.settings.pace, "released": game.released,
                    "takeovers": sum(s.takeovers for t in game.tables for s in t.seats.values()),
                    "tables": [{
                        "index": t.index + 1, "round": min(t.round(), game.settings.rounds), "step": t.step,
                        "done": t.done,
                        "seats": [{"name": s.name, "person": s.person, "taken_over": s.taken_over,
                                   "takeovers": s.takeovers, "score": s.ret,
                                   "waiting": (t.deciders is not None and s.seat in t.deciders
                                               and s.seat not in t.decided)}
                                  for s in t.seats.values()],
                    } for t in game.tables],
                }
            return view

    # -- records ---------------------------------------------------------------------------

    def _next_game_number(self) -> int:
        folder = self.out / self.name
        numbers = [0]
        if folder.is_dir():
            for path in folder.glob("game=*"):
                match = re.fullmatch(r"game=(\d+)", path.name)
                if match:
                    numbers.append(int(match[1]))
        return max(numbers) + 1

    def export(self) -> list[Path]:
        """Write every finished game not yet written as a run directory; returns their folders."""
        with self.lock:
            games = [g for g in self.games if g.finished and g.export_dir is None]
            if not games and not any(g.finished for g in self.games):
                raise ClassroomError("no game has finished yet; export when one has")
            written = []
            for game in games:
                game.export_dir = self._export(game)
                written.append(game.export_dir)
            return written

    def game_config(self, game: _Game):
        """The run's :class:`~dilemmazoo.experiments.config.ExperimentConfig` for ``game``."""
        from dilemmazoo.experiments.config import ExperimentConfig, WorldConfig

        settings = game.settings
        seats = game.tables[0].seats.values()
        agents_seated = any(not s.person for t in game.tables for s in t.seats.values())
        # the person group takes the first seats of a table (students sit first), the agent group the rest
        people_at_first = sum(s.person for s in seats) if agents_seated else None
        person: dict[str, Any] = {"kind": "scripted", "strategy": settings.fallback, "label": PERSON}
        if agents_seated:
            person["seats"] = max(1, min(len(seats) - 1, people_at_first))
        if settings.opponent.startswith(LLM_PREFIX):
            agent = {"kind": "llm", "backend": settings.opponent[len(LLM_PREFIX):], "label": f"agent:{settings.opponent}"}
        else:
            agent = {"kind": "scripted", "strategy": settings.opponent, "label": f"agent:{settings.opponent}"}
        description = (f"classroom game {game.number} ({settings.title()}): students {', '.join(game.people)} "
                       f"at {len(game.tables)} table(s), one episode per table; seats of group 'person' were played "
                       f"by students (its strategy, {settings.fallback}, played for absent students), the others by "
                       f"{settings.opponent}")
        return ExperimentConfig(
            name=self.name, description=description,
            world=WorldConfig(id=game.world_id, kwargs=dict(game.world_kwargs)),
            agents=[person, agent] if agents_seated else [person], episodes_per_generation=len(game.tables),
            seeds=[game.seed], cell={"game": str(game.number)}, cache=False,
        )

    def _export(self, game: _Game) -> Path:
        from dilemmazoo.analysis import world_metrics
        from dilemmazoo.experiments.config import cell_values, run_id
        from dilemmazoo.experiments.provenance import code_provenance
        from dilemmazoo.experiments.records import Summary

        config = self.game_config(game)
        rid = run_id(config)
        records = game.records
        records.population = []
        for table in game.tables:
            for seat in table.seats.values():
                records.population.append({
                    "generation": 1, "name": seat.name, "strategy": "" if seat.person else game.settings.opponent,
                    "params": "{}", "parents": "", "score": seat.ret, "survived": False, "episode": -1, "round": 0,
                })
        with store.run_lock(self.out, config, rid):
            run_dir = store.run_dir_for(self.out, config, rid, claim=True)
            state = store.inspect_run(run_dir, rid)
            if state.finished:
                if (state.summary or {}).get("classroom", {}).get("session") == self.session:
                    return run_dir
                raise ClassroomError(f"{run_dir} already holds another class's game {game.number}; "
                                     "start the classroom with another --name")
            store.remove_stale_temporaries(run_dir)
            store.prepare(run_dir, config)
            execution = store.new_execution()
            frames = store.frames(records)
            steps = frames["steps"]
            counts = {
                "steps": int(len(steps[["episode", "step"]].drop_duplicates())) if len(steps) else 0,
                "decisions": int(steps["decided"].sum()) if len(steps) else 0,
                "parse_failures": int(steps["parse_failures"].sum()) if len(steps) else 0,
                "fallbacks": int(steps["fallback_used"].sum()) if len(steps) else 0,
                "llm_calls": int(len(frames["llm_calls"])),
                "cache_hits": 0,
                "strategy_failures": 0,
                "takeovers": sum(s.takeovers for t in game.tables for s in t.seats.values()),
                "taken_over_decisions": int(steps["taken_over"].sum()) if len(steps) else 0,
                "people": len(game.people),
            }
            agents = [{"label": g.label, "kind": g.kind, "backend": g.backend if g.kind == "llm" else None,
                       "decision": None, "played_by": "students" if g.label == PERSON else "agent"}
                      for g in config.groups]
            summary = Summary(
                experiment=config.name, run_id=rid, world=game.world_id, seed=game.seed, episodes=len(game.tables),
                generations=1, wall_time_s=game.wall_time, cell=cell_values(config), counts=counts,
                metrics=world_metrics(game.world_id, steps, game.world_kwargs),
                provenance={**code_provenance(), "agents": agents}, execution=execution,
            ).to_dict()
            summary["classroom"] = {
                "session": self.session, "game": game.number, "started_at": game.started_at,
                "settings": asdict(game.settings), "students": list(game.people),
                "tables": [[{"seat": s.seat, "name": s.name, "person": s.person, "return": s.ret,
                             "takeovers": s.takeovers} for s in t.seats.values()] for t in game.tables],
            }
            store.finish(run_dir, frames, summary, execution["id"])
            return run_dir


def _form(spec) -> dict[str, Any]:
    """How a student answers ``spec``: buttons for a choice, a text box for an amount or a message."""
    if isinstance(spec, Choice):
        return {"kind": "choice", "labels": list(spec.labels), "hint": "Choose one."}
    if isinstance(spec, Amount):
        low, high = f"{spec.low:g}", f"{np.floor(spec.high * 100) / 100:g}"
        if spec.moves:
            moves = ", ".join(spec.moves)
            hint = (f"Start with one of {moves}, then a comma and a number from {low} to {high} "
                    f"(e.g. '{spec.moves[0]}, {high}').")
        else:
            hint = f"Type a number from {low} to {high}."
        return {"kind": "amount", "labels": list(spec.moves), "hint": hint}
    limit = getattr(spec, "max_chars", 500)
    return {"kind": "message", "labels": [], "hint": f"Write your message (at most {limit} characters).",
            "max_chars": limit}


# -- the web pages -----------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#234;color:#fff;padding:.7em 1.2em;display:flex;justify-content:space-between;align-items:center}
header h1{font-size:1.25em;margin:0} main{display:flex;gap:1.2em;padding:1.2em;flex-wrap:wrap}
section{background:#fff;border-radius:8px;padding:1em 1.2em;box-shadow:0 1px 3px #0002}
.play{flex:2;min-width:340px} .side{flex:1;min-width:260px}
table{border-collapse:collapse;width:100%} td,th{padding:.3em .5em;border-bottom:1px solid #e4e6ea;text-align:left}
td.num,th.num{text-align:right} button{font-size:1.05em;padding:.5em 1.1em;margin:.2em;border-radius:6px;
border:1px solid #345;background:#3a6ea5;color:#fff;cursor:pointer} button:disabled{background:#aab;cursor:default}
input,select{font-size:1em;padding:.35em;margin:.2em} .error{color:#b00020;font-weight:600} .note{color:#555}
.news{background:#fff8e1;border-left:4px solid #f0b400;padding:.3em .6em;margin:.3em 0}
pre{white-space:pre-wrap;font-family:inherit;background:#f7f8fa;padding:.6em;border-radius:6px;margin:.4em 0}
.away{color:#999} .taken{color:#b35c00;font-weight:600} .score{font-size:1.3em;font-weight:700}
details{margin:.5em 0}
"""

_LEADERBOARD_JS = """
function cell(row, text, cls){const td=document.createElement('td');td.textContent=text;if(cls)td.className=cls;row.appendChild(td);return td;}
function fmt(x){return (x===null||x===undefined)?'–':String(Math.round(x*100)/100);}
function drawBoard(rows){
  const body=document.querySelector('#leaderboard tbody');body.replaceChildren();
  rows.forEach((r,i)=>{const tr=document.createElement('tr');tr.dataset.name=r.name;if(r.away)tr.className='away';
    cell(tr,String(i+1));cell(tr,r.name+(r.away?' (away)':''),'who');cell(tr,fmt(r.game),'num game');
    cell(tr,fmt(r.total),'num total');body.appendChild(tr);});
}
"""

_BOARD_HTML = """<section class="side"><h2>Leaderboard</h2><table id="leaderboard"><thead><tr><th>#</th><th>name</th>
<th class="num">this game</th><th class="num">total</th></tr></thead><tbody></tbody></table></section>"""


def _page(title: str, body: str, script: str = "") -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
            f"content='width=device-width,initial-scale=1'><title>{escape(title)}</title><style>{_STYLE}</style>"
            f"</head><body>{body}<script>{script}</script></body></html>")


def join_page(classroom: Classroom, message: str = "", name: str = "") -> str:
    """The join form (server-rendered: works without JavaScript); ``message`` explains a refusal."""
    error = f"<p class=error id=join-error>{escape(message)}</p>" if message else ""
    body = (f"<header><h1>dilemmazoo classroom</h1><span>{escape(classroom.settings.title())}</span></header>"
            f"<main><section class=play><h2>Join the class</h2>{error}"
            f"<form method=post action='/join'><label>Your name <input name=name id=name maxlength=200 "
            f"value='{escape(name, quote=True)}' autofocus required></label> <button type=submit id=join>Join</button>"
            f"</form><p class=note>At most {NAME_MAX_CHARS} characters. Your name is shown on the leaderboard.</p>"
            f"</section>{_BOARD_HTML}</main>")
    script = _LEADERBOARD_JS + """
async function poll(){try{const r=await fetch('/api/leaderboard');drawBoard(await r.json());}catch(e){}}
poll();setInterval(poll,1000);"""
    return _page("dilemmazoo classroom", body, script)


_STUDENT_JS = _LEADERBOARD_JS + r"""
let formKey=null, sending=false;
const $=id=>document.getElementById(id);
function text(id,value){$(id).textContent=value;}
async function send(answer){
  if(sending)return; sending=true;
  try{const r=await fetch('/api/answer',{method:'POST',headers:{'Content-Type':'application/json'},
        body:JSON.stringify({answer:answer})});
      const data=await r.json(); text('error', data.ok?'':(data.error||'Not understood.'));
      if(data.ok){formKey=null;}
  }catch(e){text('error','The server did not answer; try again.');}
  sending=false; poll();
}
function drawForm(t){
  const box=$('answer'); const key=t.asked?t.key:('x'+t.key+t.answered);
  if(key===formKey)return; formKey=key; box.replaceChildren(); text('error',t.error||'');
  if(!t.asked){const p=document.createElement('p');p.className='note';
    p.textContent=t.done?'':(t.taken_over?'The fallback strategy plays your seat now (see the news above).':
      (t.waiting_teacher?'Waiting for the teacher to start the next round.':
      (t.answered?'Answer sent; waiting for the others.':'Nothing to decide this step; waiting for the others.')));
    box.appendChild(p);return;}
  const hint=document.createElement('p');hint.textContent=t.form.hint;box.appendChild(hint);
  if(t.form.kind==='choice'){t.form.labels.forEach(label=>{const b=document.createElement('button');
      b.textContent=label;b.dataset.move=label;b.onclick=()=>send(label);box.appendChild(b);});return;}
  const f=document.createElement('form');const i=document.createElement(t.form.kind==='message'?'textarea':'input');
  i.id='answer-text';i.name='answer';i.size=30;if(t.form.max_chars)i.maxLength=t.form.max_chars;
  const b=document.createElement('button');b.type='submit';b.textContent='Send';b.id='send';
  f.appendChild(i);f.appendChild(b);f.onsubmit=(e)=>{e.preventDefault();send(i.value);};box.appendChild(f);i.focus();
}
function draw(s){
  text('who',s.name); drawBoard(s.leaderboard);
  const t=s.table;
  if(!t){text('status', s.game&&!s.game.finished?('Game '+s.game.number+' is being played; you join the next one.'):
      'Waiting for the teacher to start the game ('+s.next+').');
    $('game').hidden=true; return;}
  $('game').hidden=false;
  text('title','Game '+s.game.number+': '+s.game.title+' — table '+t.index);
  text('status', t.done?'The game is over.':('Round '+t.round+' of '+t.rounds));
  text('score', fmt(t.score)); text('last', t.last_reward===null?'':'(last step: '+(t.last_reward>=0?'+':'')+fmt(t.last_reward)+')');
  const others=$('others'); others.replaceChildren();
  t.players.forEach(p=>{const li=document.createElement('li');
    li.textContent=p.name+(p.person?'':' (computer)')+(p.taken_over?' — away: fallback strategy plays':'')+': '+fmt(p.score);
    if(p.taken_over)li.className='taken'; others.appendChild(li);});
  text('takeovers', t.takeovers?('Takeovers at your table: '+t.takeovers):'');
  text('describe', t.describe); text('rules', t.rules);
  const news=$('news'); news.replaceChildren();
  t.news.forEach(n=>{const d=document.createElement('div');d.className='news';d.textContent=n;news.appendChild(d);});
  if(t.error)text('error',t.error);
  drawForm(t);
}
async function poll(){
  try{const r=await fetch('/api/state',{cache:'no-store'});
    if(r.status===401){location.href='/';return;}
    draw(await r.json()); text('conn','');
  }catch(e){text('conn','(connection lost; retrying)');}
}
window.addEventListener('pagehide',()=>{navigator.sendBeacon('/api/leave');});
poll(); setInterval(poll,1000);
"""


def student_page(classroom: Classroom, name: str) -> str:
    body = (f"<header><h1>dilemmazoo classroom</h1><span>You are <b id=who>{escape(name)}</b> "
            f"<span id=conn class=note></span></span></header><main><section class=play>"
            f"<p id=status class=note>Loading…</p><div id=game hidden><h2 id=title></h2>"
            f"<p>Your points: <span id=score class=score></span> <span id=last class=note></span></p>"
            f"<ul id=others></ul><p id=takeovers class=taken></p><div id=news></div>"
            f"<pre id=describe></pre><div id=answer></div><p id=error class=error></p>"
            f"<details><summary>Rules of the game</summary><pre id=rules></pre></details></div></section>"
            f"{_BOARD_HTML}</main>")
    return _page(f"{name} — dilemmazoo classroom", body, _STUDENT_JS)


_TEACHER_JS = _LEADERBOARD_JS + r"""
const token=new URLSearchParams(location.search).get('token')||'';
const $=id=>document.getElementById(id);
function text(id,value){$(id).textContent=value;}
let settingsShown=false;
async function act(path, body){
  const r=await fetch(path+'?token='+encodeURIComponent(token),{method:'POST',headers:{'Content-Type':'application/json'},
     body:JSON.stringify(body||{})});
  const data=await r.json(); text('message', data.error?data.error:(data.message||'')); $('message').className=data.error?'error':'note';
  poll(); return data;
}
function showSettings(v){
  const g=$('set-game'); if(!g.options.length){v.games.forEach(n=>{const o=document.createElement('option');o.value=n;o.textContent=n;g.appendChild(o);});}
  g.value=v.settings.game; $('set-rounds').value=v.settings.rounds; $('set-noise').value=v.settings.noise;
  $('set-opponent').value=v.settings.opponent; $('set-fallback').value=v.settings.fallback; $('set-pace').value=v.settings.pace;
  settingsShown=true;
}
function draw(v){
  drawBoard(v.leaderboard); text('next', v.settings.title+' — opponent '+v.settings.opponent+', fallback '+v.settings.fallback+', pace '+v.settings.pace);
  if(!settingsShown)showSettings(v);
  text('strategies','Strategies for this game: '+v.strategies[$('set-game').value].join(', ')+', llm:BACKEND (opponent only)');
  const sb=document.querySelector('#students tbody'); sb.replaceChildren();
  v.students.forEach(s=>{const tr=document.createElement('tr');tr.dataset.name=s.name;if(s.away)tr.className='away';
    cell(tr,s.name);cell(tr,s.away?'away':'here');cell(tr,s.silent_s+' s','num');cell(tr,s.table?String(s.table):'–','num');sb.appendChild(tr);});
  text('count', v.students.filter(s=>!s.away).length+' here, '+v.students.length+' joined');
  const g=v.game, tb=$('tables'); tb.replaceChildren();
  if(g){text('gametitle','Game '+g.number+': '+g.title+(g.finished?' — finished':' — playing'));
    text('takeovers','Takeovers: '+g.takeovers); $('release').hidden=!(g.pace==='teacher'&&!g.finished); $('finish').hidden=g.finished;
    g.tables.forEach(t=>{const d=document.createElement('div');const h=document.createElement('h3');
      h.textContent='Table '+t.index+(t.done?' — done':' — round '+t.round);d.appendChild(h);
      const ul=document.createElement('ul');t.seats.forEach(s=>{const li=document.createElement('li');
        li.textContent=s.name+(s.person?'':' (computer)')+': '+fmt(s.score)+(s.taken_over?' — away, fallback plays':'')+
          (s.takeovers?' (taken over '+s.takeovers+'×)':'')+(s.waiting?' — thinking…':'');
        if(s.taken_over)li.className='taken';ul.appendChild(li);});d.appendChild(ul);tb.appendChild(d);});}
  else{text('gametitle','No game yet.');text('takeovers','');$('finish').hidden=true;}
  const ex=$('exports'); ex.replaceChildren();
  v.exports.forEach(e=>{const li=document.createElement('li');li.textContent='game '+e.game+': '+e.dir;ex.appendChild(li);});
}
async function poll(){try{const r=await fetch('/api/teacher/state?token='+encodeURIComponent(token),{cache:'no-store'});
  if(r.ok)draw(await r.json()); else text('message',(await r.json()).error||'refused');}catch(e){}}
$('start').onclick=()=>act('/api/teacher/start');
$('release').onclick=()=>act('/api/teacher/round');
$('export').onclick=()=>act('/api/teacher/export');
$('finish').onclick=()=>{if(confirm('End the game? The fallback strategy plays the remaining rounds for every student.'))act('/api/teacher/finish');};
$('settings').onsubmit=(e)=>{e.preventDefault();act('/api/teacher/settings',{game:$('set-game').value,rounds:$('set-rounds').value,
   noise:$('set-noise').value,opponent:$('set-opponent').value,fallback:$('set-fallback').value,pace:$('set-pace').value})
   .then(d=>{if(!d.error){settingsShown=false;}});};
$('set-game').onchange=()=>{$('set-opponent').value='';$('set-fallback').value='';};
poll(); setInterval(poll,1000);
"""


def teacher_page(classroom: Classroom) -> str:
    body = ("<header><h1>dilemmazoo classroom — teacher</h1><span id=count></span></header><main>"
            "<section class=play><h2 id=gametitle></h2><p id=takeovers class=taken></p>"
            "<p><button id=start>Start game</button> <button id=release hidden>Start next round</button> "
            "<button id=finish>End game (fallback plays on)</button> <button id=export>Export results</button></p><p id=message class=note></p><div id=tables></div>"
            "<h2>Next game</h2><p id=next class=note></p><form id=settings>"
            "<label>game <select id=set-game></select></label> <label>rounds <input id=set-rounds size=3></label> "
            "<label>noise <input id=set-noise size=4></label><br><label>opponent <input id=set-opponent size=22></label> "
            "<label>fallback <input id=set-fallback size=22></label> <label>pace <select id=set-pace>"
            "<option>students</option><option>teacher</option></select></label> <button type=submit>Apply</button>"
            "</form><p id=strategies class=note></p><h2>Exported runs</h2><ul id=exports></ul>"
            f"<p class=note>dilemmazoo report {escape(str(classroom.out / classroom.name))}</p></section>"
            "<section class=side><h2>Students</h2><table id=students><thead><tr><th>name</th><th>status</th>"
            "<th class=num>silent</th><th class=num>table</th></tr></thead><tbody></tbody></table></section>"
            f"{_BOARD_HTML}</main>")
    return _page("teacher — dilemmazoo classroom", body, _TEACHER_JS)


def create_app(classroom: Classroom, *, ticker: bool = True, tick_seconds: float = 0.25):
    """The starlette application serving ``classroom``; with ``ticker`` a thread calls
    :meth:`Classroom.tick` every ``tick_seconds`` while the app runs (its lifespan)."""
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import Route
    from starlette.concurrency import run_in_threadpool

    @asynccontextmanager
    async def lifespan(app):
        stop = threading.Event()
        thread = None
        if ticker:
            def run() -> None:
                while not stop.wait(tick_seconds):
                    try:
                        classroom.tick()
                    except Exception as error:  # noqa: BLE001 - keep the class going; say what broke
                        print(f"classroom: {type(error).__name__}: {error}", file=sys.stderr, flush=True)

            thread = threading.Thread(target=run, daemon=True, name="classroom-ticker")
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=5)

    async def body_of(request: Request) -> dict[str, Any]:
        kind = request.headers.get("content-type", "")
        raw = await request.body()
        if len(raw) > 64_000:
            raise ClassroomError("The request is too large.")
        if "application/json" in kind:
            if not raw.strip():
                return {}
            try:
                data = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ClassroomError("The request is not valid JSON.") from None
            if not isinstance(data, dict):
                raise ClassroomError("The request must be a JSON object.")
            return data
        if "application/x-www-form-urlencoded" in kind or not kind:
            # the join form (parsed here: starlette's form parser needs python-multipart)
            try:
                pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                raise ClassroomError("The form is not valid UTF-8 text.") from None
            return dict(pairs)
        raise ClassroomError("Send a form or JSON.")

    def refused(error: Exception, status: int = 400) -> JSONResponse:
        return JSONResponse({"ok": False, "error": str(error)}, status_code=status)

    def key_of(request: Request) -> str | None:
        return request.cookies.get(COOKIE)

    async def index(request: Request) -> Response:
        student = classroom.student(key_of(request))
        if student is not None and not student.away:
            return RedirectResponse("/play", status_code=303)
        return HTMLResponse(join_page(classroom))

    async def join(request: Request) -> Response:
        name = ""
        try:
            data = await body_of(request)
            name = data.get("name", "")
            student = classroom.join(name, key_of(request))
        except ClassroomError as error:
            shown = name if isinstance(name, str) else ""
            return HTMLResponse(join_page(classroom, str(error), shown[:200]), status_code=400)
        response = RedirectResponse("/play", status_code=303)
        response.set_cookie(COOKIE, student.key, httponly=True, samesite="strict")
        return response

    async def play(request: Request) -> Response:
        student = classroom.student(key_of(request))
        if student is None:
            return RedirectResponse("/", status_code=303)
        return HTMLResponse(student_page(classroom, student.name))

    async def state(request: Request) -> Response:
        view = classroom.student_view(key_of(request))
        if view is None:
            return refused(ClassroomError("Join the class first."), 401)
        return JSONResponse(view)

    async def answer(request: Request) -> Response:
        try:
            data = await body_of(request)
            # agents may decide within this call (a language model takes a while): off the event loop
            return JSONResponse(await run_in_threadpool(classroom.answer, key_of(request), data.get("answer")))
        except ClassroomError as error:
            return refused(error)

    async def leave(request: Request) -> Response:
        classroom.leave(key_of(request))
        return JSONResponse({"ok": True})

    async def leaderboard(request: Request) -> Response:
        return JSONResponse(classroom.leaderboard())

    def teacher_only(handler):
        async def guarded(request: Request) -> Response:
            if not classroom.check_token(request.query_params.get("token")):
                if request.url.path == "/teacher":
                    return HTMLResponse(_page("refused", "<main><section><h1>Not allowed</h1><p>Open the teacher's "
                                                        "address printed on the server's console "
                                                        "(/teacher?token=...).</p></section></main>"), status_code=403)
                return refused(ClassroomError("the teacher's token is missing or wrong"), 403)
            try:
                return await handler(request)
            except ClassroomError as error:
                return refused(error)
        return guarded

    async def teacher(request: Request) -> Response:
        return HTMLResponse(teacher_page(classroom))

    async def teacher_state(request: Request) -> Response:
        return JSONResponse(classroom.teacher_view())

    async def teacher_start(request: Request) -> Response:
        game = await run_in_threadpool(classroom.start_game)
        return JSONResponse({"ok": True, "message": f"game {game.number} started: {len(game.tables)} table(s)"})

    async def teacher_finish(request: Request) -> Response:
        game = await run_in_threadpool(classroom.finish_game)
        return JSONResponse({"ok": True, "message": f"game {game.number} ended: the fallback played the rest"})

    async def teacher_round(request: Request) -> Response:
        released = await run_in_threadpool(classroom.release_round)
        return JSONResponse({"ok": True, "message": f"round {released} may be played"})

    async def teacher_settings(request: Request) -> Response:
        data = await body_of(request)
        settings = classroom.configure(**data)
        return JSONResponse({"ok": True, "message": f"next game: {settings.title()}"})

    async def teacher_export(request: Request) -> Response:
        written = await run_in_threadpool(classroom.export)
        message = ("written: " + ", ".join(map(str, written))) if written else "every finished game is exported already"
        return JSONResponse({"ok": True, "message": message, "dirs": [str(p) for p in written]})

    routes = [
        Route("/", index), Route("/join", join, methods=["POST"]), Route("/play", play),
        Route("/api/state", state), Route("/api/answer", answer, methods=["POST"]),
        Route("/api/leave", leave, methods=["POST"]), Route("/api/leaderboard", leaderboard),
        Route("/teacher", teacher_only(teacher)), Route("/api/teacher/state", teacher_only(teacher_state)),
        Route("/api/teacher/start", teacher_only(teacher_start), methods=["POST"]),
        Route("/api/teacher/round", teacher_only(teacher_round), methods=["POST"]),
        Route("/api/teacher/finish", teacher_only(teacher_finish), methods=["POST"]),
        Route("/api/teacher/settings", teacher_only(teacher_settings), methods=["POST"]),
        Route("/api/teacher/export", teacher_only(teacher_export), methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


# -- command line ------------------------------------------------------------------------------

def main_classroom(argv: list[str] | None = None) -> int:
    """``dilemmazoo classroom ...``: serve the classroom until Ctrl-C, then export the finished games."""
    parser = argparse.ArgumentParser(prog="dilemmazoo classroom",
                                     description="Serve a classroom game on a local port: students play each other "
                                                 "and agents in their browsers; the teacher's page starts games and "
                                                 "exports them as run directories.")
    parser.add_argument("--game", default="prisoners_dilemma", help=", ".join(CLASSROOM_GAMES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--noise", type=float, default=0.0, help="trembling-hand probability (matrix games)")
    parser.add_argument("--opponent", help="who plays an odd student (and fills donor-game seats): a strategy "
                                           "(tit_for_tat, ...), axelrod:Name, llm:embedded or llm:scripted:PATH; "
                                           "default: the game's (tit_for_tat, split_greedy, reciprocator)")
    parser.add_argument("--fallback", help="the strategy that plays a student's seat when they leave "
                                           "(default: tit_for_tat, split_welfare_maximiser, reciprocator)")
    parser.add_argument("--pace", choices=["students", "teacher"], default="students",
                        help="students: tables play at their own speed; teacher: each round waits for the teacher")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds of silence before the fallback plays")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 lets other machines connect")
    parser.add_argument("--out", default="runs")
    parser.add_argument("--name", default=datetime.now().strftime("class_%Y%m%d"), help="the experiment folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--token", help="the teacher's token (default: random, printed)")
    args = parser.parse_args(argv)
    from importlib.util import find_spec

    missing = [module for module in ("starlette", "uvicorn") if find_spec(module) is None]
    if missing:
        parser.exit(2, f"error: the classroom needs starlette and uvicorn ({', '.join(missing)} missing): "
                       "pip install 'dilemmazoo[viz]'\n")
    try:
        settings = ClassSettings(game=args.game, rounds=args.rounds, noise=args.noise, opponent=args.opponent,
                                 fallback=args.fallback, pace=args.pace, timeout=args.timeout, seed=args.seed)
        classroom = Classroom(settings, out=args.out, name=args.name, token=args.token)
        if args.opponent and args.opponent.startswith(LLM_PREFIX):  # load the model now, not in the first game
            _make_policy(classroom.settings.opponent, classroom.settings, classroom.backends)
    except (ClassroomError, ValueError, ImportError) as error:
        parser.exit(2, f"error: {error}\n")
    try:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((args.host, args.port))
    except OSError as error:
        parser.exit(2, f"error: cannot serve on {args.host}:{args.port}: {error.strerror} (try another --port)\n")
    import uvicorn

    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    print(f"dilemmazoo classroom: {classroom.settings.title()}", flush=True)
    print(f"  students: http://{shown}:{args.port}/", flush=True)
    print(f"  teacher:  http://{shown}:{args.port}/teacher?token={classroom.token}", flush=True)
    print(f"  runs go to {classroom.out / classroom.name}/game=<k>/ (Ctrl-C stops; finished games are exported)",
          flush=True)
    uvicorn.run(create_app(classroom), host=args.host, port=args.port, log_level="warning")
    try:
        written = classroom.export()
    except ClassroomError:
        written = []
    for path in written:
        print(f"exported {path}", flush=True)
    return 0
