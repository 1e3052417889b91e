"""The ``dilemmazoo`` command.

    dilemmazoo [--log-level debug|info|warning|error|critical] COMMAND ...   (before or after COMMAND)
    dilemmazoo run PRESET|FILE.yaml [--set dotted.key=value]... [--backend SPEC] [--out DIR]
                   [--workers N] [--report] [--quiet] [--check] [--estimate]
                   [--budget-usd X] [--max-calls N]
    dilemmazoo list [worlds|presets|training|tournaments|backends|norms]
    dilemmazoo completion bash|zsh|tcsh                        (prints the shell completion script)
    dilemmazoo report RUN_OR_EXPERIMENT_DIR [--out FILE]
    dilemmazoo play repeated-game [--game NAME] [--rounds N] [--opponent NAME|axelrod:Name|llm:SPEC] [--seat 0|1]
    dilemmazoo tournament STRATEGY... [--turns N] [--game NAME] [--repetitions R] [--seed S] [--noise P]
    dilemmazoo transcript RUN_DIR [--agent A] [--step S] [--episode E] [--generation G] [--purpose P]
    dilemmazoo train --help                                    (every trainer and its presets)
    dilemmazoo train ippo --world cleanup|gathering [--iterations K] [--device auto] ...
    dilemmazoo train PRESET|CONFIG [--set k=v] [--resume]      (language agents, LoRA; e.g. ipd_advantage_alignment)
    dilemmazoo replay RUN_DIR [--episode E] [--out FILE.gif|.mp4] [--fps 8] [--scale 1] [--max-steps N]
    dilemmazoo check-backend SPEC [--option k=v]... [--json] [--quick] [--only CHECK,...]   (conformance kit)
    dilemmazoo dashboard PRESET|FILE.yaml|RUN_DIR [--set k=v]... [--seed N] [--cell N] [--port 8521]
    dilemmazoo classroom [--game prisoners_dilemma|stag_hunt|trust-split|donor-game] [--rounds N] [--port 8765]
    dilemmazoo evaluate AGENT_SPEC [--scenarios quick|full] [--seeds N] [--out DIR]
    dilemmazoo league SPEC SPEC... [--worlds ...] [--seeds N] [--out DIR]

``run`` prints each run directory on its own line, and nothing else, on stdout: progress, the report's
path (``--report``), messages and log records go to stderr, so ``dilemmazoo run ... | xargs`` sees
folders only. ``--check`` and ``--estimate`` run nothing; what they print (the plan, the estimate)
is the output asked for and goes to stdout. Before anything
is written the whole config is checked (:mod:`dilemmazoo.experiments.checks`): a bad config exits
with 2 and a message naming the field, and no folder is made. ``run --check`` stops there and
prints the plan: cells, seeds, runs, an estimate of the model calls, and the run folders.
``run --estimate`` prints the expected model calls, tokens and cost per backend
(:func:`dilemmazoo.experiments.budget.estimate`) and exits, running and writing nothing.
``--budget-usd X`` and ``--max-calls N`` cap the grid's recorded spending
(:class:`~dilemmazoo.experiments.budget.Budget`): when one is reached the grid stops, finished runs
are kept, the message names the command that resumes with a larger budget, and the exit code is 3.
Error messages and tracebacks are printed with secrets redacted.

``--log-level`` (default ``warning``) shows the package's log records at that level and above on
stderr (:func:`dilemmazoo.experiments.logs.configure_logging`): ``info`` shows retries, rate-limit
waits and fallbacks as they happen. ``list worlds|backends|norms`` says where each comes from:
``built-in``, or the package and version of the plugin that added it
(:mod:`dilemmazoo.envs.plugins`); a plugin that fails to import is listed as broken.
``completion`` prints a completion script made by shtab from this parser:
``eval "$(dilemmazoo completion bash)"``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _fail(message: str, code: int = 2) -> int:
    """Print an error (secrets redacted) and return the exit code."""
    from dilemmazoo.agents.backends.redaction import redact_text

    print(redact_text(f"error: {message}"), file=sys.stderr)
    return code


def _cmd_run(args: argparse.Namespace) -> int:
    """``run``; an unexpected failure prints its traceback with secrets redacted and exits with 1."""
    from dilemmazoo.agents.backends.redaction import (
        install_log_redaction,
        redact_text,
        register_secrets,
        secrets_in_environment,
    )

    install_log_redaction()
    register_secrets(secrets_in_environment())  # keys a library reads by itself (OPENAI_API_KEY, HF_TOKEN...)
    try:
        return _run(args)
    except Exception:  # noqa: BLE001 - the traceback, with every known secret removed
        import traceback

        print(redact_text(traceback.format_exc()), file=sys.stderr, end="")
        return 1


def _run(args: argparse.Namespace) -> int:
    """Load, validate and check the config before anything is written; then ``--check`` prints the
    plan, or the grid runs. A config error exits with 2 and creates no folder."""
    from dilemmazoo.agents.backends.redaction import redact_text, register_secrets, secrets_in_config
    from dilemmazoo.experiments import ConfigError, RunFailed, resolve
    from dilemmazoo.experiments.budget import Budget, BudgetExceeded, estimate, resume_command
    from dilemmazoo.experiments.checks import check_experiment, plan
    from dilemmazoo.experiments.config import apply_overrides, load_config, parse_set
    from dilemmazoo.experiments.runner import run_experiment

    try:
        overrides = dict(parse_set(item) for item in args.set)
        raw = load_config(args.config)
        # known before anything can fail: every later message, log line and traceback is redacted
        register_secrets(secrets_in_config(raw))
        register_secrets(secrets_in_config(apply_overrides(raw, overrides)))
        config = resolve(args.config, backend=args.backend, overrides=overrides)
        check_experiment(config)
    except ConfigError as error:
        return _fail(str(error))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return _fail(f"--out: {out} is a file; runs go into a folder")
    if args.check:
        print(redact_text(plan(config).text(out)))  # grid labels and folders may quote config values
        print(f"{config.name}: config valid; nothing was run or written", file=sys.stderr)
        return 0
    if args.estimate:
        print(redact_text(estimate(config).text()))
        return 0
    budget = None
    if args.budget_usd is not None or args.max_calls is not None:
        budget = Budget(usd=args.budget_usd, max_calls=args.max_calls)
    printed: list[Path] = []

    def announce(result) -> None:
        printed.append(result.run_dir)
        print(result.run_dir, flush=True)
        if result.skipped:  # said beside the folder, on stderr: stdout lines are folders, nothing else
            print(f"{result.run_dir}: already finished; skipped", file=sys.stderr, flush=True)

    try:
        run_experiment(config, out, workers=args.workers, progress=not args.quiet, on_result=announce,
                       executor=args.executor, address=args.address, budget=budget)
    except ConfigError as error:
        return _fail(str(error))
    except BudgetExceeded as error:
        _fail(str(error), 3)
        print(f"resume with: {resume_command(args.argv, error)}", file=sys.stderr)
        return 3
    except RunFailed as error:
        _fail(str(error), 1)
        print("Finished runs are kept; run the same command again to resume.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to resume.", file=sys.stderr)
        return 130
    if args.report and printed:
        from dilemmazoo.analysis.report import write_report

        target = printed[0] if len(printed) == 1 else out / config.name
        with _phase(f"writing the report of {len(printed)} run(s)", quiet=args.quiet):
            written = write_report(target)
        print(f"report: {written}", file=sys.stderr, flush=True)  # stdout carries run folders only
    return 0


def _workers(text: str) -> int:
    """``--workers``: a whole number >= 1 (argparse exits with 2 otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1 (runs at once), got {value}")
    return value


def _at_least_zero(kind: type):
    """``--budget-usd``/``--max-calls``: a number (``kind``) >= 0 (argparse exits with 2 otherwise)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a {'whole ' if kind is int else ''}number >= 0, got {text!r}") \
                from None
        if not value >= 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
        return value
    return parse


def _phase(text: str, *, quiet: bool):
    """A status line on stderr while a slow phase runs (a spinner in a terminal; elsewhere, such as
    a log file, one plain line), so that the terminal never looks frozen between the progress bar
    and the result."""
    from contextlib import nullcontext

    from rich.console import Console

    console = Console(stderr=True)
    if quiet:
        return nullcontext()
    if not console.is_terminal:
        console.print(f"{text} ...", highlight=False)
        return nullcontext()
    return console.status(f"{text} ...")


def _training_presets() -> list[tuple[str, str, str]]:
    """``dilemmazoo train`` presets as ``(name, trainer, description)``: the language-agent ones
    (their whole description) and the IPPO ones (their settings)."""
    from dilemmazoo.agents.trainers.ippo import TRAIN_PRESETS
    from dilemmazoo.experiments.train_llm import TRAINING_PRESETS, load_training_config

    rows = []
    for name in TRAINING_PRESETS:
        config = load_training_config(name)
        rows.append((name, config.algorithm, " ".join(config.description.split())))
    for name, settings in TRAIN_PRESETS.items():
        rows.append((f"ippo --preset {name}", "ippo", ", ".join(f"{key}={value}" for key, value in settings.items())))
    return rows


def plain_text(text: str) -> str:
    """Docstring or YAML text for the terminal: ``code`` loses its backticks, `code` gets quotes
    (a terminal shows Markdown as-is)."""
    import re

    return re.sub(r"`([^`]+)`", r"'\1'", re.sub(r"``(.+?)``", r"\1", text))


def _cmd_list(args: argparse.Namespace) -> int:
    """``list``: a table per section; worlds, backends and norms say where each comes from
    (``from``: built-in or a plugin's package), and a plugin that cannot be used shows its error."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from dilemmazoo.agents.backends import backend_listing
    from dilemmazoo.envs.registry import world_listing
    from dilemmazoo.experiments import list_presets, load_config
    from dilemmazoo.norms import norm_listing

    def cell(text: str) -> Text:  # literal text: a description's "[...]" is not rich markup
        return Text(plain_text(text))

    def add_listing(table: Table, rows) -> None:
        for row in rows:
            if row.error is None:
                table.add_row(row.name, row.origin, cell(row.description))
            else:
                table.add_row(row.name, row.origin, Text(f"BROKEN: {row.error}", style="red"))

    console = Console()
    sections = [args.what] if args.what else ["worlds", "presets", "training", "tournaments", "backends", "norms"]
    for section in sections:
        # descriptions are shown whole: the description column wraps, it is never cut
        table = Table(title=section, title_justify="left")
        table.add_column("name", no_wrap=True)
        if section == "training":
            table.add_column("trainer", no_wrap=True)
        if section in ("worlds", "backends", "norms"):
            table.add_column("from", no_wrap=True)
        table.add_column("description", overflow="fold")
        if section == "worlds":
            add_listing(table, world_listing())
        elif section == "presets":
            for name in sorted(list_presets()):
                table.add_row(name, cell(" ".join(str(load_config(name).get("description", "")).split())))
        elif section == "training":
            for name, trainer, description in _training_presets():
                table.add_row(name, trainer, cell(description))
        elif section == "tournaments":
            from dilemmazoo.experiments.tournament import load_tournament, tournament_presets

            for name in sorted(tournament_presets()):
                table.add_row(name, cell(" ".join(str(load_tournament(name).get("description", "")).split())))
        elif section == "backends":
            add_listing(table, backend_listing())
        else:
            add_listing(table, norm_listing())
        console.print(table)
    return 0


def _cmd_completion(args: argparse.Namespace) -> int:
    """``completion SHELL``: the completion script of this command line, made by shtab from
    :func:`build_parser` (subcommands, options, choices, and file or folder names where a path goes)."""
    try:
        import shtab
    except ImportError:
        return _fail("shell completion needs shtab: pip install shtab")
    parser = build_parser()
    for action in _actions(parser):
        kind = getattr(action, "path_kind", None)
        if kind is not None:
            action.complete = shtab.FILE if kind == "file" else shtab.DIRECTORY
    print(shtab.complete(parser, shell=args.shell), end="")
    return 0


def _actions(parser: argparse.ArgumentParser):
    """Every argument of ``parser`` and of its subcommands' parsers."""
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _actions(sub)


def _path(action: argparse.Action, kind: str) -> argparse.Action:
    """Mark an argument as a path (``kind``: "file" or "dir") for :func:`_cmd_completion`."""
    action.path_kind = kind
    return action


def _cmd_report(args: argparse.Namespace) -> int:
    from dilemmazoo.analysis.report import write_report

    path = Path(args.path)
    if not path.exists():
        print(f"error: {path} does not exist", file=sys.stderr)
        return 2
    try:
        out = write_report(path, args.out)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(out)
    return 0


def _cmd_transcript(args: argparse.Namespace) -> int:
    from dilemmazoo.analysis.transcript import transcript

    try:
        text = transcript(args.run, agent=args.agent, step=args.step, episode=args.episode,
                          generation=args.generation, purpose=args.purpose, full=args.full)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(text)
    return 0


def _cmd_tournament(args: argparse.Namespace) -> int:
    from dilemmazoo.experiments.tournament import main_tournament

    return main_tournament(args.args)


def _cmd_play(args: argparse.Namespace) -> int:
    from dilemmazoo.experiments.play import main_play

    return main_play(args.args)


def build_parser() -> argparse.ArgumentParser:
    from dilemmazoo.experiments.logs import LEVELS

    parser = argparse.ArgumentParser(prog="dilemmazoo", description="Multi-agent social-dilemma experiments.")
    # read by main() wherever it stands (its commands with parsers of their own never see it)
    parser.add_argument("--log-level", choices=LEVELS, default=DEFAULT_LOG_LEVEL,
                        help="show log records at this level and above on stderr; info shows retries, waits "
                             f"and fallbacks as they happen (default: {DEFAULT_LOG_LEVEL}; may follow the command)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a preset or experiment YAML; stdout: one run folder a line")
    _path(run.add_argument("config", help="preset name (see 'dilemmazoo list presets') or path to a YAML file"), "file")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field (dotted key)")
    run.add_argument("--backend", help="backend spec for LLM agents, e.g. embedded, litellm:gpt-4o-mini")
    _path(run.add_argument("--out", default="runs", help="root folder for run directories (default: runs)"), "dir")
    run.add_argument("--workers", type=_workers, default=None,
                     help="parallel runs, at least 1 (default: the config's workers)")
    run.add_argument("--executor", choices=["local", "ray"], default=None,
                     help="local processes, or one Ray task per run (default: the config's executor, local)")
    run.add_argument("--address", default=None,
                     help="with --executor ray: join this Ray cluster (auto, ray://head:10001); default: a local instance")
    run.add_argument("--report", action="store_true", help="write an HTML report when done (its path goes to stderr)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--check", action="store_true",
                     help="check the config and print the expanded grid (cells, seeds, runs, estimated model calls, "
                          "run folders); run and write nothing")
    run.add_argument("--estimate", action="store_true",
                     help="print the expected model calls, tokens and cost per backend; run and write nothing")
    run.add_argument("--budget-usd", type=_at_least_zero(float), default=None, metavar="X",
                     help="stop the grid once its runs' recorded cost reaches X USD (finished runs count); exit code 3")
    run.add_argument("--max-calls", type=_at_least_zero(int), default=None, metavar="N",
                     help="stop the grid before its model calls pass N (finished runs count; cache hits do not)")
    run.set_defaults(func=_cmd_run)

    lst = sub.add_parser("list", help="list worlds, presets, backends and norms, and where each comes from "
                                      "(built-in or a plugin's package)")
    lst.add_argument("what", nargs="?", choices=["worlds", "presets", "training", "tournaments", "backends", "norms"])
    lst.set_defaults(func=_cmd_list)

    report = sub.add_parser("report", help="write an HTML report for a run or experiment directory")
    _path(report.add_argument("path"), "dir")
    _path(report.add_argument("--out", default=None, help="output HTML file (default: PATH/report.html)"), "file")
    report.set_defaults(func=_cmd_report)
    tour = sub.add_parser("tournament", help="round-robin tournament of matrix-game strategies (axelrod:Name too)",
                          add_help=False)
    tour.add_argument("args", nargs=argparse.REMAINDER)
    tour.set_defaults(func=_cmd_tournament)

    play = sub.add_parser("play", help="play a repeated matrix game in the terminal against an agent",
                          add_help=False)
    play.add_argument("args", nargs=argparse.REMAINDER)
    play.set_defaults(func=_cmd_play)

    # listed for --help; main() hands their arguments to their own parsers
    sub.add_parser("train", help="train agents: LoRA policy gradient and GRPO (language agents), IPPO (grid worlds); "
                                 "'train --help' lists them", add_help=False)
    sub.add_parser("replay", help="save a gridworld episode of a run as a GIF", add_help=False)
    sub.add_parser("dashboard", help="watch a preset, config or finished run in the browser (Mesa/Solara); "
                                     "'dashboard --help'", add_help=False)
    sub.add_parser("classroom", help="serve a classroom game on a local port: students play each other and agents "
                                     "in their browsers; 'classroom --help'", add_help=False)

    sub.add_parser("evaluate", help="score an agent across held-out scenarios (normalised focal return, "
                                    "background welfare, exploitation); 'evaluate --help'", add_help=False)
    sub.add_parser("league", help="play agents against each other across worlds and fit ratings; 'league --help'",
                   add_help=False)
    sub.add_parser("check-backend", help="run a backend through the backend contract (conformance kit); "
                                         "'check-backend --help'", add_help=False)

    tr = sub.add_parser("transcript", help="print the prompts and answers of a run")
    _path(tr.add_argument("run", help="a run directory"), "dir")
    tr.add_argument("--agent", help="seat, e.g. player_3")
    tr.add_argument("--step", type=int)
    tr.add_argument("--episode", type=int)
    tr.add_argument("--generation", type=int)
    tr.add_argument("--purpose", choices=["act", "retry", "score", "strategy"])
    tr.add_argument("--full", action="store_true", help="repeat system prompts on every call")
    tr.set_defaults(func=_cmd_transcript)

    completion = sub.add_parser("completion", help="print the shell completion script, e.g. "
                                                   "eval \"$(dilemmazoo completion bash)\"")
    completion.add_argument("shell", choices=["bash", "zsh", "tcsh"])
    completion.set_defaults(func=_cmd_completion)
    return parser


#: ``--log-level`` when none is given
DEFAULT_LOG_LEVEL = "warning"


def _take_log_level(argv: list[str]) -> tuple[str, list[str]]:
    """``(level, argv without it)`` for ``--log-level LEVEL`` or ``--log-level=LEVEL`` anywhere
    before a ``--`` (the last one counts), so that commands with parsers of their own take it too.

    Raises:
        ValueError: a missing or unknown level (the message names the option and the levels).
    """
    from dilemmazoo.experiments.logs import LEVELS

    level, rest, index = DEFAULT_LOG_LEVEL, [], 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            rest += argv[index:]
            break
        if token == "--log-level" or token.startswith("--log-level="):
            if token == "--log-level":
                if index + 1 >= len(argv):
                    raise ValueError(f"--log-level needs a level: {', '.join(LEVELS)}")
                index += 1
                value = argv[index]
            else:
                value = token.partition("=")[2]
            if value.lower() not in LEVELS:
                raise ValueError(f"--log-level must be one of {', '.join(LEVELS)}; got {value!r}")
            level = value.lower()
        else:
            rest.append(token)
        index += 1
    return level, rest


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` (default: the process's arguments) and return its exit code."""
    from dilemmazoo.experiments.logs import configure_logging

    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        level, argv = _take_log_level(argv)
    except ValueError as error:
        return _fail(str(error))
    configure_logging(level)
    if argv[:1] == ["tournament"]:  # its own parser, so that its options (and --help) reach it
        from dilemmazoo.experiments.tournament import main_tournament

        return main_tournament(argv[1:])
    if argv[:1] == ["play"]:  # the same: its own parser
        from dilemmazoo.experiments.play import main_play

        return main_play(argv[1:])
    if argv[:1] == ["train"]:
        from dilemmazoo.experiments.train import main_train

        return main_train(argv[1:])
    if argv[:1] == ["replay"]:
        from dilemmazoo.experiments.replay import main_replay

        return main_replay(argv[1:])
    if argv[:1] == ["dashboard"]:
        from dilemmazoo.experiments.dashboard import main_dashboard

        return main_dashboard(argv[1:])
    if argv[:1] == ["evaluate"]:
        from dilemmazoo.experiments.evaluation import main_evaluate

        return main_evaluate(argv[1:])
    if argv[:1] == ["league"]:
        from dilemmazoo.experiments.league import main_league

        return main_league(argv[1:])
    if argv[:1] == ["check-backend"]:
        from dilemmazoo.experiments.check_backend import main_check_backend

        return main_check_backend(argv[1:])
    if argv[:1] == ["classroom"]:
        from dilemmazoo.experiments.classroom import main_classroom

        return main_classroom(argv[1:])
    args = build_parser().parse_args(argv)
    args.argv = argv  # what resumes a run the budget stopped (resume_command)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
