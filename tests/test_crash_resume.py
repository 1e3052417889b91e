"""Runs that survive: killed grids resume with nothing lost, duplicated or corrupt; two
processes on one output folder execute each run once; damaged runs are moved aside and redone;
workers die with their main process, and a worker that dies is its run's clean failure."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from dilemmazoo.analysis import catalog
from dilemmazoo.experiments import RunFailed, store
from dilemmazoo.experiments.config import expand_grid, run_id, validate
from dilemmazoo.experiments.records import COMPLETE_FILE
from dilemmazoo.experiments.runner import execute, run_experiment

LINUX_PROC = Path("/proc/self/environ").exists() and Path("/proc/locks").exists()
needs_proc = pytest.mark.skipif(not LINUX_PROC, reason="reads processes and locks from Linux's /proc")

# A model that answers, fails to parse (a retry), and answers again: the script's position
# after a decision depends on every earlier call, so a resumed run that skipped or repeated a
# call would record different donations.
ANSWERS = ["Answer: 2", "junk", "Answer: 5", "Answer: 1", "Answer: 7"]
TABLES = ("steps", "episodes", "population", "llm_calls")
MULTIPLIERS = [1.5, 2.0, 3.0]


def grid_data(script: Path, *, name: str = "crash", episodes: int = 300, seeds: int = 4) -> dict:
    """12 runs (3 multipliers x 4 seeds) of a six-player Donor Game: three seats played by a
    scripted language model (``scripted:PATH``), three by a fixed-fraction donor. One run takes
    about half a second on an idle CPU core, most of it playing, the rest writing."""
    return {
        "name": name,
        "world": {"id": "donor-game", "kwargs": {"n_agents": 6, "n_rounds": 6}},
        "agents": [
            {"kind": "llm", "backend": f"scripted:{script}", "decision": "generate", "seats": 3, "label": "model",
             "max_retries": 1},
            {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.5}},
        ],
        "seeds": seeds,
        "grid": {"world.kwargs.donation_multiplier": MULTIPLIERS},
        "episodes_per_generation": episodes,
        "workers": 2,
    }


def write_grid(folder: Path, script: Path | None = None, **kwargs) -> tuple[Path, dict]:
    """The grid's config file in ``folder`` (and its script, unless ``script`` names one to share)."""
    folder.mkdir(parents=True, exist_ok=True)
    if script is None:
        script = folder / "answers.txt"
        script.write_text("\n---\n".join(ANSWERS))
    data = grid_data(script, **kwargs)
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, data


def expected_folders(data: dict) -> set[str]:
    return {store.run_folder_name(r) for r in expand_grid(validate(data))}


def cli(config: Path, out: Path, mark: str, log: Path) -> subprocess.Popen:
    """``dilemmazoo run CONFIG --out OUT --quiet`` in its own process, tagged with ``mark`` in its
    environment (its workers inherit it: that is how the test finds them after the kill)."""
    env = {**os.environ, "DILEMMAZOO_TEST_MARK": mark}
    return subprocess.Popen([sys.executable, "-m", "dilemmazoo.experiments.cli", "run", str(config), "--out", str(out),
                             "--quiet"], env=env, stdout=open(log, "w"), stderr=open(log.with_suffix(".err"), "w"))


def marked_processes(mark: str) -> list[int]:
    """Live (not zombie) processes whose environment carries ``mark``."""
    tag = f"DILEMMAZOO_TEST_MARK={mark}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if tag in environ.split(b"\0") and state not in ("Z", "X"):
            found.append(int(entry))
    return found


def locks_held_by(pids: list[int]) -> list[int]:
    """Those of ``pids`` that hold a POSIX lock (a worker running a run holds the run's)."""
    holders = {int(line.split()[4]) for line in Path("/proc/locks").read_text().splitlines()
               if line.split()[1] == "POSIX"}
    return [pid for pid in pids if pid in holders]


def read_run(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    return {
        **{name: pd.read_parquet(run_dir / f"{name}.parquet") for name in TABLES},
        "summary": {k: summary[k] for k in ("run_id", "seed", "cell", "episodes", "counts", "metrics")},
    }


def assert_same_records(out: Path, reference: Path, data: dict) -> None:
    """Every expected run folder exists once, is finished (every file's sha256 as its marker
    says), was written by one execution, and holds exactly the reference's records."""
    experiment = out / data["name"]
    folders = {p.parent.relative_to(experiment).as_posix() for p in experiment.rglob("run_id")
               if store.DAMAGED_FOLDER not in p.parts}
    assert folders == expected_folders(data)
    for config in expand_grid(validate(data)):
        rid = run_id(config)
        run_dir = experiment / store.run_folder_name(config)
        state = store.inspect_run(run_dir, rid, deep=True)
        assert state.finished, (run_dir, state.damage)
        assert state.summary["run_id"] == rid
        marker = json.loads((run_dir / COMPLETE_FILE).read_text())
        writers = {marker["execution"], state.summary["execution"]["id"]}
        writers |= {pq.read_metadata(run_dir / f"{name}.parquet").metadata[store.EXECUTION_KEY.encode()].decode()
                    for name in TABLES}
        assert len(writers) == 1, f"{run_dir} mixes files of executions {writers}"
        mine, theirs = read_run(run_dir), read_run(reference / data["name"] / store.run_folder_name(config))
        for name in TABLES:
            pd.testing.assert_frame_equal(mine[name], theirs[name], obj=f"{run_dir.name} {name}")
        assert mine["summary"] == theirs["summary"]
    assert not [p for p in out.rglob("*.tmp")], "temporary files left behind"
    assert not [p for p in out.rglob("*.claim-*")], "claim folders left behind"


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    """One script file for every grid of this module, so that their run ids agree."""
    path = tmp_path_factory.mktemp("script") / "answers.txt"
    path.write_text("\n---\n".join(ANSWERS))
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory, script):
    """The grid run once, uninterrupted, by the command line (two workers)."""
    folder = tmp_path_factory.mktemp("reference")
    config, data = write_grid(folder, script)
    process = cli(config, folder / "out", uuid.uuid4().hex, folder / "stdout.txt")
    assert process.wait(timeout=300) == 0, (folder / "stdout.err").read_text()
    lines = (folder / "stdout.txt").read_text().split()
    assert len(lines) == 12
    return folder / "out"


# -- the acceptance tests --------------------------------------------------------------------

@needs_proc
@pytest.mark.slow
def test_a_grid_killed_ten_times_resumes_with_no_run_lost_duplicated_or_corrupt(tmp_path, script, reference):
    """SIGKILL to the command's process only (not its group): its workers must die by themselves.

    Each attempt is killed at a random point of a random phase: while the command starts, while
    a worker holds a run (playing or writing its files), or after one to three more runs finished.
    """
    config, data = write_grid(tmp_path, script)
    out = tmp_path / "out"
    rng = random.Random(15)
    kills, workers_at_kill, phases, attempt = 0, [], [], 0
    while kills < 10:
        attempt += 1
        assert attempt <= 20, "the grid kept finishing before it could be killed"
        mark = uuid.uuid4().hex
        finished = len(list(out.rglob(COMPLETE_FILE)))
        phase = rng.choice(["starting", "running", "after runs", "after runs"])
        target = min(finished + 1 + rng.randint(0, 2), 11)  # for "after runs": 1 to 3 more, never the last
        delay = rng.uniform(0.0, {"starting": 1.0, "running": 0.6, "after runs": 0.3}[phase])
        process = cli(config, out, mark, tmp_path / f"attempt{attempt}.txt")
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline and not (
                phase == "starting"
                or (phase == "running" and locks_held_by(marked_processes(mark)))
                or (phase == "after runs" and len(list(out.rglob(COMPLETE_FILE))) >= target)):
            time.sleep(0.01)
        time.sleep(delay)
        if process.poll() is None:
            workers_at_kill.append(len(marked_processes(mark)) - 1)  # besides the command itself
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
            phases.append(phase)
        process.wait(timeout=60)
        written = len(list(out.rglob(COMPLETE_FILE)))
        grace = time.monotonic() + 5
        while (left := marked_processes(mark)) and time.monotonic() < grace:
            time.sleep(0.05)
        assert left == [], f"attempt {attempt}: processes {left} outlived the killed command {process.pid}"
        # a worker that outlived its command, even briefly, would have finished the run it held
        assert len(list(out.rglob(COMPLETE_FILE))) == written, f"attempt {attempt}: a run finished after the kill"
    assert max(workers_at_kill) >= 2, f"no kill found workers running ({workers_at_kill}): the check proved nothing"
    finished_before_final = len(list(out.rglob(COMPLETE_FILE)))

    final = cli(config, out, uuid.uuid4().hex, tmp_path / "final.txt")
    assert final.wait(timeout=300) == 0, (tmp_path / "final.err").read_text()
    assert len((tmp_path / "final.txt").read_text().strip().splitlines()) == 12
    assert_same_records(out, reference, data)
    notes = list((out / data["name"] / store.DAMAGED_FOLDER).rglob("damage.json"))  # runs killed while writing
    for note in notes:
        assert json.loads(note.read_text())["reasons"]
        assert not (note.parent / "summary.json").exists() and not (note.parent / COMPLETE_FILE).exists()
    print(f"{attempt} attempts, {kills} kills ({', '.join(phases)}), processes besides the command at each kill "
          f"{workers_at_kill}, "
          f"{finished_before_final} of 12 runs finished before the last command, {len(notes)} moved aside")


@needs_proc
@pytest.mark.slow
def test_two_commands_on_one_folder_execute_each_run_once(tmp_path, script, reference):
    config, data = write_grid(tmp_path, script)
    out = tmp_path / "out"
    processes = [cli(config, out, uuid.uuid4().hex, tmp_path / f"command{k}.txt") for k in (0, 1)]
    for k, process in enumerate(processes):
        assert process.wait(timeout=300) == 0, (tmp_path / f"command{k}.err").read_text()
    executed, skipped = [], []
    for k in (0, 1):
        lines = (tmp_path / f"command{k}.txt").read_text().strip().splitlines()
        assert len(lines) == 12  # each command reports every run of the grid on stdout
        notes = {line.removesuffix(": already finished; skipped")  # and the ones it found finished on stderr
                 for line in (tmp_path / f"command{k}.err").read_text().splitlines()
                 if line.endswith(": already finished; skipped")}
        assert notes <= set(lines)
        for line in lines:
            (skipped if line in notes else executed).append(line)
    assert len(executed) == 12 and len(skipped) == 12
    assert {Path(p).relative_to(out / data["name"]).as_posix() for p in executed} == expected_folders(data)
    assert_same_records(out, reference, data)
    assert not (out / data["name"] / store.DAMAGED_FOLDER).exists()


# -- locks -----------------------------------------------------------------------------------

def small(name: str = "small", **extra) -> dict:
    data = {"name": name, "world": {"id": "donor-game", "kwargs": {"n_agents": 2, "n_rounds": 2}},
            "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 1.0}}}
    data.update(extra)
    return data


HOLDER = textwrap.dedent("""
    import os, sys, time
    from dilemmazoo.experiments import store
    from dilemmazoo.experiments.config import run_id, validate
    import json
    config = validate(json.loads(sys.argv[2]))
    with store.run_lock(sys.argv[1], config, run_id(config), wait=False):
        if sys.argv[3] == "fork" and os.fork() == 0:  # a child that outlives its parent
            time.sleep(60)
            os._exit(0)
        print("held", flush=True)
        sys.stdin.read()
""")


def hold_lock(out: Path, data: dict, *, fork: bool = False) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out), json.dumps(data), "fork" if fork else "-"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    return holder


def test_a_run_another_process_holds_is_skipped_then_waited_for(tmp_path):
    data = small(seeds=2)
    first, second = expand_grid(validate(data))
    holder = hold_lock(tmp_path, {**data, "seeds": [0]})
    with pytest.raises(store.RunBusy, match="another process is running small seed 0"):
        execute(first, tmp_path, progress=False, wait=False)
    assert store.run_dir_for(tmp_path, first, run_id(first)) is None  # nothing was written for it
    threading.Timer(1.0, holder.stdin.close).start()  # the other process lets go a while later
    results = run_experiment(validate(data), tmp_path, progress=False)
    holder.wait(timeout=30)
    assert [r.summary["seed"] for r in results] == [1, 0]  # the held run was put back, then waited for
    assert not any(r.skipped for r in results)


@needs_proc
def test_a_lock_dies_with_its_process_even_when_a_child_lives_on(tmp_path):
    data = small()
    config = expand_grid(validate(data))[0]
    holder = hold_lock(tmp_path, data, fork=True)
    children = [int(p) for p in Path(f"/proc/{holder.pid}/task/{holder.pid}/children").read_text().split()]
    assert len(children) == 1
    try:
        holder.kill()
        holder.wait(timeout=30)
        result = execute(config, tmp_path, progress=False, wait=False)  # no RunBusy: the lock went with its process
        assert store.inspect_run(result.run_dir, run_id(config), deep=True).finished
    finally:
        for child in children:
            os.kill(child, signal.SIGKILL)


# -- damaged runs ----------------------------------------------------------------------------

def _cut(run_dir: Path, name: str, keep: int = 100) -> None:
    path = run_dir / name
    path.write_bytes(path.read_bytes()[:keep])


def _other_run(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "run_id": "0" * 16}, indent=2))


DAMAGE = {
    "bad summary.json": (lambda d: _cut(d, "summary.json", 40), ["summary.json is not readable JSON"]),
    "truncated steps.parquet": (lambda d: _cut(d, "steps.parquet"),
                                ["steps.parquet has 100 bytes", "steps.parquet does not open as parquet"]),
    "marker without files": (lambda d: (d / "episodes.parquet").unlink(), ["episodes.parquet is missing"]),
    "files without marker": (lambda d: (d / COMPLETE_FILE).unlink(),
                             ["steps.parquet, episodes.parquet, population.parquet, llm_calls.parquet, summary.json "
                              "without the completion marker complete.json"]),
    "bad marker": (lambda d: _cut(d, COMPLETE_FILE, 10), ["the completion marker complete.json is not readable JSON"]),
    "summary of another run": (_other_run, ["summary.json does not say run"]),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_run_is_moved_aside_with_a_note_and_redone(tmp_path, kind):
    config = validate(small())
    first = execute(config, tmp_path, progress=False)
    steps = first.steps
    damage, reasons = DAMAGE[kind]
    damage(first.run_dir)
    assert store.load_summary(first.run_dir) is None  # not finished
    again = execute(config, tmp_path, progress=False)
    assert not again.skipped and again.run_dir == first.run_dir == tmp_path / "small" / "seed=0"
    assert store.inspect_run(again.run_dir, run_id(config), deep=True).finished
    pd.testing.assert_frame_equal(again.steps, steps)
    [aside] = (tmp_path / "small" / store.DAMAGED_FOLDER).iterdir()
    assert aside.name.startswith("seed=0@")
    note = json.loads((aside / "damage.json").read_text())
    assert note["moved_from"] == str(first.run_dir) and note["run_id"] == run_id(config)
    for reason in reasons:
        assert any(found.startswith(reason) for found in note["reasons"]), (reason, note["reasons"])
    assert not (aside / "summary.json").exists() and not (aside / COMPLETE_FILE).exists()
    assert catalog(tmp_path / "small").execute("select count(*) from runs").fetchone() == (1,)
    assert execute(config, tmp_path, progress=False).skipped


def test_a_started_or_failed_run_is_redone_in_place_and_stale_temporaries_go(tmp_path):
    config = validate(small())
    rid = run_id(config)
    run_dir = store.run_dir_for(tmp_path, config, rid, claim=True)
    store.prepare(run_dir, config)
    (run_dir / "failure.json").write_text("{}")
    stale = [run_dir / ".steps.parquet.k2j4x.tmp", run_dir / ".summary.json.abc.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
    claim = run_dir.parent / f".seed=0.claim-{rid[:12]}-x1y2"  # a killed claimant's staging folder
    claim.mkdir()
    others = run_dir.parent / ".seed=0.claim-0123456789ab-x1y2"  # another run's claim in progress
    others.mkdir()
    kept = run_dir / "notes.txt"
    kept.write_text("mine")
    assert store.inspect_run(run_dir, rid) == store.RunState()  # neither finished nor damaged
    result = execute(config, tmp_path, progress=False)
    assert result.run_dir == run_dir and not (tmp_path / "small" / store.DAMAGED_FOLDER).exists()
    assert not any(path.exists() for path in stale) and not claim.exists()
    assert others.exists() and kept.read_text() == "mine"
    assert not (run_dir / "failure.json").exists()
    assert store.remove_stale_temporaries(run_dir) == []


@pytest.mark.parametrize("mask", [0o027, 0o002])
def test_run_files_follow_the_process_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        result = execute(validate(small()), tmp_path, progress=False)
        assert store.process_umask() == mask
    finally:
        os.umask(old)
    for path in result.run_dir.iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path.name
    for folder in (result.run_dir, result.run_dir.parent):
        assert folder.stat().st_mode & 0o777 == 0o777 & ~mask, folder


# -- workers ---------------------------------------------------------------------------------

def _children_holding_locks(parent: int) -> dict[int, int]:
    """Child processes of ``parent`` holding a POSIX lock: pid -> the locked file's inode."""
    children = {int(p) for p in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()}
    held = {}
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if fields[1] == "POSIX" and int(fields[4]) in children:
            held[int(fields[4])] = int(fields[5].rsplit(":", 1)[1])
    return held


@needs_proc
def test_a_worker_that_dies_fails_its_run_by_name_and_the_grid_goes_on(tmp_path):
    script_dir = tmp_path / "script"
    _, data = write_grid(script_dir, name="dead", episodes=150, seeds=2)
    config = validate(data)
    runs = expand_grid(config)
    killed: dict[str, int] = {}

    def kill_one_running_worker():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for pid, inode in _children_holding_locks(os.getpid()).items():
                for r in runs:
                    lock = store.lock_path(tmp_path / "out", r, run_id(r))
                    if lock.exists() and lock.stat().st_ino == inode:
                        os.kill(pid, signal.SIGKILL)
                        killed.update(pid=pid, run=r)
                        return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_running_worker)
    killer.start()
    finished = []
    with pytest.raises(RunFailed) as failure:
        run_experiment(config, tmp_path / "out", progress=False, on_result=finished.append)
    killer.join()
    message = str(failure.value)
    dead = killed["run"]
    folder = tmp_path / "out" / "dead" / store.run_folder_name(dead)
    multiplier = dead.cell["world.kwargs.donation_multiplier"]
    assert message.startswith("1 of 6 runs failed (5 finished and kept):\n")
    assert (f"run {folder} (cell world.kwargs.donation_multiplier={multiplier}, seed {dead.seeds[0]}) failed: "
            f"its worker process (pid {killed['pid']}) was killed by SIGKILL (the system may have run out of memory)"
            ) in message
    assert "BrokenProcessPool" not in message and "Traceback" not in message
    assert len(finished) == 5 and folder not in [r.run_dir for r in finished]
    assert "was killed by SIGKILL" in json.loads((folder / "failure.json").read_text())["error"]
    again = run_experiment(config, tmp_path / "out", progress=False)
    assert sorted(r.run_dir for r in again if not r.skipped) == [folder]
