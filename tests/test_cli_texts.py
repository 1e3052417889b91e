"""What the command line says: every help text, the trainer overview, whole preset descriptions,
and the report phase of ``run --report``."""

from __future__ import annotations

import argparse

import pytest

from dilemmazoo.experiments.cli import build_parser, main, plain_text


def _subcommands() -> list[str]:
    """Every subcommand the top-level parser declares (a new one is covered without editing this test)."""
    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(actions[0].choices)


def _help_of(argv: list[str], capsys) -> str:
    try:
        code = main([*argv, "--help"])
    except SystemExit as done:
        code = done.code
    captured = capsys.readouterr()
    assert code == 0, argv
    return captured.out + captured.err


def test_every_help_text_is_plain_text(capsys):
    commands = [[]] + [[name] for name in _subcommands()] + [["train", "ippo"], ["train", "ipd_naive"],
                                                             ["train", "evaluate"]]
    assert {"run", "list", "report", "transcript", "tournament", "play", "train", "replay"} <= set(_subcommands())
    for argv in commands:
        text = _help_of(argv, capsys)
        assert "usage: dilemmazoo" in text, argv
        assert "`" not in text, (argv, [line for line in text.splitlines() if "`" in line])


def test_train_help_lists_every_trainer_and_preset(capsys):
    from dilemmazoo.agents.trainers.ippo import TRAIN_PRESETS
    from dilemmazoo.experiments.train import TRAINERS
    from dilemmazoo.experiments.train_llm import TRAINING_PRESETS, load_training_config

    text = _help_of(["train"], capsys)
    assert set(TRAINERS) == {"policy_gradient", "grpo", "ippo"}
    sections = {}
    for trainer in (*TRAINERS, "evaluate"):
        assert f"\n  {trainer}\n" in text, trainer
        block = text.split(f"\n  {trainer}\n", 1)[1].split("\n\n", 1)[0]
        sections[trainer] = " ".join(block.split()).split(" presets: ", 1)[-1].split(" run: ", 1)[0]
    for name in TRAINING_PRESETS:
        assert name in sections[load_training_config(name).algorithm].split(", "), name
    assert sorted(sections["ippo"].split(", ")) == sorted(TRAIN_PRESETS)
    assert main(["train"]) == 2  # no trainer named: the overview, on stderr
    assert "policy_gradient" in capsys.readouterr().err


def _flat_table(text: str) -> str:
    """A rich table's text with its borders gone and wrapped cells joined again."""
    for border in "│┃┏┓┗┛┡┩└┘━─┳┻╇┼┴┬":
        text = text.replace(border, " ")
    return " ".join(text.split())


def test_list_shows_preset_descriptions_whole(capsys, monkeypatch):
    from dilemmazoo.experiments import list_presets, load_config
    from dilemmazoo.experiments.train_llm import TRAINING_PRESETS, load_training_config

    monkeypatch.setenv("COLUMNS", "200")  # wide enough that no word is folded
    assert main(["list", "presets"]) == 0
    listing = _flat_table(capsys.readouterr().out)
    for name in list_presets():
        description = plain_text(" ".join(str(load_config(name).get("description", "")).split()))
        assert name in listing and description in listing, name
    assert main(["list", "training"]) == 0
    listing = _flat_table(capsys.readouterr().out)
    for name in TRAINING_PRESETS:
        config = load_training_config(name)
        assert plain_text(" ".join(config.description.split())) in listing, name
        assert f"{name} {config.algorithm}" in listing


def test_listings_show_no_markdown(capsys, monkeypatch):
    assert plain_text("``u_i = r_i`` and `--set seeds=2` [p=0.5]") == "u_i = r_i and '--set seeds=2' [p=0.5]"
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "`" not in listing and "u_i = (1 - w) r_i" in listing


@pytest.mark.parametrize("quiet", [False, True])
def test_run_report_shows_the_report_phase(tmp_path, capsys, quiet):
    argv = ["run", "donor_game_demo", "--out", str(tmp_path), "--set", "agents.kind=scripted",
            "--set", "population.generations=1", "--report"]
    assert main(argv + (["--quiet"] if quiet else [])) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines()[-1].startswith("report: ")
    phase = "writing the report of 1 run(s) ..."
    assert (phase in captured.err) is not quiet


def test_run_check_prints_the_expanded_grid_and_runs_nothing(tmp_path, capsys):
    config = tmp_path / "sweep.yaml"
    config.write_text(
        "name: sweep\n"
        "world: {id: donor-game, kwargs: {n_agents: 4, n_rounds: 2}}\n"
        "agents: {kind: scripted, strategy: fixed_fraction}\n"
        "seeds: 2\n"
        "grid: {world.kwargs.donation_multiplier: [1.5, 2.0]}\n"
    )
    out = tmp_path / "runs"
    assert main(["run", str(config), "--out", str(out), "--check"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        str(out / "sweep" / cell / f"seed={seed}")
        for cell in ("donation_multiplier=1.5", "donation_multiplier=2.0") for seed in (0, 1)
    ]
    assert "4 run(s) in 2 cell(s)" in captured.err
    assert not out.exists()  # nothing was run or written
    # a bad grid value fails the check, naming the problem
    config.write_text(config.read_text().replace("[1.5, 2.0]", "[1.5, -7]").replace("n_rounds: 2", "n_rounds: 0"))
    assert main(["run", str(config), "--out", str(out), "--check"]) == 2
    assert "error:" in capsys.readouterr().err
