"""Shared pytest fixtures. Keep this file small; fixtures used by one test file live there.

``make test`` runs the suite on two pytest-xdist workers (``-n 2 --dist loadfile``: the tests of one
file stay on one worker, in file order, with their module fixtures). Each worker then gets its
share of the CPUs for torch's and BLAS's thread pools (one each on a 2-core machine; set
``OMP_NUM_THREADS`` to choose): two processes that each spin two threads on two cores run slower
than two single-threaded ones. Run serially (no ``-n``), nothing here changes.
"""

from __future__ import annotations

import copy
import os
import sys

import pytest


def _share_threads_between_workers() -> None:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if "PYTEST_XDIST_WORKER" not in os.environ or workers < 2 or "OMP_NUM_THREADS" in os.environ:
        return
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = str(max(1, cpus // workers))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # read at import; subprocesses inherit
        os.environ.setdefault(name, threads)
    if "torch" in sys.modules:  # imported before this file (a plugin): set its pool directly
        sys.modules["torch"].set_num_threads(int(threads))


_share_threads_between_workers()


@pytest.fixture(scope="session")
def embedded_backend():
    """The embedded SmolLM2 backend, loaded once per test session (~15 s on CPU)."""
    from dilemmazoo.agents.backends import make_backend

    return make_backend("embedded")


@pytest.fixture(scope="session")
def trainer_base():
    """A function returning a fresh ``(model, tokenizer)`` of the embedded model for training, float32 on the CPU.

    ``load_base_model("embedded", device="cpu", dtype="float32")`` runs once per test session (it
    parses the GGUF file: ~25 s on a 2-core CPU); each call returns a deep copy of that load (well
    under a second), so a test may inject LoRA layers into its copy or turn it to bfloat16 without
    touching the next test's. Skips when the embedded model's packages are not installed.
    """
    loaded = []

    def fresh():
        if not loaded:
            pytest.importorskip("transformers")
            from dilemmazoo.agents.trainers.llm_model import load_base_model

            try:
                loaded.append(load_base_model("embedded", device="cpu", dtype="float32"))
            except ImportError as error:
                pytest.skip(f"embedded model not installed: {error}")
        return copy.deepcopy(loaded[0])

    return fresh


@pytest.fixture(autouse=True)
def close_open_figures():
    """Plots are pyplot figures: close what a test left open (matplotlib warns past 20)."""
    yield
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
