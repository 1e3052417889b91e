"""The shared machinery of CoopEval's one-play mechanisms (contracting, mediation) on any world.

Source: Tewolde, Zhang, Guzman Piedrahita, Conitzer, Jin, "CoopEval" (arXiv 2604.15267, ICML
2026), ``mechanisms/contracting.py`` and ``mechanisms/mediation.py`` at commit 8559e85: before a
matchup plays, every player designs (a contract or a mediator), then all approve or not each
design (approval vote, uniform tie-break), then, for a contract, all sign or refuse; one play of
the base game follows under the chosen design. :class:`MechanismWorld` is that sequence as a
:class:`~dilemmazoo.envs.base.LanguageWorld` around a base world; the subclasses in
:mod:`dilemmazoo.norms.contracting` and :mod:`dilemmazoo.norms.mediation` say what a design is and
what it does to a play step.

Phases of one episode (``mechanism_phase`` in the infos): ``design`` -> ``vote`` -> [``sign``] ->
``play`` (every base step until the base episode ends). Phase steps pay 0 to everyone and leave
the base world untouched; the base world's own steps follow one to one, so a repeated base game
plays all its rounds under the chosen design.

- **design**: deciders are the seats whose member (reset option ``names``: seat -> member name,
  as the runner passes; default the seat ids) has no design yet. CoopEval designs once per
  seat-agent at tournament start, not per matchup (spec section 5.6); this project does the same
  per member *name*: the design is remembered by the mechanism object, which serves the whole
  run, and reused in every later episode (``design="episode"`` asks again every episode). When
  every member already has a design the phase is skipped.
- **vote**: every seat answers an :class:`~dilemmazoo.envs.institutions.phases.ApprovalBallot`
  over the ``N`` designs of this episode's seats, in seat order (``C1..CN`` or ``M1..MN``); the
  winner is drawn by :func:`~dilemmazoo.envs.institutions.voting.approval_vote` (uniform among
  the most approved). CoopEval breaks the tie with Python's global ``random`` (spec 5.6); here
  the generator is ``numpy.random.default_rng([seed, 24])`` from ``reset``'s seed, so the same
  seed gives the same winner, and the draw is made once per vote, tie or not.
- **sign** (contracting only), then **play**.

A design is asked about the base game's *play step*: the step whose answer the design is about
(the repeated game's act step, not its prediction; the commons' and the effort CPR's harvest, not
the talk or the norm vote; every step of the public goods game and of the Donor Game). The answer
of that step is read once, when the mechanism wraps the world (``wrap`` resets the base world
with seed 0 to look at it): a :class:`~dilemmazoo.envs.base.Choice` makes the action set finite
(its labels, option ``i`` = ``spec.actions[i]``), an :class:`~dilemmazoo.envs.base.Amount`
numeric (its ``[low, high]``); a world whose episode opens with another step (a prediction, the
effort CPR's norm proposal) is read as if its play step came first. Other steps pass through
unchanged: no transfers, no delegation. The amount a seat
played in a numeric world is read from the base step's infos (``amount_info``; defaults: commons
``requested``, effort CPR ``effort``, Donor Game ``amount`` (units given), public goods
``contribution``) or, for another world, from the action itself when it is a number.

Spaces: the observation is the base world's ``Dict`` plus ``mechanism_phase`` (Discrete(4):
design, vote, sign, play) and ``mechanism_winner`` (Discrete(N + 1): the chosen proposal, 1-based,
0 before the vote), and the subclass's keys; a base world whose observation space is not a
``Dict`` is refused. The action space is ``Dict(base=<base action space>, mechanism_...)``. ``step``
takes for each deciding seat either the answer its phase spec parses to (a design, a ballot tuple,
a bool, the base action or ``"delegate"``), or a sample of that Dict space, of which only the key
of the current phase is read. Seats that do not decide send anything (the runner sends
:meth:`idle_action`): it is ignored.

Infos: every seat, every step: ``mechanism_phase`` (str), ``mechanism_round`` (1: one play per
episode), ``mechanism_winner`` (int, 0 before the vote) and the subclass's scalars; during play
steps the base world's infos too.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from dilemmazoo.envs import commons, cpr, repeated_game
from dilemmazoo.envs.base import ActionParseError, ActionSpec, Amount, Choice, LanguageWorld
from dilemmazoo.envs.commons import CommonsEnv
from dilemmazoo.envs.cpr import EffortCPREnv
from dilemmazoo.envs.donor_game import DonorGameEnv
from dilemmazoo.envs.institutions import voting
from dilemmazoo.envs.institutions.phases import ApprovalBallot
from dilemmazoo.envs.public_goods import PublicGoodsEnv
from dilemmazoo.envs.repeated_game import RepeatedGameEnv

__all__ = [
    "MECHANISM_PHASES",
    "MechanismWorld",
    "PlayStep",
    "amount_parse_floor",
    "default_amount_info",
    "design_json",
    "option_index",
    "play_step_open",
    "play_step_spec",
]

#: the phases of a mechanism episode, in order (``mechanism_phase`` in observations is the index)
MECHANISM_PHASES = ("design", "vote", "sign", "play")
_VOTE_SALT = 24  # the vote generator is default_rng([seed, 24]): its own stream, apart from the base world's


def _play_phase(world: Any) -> int | None:
    """The value of ``world.phase`` in its play step, for the worlds with several kinds of step."""
    for kind, phase in ((RepeatedGameEnv, repeated_game.PHASE_ACT), (CommonsEnv, commons.PHASE_HARVEST),
                        (EffortCPREnv, cpr.PHASE_HARVEST)):
        if isinstance(world, kind):
            return phase
    return None


def play_step_open(world: Any) -> bool:
    """Whether the base world's next step is its play step (module docstring)."""
    phase = _play_phase(world)
    return phase is None or world.phase == phase


def play_step_spec(world: Any) -> ActionSpec:
    """The answer of the base world's play step, for its first decider, read just after a reset:
    a world that opens with another step (a prediction, a norm proposal) is looked at as if its
    play step were next (its ``phase`` set to the play step's for the reading, then restored)."""
    phase = _play_phase(world)
    if phase is None or world.phase == phase:
        return world.action_spec(world.deciders()[0])
    opening = world.phase
    world.phase = phase
    try:
        return world.action_spec(world.deciders()[0])
    finally:
        world.phase = opening


def default_amount_info(world: Any) -> str:
    """The base info key holding the amount each seat played in a numeric world ("" = none known)."""
    for kind, key in ((CommonsEnv, "requested"), (EffortCPREnv, "effort"), (DonorGameEnv, "amount"),
                      (PublicGoodsEnv, "contribution")):
        if isinstance(world, kind):
            return key
    return ""


def option_index(spec: Choice, action: Any) -> int:
    """The option ``i`` of a finite play step whose action is ``action`` (``spec.actions[i]``),
    or the action itself when it is an integer index."""
    for index, candidate in enumerate(spec.actions):
        try:
            if np.array_equal(np.asarray(candidate, dtype=object), np.asarray(action, dtype=object)):
                return index
        except (TypeError, ValueError):
            continue
    value = np.asarray(action)
    if value.shape == () and value.dtype.kind in "iu" and 0 <= int(value) < len(spec.actions):
        return int(value)
    raise ValueError(f"the action {action!r} is none of the play step's options {list(spec.labels)}")


class PlayStep:
    """What a mechanism knows of the base world's play step: finite (``labels``) or numeric
    (``low``, ``high``), read from ``spec`` (module docstring)."""

    def __init__(self, spec: ActionSpec):
        if isinstance(spec, Choice):
            self.labels: tuple[str, ...] | None = tuple(spec.labels)
            self.low, self.high = 0.0, float(len(self.labels) - 1)
        elif isinstance(spec, Amount):
            self.labels = None
            self.low, self.high = float(spec.low), float(spec.high)
        else:
            raise ValueError(f"a mechanism needs a base world whose play step is a Choice or an Amount, "
                             f"got {type(spec).__name__}")
        self.spec = spec

    @property
    def numeric(self) -> bool:
        return self.labels is None

    @property
    def n_options(self) -> int:
        return 0 if self.labels is None else len(self.labels)


class MechanismWorld(LanguageWorld):
    """A base world played under a one-play mechanism (module docstring). Subclasses define the
    design (:meth:`design_spec`, :meth:`design_from_sample`, :meth:`check_design`), what a play
    step does (:meth:`play_step`), and their words (:meth:`mechanism_rules`, :meth:`state_text`)."""

    #: the mechanism's name ("contracting", "mediation")
    mechanism_name = ""
    #: the ballot keys' letter: "C" (contracts) or "M" (mediators)
    ballot_letter = ""

    def __init__(self, base: Any, *, designs: dict, design: str = "once", fixed_design: Any = None,
                 sign: bool = False, amount_info: str = ""):
        if not isinstance(base, LanguageWorld):
            raise ValueError(f"a mechanism wraps a LanguageWorld, got {type(base).__name__}")
        if design not in ("once", "episode"):
            raise ValueError(f"design must be 'once' (per member, remembered) or 'episode', got {design!r}")
        self.base = base
        self.possible_agents = list(base.possible_agents)
        self.agents: list[str] = []
        self.n_seats = len(self.possible_agents)
        if self.n_seats < 2:
            raise ValueError("a mechanism needs a base world with at least 2 seats")
        self.render_mode = base.render_mode if hasattr(base, "render_mode") else None
        self.metadata = {"render_modes": list(base.metadata.get("render_modes", ["ansi"])),
                         "name": f"{self.mechanism_name}({base.metadata.get('name', type(base).__name__)})",
                         "is_parallelizable": True}
        self.shows_rewards = base.shows_rewards
        self._designs = designs
        self.design_mode = design
        self.sign = bool(sign)
        self.amount_info = amount_info or default_amount_info(base)

        base.reset(seed=0)  # to read the play step's answer (module docstring)
        if not base.agents or not base.deciders():
            raise ValueError(f"{type(base).__name__} has nobody deciding after a reset; "
                             f"{self.mechanism_name} cannot read what its players choose")
        self.play = PlayStep(play_step_spec(base))
        self.fixed_design = None if fixed_design is None else self.check_design(fixed_design)
        self._design_key = (self.mechanism_name, self.play.labels, self.play.n_options if self.play.labels else
                            (self.play.low, self.play.high), self.n_seats)

        self._observation_spaces = {}
        for agent in self.possible_agents:
            base_space = base.observation_space(agent)
            if not isinstance(base_space, spaces.Dict):
                raise ValueError(f"a mechanism needs a base world with Dict observations, got {type(base_space).__name__}")
            extra = {"mechanism_phase": spaces.Discrete(len(MECHANISM_PHASES)),
                     "mechanism_winner": spaces.Discrete(self.n_seats + 1), **self.extra_observation_spaces()}
            clash = set(extra) & set(base_space.spaces)
            if clash:
                raise ValueError(f"the base world's observation already has the keys {sorted(clash)}")
            self._observation_spaces[agent] = spaces.Dict({**base_space.spaces, **extra})
        self._action_spaces = {
            agent: spaces.Dict({"base": base.action_space(agent), **self.extra_action_spaces()})
            for agent in self.possible_agents
        }
        self._action_keys = {agent: set(space.spaces) for agent, space in self._action_spaces.items()}
        self._rng: np.random.Generator | None = None
        self._reset_state()

    # -- what a subclass defines ------------------------------------------------------------------
    @abstractmethod
    def design_spec(self, agent: str) -> ActionSpec:
        """The design answer (ContractDesign or MediatorDesign) for this base world."""

    @abstractmethod
    def check_design(self, value: Any) -> Any:
        """A design as parsed answers give it, checked (ValueError otherwise)."""

    @abstractmethod
    def design_from_sample(self, sample: Any) -> Any:
        """The design held by a sample of the ``mechanism_design`` action space."""

    @abstractmethod
    def design_space(self) -> spaces.Space:
        """The action space of a design."""

    @abstractmethod
    def design_text(self, design: Any) -> str:
        """A design in words."""

    @abstractmethod
    def mechanism_rules(self) -> str:
        """The paragraph added to the base rules."""

    @abstractmethod
    def play_step(self, actions: Mapping[str, Any], deciders: list[str]) -> tuple:
        """Play one base step under the chosen design: ``(observations, rewards, terminations,
        truncations, infos)`` of the base world, rewards and infos already changed."""

    def extra_observation_spaces(self) -> dict[str, spaces.Space]:
        return {}

    def extra_action_spaces(self) -> dict[str, spaces.Space]:
        return {"mechanism_design": self.design_space(), "mechanism_approve": spaces.MultiBinary(self.n_seats)}

    def extra_observation(self, agent: str) -> dict[str, Any]:
        return {}

    def extra_infos(self, agent: str) -> dict[str, Any]:
        return {}

    def state_text(self, agent: str) -> str:
        """The mechanism's state during play, in words."""
        return ""

    def sign_phase(self) -> bool:
        return False

    def after_vote(self) -> None:
        """Called once the winner is known."""

    def play_spec(self, agent: str, base_spec: ActionSpec) -> ActionSpec:
        return base_spec

    # -- state ------------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.phase = "play"
        self.member_names: dict[str, str] = {}
        self.proposals: list[Any] = []
        self.winner = 0  # 1-based, 0 before the vote
        self.chosen: Any = None
        self.approvals: np.ndarray | None = None
        self._base_obs: dict[str, Any] = {}

    def design_of(self, name: str) -> Any:
        """The remembered design of the member called ``name``, or None."""
        return self._designs.get((self._design_key, name))

    def _member(self, agent: str) -> str:
        return self.member_names.get(agent, agent)

    def _needs_design(self) -> list[str]:
        if self.fixed_design is not None:
            return []
        if self.design_mode == "episode":
            return list(self.agents)
        return [a for a in self.agents if self.design_of(self._member(a)) is None]

    # -- PettingZoo API ---------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None):
        options = dict(options or {})
        observations, infos = self.base.reset(seed=seed, options=options)
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(None if seed is None else [seed, _VOTE_SALT])
        self._reset_state()
        self.member_names = dict(zip(self.possible_agents, self._names_from(options.get("names"), self.possible_agents)))
        self.agents = list(self.base.agents)
        self._base_obs = dict(observations)
        self._episode_designs: dict[str, Any] = {}
        if self.fixed_design is not None:
            self.chosen = self.fixed_design
            self.phase = "sign" if self.sign_phase() else "play"
        else:
            self.phase = "design" if self._needs_design() else "vote"
            if self.phase == "vote":
                self._gather_proposals()
        if self.phase == "play":
            self.after_vote()
        infos = {a: {**infos.get(a, {}), **self._mechanism_infos(a)} for a in self.agents}
        return self._observations(), infos

    def step(self, actions: Mapping[str, Any]):
        self._check_actions(actions)
        deciders = self.deciders()
        missing = [a for a in deciders if a not in actions]
        if missing:
            raise ValueError(f"{missing} must decide in this {self.phase} step")
        live = list(self.agents)
        if self.phase != "play":
            answers = {a: self._phase_answer(a, actions[a]) for a in deciders}
            getattr(self, f"_end_{self.phase}")(answers)
            rewards = dict.fromkeys(live, 0.0)
            infos = {a: self._mechanism_infos(a, played_phase=self._played_phase) for a in live}
            return self._observations(), rewards, dict.fromkeys(live, False), dict.fromkeys(live, False), infos
        base_actions = {a: self._base_answer(a, actions[a]) if a in deciders else actions[a] for a in live}
        observations, rewards, terminations, truncations, infos = self.play_step(base_actions, deciders)
        self._base_obs.update(observations)
        self.agents = list(self.base.agents)
        infos = {a: {**infos.get(a, {}), **self._mechanism_infos(a, played_phase="play")} for a in live}
        observations = {a: self._observation(a) for a in observations}
        return observations, rewards, terminations, truncations, infos

    # -- phases -----------------------------------------------------------------------------------
    def _end_design(self, answers: dict[str, Any]) -> None:
        self._played_phase = "design"
        for agent, design in answers.items():
            if self.design_mode == "episode":
                self._episode_designs[agent] = design
            else:
                self._designs[(self._design_key, self._member(agent))] = design
        self.phase = "vote"
        self._gather_proposals()

    def _end_vote(self, answers: dict[str, Any]) -> None:
        self._played_phase = "vote"
        self._gather_proposals()
        ballots = np.array([answers[a] for a in self.agents], dtype=bool).reshape(len(self.agents), self.n_seats)
        index, counts = voting.approval_vote(ballots, self._rng)
        self.approvals = counts
        self.winner = index + 1
        self.chosen = self.proposals[index]
        self.phase = "sign" if self.sign_phase() else "play"
        if self.phase == "play":
            self.after_vote()

    def _end_sign(self, answers: dict[str, Any]) -> None:
        self._played_phase = "sign"
        self.record_signatures(answers)
        self.phase = "play"
        self.after_vote()

    def record_signatures(self, answers: dict[str, bool]) -> None:
        """Contracting keeps the signatures; other mechanisms have no sign phase."""

    def _phase_answer(self, agent: str, action: Any) -> Any:
        sample = self._sample(agent, action)
        if self.phase == "design":
            return self.check_design(self.design_from_sample(sample["mechanism_design"]) if sample else action)
        if self.phase == "vote":
            value = sample["mechanism_approve"] if sample else action
            ballot = np.asarray(value)
            if ballot.shape != (self.n_seats,) or ballot.dtype.kind not in "bui" or not np.isin(ballot, (0, 1)).all():
                raise ValueError(f"{agent}'s ballot must approve or not each of the {self.n_seats} proposals, got {value!r}")
            return tuple(bool(x) for x in ballot)
        value = sample["mechanism_sign"] if sample else action
        if isinstance(value, bool | np.bool_):
            return bool(value)
        if np.asarray(value).shape == () and np.asarray(value).dtype.kind in "iu" and int(value) in (0, 1):
            return bool(int(value))
        raise ValueError(f"{agent}'s signature must be True (sign) or False (refuse), got {value!r}")

    def _base_answer(self, agent: str, action: Any) -> Any:
        """A play-step answer as the subclass reads it: the base action, or ``DELEGATE``."""
        sample = self._sample(agent, action)
        return self.base_answer_from_sample(sample) if sample else action

    def base_answer_from_sample(self, sample: Mapping[str, Any]) -> Any:
        return sample["base"]

    def _sample(self, agent: str, action: Any) -> Mapping[str, Any] | None:
        """``action`` when it is a sample of the Dict action space, else None."""
        if isinstance(action, Mapping) and set(action) == self._action_keys[agent]:
            return action
        return None

    # -- views ------------------------------------------------------------------------------------
    def deciders(self) -> list[str]:
        if not self.agents:
            return []
        if self.phase == "design":
            return self._needs_design()
        if self.phase == "play":
            return self.base.deciders()
        return list(self.agents)

    def idle_action(self, agent: str) -> Any:
        if self.phase == "play":
            return self.base.idle_action(agent)
        return None

    def action_spec(self, agent: str) -> ActionSpec:
        if self.phase == "design":
            return self.design_spec(agent)
        if self.phase == "vote":
            return self.ballot_spec()
        if self.phase == "sign":
            return self.signature_spec(agent)
        base_spec = self.base.action_spec(agent)
        if agent in self.base.deciders() and play_step_open(self.base):
            return self.play_spec(agent, base_spec)
        return base_spec

    def signature_spec(self, agent: str) -> ActionSpec:
        raise NotImplementedError(f"{self.mechanism_name} has no sign phase")

    def ballot_spec(self) -> ApprovalBallot:
        self._gather_proposals()
        keys = tuple(f"{self.ballot_letter}{i + 1}" for i in range(self.n_seats))
        return ApprovalBallot(keys=keys, proposals=tuple(self.proposals), proposers=tuple(self.possible_agents))

    def _gather_proposals(self) -> None:
        self.proposals = [self._episode_designs.get(a) if self.design_mode == "episode"
                          else self.design_of(self._member(a)) for a in self.possible_agents]

    def rules(self, agent: str) -> str:
        return f"{self.base.rules(agent)}\n\n{self.mechanism_rules()}"

    def describe(self, agent: str) -> str:
        lines = [self.base.describe(agent), ""]
        if self.phase == "design":
            lines.append(f"Now, before the game is played, design your {self._design_noun()}.")
        elif self.phase == "vote":
            self._gather_proposals()
            lines.append(f"The proposed {self._design_noun()}s:")
            for i, (seat, design) in enumerate(zip(self.possible_agents, self.proposals)):
                who = "you" if seat == agent else self.base.display_name(seat)
                lines.append(f"- {self.ballot_letter}{i + 1} (proposed by {who}): {self.design_text(design)}")
            lines.append(f"Approve or not each {self._design_noun()}.")
        else:
            lines.append(self.state_text(agent))
        return "\n".join(line for line in lines if line is not None).strip()

    def _design_noun(self) -> str:
        return {"C": "contract", "M": "mediator"}.get(self.ballot_letter, "design")

    def display_name(self, agent: str) -> str:
        return self.base.display_name(agent)

    def _observation(self, agent: str) -> dict[str, Any]:
        return {
            **self._base_obs[agent],
            "mechanism_phase": np.int64(MECHANISM_PHASES.index(self.phase)),
            "mechanism_winner": np.int64(self.winner),
            **self.extra_observation(agent),
        }

    def _observations(self) -> dict[str, dict[str, Any]]:
        return {a: self._observation(a) for a in self.agents}

    def _mechanism_infos(self, agent: str, played_phase: str | None = None) -> dict[str, Any]:
        return {"mechanism_phase": played_phase or self.phase, "mechanism_round": 1,
                "mechanism_winner": int(self.winner), **self.extra_infos(agent)}

    def _render_text(self) -> str:
        try:
            base = self.base._render_text()
        except NotImplementedError:
            base = ""
        return f"{self.metadata['name']}: {self.phase} phase\n{base}".strip()

    def close(self) -> None:
        self.base.close()


def design_json(design: Any) -> str:
    """A design as JSON text for the records ("" when none)."""
    if design is None:
        return ""
    if isinstance(design, Mapping):
        return json.dumps({str(k): _plain(v) for k, v in sorted(design.items())})
    if isinstance(design, Sequence):
        return json.dumps([_plain(v) for v in design])
    return json.dumps({"rate": design.rate, "constant": design.constant})


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def amount_parse_floor(spec: Amount, amount: float) -> Any:
    """The base action for ``amount`` on an Amount play step, clamped to ``[low, high]``; where the
    world takes whole units only (its ``make_action`` refuses a fraction) the amount is rounded down."""
    value = min(max(float(amount), spec.low), spec.high)
    try:
        return spec.make_action(0, value)
    except ActionParseError:
        return spec.make_action(0, float(np.floor(value)))
