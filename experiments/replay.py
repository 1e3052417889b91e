"""``dilemmazoo replay``: a recorded episode of a grid-world run as an animated GIF (or MP4).

    dilemmazoo replay RUN_DIR [--episode E] [--out FILE.gif|FILE.mp4] [--fps 8] [--scale 1]
                      [--max-steps N] [--quiet]

A run directory holds everything needed to play an episode again: ``config.yaml`` (the world
id and its keyword arguments), ``episodes.parquet`` (the ``seed`` the world was reset with)
and ``steps.parquet`` (one row per live agent per step, ``action`` as JSON; rows with
``decided`` false got the world's ``idle_action``). The replay rebuilds the world with
``render_mode="rgb_array"``, resets it with the recorded seed (and the members' names, as the
runner did), feeds the recorded actions step by step and keeps one frame after the reset and
one after each step, so an episode of T steps gives T + 1 frames. Each step's rewards must
equal the recorded ones: a mismatch means the world's mechanics (its version) or the records
changed, and the replay stops with an error rather than draw an episode that never happened.

Frames are the world's own ``render()`` (the grid worlds draw 8 pixels per cell), enlarged
``--scale`` times by nearest neighbour. GIFs are written with Pillow; MP4 needs ``imageio`` with
its ffmpeg plugin (``pip install imageio imageio-ffmpeg``). In a notebook,
:func:`episode_frames` returns the frames as arrays.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from dilemmazoo.agents.progress import track

__all__ = [
    "EpisodeRecord",
    "REWARD_TOLERANCE",
    "ReplayError",
    "check_output",
    "episode_frames",
    "load_episode",
    "main_replay",
    "replay_frames",
    "upscale",
    "write_animation",
]

#: relative tolerance when comparing replayed rewards to recorded ones (the runner stores floats as-is)
REWARD_TOLERANCE = 1e-9


class ReplayError(ValueError):
    """A run that cannot be replayed: missing records, a world without frames, or diverging rewards."""


@dataclass
class EpisodeRecord:
    """What the records say about one episode: the world, its seed, and every step's actions and rewards.

    ``actions[t]`` maps each live agent at step ``t + 1`` to its action value, or to ``None``
    when it did not decide (the world's idle action); ``rewards[t]`` holds the recorded rewards.
    """

    run_dir: Path
    episode: int
    world_id: str
    world_kwargs: dict[str, Any]
    seed: int
    reset_options: dict[str, Any]
    actions: list[dict[str, Any]] = field(default_factory=list)
    rewards: list[dict[str, float]] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return len(self.actions)


# -- reading the records -------------------------------------------------------------------------

def _read_parquet(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise ReplayError(f"{path} does not exist; is {path.parent} a finished run directory?")
    return pd.read_parquet(path)


def load_episode(run_dir: str | Path, episode: int = 0) -> EpisodeRecord:
    """The world, seed, actions and rewards of episode ``episode`` of a run directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReplayError(f"{run_dir} is not a directory (expected a run directory with config.yaml)")
    config_path = run_dir / "config.yaml"
    if not config_path.exists():
        raise ReplayError(f"{config_path} does not exist; is {run_dir} a run directory?")
    config = yaml.safe_load(config_path.read_text()) or {}
    world = config.get("world") or {}
    if not isinstance(world, dict) or not world.get("id"):
        raise ReplayError(f"{config_path} names no world (world.id)")

    episodes = _read_parquet(run_dir / "episodes.parquet")
    if "seed" not in episodes.columns:
        raise ReplayError(f"{run_dir / 'episodes.parquet'} has no 'seed' column: the run was recorded before seeds "
                          "were kept, so its episodes cannot be replayed; run it again")
    known = sorted(int(e) for e in episodes["episode"].unique())
    if episode not in known:
        raise ReplayError(f"episode must be one of the run's episodes {_ranges(known)}, got {episode}")
    rows = episodes[episodes["episode"] == episode]
    seeds = rows["seed"].unique()
    if len(seeds) != 1:
        raise ReplayError(f"episode {episode} has {len(seeds)} different seeds in episodes.parquet; expected one")
    first = rows.iloc[0]
    options = {"names": dict(zip(rows["agent"], rows["name"])), "generation": int(first["generation"]),
               "game": int(first["game"])}

    steps = _read_parquet(run_dir / "steps.parquet")
    steps = steps[steps["episode"] == episode].sort_values(["step", "agent"], kind="stable")
    record = EpisodeRecord(run_dir, episode, str(world["id"]), dict(world.get("kwargs") or {}), int(seeds[0]), options)
    for number, (step, group) in enumerate(steps.groupby("step", sort=True), start=1):
        if int(step) != number:
            raise ReplayError(f"episode {episode} of {run_dir} has no records for step {number} "
                              f"(the next recorded step is {step})")
        actions = {}
        for agent, decided, action in zip(group["agent"], group["decided"], group["action"]):
            actions[agent] = json.loads(action) if decided else None
        record.actions.append(actions)
        record.rewards.append(dict(zip(group["agent"], group["reward"].astype(float))))
    return record


def _ranges(values: list[int]) -> str:
    if len(values) > 6:
        return f"{values[0]}..{values[-1]}"
    return ", ".join(map(str, values))


# -- replaying -----------------------------------------------------------------------------------

def _render_modes(world_id: str) -> list[str]:
    """The render modes a registered world declares, without building it."""
    import importlib

    from pettingzoo.env_registry.registration import parallel_registry

    from dilemmazoo.envs import world_id as resolve

    entry = parallel_registry[resolve(world_id)].entry_point
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
    return list(getattr(entry, "metadata", {}).get("render_modes", []))


def _build_world(record: EpisodeRecord):
    from dilemmazoo.envs import make_world, world_id

    try:
        full_id = world_id(record.world_id)
    except ValueError as error:
        raise ReplayError(f"{record.run_dir / 'config.yaml'}: {error}") from None
    modes = _render_modes(full_id)
    if "rgb_array" not in modes:
        raise ReplayError(f"world {full_id!r} has no rgb_array rendering (its render modes: "
                          f"{', '.join(modes) or 'none'}); replay draws grid worlds such as cleanup-v0 and "
                          "gathering-v0")
    kwargs = {k: v for k, v in record.world_kwargs.items() if k != "render_mode"}
    try:
        return make_world(full_id, **kwargs, render_mode="rgb_array")
    except (TypeError, ValueError) as error:
        raise ReplayError(f"cannot rebuild world {full_id!r} with the run's kwargs {kwargs}: {error}") from None


def _frame(world) -> np.ndarray:
    frame = world.render()
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ReplayError(f"{type(world).__name__}.render() gave no RGB image in rgb_array mode")
    return np.array(frame[..., :3], dtype=np.uint8, copy=True)  # a copy: a world may reuse its buffer


def replay_frames(record: EpisodeRecord, max_steps: int | None = None) -> Iterator[np.ndarray]:
    """Yield the frame after the reset and after each replayed step, checking the rewards.

    Raises :class:`ReplayError` at the first step whose agents or rewards differ from the records.
    """
    if max_steps is not None and max_steps < 0:
        raise ReplayError(f"max_steps must be >= 0, got {max_steps}")
    world = _build_world(record)
    try:
        world.reset(seed=record.seed, options=record.reset_options)
        yield _frame(world)
        steps = record.steps if max_steps is None else min(max_steps, record.steps)
        for index in range(steps):
            step = index + 1
            recorded = record.actions[index]
            if sorted(world.agents) != sorted(recorded):
                raise ReplayError(
                    f"step {step}: the replayed world has agents {sorted(world.agents)} but the records have "
                    f"{sorted(recorded)}; {_diverged(record)}")
            actions = {agent: world.idle_action(agent) if value is None else value for agent, value in recorded.items()}
            _, rewards, _, _, _ = world.step(actions)
            for agent, expected in record.rewards[index].items():
                got = float(rewards.get(agent, 0.0))
                if not np.isclose(got, expected, rtol=REWARD_TOLERANCE, atol=REWARD_TOLERANCE):
                    raise ReplayError(f"step {step}, {agent}: the records say reward {expected:g} but the replay gives "
                                      f"{got:g}; {_diverged(record)}")
            yield _frame(world)
        if max_steps is None and world.agents:
            raise ReplayError(f"the records end after step {record.steps} but the replayed episode goes on; "
                              f"{_diverged(record)}")
    finally:
        world.close()


def _diverged(record: EpisodeRecord) -> str:
    return (f"the world {record.world_id!r} no longer plays episode {record.episode} of {record.run_dir} the way it "
            "was recorded (its mechanics or version changed since the run)")


def upscale(frame: np.ndarray, scale: int) -> np.ndarray:
    """``frame`` (H, W, C) enlarged ``scale`` times in both directions by nearest neighbour."""
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    if scale == 1:
        return frame
    return np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)


def episode_frames(run_dir: str | Path, episode: int = 0, *, scale: int = 1, max_steps: int | None = None,
                   progress: bool = False) -> list[np.ndarray]:
    """The frames of a recorded episode: after the reset and after each step (T + 1 for T steps).

    Each frame is an ``(H, W, 3)`` uint8 array (the world's ``render()`` enlarged ``scale``
    times). Raises :class:`ReplayError` if the run cannot be replayed faithfully.
    """
    record = load_episode(run_dir, episode)
    total = record.steps if max_steps is None else min(max_steps, record.steps)
    frames: list[np.ndarray] = []
    for frame in track(replay_frames(record, max_steps=max_steps), total + 1, f"replay episode {episode}",
                       unit="frames", remaining=False, disable=not progress):
        frames.append(upscale(frame, scale))
    return frames


# -- writing -------------------------------------------------------------------------------------

def check_output(path: str | Path) -> None:
    """Raise :class:`ReplayError` unless ``path`` is a .gif, or a .mp4 with imageio and ffmpeg importable."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ReplayError(f"the output file must end in .gif or .mp4, got {Path(path).name!r}")
    if suffix == ".mp4":
        try:
            import imageio.v2  # noqa: F401
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ReplayError("writing .mp4 needs imageio and its ffmpeg plugin (pip install imageio imageio-ffmpeg); "
                              "write a .gif instead (--out FILE.gif), which needs only Pillow") from None


def write_animation(frames: list[np.ndarray], path: str | Path, fps: float = 8.0) -> Path:
    """Write ``frames`` as an animated GIF (Pillow) or MP4 (imageio + ffmpeg), by the file's suffix."""
    path = Path(path)
    if not frames:
        raise ReplayError("no frames to write")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    suffix = path.suffix.lower()
    check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{suffix}")  # written aside and renamed: never a half-written file
    try:
        if suffix == ".gif":
            from PIL import Image

            images = [Image.fromarray(f) for f in frames]
            # GIF delays are whole centiseconds; Pillow merges identical consecutive frames into longer ones
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=1000.0 / fps, loop=0)
        else:
            import imageio.v2 as imageio

            imageio.mimwrite(tmp, frames, fps=fps, macro_block_size=1)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# -- command line --------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dilemmazoo replay", description="Save a recorded grid-world episode of a run as an animated GIF or MP4.")
    parser.add_argument("run_dir", help="a run directory (runs/<experiment>/<run-id>)")
    parser.add_argument("--episode", type=int, default=0, help="episode index in the run, from 0 (default: 0)")
    parser.add_argument("--out", default=None,
                        help="output file, .gif or .mp4 (default: RUN_DIR/replay_episode<E>.gif)")
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second (default: 8)")
    parser.add_argument("--scale", type=int, default=1,
                        help="enlarge the world's frames this many times, nearest neighbour (default: 1; the grid "
                             "worlds already draw 8 pixels per cell)")
    parser.add_argument("--max-steps", type=int, default=None, help="replay only the first N steps")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main_replay(argv: list[str] | None = None) -> int:
    """``dilemmazoo replay``; returns the exit status (0 written, 2 bad input or a run that cannot be replayed)."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    out = Path(args.out) if args.out else Path(args.run_dir) / f"replay_episode{args.episode}.gif"
    if args.scale < 1:
        print(f"error: --scale must be an integer >= 1, got {args.scale}", file=sys.stderr)
        return 2
    if not args.fps > 0:
        print(f"error: --fps must be > 0, got {args.fps}", file=sys.stderr)
        return 2
    try:
        check_output(out)  # before the replay: a missing MP4 writer should not cost a whole replay
        frames = episode_frames(args.run_dir, args.episode, scale=args.scale, max_steps=args.max_steps,
                                progress=not args.quiet)
        write_animation(frames, out, fps=args.fps)
    except ReplayError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(out)
    return 0
