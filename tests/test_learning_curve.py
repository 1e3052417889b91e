"""The IPPO learning-curve plot: a pyplot figure from the analysis layer, saved and then closed."""

from __future__ import annotations

import matplotlib.pyplot as plt

from dilemmazoo.analysis import plots
from dilemmazoo.experiments.train import plot_learning_curve


def test_learning_curve_is_saved_and_leaves_no_open_figure(tmp_path, monkeypatch):
    made = []

    def spy(width, height):
        made.append(plots.plt.figure(figsize=(width, height), layout="constrained"))
        return made[-1]

    monkeypatch.setattr(plots, "_new_figure", spy)
    rows = [dict(iteration=i, **{"return": float(i), "return_min": i - 1.0, "return_max": i + 1.0},
                 apples=2.0 * i, fired=1.0, cleaned=0.5 * i) for i in range(3)]
    before = set(plt.get_fignums())
    path = plot_learning_curve(rows, tmp_path / "curve.png", title="IPPO test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(made) == 1 and made[0].get_size_inches().tolist() == [8.0, 3.2]  # the analysis layer's figure
    assert set(plt.get_fignums()) == before  # ... closed once saved
