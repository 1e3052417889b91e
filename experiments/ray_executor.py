"""Grids on Ray: one Ray task per run (``dilemmazoo run X --executor ray [--address ADDR]``).

A grid's runs go out as Ray tasks, each executing one run with the same code as the local
executor (:func:`dilemmazoo.experiments.runner.execute`), so a run's records are the same on
either executor. The driver skips finished runs before it submits anything, as the local
executor does, and a killed driver loses no finished run: rerunning the command submits only
what is missing.

Where records land (``ray.store`` in the config):

- ``driver`` (default): a task executes its run in a scratch folder on its node and returns the
  run's files; the driver writes them into ``--out`` under the run's lock, the completion marker
  last. Works on any cluster; the records are on the driver's filesystem.
- ``shared``: tasks write into ``--out`` themselves (locks, claims and markers as for local
  workers). Use it when ``--out`` is a path every node mounts (NFS, a shared volume); it saves
  sending the files back.

Without ``--address`` (``ray.address``) a local Ray instance is started with ``ray.num_cpus``
CPUs (default: the config's ``workers``) and no dashboard; with it the driver joins an existing
cluster (``auto``, or ``ray://head:10001``).

Rate limits become cluster-wide: for every backend spec with ``requests_per_minute`` or
``tokens_per_minute`` in its options, one named limiter actor holds the token buckets
(:class:`~dilemmazoo.agents.backends.limits.RateLimiter`), and every task's backend of that spec
books its requests there, so N tasks share one quota instead of using N times it. (A backend's
``concurrency`` stays per run: it bounds the requests of one batched call in flight.)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dilemmazoo.experiments import store
from dilemmazoo.experiments.config import AgentsConfig, ExperimentConfig, run_id, validate
from dilemmazoo.experiments.records import COMPLETE_FILE

__all__ = ["ClusterRateLimiter", "limiter_key", "run_on_ray"]

#: Ray's own log lines, progress reporter and usage stats stay off the user's terminal
_QUIET = {"RAY_DEDUP_LOGS": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_DISABLE_IMPORT_WARNING": "1"}


def _ray():
    try:
        import ray
    except ImportError:
        raise RuntimeError("executor ray needs the Ray package: pip install 'dilemmazoo[cluster]' "
                           "(or use --executor local)") from None
    return ray


def limiter_key(group: AgentsConfig) -> str | None:
    """The cluster-wide limiter a group's backend books with, or ``None`` when it sets no rate limit."""
    if group.kind not in ("llm", "synthesized"):  # scripted groups have no backend
        return None
    options = group.backend_options
    limits = {k: options.get(k) for k in ("requests_per_minute", "tokens_per_minute") if options.get(k) is not None}
    if not limits:
        return None
    text = json.dumps({"backend": group.backend, **limits}, sort_keys=True)
    return "dilemmazoo-limiter-" + hashlib.sha256(text.encode()).hexdigest()[:16]


class _LimiterState:
    """The token buckets of one backend spec, held by a Ray actor (``reserve`` returns the wait)."""

    def __init__(self, requests_per_minute: float | None, tokens_per_minute: float | None):
        from dilemmazoo.agents.backends.limits import RateLimiter

        self.limiter = RateLimiter(requests_per_minute, tokens_per_minute)

    def reserve(self, tokens_estimate: int = 0) -> float:
        return self.limiter.reserve(tokens_estimate)

    def waited_s(self) -> float:
        return self.limiter.waited_s


class ClusterRateLimiter:
    """A :class:`~dilemmazoo.agents.backends.limits.RateLimiter` whose buckets live in a named Ray actor.

    It has the limiter's interface (``enabled``, ``reserve``, ``acquire``), so a backend uses it
    unchanged; every booking is one actor call, and the actor answers how long to wait.
    """

    def __init__(self, actor_name: str, requests_per_minute: float | None, tokens_per_minute: float | None):
        self.actor_name = actor_name
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.waited_s = 0.0
        self._actor = None

    @property
    def enabled(self) -> bool:
        return True

    def reserve(self, tokens_estimate: int = 0) -> float:
        ray = _ray()
        if self._actor is None:
            self._actor = ray.get_actor(self.actor_name)
        wait = float(ray.get(self._actor.reserve.remote(int(tokens_estimate))))
        self.waited_s += wait
        return wait

    async def acquire(self, tokens_estimate: int = 0) -> None:
        import asyncio

        wait = self.reserve(tokens_estimate)
        if wait > 0:
            await asyncio.sleep(wait)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_actor": None}

    def __repr__(self) -> str:
        return (f"ClusterRateLimiter({self.actor_name!r}, requests_per_minute={self.requests_per_minute}, "
                f"tokens_per_minute={self.tokens_per_minute})")


def _cluster_limits(limiters: dict[str, tuple[str, float | None, float | None]]):
    """A backend wrapper (:data:`~dilemmazoo.experiments.runner.BackendWrapper`) that points each
    rate-limited backend at its cluster-wide limiter."""

    def wrap(backend, group: AgentsConfig):
        key = limiter_key(group)
        if key is None or key not in limiters:
            return backend
        target = getattr(backend, "inner", backend)  # the on-disk cache wraps the real backend
        if hasattr(target, "limiter"):
            name, rpm, tpm = limiters[key]
            target.limiter = ClusterRateLimiter(name, rpm, tpm)
        return backend

    return wrap


def _task(execute: Callable, config_data: dict, out_root: str, mode: str, limiters: dict,
          cache_dir: str) -> dict[str, Any]:
    """One run, in a Ray worker: ``execute`` it (the runner's) and report, with its files in ``driver`` mode.

    A failed run (the runner's ``RunFailed``, or anything else it raised) is reported with its
    message; its ``failure.json`` travels back in ``driver`` mode.
    """
    os.environ.setdefault("DILEMMAZOO_CACHE", cache_dir)  # the grid's LLM cache, as for local runs
    config = validate(config_data)
    wrap = _cluster_limits(limiters)
    if mode == "shared":
        try:
            result = execute(config, out_root, progress=False, wrap_backend=wrap)
        except Exception as error:  # noqa: BLE001 - reported to the driver, which goes on with the grid
            if getattr(error, "stops_grid", False):  # a budget reached: the driver stops the grid
                return {"status": "stop", "error": error, "message": str(error)}
            return {"status": "failed", "message": _failure_message(error)}
        return {"status": "ok", "run_dir": str(result.run_dir), "skipped": result.skipped}
    scratch = tempfile.mkdtemp(prefix="dilemmazoo-ray-")
    try:
        try:
            result = execute(config, scratch, progress=False, wrap_backend=wrap)
        except Exception as error:  # noqa: BLE001 - as above
            failure = next(Path(scratch).rglob("failure.json"), None)
            return {"status": "stop" if getattr(error, "stops_grid", False) else "failed", "error": error,
                    "message": _failure_message(error).replace(scratch, out_root),
                    "failure": failure.read_bytes() if failure else None}
        files = {path.name: path.read_bytes() for path in result.run_dir.iterdir() if path.is_file()}
        return {"status": "ok", "files": files, "skipped": False}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _failure_message(error: BaseException) -> str:
    # the runner's RunFailed already names the run and the error; anything else is named by its type
    return str(error) if type(error).__name__ == "RunFailed" else f"{type(error).__name__}: {error}"


def _place(config: ExperimentConfig, out_root: Path, files: dict[str, bytes]) -> Path:
    """Write a run's files returned by a task into the store: under the run's lock, the completion
    marker last; a run another process finished meanwhile is kept as it is."""
    rid = run_id(config)
    with store.run_lock(out_root, config, rid, wait=True):
        found = store.run_dir_for(out_root, config, rid)
        if found is not None and store.inspect_run(found, rid).finished:
            return found
        run_dir = store.run_dir_for(out_root, config, rid, claim=True)
        store.remove_stale_temporaries(run_dir)
        (run_dir / "failure.json").unlink(missing_ok=True)
        for name, data in files.items():
            if name not in (COMPLETE_FILE, store.RUN_ID_FILE):
                store.atomic_write_bytes(run_dir / name, data)
        store.atomic_write_bytes(run_dir / COMPLETE_FILE, files[COMPLETE_FILE])
        store.sync_folder(run_dir)
    return run_dir


def _note_failure(config: ExperimentConfig, out_root: Path, failure: bytes | None, message: str) -> None:
    rid = run_id(config)
    with store.run_lock(out_root, config, rid, wait=True):
        found = store.run_dir_for(out_root, config, rid)
        if found is not None and store.inspect_run(found, rid).finished:
            return
        run_dir = store.run_dir_for(out_root, config, rid, claim=True)
        store.prepare(run_dir, config)
        if failure is not None:
            store.atomic_write_bytes(run_dir / "failure.json", failure)
        else:
            store.write_failure(run_dir, message)


def run_on_ray(config: ExperimentConfig, runs: list[ExperimentConfig], out_root: str | Path, *, workers: int,
               execute: Callable, bar, finished: Callable[[Path, bool], None], failed: Callable[[str], None],
               stopped: Callable[[BaseException], None] = lambda error: None, address: str | None = None) -> None:
    """Execute ``runs`` (the runner has skipped the finished ones) as Ray tasks running ``execute``.

    ``finished(run_dir, skipped)`` and ``failed(message)`` hear each outcome; a run that stops the
    grid (a budget reached: its error has ``stops_grid``) goes to ``stopped(error)``, and the other
    runs are cancelled (one that was running is interrupted and redone on resume). ``bar`` (the
    runner's progress bar, ``describe``/``advance``) counts runs done and shows how many failed
    and how many are running across the cluster.
    """
    ray = _ray()
    out_root = Path(out_root).resolve()
    mode = config.ray.store
    address = address or config.ray.address
    if not runs:
        return
    for key, value in _QUIET.items():
        os.environ.setdefault(key, value)
    started_here = not ray.is_initialized()
    try:
        if started_here:
            bar.describe("starting Ray" if address is None else f"joining the Ray cluster at {address}")
            t0 = time.perf_counter()
            if address is None:
                ray.init(num_cpus=config.ray.num_cpus or workers, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            bar.describe(f"Ray ready in {time.perf_counter() - t0:.1f} s")
        handles: list = []
        limiters = _start_limiters(ray, runs, handles)
        remote = ray.remote(num_cpus=1, max_retries=0)(_task)
        cache_dir = str(Path(os.environ.get("DILEMMAZOO_CACHE", out_root / ".llm_cache")).resolve())
        pending = {remote.remote(execute, run.model_dump(), str(out_root), mode, limiters, cache_dir): run
                   for run in runs}
        done = failures = 0
        stopping = False
        while pending:
            running = min(len(pending), int(ray.cluster_resources().get("CPU", 1)))
            bar.describe(f"done {done}, failed {failures}, running {running}, queued {len(pending) - running}")
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            run = pending.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.TaskCancelledError:
                continue  # cancelled after a budget stop: never started, nothing to note
            except Exception as error:  # noqa: BLE001 - a worker that died: the run is failed, the grid goes on
                outcome = {"status": "failed", "message": f"run of {run.name} (seed {run.seeds[0]}, cell {run.cell}) "
                                                          f"failed on Ray: {type(error).__name__}: {error}"}
            if outcome["status"] == "stop":
                _note_failure(run, out_root, outcome.get("failure"), outcome["message"])
                if not stopping:
                    stopped(outcome["error"])
                    stopping = True
                    for ref in list(pending):  # nothing new starts; a running one is interrupted
                        ray.cancel(ref)
            elif outcome["status"] == "ok":
                run_dir = Path(outcome["run_dir"]) if mode == "shared" else _place(run, out_root, outcome["files"])
                finished(run_dir, outcome["skipped"])
                done += 1
            else:
                if mode != "shared" or "failure" in outcome:
                    _note_failure(run, out_root, outcome.get("failure"), outcome["message"])
                failed(outcome["message"])
                failures += 1
            bar.advance()
    finally:
        if started_here:
            ray.shutdown()


def _start_limiters(ray, runs: list[ExperimentConfig], handles: list) -> dict[str, tuple[str, float | None, float | None]]:
    """One named limiter actor per rate-limited backend spec of the grid (``handles`` keeps them alive:
    an actor nobody holds is stopped)."""
    limiters: dict[str, tuple[str, float | None, float | None]] = {}
    actor = ray.remote(num_cpus=0)(_LimiterState)
    for run in runs:
        for group in run.groups:
            key = limiter_key(group)
            if key is None or key in limiters:
                continue
            rpm = group.backend_options.get("requests_per_minute")
            tpm = group.backend_options.get("tokens_per_minute")
            handles.append(actor.options(name=key, get_if_exists=True).remote(rpm, tpm))
            limiters[key] = (key, rpm, tpm)
    return limiters
