"""Figures are pyplot figures (inline in Jupyter) that reports and saved plots do not leave open."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import matplotlib.pyplot as plt
import pytest
import yaml

from dilemmazoo.analysis import plots, write_report
from dilemmazoo.analysis.training import write_training_plots, write_training_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def no_figures_before():
    plt.close("all")  # figures other tests left open must not hide or fake a leak here
    yield
    plt.close("all")


def test_a_plot_is_an_open_pyplot_figure_until_saved_or_encoded(tmp_path):
    shown = plots.note_figure("Stock", "no step records")
    assert plt.get_fignums() == [shown.number]  # pyplot holds it, so Jupyter shows it below the cell
    assert plots.figure_to_data_uri(shown).startswith("data:image/png;base64,")
    assert plt.get_fignums() == []

    saved = plots.note_figure("Stock", "no step records", path=tmp_path / "stock.png")
    assert (tmp_path / "stock.png").read_bytes().startswith(PNG_MAGIC)
    assert plt.get_fignums() == []
    # closed in pyplot, the returned figure still renders (a notebook can display it)
    assert plots.figure_to_data_uri(saved).startswith("data:image/png;base64,")


def test_a_grid_report_leaves_no_figure_open(tmp_path):
    """Four GovSim runs (2 cells x 2 seeds) by the runner, then the report: every figure it drew is closed."""
    pytest.importorskip("dilemmazoo.envs.commons")
    from dilemmazoo.experiments import run_grid

    config = {
        "name": "govsim_grid", "world": {"id": "dilemmazoo/commons-v0", "kwargs": {"n_agents": 5, "n_months": 12, "communication": False}},
        "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.1}},
        "seeds": [0, 1], "grid": {"agents.params.fraction": [0.3, 0.1]},
    }
    path = tmp_path / "govsim_grid.yaml"
    path.write_text(yaml.safe_dump(config))
    assert len(run_grid(path, out=tmp_path / "runs", progress=False)) == 4
    html = write_report(tmp_path / "runs" / "govsim_grid").read_text(encoding="utf-8")
    assert html.count('<img src="data:image/png;base64,') >= 4  # world plots and one set per cell
    assert plt.get_fignums() == []


def test_training_plots_and_report_leave_no_figure_open(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"name": "ipd", "trainer": {"world": "repeated-game"}}))
    rows = [{"iteration": 1, "return_per_round": 1.0, "loss": 0.5}, {"iteration": 2, "return_per_round": 2.0, "loss": 0.25}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    written = write_training_plots(run)
    assert sorted(p.name for p in written) == ["loss.png", "returns.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in written)
    assert plt.get_fignums() == []
    assert write_training_report(run).read_text().count("data:image/png;base64,") == 2
    assert plt.get_fignums() == []


@pytest.mark.skipif(sys.platform != "linux", reason="a headless Linux session: no display server")
@pytest.mark.parametrize(("backend", "expected"), [(None, "agg"), ("module://matplotlib_inline.backend_inline", "inline")])
def test_the_backend_is_left_to_the_environment(backend, expected):
    """Headless, pyplot falls back to Agg; in a Jupyter kernel (MPLBACKEND=inline) plots keep the inline backend."""
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    if backend is not None:
        env["MPLBACKEND"] = backend
    code = (
        "import matplotlib\n"
        "from dilemmazoo.analysis import plots\n"
        "plots.figure_to_data_uri(plots.note_figure('t', 'n'))\n"
        "print(matplotlib.get_backend())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120)
    assert expected in result.stdout.strip().lower()
