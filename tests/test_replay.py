"""``dilemmazoo replay``: a real grid-world run replayed from its records into frames and a GIF."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dilemmazoo.envs import make_world
from dilemmazoo.envs.gridworld.maps import get_map
from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.replay import (
    ReplayError,
    check_output,
    episode_frames,
    load_episode,
    main_replay,
    upscale,
    write_animation,
)
from dilemmazoo.experiments.runner import execute

EPISODE_LENGTH = 30
WORLD_KWARGS = {"n_agents": 3, "grid_map": "small_cleanup", "episode_length": EPISODE_LENGTH, "rules": "vicgalle"}
FRAME_SHAPE = (6 * 8, 9 * 8, 3)  # small_cleanup is 6 x 9 cells, drawn 8 pixels per cell


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Two episodes of Cleanup: two BFS harvesters and a random player (it fires, so players get tagged)."""
    config = validate({
        "name": "replay_test",
        "world": {"id": "cleanup-v0", "kwargs": WORLD_KWARGS},
        "agents": [{"kind": "scripted", "strategy": "grid_bfs", "seats": 2},
                   {"kind": "scripted", "strategy": "grid_random"}],
        "episodes_per_generation": 2,
        "seeds": [0],
    })
    return execute(config, tmp_path_factory.mktemp("runs"), progress=False).run_dir


@pytest.fixture
def copied_run(run_dir, tmp_path):
    """A copy of the run that a test may tamper with."""
    return shutil.copytree(run_dir, tmp_path / "run")


def test_bfs_only_run_replays(tmp_path):
    # the configuration of the brief: BFS harvesters on the ssd rules (rewards stay 0: the orchard starts empty)
    config = validate({
        "name": "replay_bfs",
        "world": {"id": "cleanup-v0", "kwargs": {"n_agents": 3, "grid_map": "small_cleanup", "episode_length": 30}},
        "agents": {"kind": "scripted", "strategy": "grid_bfs"},
    })
    result = execute(config, tmp_path, progress=False)
    frames = episode_frames(result.run_dir, 0)
    assert len(frames) == 30 + 1
    assert {f.shape for f in frames} == {FRAME_SHAPE}


def test_load_episode_reads_the_records(run_dir):
    record = load_episode(run_dir, 1)
    episodes = pd.read_parquet(run_dir / "episodes.parquet")
    assert record.seed == int(episodes.loc[episodes["episode"] == 1, "seed"].iloc[0])
    assert record.world_id == "cleanup-v0" and record.world_kwargs == WORLD_KWARGS
    assert record.steps == EPISODE_LENGTH
    rows = episodes[episodes["episode"] == 1]
    assert record.reset_options == {"names": dict(zip(rows["agent"], rows["name"])), "generation": 1, "game": 2}
    assert sorted(record.reset_options["names"]) == ["player_0", "player_1", "player_2"]
    steps = pd.read_parquet(run_dir / "steps.parquet")
    row = steps[(steps["episode"] == 1) & (steps["step"] == 7) & (steps["agent"] == "player_2")].iloc[0]
    assert record.rewards[6]["player_2"] == row["reward"]
    assert record.actions[6]["player_2"] == (int(row["action"]) if row["decided"] else None)


def test_frames_of_every_step_and_rewards_checked(run_dir):
    steps = pd.read_parquet(run_dir / "steps.parquet")
    for episode in (0, 1):
        mine = steps[steps["episode"] == episode]
        assert mine["reward"].abs().sum() > 0  # the reward check below compares real numbers
        frames = episode_frames(run_dir, episode)
        assert len(frames) == mine["step"].max() + 1 == EPISODE_LENGTH + 1
        assert all(f.shape == FRAME_SHAPE and f.dtype == np.uint8 for f in frames)
        assert any(not np.array_equal(a, b) for a, b in zip(frames, frames[1:]))
    # tagged players did not decide; the replay gave them the idle action and still matched every reward
    assert (~steps["decided"]).any()


def test_first_frame_is_the_world_after_the_recorded_reset(run_dir):
    record = load_episode(run_dir, 0)
    world = make_world("cleanup-v0", **WORLD_KWARGS, render_mode="rgb_array")
    world.reset(seed=record.seed)
    np.testing.assert_array_equal(episode_frames(run_dir, 0)[0], world.render())


def test_replay_is_deterministic_and_max_steps_cuts(run_dir):
    full = episode_frames(run_dir, 0)
    again = episode_frames(run_dir, 0, max_steps=5)
    assert len(again) == 6
    for a, b in zip(again, full):
        np.testing.assert_array_equal(a, b)


def test_scale_enlarges_by_nearest_neighbour(run_dir):
    small = episode_frames(run_dir, 0, max_steps=2)
    big = episode_frames(run_dir, 0, max_steps=2, scale=3)
    assert big[0].shape == (FRAME_SHAPE[0] * 3, FRAME_SHAPE[1] * 3, 3)
    np.testing.assert_array_equal(big[2][::3, ::3], small[2])


def test_upscale_exact():
    frame = np.array([[[1, 2, 3], [4, 5, 6]]], dtype=np.uint8)  # 1 x 2 pixels
    expected = np.array([[[1, 2, 3]] * 2 + [[4, 5, 6]] * 2] * 2, dtype=np.uint8)  # 2 x 4
    np.testing.assert_array_equal(upscale(frame, 2), expected)
    assert upscale(frame, 1) is frame
    with pytest.raises(ValueError, match="scale"):
        upscale(frame, 0)


def test_cli_writes_a_gif_that_decodes(run_dir, tmp_path, capsys):
    out = tmp_path / "episode1.gif"
    assert main_replay([str(run_dir), "--episode", "1", "--out", str(out), "--fps", "10", "--scale", "2",
                        "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    frames = episode_frames(run_dir, 1, scale=2)
    # Pillow stores a run of identical frames as one longer frame
    distinct = 1 + sum(not np.array_equal(a, b) for a, b in zip(frames, frames[1:]))
    with Image.open(out) as gif:
        assert gif.n_frames == distinct
        assert gif.size == (FRAME_SHAPE[1] * 2, FRAME_SHAPE[0] * 2)
        total_ms = 0
        for index in range(gif.n_frames):
            gif.seek(index)
            total_ms += gif.info["duration"]
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert("RGB"))
    assert total_ms == 100 * len(frames)  # 31 frames at 10 fps
    np.testing.assert_array_equal(last, frames[-1])


def test_cli_default_output_beside_the_run(copied_run, capsys):
    assert main_replay([str(copied_run), "--max-steps", "3", "--quiet"]) == 0
    out = copied_run / "replay_episode0.gif"
    assert capsys.readouterr().out.strip() == str(out)
    with Image.open(out) as gif:
        assert gif.n_frames >= 1
    assert not list(copied_run.glob(".*.tmp*"))  # nothing half-written left behind


def test_changed_reward_is_a_clear_error(copied_run, capsys):
    steps = pd.read_parquet(copied_run / "steps.parquet")
    row = (steps["episode"] == 0) & (steps["step"] == 4) & (steps["agent"] == "player_1")
    steps.loc[row, "reward"] += 1.0
    steps.to_parquet(copied_run / "steps.parquet", index=False)
    with pytest.raises(ReplayError, match=r"step 4, player_1: the records say reward .* no longer plays episode 0"):
        episode_frames(copied_run, 0)
    episode_frames(copied_run, 1)  # the other episode is untouched
    assert main_replay([str(copied_run), "--quiet"]) == 2
    assert "step 4, player_1" in capsys.readouterr().err


def test_records_ending_early_are_a_clear_error(copied_run):
    steps = pd.read_parquet(copied_run / "steps.parquet")
    steps = steps[~((steps["episode"] == 0) & (steps["step"] > 20))]
    steps.to_parquet(copied_run / "steps.parquet", index=False)
    with pytest.raises(ReplayError, match="records end after step 20"):
        episode_frames(copied_run, 0)


def test_unknown_episode_and_missing_seed(copied_run):
    with pytest.raises(ReplayError, match=r"episode must be one of the run's episodes 0, 1, got 7"):
        episode_frames(copied_run, 7)
    episodes = pd.read_parquet(copied_run / "episodes.parquet").drop(columns=["seed"])
    episodes.to_parquet(copied_run / "episodes.parquet", index=False)
    with pytest.raises(ReplayError, match="no 'seed' column"):
        load_episode(copied_run, 0)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(ReplayError, match="config.yaml"):
        load_episode(tmp_path, 0)
    assert main_replay([str(tmp_path / "missing"), "--quiet"]) == 2


def test_world_without_frames_is_named(tmp_path, capsys):
    config = validate({"name": "donors", "world": {"id": "donor-game", "kwargs": {"n_agents": 2, "n_rounds": 1}},
                       "agents": {"kind": "scripted", "strategy": "fixed_fraction"}})
    result = execute(config, tmp_path, progress=False)
    with pytest.raises(ReplayError, match=r"world 'dilemmazoo/donor-game-v0' has no rgb_array rendering"):
        episode_frames(result.run_dir, 0)
    assert main_replay([str(result.run_dir), "--quiet"]) == 2
    assert "donor-game-v0" in capsys.readouterr().err


def test_output_formats(run_dir, tmp_path):
    with pytest.raises(ReplayError, match=r"\.gif or \.mp4"):
        check_output(tmp_path / "episode.png")
    assert main_replay([str(run_dir), "--out", str(tmp_path / "x.avi"), "--quiet"]) == 2
    try:
        import imageio.v2  # noqa: F401
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        with pytest.raises(ReplayError, match=r"imageio.*write a \.gif instead"):
            check_output(tmp_path / "episode.mp4")
    else:
        frames = episode_frames(run_dir, 0, max_steps=3)
        assert write_animation(frames, tmp_path / "episode.mp4").stat().st_size > 0
    with pytest.raises(ReplayError, match="no frames"):
        write_animation([], tmp_path / "empty.gif")


def test_gathering_replays(tmp_path):
    config = validate({
        "name": "replay_gathering",
        "world": {"id": "gathering-v0",
                  "kwargs": {"n_agents": 4, "grid_map": "small_harvest", "episode_length": 40, "rules": "vicgalle"}},
        "agents": [{"kind": "scripted", "strategy": "grid_bfs", "seats": 2},
                   {"kind": "scripted", "strategy": "grid_random"}],
    })
    result = execute(config, tmp_path, progress=False)
    assert result.steps["reward"].abs().sum() > 0
    frames = episode_frames(result.run_dir, 0)
    assert len(frames) == 40 + 1
    grid = get_map("small_harvest")
    assert {f.shape for f in frames} == {(grid.height * 8, grid.width * 8, 3)}
