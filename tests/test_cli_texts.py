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


#: a small scripted Donor Game with cultural evolution: one generation of two games
SCRIPTED_DONOR_GAME = (
    "name: donor_scripted\n"
    "world: {id: donor-game, kwargs: {n_agents: 4, n_rounds: 3}}\n"
    "agents: {kind: scripted, strategy: fixed_fraction, params: {fraction: 0.5}}\n"
    "population: {dynamics: cultural_evolution, generations: 1}\n"
    "episodes_per_generation: 2\n"
)


@pytest.mark.parametrize("quiet", [False, True])
def test_run_report_shows_the_report_phase(tmp_path, capsys, quiet):
    config = tmp_path / "donor.yaml"
    config.write_text(SCRIPTED_DONOR_GAME)
    argv = ["run", str(config), "--out", str(tmp_path), "--report"]
    assert main(argv + (["--quiet"] if quiet else [])) == 0
    captured = capsys.readouterr()
    # stdout carries the run folder only; the report's path is said on stderr, after the phase
    run_dir = tmp_path / "donor_scripted" / "seed=0"
    assert captured.out.splitlines() == [str(run_dir)]
    assert captured.err.strip().splitlines()[-1] == f"report: {run_dir / 'report.html'}"
    phase = "writing the report of 1 run(s) ..."
    assert (phase in captured.err) is not quiet


def test_run_check_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    answers = tmp_path / "answers.txt"
    answers.write_text("My strategy will be to give half. Answer: 3\n")
    config = tmp_path / "sweep.yaml"
    config.write_text(
        "name: sweep\n"
        "world: {id: donor-game, kwargs: {n_agents: 4}}\n"
        f"agents: {{kind: llm, backend: 'scripted:{answers}'}}\n"
        "population: {dynamics: cultural_evolution, generations: 3}\n"
        "episodes_per_generation: 2\n"
        "seeds: 2\n"
        "grid: {world.kwargs.n_rounds: [2, 4]}\n"
    )
    out = tmp_path / "runs"
    assert main(["run", str(config), "--out", str(out), "--check"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    # 4 players: 2 donors a round; 3 generations x 2 games; strategies: 4 initial + 2 newcomers twice
    assert lines[:4] == [
        "sweep: 2 cell(s) x 2 seed(s) = 4 run(s); seeds 0, 1; 6 episode(s) per run",
        "model calls (estimate): 176",
        f"  cell n_rounds=2: 2 run(s), 64 model call(s); decisions per episode: llm:scripted:{answers}: 4",
        "    note: strategy writing: 4 initial + 2 newcomers in each later generation",
    ]
    assert lines[4] == ("  cell n_rounds=4: 2 run(s), 112 model call(s); decisions per episode: "
                        f"llm:scripted:{answers}: 8")
    assert lines[lines.index("run folders:") + 1:] == [
        f"  {out / 'sweep' / cell / f'seed={seed}'}" for cell in ("n_rounds=2", "n_rounds=4") for seed in (0, 1)]
    assert "config valid; nothing was run or written" in captured.err
    assert not out.exists()
    # a bad grid value fails the check, naming the field and the cell
    config.write_text(config.read_text().replace("[2, 4]", "[2, 0]"))
    assert main(["run", str(config), "--out", str(out), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: world.kwargs:") and "(grid cell n_rounds=0)" in err
    assert not out.exists()


def test_run_errors_are_printed_with_secrets_redacted(tmp_path, capsys):
    """Secrets of the config are known before any check fails: a message that quotes a config value
    holding one (here a world argument) shows neither a header key nor a URL password."""
    token = "abc-CANARY-header-0123"
    password = "CANARYpassword77"
    config = tmp_path / "keys.yaml"
    config.write_text(
        "name: keys\n"
        f"world: {{id: donor-game, kwargs: {{n_agentz: '{token}', url: 'http://user:{password}@127.0.0.1:9/v1'}}}}\n"
        "agents: {kind: llm, backend: 'openai:m', backend_options: "
        f"{{base_url: 'http://127.0.0.1:9/v1', extra_headers: {{Authorization: 'Bearer {token}'}}}}}}\n"
    )
    assert main(["run", str(config), "--out", str(tmp_path / "runs")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: world.kwargs: cannot build 'donor-game' with {'n_agentz': '***'")
    assert token not in captured.out + captured.err and password not in captured.out + captured.err
    assert not (tmp_path / "runs").exists()


def test_an_unexpected_failure_prints_a_redacted_traceback(tmp_path, capsys, monkeypatch):
    """A bug (here: a check that crashes) ends ``run`` with 1 and a traceback without the config's secrets."""
    from dilemmazoo.experiments import checks

    token = "xyz-CANARY-trace-0123"

    def crash(config):
        raise RuntimeError(f"a bug that quotes {config.agents.backend_options['extra_headers']}")

    monkeypatch.setattr(checks, "check_experiment", crash)
    config = tmp_path / "c.yaml"
    config.write_text("name: c\nworld: {id: donor-game}\nagents: {kind: llm, backend: 'openai:m', backend_options: "
                      f"{{base_url: 'http://127.0.0.1:9/v1', extra_headers: {{X-Api-Key: '{token}'}}}}}}\n")
    assert main(["run", str(config), "--out", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "RuntimeError: a bug that quotes" in err
    assert token not in err and not (tmp_path / "runs").exists()


def test_log_level_is_taken_before_or_after_the_command(capsys):
    import logging

    from dilemmazoo.experiments import logs

    try:
        assert main(["list", "backends", "--log-level=debug"]) == 0  # after the command, too
        assert logs.terminal_level() == logging.DEBUG  # the level of the handler on stderr
        assert main(["--log-level", "ERROR", "completion", "bash"]) == 0
        assert logs.terminal_level() == logging.ERROR
        capsys.readouterr()
        assert main(["--log-level", "loud", "list"]) == 2
        assert capsys.readouterr().err == ("error: --log-level must be one of debug, info, warning, error, critical; "
                                           "got 'loud'\n")
        assert main(["list", "--log-level"]) == 2
        assert "--log-level needs a level" in capsys.readouterr().err
    finally:
        main(["completion", "bash"])  # back to the default, warning
        capsys.readouterr()
    assert logs.terminal_level() == logging.WARNING


def test_completion_scripts_know_the_commands_and_are_valid_bash(capsys, tmp_path):
    import shutil
    import subprocess

    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert f"_shtab_dilemmazoo_subparsers=({' '.join(_subcommands_in_order())})" in script
    assert "_shtab_dilemmazoo_list_pos_0_choices=(worlds presets training tournaments backends norms)" in script
    assert "--log-level" in script and "_shtab_dilemmazoo_run_pos_0_COMPGEN=_shtab_compgen_files" in script
    (tmp_path / "dilemmazoo.bash").write_text(script)
    listed = subprocess.run(["bash", "-c", f"source {tmp_path / 'dilemmazoo.bash'}; COMP_WORDS=(dilemmazoo list b); "
                             "COMP_CWORD=2; _shtab_dilemmazoo; echo ${COMPREPLY[@]}"], capture_output=True, text=True)
    assert listed.stdout.split() == ["backends"], listed.stderr
    assert main(["completion", "zsh"]) == 0
    zsh = capsys.readouterr().out
    assert zsh.startswith("#compdef dilemmazoo") and "--log-level" in zsh and "_files" in zsh
    if shutil.which("zsh"):
        assert subprocess.run(["zsh", "-n"], input=zsh, text=True).returncode == 0


def _subcommands_in_order() -> list[str]:
    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return list(actions[0].choices)
