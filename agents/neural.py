"""Neural agents for the grid worlds: small torch policies and a player for trained checkpoints.

Networks
--------
Each network maps one egocentric window (Cleanup, Gathering; "up" is the agent's forward) to
action logits and a state value (actor-critic, as in the A3C agents of Leibo et al. 2017 and
Hughes et al. 2018, without the LSTM):

- :class:`GridCNN`: ``Conv 3x3 (16) -> ReLU -> Conv 3x3 stride 2 (32) -> ReLU -> Linear (hidden)
  -> ReLU``, then a policy head and a value head. The SSD baselines of Vinitsky et al.
  (eugenevinitsky/sequential_social_dilemma_games) use a comparable conv + two-layer MLP torso.
- :class:`GridMLP`: ``Linear (hidden) -> ReLU -> Linear (hidden) -> ReLU``, then the same heads.

Inputs (:func:`encode_windows`): ``encoding="onehot"`` turns cell codes (the ``"symbolic"``
observation; RGB windows are decoded with the one-to-one palette first) into 12 one-hot
channels; ``encoding="rgb"`` feeds the colours scaled to ``[0, 1]`` (3 channels; symbolic windows
are coloured first). Either way a trained policy plays worlds built with either observation kind.

With parameter sharing (:class:`PolicySet` with ``shared=True``) one network serves every seat and
the seat's one-hot id is appended to the torso's features, so a shared network can still
specialise by seat (Gupta et al. 2017, "Cooperative multi-agent control using deep RL").

Playing a checkpoint
--------------------
:func:`load_policy` reads a checkpoint written by :mod:`dilemmazoo.agents.trainers.ippo`
(``checkpoint.pt``, or the run folder holding it) and returns a :class:`NeuralPolicy`, a
:class:`~dilemmazoo.agents.base.BatchPolicy` that the runner can seat: one forward pass per
``act_batch`` for all its decisions. Seat ``player_i`` plays trained agent ``i`` (with
``seat=`` every seat plays that one trained agent). Actions are sampled from the policy with the
``rng`` the runner hands to ``start_episode`` (``greedy=True``: the most likely action), and are
answered through the world's :class:`~dilemmazoo.envs.base.Choice` spec by action name, like
the scripted grid agents (:mod:`dilemmazoo.agents.grid_strategies`).

:func:`make_neural` (``strategy: "neural:PATH"`` in a config) returns one
:class:`~dilemmazoo.agents.base.Agent` (``reset``, ``act``) backed by the same loaded policy.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as error:  # torch comes with the "local" extra
    raise ImportError('neural agents need torch: pip install "dilemmazoo[local]"') from error

from dilemmazoo.agents.base import Action, BatchPolicy, Decision
from dilemmazoo.envs.base import Choice
from dilemmazoo.envs.gridworld.core import N_CODES, PALETTE, actions_for, symbolic_from_rgb

__all__ = [
    "ARCHITECTURES",
    "CHECKPOINT_FORMAT",
    "ENCODINGS",
    "GridCNN",
    "GridMLP",
    "NeuralAgent",
    "NeuralPolicy",
    "PolicySet",
    "UnsafeCheckpointError",
    "build_network",
    "encode_windows",
    "load_policy",
    "make_neural",
    "read_checkpoint",
    "safe_load",
    "sample_actions",
    "seat_index",
]

ARCHITECTURES = ("cnn", "mlp")
ENCODINGS = ("onehot", "rgb")
CHECKPOINT_FORMAT = "dilemmazoo-ippo-v1"


def _channels(encoding: str) -> int:
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    return N_CODES if encoding == "onehot" else 3


def encode_windows(windows: np.ndarray, encoding: str, view_shape: tuple[int, int], *,
                   device: str | torch.device = "cpu") -> torch.Tensor:
    """Egocentric windows -> float ``(M, C, h, w)``; leading axes are flattened into ``M``.

    ``windows``: uint8 cell codes ``(..., h, w)`` (the ``"symbolic"`` observation) or colours
    ``(..., h, w, 3)`` (``"rgb"``), told apart by ``view_shape = (h, w)``.
    ``encoding="onehot"``: 12 channels, channel ``k`` is 1 where the cell code is ``k``;
    ``"rgb"``: 3 channels, the palette colour / 255.
    """
    _channels(encoding)
    array = np.asarray(windows)
    h, w = view_shape
    if array.dtype != np.uint8:
        raise ValueError(f"windows must be uint8 cell codes or RGB, got dtype {array.dtype}")
    if array.ndim >= 3 and array.shape[-3:] == (h, w, 3):
        is_rgb = True
    elif array.ndim >= 2 and array.shape[-2:] == (h, w):
        is_rgb = False
    else:
        raise ValueError(f"windows of shape {array.shape} are neither (..., {h}, {w}) codes nor (..., {h}, {w}, 3) RGB")
    if encoding == "onehot":
        codes = symbolic_from_rgb(array) if is_rgb else array
        codes = torch.from_numpy(np.ascontiguousarray(codes).reshape(-1, h, w)).to(device)
        onehot = torch.nn.functional.one_hot(codes.long(), N_CODES)  # (M, h, w, C)
        return onehot.permute(0, 3, 1, 2).float()
    rgb = array if is_rgb else PALETTE[array]
    rgb = torch.from_numpy(np.ascontiguousarray(rgb).reshape(-1, h, w, 3)).to(device)
    return rgb.permute(0, 3, 1, 2).float() / 255.0


class _ActorCritic(nn.Module):
    """Torso (subclass) + optional seat one-hot + policy and value heads."""

    def __init__(self, features: int, n_actions: int, n_seat_ids: int):
        super().__init__()
        self.n_seat_ids = n_seat_ids
        self.policy_head = nn.Linear(features + n_seat_ids, n_actions)
        self.value_head = nn.Linear(features + n_seat_ids, 1)
        # Small policy logits at the start: a near-uniform first policy (Andrychowicz et al. 2021).
        nn.init.orthogonal_(self.policy_head.weight, gain=0.01)
        nn.init.zeros_(self.policy_head.bias)
        nn.init.orthogonal_(self.value_head.weight, gain=1.0)
        nn.init.zeros_(self.value_head.bias)

    def torso(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor, seat_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (M, C, h, w)`` -> ``(logits (M, A), values (M,))``."""
        features = self.torso(x)
        if self.n_seat_ids:
            if seat_ids is None:
                raise ValueError("a shared network needs the seat ids of its inputs")
            features = torch.cat([features, nn.functional.one_hot(seat_ids.long(), self.n_seat_ids).float()], dim=1)
        return self.policy_head(features), self.value_head(features).squeeze(-1)


class GridCNN(_ActorCritic):
    """Two convolutions and one hidden layer over an egocentric window."""

    def __init__(self, in_channels: int, view_shape: tuple[int, int], n_actions: int, n_seat_ids: int = 0,
                 hidden: int = 64):
        h, w = view_shape
        if h < 5 or w < 5:
            raise ValueError(f"GridCNN needs a view of at least 5 x 5 cells, got {h} x {w}; use the mlp")
        out_h, out_w = (h - 2 - 3) // 2 + 1, (w - 2 - 3) // 2 + 1
        super().__init__(hidden, n_actions, n_seat_ids)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(),
            nn.Flatten(), nn.Linear(32 * out_h * out_w, hidden), nn.ReLU(),
        )

    def torso(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class GridMLP(_ActorCritic):
    """Two hidden layers over the flattened window."""

    def __init__(self, in_channels: int, view_shape: tuple[int, int], n_actions: int, n_seat_ids: int = 0,
                 hidden: int = 64):
        super().__init__(hidden, n_actions, n_seat_ids)
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(in_channels * view_shape[0] * view_shape[1], hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
        )

    def torso(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def build_network(architecture: str, encoding: str, view_shape: tuple[int, int], n_actions: int,
                  n_seat_ids: int = 0, hidden: int = 64) -> _ActorCritic:
    """A :class:`GridCNN` (``"cnn"``) or :class:`GridMLP` (``"mlp"``)."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    if hidden < 1:
        raise ValueError(f"hidden must be >= 1, got {hidden}")
    cls = GridCNN if architecture == "cnn" else GridMLP
    return cls(_channels(encoding), tuple(view_shape), n_actions, n_seat_ids, hidden)


class PolicySet(nn.Module):
    """The policies of N seats: one network per seat, or one shared network with seat ids.

    ``spec`` (a plain dict, saved in checkpoints) holds ``architecture``, ``encoding``,
    ``view_shape``, ``n_actions``, ``n_agents``, ``shared`` and ``hidden``.
    """

    SPEC_KEYS = ("architecture", "encoding", "view_shape", "n_actions", "n_agents", "shared", "hidden")

    def __init__(self, spec: dict[str, Any]):
        super().__init__()
        missing = [k for k in self.SPEC_KEYS if k not in spec]
        if missing:
            raise ValueError(f"network spec lacks {missing}")
        self.spec = {k: spec[k] for k in self.SPEC_KEYS}
        self.spec["view_shape"] = tuple(self.spec["view_shape"])
        n_agents = int(spec["n_agents"])
        if n_agents < 1:
            raise ValueError(f"n_agents must be >= 1, got {n_agents}")
        self.n_agents = n_agents
        self.shared = bool(spec["shared"])
        self.encoding = spec["encoding"]
        count = 1 if self.shared else n_agents
        self.networks = nn.ModuleList(
            build_network(spec["architecture"], spec["encoding"], self.spec["view_shape"], int(spec["n_actions"]),
                          n_agents if self.shared else 0, int(spec["hidden"]))
            for _ in range(count)
        )

    def network_of(self, seat: int) -> _ActorCritic:
        return self.networks[0 if self.shared else seat]

    def forward(self, x: torch.Tensor, seats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs ``(M, C, h, w)`` of seats ``(M,)`` -> ``(logits (M, A), values (M,))``."""
        if self.shared:
            return self.networks[0](x, seats)
        logits = x.new_zeros((x.shape[0], int(self.spec["n_actions"])))
        values = x.new_zeros((x.shape[0],))
        for seat in torch.unique(seats).tolist():
            rows = seats == seat
            logits[rows], values[rows] = self.networks[seat](x[rows])
        return logits, values


def sample_actions(logits: torch.Tensor, rng: np.random.Generator, greedy: bool = False) -> np.ndarray:
    """One action per row of ``logits (M, A)``: inverse-CDF sampling of the softmax with one
    uniform per row from ``rng`` (the same on every device), or the argmax when ``greedy``."""
    scores = logits.detach().to("cpu", torch.float64).numpy()
    if greedy:
        return scores.argmax(axis=1).astype(np.int64)
    probabilities = np.exp(scores - scores.max(axis=1, keepdims=True))
    cumulative = np.cumsum(probabilities, axis=1)
    draws = rng.random(len(scores)) * cumulative[:, -1]
    chosen = (cumulative <= draws[:, None]).sum(axis=1)
    return np.minimum(chosen, scores.shape[1] - 1).astype(np.int64)


def seat_index(agent_id: str) -> int:
    """``"player_3"`` -> 3 (the trailing number of a seat name)."""
    match = re.search(r"(\d+)$", agent_id)
    if match is None:
        raise ValueError(f"cannot read a seat number from agent id {agent_id!r} (expected e.g. 'player_0')")
    return int(match.group(1))


def _answer(spec: Any, name: str, index: int) -> Any:
    """The world's action for action ``name`` (index ``index`` of the trained action list)."""
    if isinstance(spec, Choice):
        labels = list(spec.labels)
        if name not in labels:
            raise ValueError(f"the world offers {labels}, not the trained action {name!r}")
        return spec.action_for_option(labels.index(name))
    return np.int64(index)


class NeuralPolicy(BatchPolicy):
    """A :class:`~dilemmazoo.agents.base.BatchPolicy` playing trained grid-world seats.

    ``policies``: a :class:`PolicySet`; ``action_names``: the trained action order
    (:func:`~dilemmazoo.envs.gridworld.core.actions_for`); ``seat``: play every decision with
    this trained agent (default: ``player_i`` plays agent ``i``); ``greedy``: argmax instead of
    sampling.
    """

    def __init__(self, policies: PolicySet, action_names: tuple[str, ...], *, seat: int | None = None,
                 greedy: bool = False, device: str = "cpu"):
        if len(action_names) != int(policies.spec["n_actions"]):
            raise ValueError(f"{len(action_names)} action names for a policy of {policies.spec['n_actions']} actions")
        if seat is not None and not 0 <= seat < policies.n_agents:
            raise ValueError(f"seat must be in 0..{policies.n_agents - 1}, got {seat}")
        self.policies = policies.to(device).eval()
        self.action_names = tuple(action_names)
        self.seat = seat
        self.greedy = bool(greedy)
        self.device = device
        self.rng = np.random.default_rng(0)

    def start_episode(self, rules: dict[str, str], rng: np.random.Generator) -> None:
        """Take the episode's generator (the runner calls this before each episode)."""
        self.rng = rng

    def _seat_of(self, agent_id: str) -> int:
        if self.seat is not None:
            return self.seat
        seat = seat_index(agent_id)
        if seat >= self.policies.n_agents:
            raise ValueError(f"{agent_id} has no trained policy: the checkpoint has {self.policies.n_agents} agents; "
                             "pass seat= to let every seat play one trained agent")
        return seat

    def choose(self, observations: list[Any], seats: list[int]) -> np.ndarray:
        """Action indices for windows of the given trained seats (one forward pass)."""
        if any(isinstance(o, dict) for o in observations):
            raise ValueError("neural policies read egocentric windows: build the world with observation='rgb' or "
                             "'symbolic', not 'global'")
        x = encode_windows(np.stack([np.asarray(o) for o in observations]), self.policies.encoding,
                           self.policies.spec["view_shape"], device=self.device)
        with torch.no_grad():
            logits, _ = self.policies(x, torch.as_tensor(seats, device=self.device))
        return sample_actions(logits, self.rng, self.greedy)

    def act_batch(self, requests: list[Decision]) -> list[Action]:
        if not requests:
            return []
        chosen = self.choose([r.observation for r in requests], [self._seat_of(r.agent_id) for r in requests])
        answers = []
        for request, index in zip(requests, chosen):
            name = self.action_names[int(index)]
            answers.append(Action(value=_answer(request.spec, name, int(index)), raw_text=f"Answer: {name}"))
        return answers


class NeuralAgent:
    """One seat played by a :class:`NeuralPolicy` (the :class:`~dilemmazoo.agents.base.Agent` form)."""

    def __init__(self, policy: NeuralPolicy):
        self.policy = policy
        self.agent_id = ""
        self.rng = np.random.default_rng(0)

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        self.agent_id = agent_id
        self.rng = rng
        if self.policy.seat is None:
            self.policy._seat_of(agent_id)  # fail at the start, not at the first step

    def act(self, request: Decision) -> Action:
        self.policy.rng = self.rng
        return self.policy.act_batch([request])[0]


def _checkpoint_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path} (train one with 'dilemmazoo train ippo ...')")
    return path


class UnsafeCheckpointError(ValueError):
    """A checkpoint that holds Python objects beyond tensors and plain data: loading it would run
    code it carries, so it is refused."""


def safe_load(path: str | Path, device: str = "cpu") -> Any:
    """``torch.load`` of tensors and plain data only (``weights_only=True``): a file that would need
    to unpickle other Python objects (whose ``__reduce__`` may run any code) raises
    :class:`UnsafeCheckpointError` before any of them is built. Every checkpoint the package
    reads goes through here (adapters are safetensors files)."""
    import pickle

    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        first = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise UnsafeCheckpointError(
            f"{path}: refused to load: it holds Python objects beyond tensors and plain data, and unpickling "
            f"them could run code ({first}). Load only checkpoints you wrote with this package") from None


def read_checkpoint(path: str | Path, device: str = "cpu") -> dict[str, Any]:
    """The checkpoint dict saved by the IPPO trainer (``path``: the file or its run folder)."""
    data = safe_load(_checkpoint_file(path), device)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    return data


def load_policy(path: str | Path, *, seat: int | None = None, greedy: bool = False,
                device: str = "cpu") -> NeuralPolicy:
    """A :class:`NeuralPolicy` from an IPPO checkpoint (``checkpoint.pt`` or its run folder)."""
    data = read_checkpoint(path, device)
    policies = PolicySet(data["network"])
    policies.load_state_dict(data["policies"])
    return NeuralPolicy(policies, actions_for(data["config"]["world"]), seat=seat, greedy=greedy, device=device)


_LOADED: dict[tuple[str, float, int | None, bool], NeuralPolicy] = {}


def make_neural(path: str, *, seat: int | None = None, greedy: bool = False) -> NeuralAgent:
    """An :class:`~dilemmazoo.agents.base.Agent` for ``strategy: "neural:PATH"`` (``params``:
    ``seat``, ``greedy``, as in :func:`load_policy`).

    Agents made from the same file (same modification time) share one loaded network; each
    samples with the generator its ``reset`` receives.
    """
    file = _checkpoint_file(path)
    key = (str(file.resolve()), file.stat().st_mtime, seat, bool(greedy))
    if key not in _LOADED:
        _LOADED[key] = load_policy(file, seat=seat, greedy=greedy)
    return NeuralAgent(_LOADED[key])
