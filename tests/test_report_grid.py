"""Grid reports (cell comparison, bands per cell), the opening provenance lines, and values in words."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml
from matplotlib.collections import PolyCollection

from dilemmazoo.analysis import write_report
from dilemmazoo.analysis.cell_plots import BAND_CAPTION, mean_interval, plot_cell_bands
from dilemmazoo.analysis.plots import figure_to_data_uri
from dilemmazoo.analysis.report import grid_cells, human_value
from dilemmazoo.experiments import run_grid

from test_report import PNG_IMG, write_run

MULTIPLIERS = (1.5, 2.0, 3.0)


def test_mean_interval_is_the_student_t_interval():
    # 1, 2, 3: mean 2, s = 1, t(0.975, 2) = 4.302653; half width 4.302653 / sqrt(3) = 2.484138
    mean, low, high = mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and low == pytest.approx(2 - 2.484138, abs=1e-6) and high == pytest.approx(2 + 2.484138, abs=1e-6)
    assert mean_interval([4.0, 4.0]) == (4.0, 4.0, 4.0)
    one = mean_interval([5.0, math.nan])  # NaN left out: one value, no interval
    assert one[0] == 5.0 and math.isnan(one[1]) and math.isnan(one[2])
    assert all(math.isnan(v) for v in mean_interval([]))


def test_plot_cell_bands_draws_one_mean_line_and_one_band_per_cell():
    import pandas as pd

    cells = {
        "m=1": [pd.Series([1.0, 2.0], index=[1, 2]), pd.Series([3.0, 4.0], index=[1, 2])],
        "m=2": [pd.Series([10.0, 10.0], index=[1, 2]), pd.Series([12.0, 14.0], index=[1, 2])],
        "m=3": [pd.Series([7.0], index=[1])],  # one seed: a line, no band
    }
    figure = plot_cell_bands(cells, title="t", xlabel="generation", ylabel="y")
    axes = figure.axes[0]
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert set(lines) == {"m=1 (n=2)", "m=2 (n=2)", "m=3 (n=1)"}
    assert lines["m=1 (n=2)"].get_ydata().tolist() == [2.0, 3.0]
    assert lines["m=2 (n=2)"].get_ydata().tolist() == [11.0, 12.0]
    bands = [c for c in axes.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    # m=1 at x=1: 1 and 3, s = sqrt(2), t(0.975, 1) = 12.706205 -> half width 12.706205
    vertices = bands[0].get_paths()[0].vertices
    assert vertices[:, 1].max() == pytest.approx(3.0 + 12.706205, abs=1e-5)
    assert vertices[:, 1].min() == pytest.approx(2.0 - 12.706205, abs=1e-5)
    assert "95% t-interval" in axes.get_title()
    figure_to_data_uri(figure)  # closes it


def test_a_donor_game_grid_report_opens_with_its_cells_and_draws_a_band_per_cell(tmp_path):
    """3 cells x 3 seeds by the runner. 4 agents, 2 rounds, everyone gives everything: round 1
    the donors give 10 (recipients hold 10 + 10 m), round 2 those give it all, so half the agents
    end with m (10 + 10 m) and half with 0: the mean is 5 m (1 + m) = 18.75, 30, 60."""
    config = {
        "name": "dg_grid", "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 2}},
        "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 1.0}},
        "seeds": [0, 1, 2], "grid": {"world.kwargs.donation_multiplier": list(MULTIPLIERS)},
    }
    path = tmp_path / "dg_grid.yaml"
    path.write_text(yaml.safe_dump(config))
    assert len(run_grid(path, out=tmp_path / "runs", progress=False)) == 9
    html = write_report(tmp_path / "runs" / "dg_grid").read_text(encoding="utf-8")

    grid = html.split('<h2 id="grid-1">Grid cells</h2>')[1].split("</table>")[0]
    assert html.index('<h2 id="grid-1">') < html.index('<h2 id="runs">')  # the page opens with the cells
    assert "<th>donation_multiplier</th>" in grid
    for number, m in enumerate(MULTIPLIERS, start=1):
        row = grid.split(f'<a href="#world-1-cell-{number}">{m}</a>')[1].split("</tr>")[0]
        expected = format(5 * m * (1 + m), "g")
        assert f'<td class="num">{expected} <span class="ci">[{expected}, {expected}]</span></td>' in row
        assert "<td>0, 1, 2</td>" in row
        assert f'<h3 id="world-1-cell-{number}" class="cell">donation_multiplier={m}' in html
        assert f'alt="donation_multiplier={m}: Average final resources"' in html
    # the two time series, drawn once with a band per cell and the interval named in the caption
    for title in ("Average final resources per generation", "Donation fraction per generation"):
        assert f'alt="{title}"' in html
    assert html.count(BAND_CAPTION) == 2
    # per cell: two Donor Game plots (punishment is off) and the parse failures
    assert html.count(PNG_IMG) == 2 + 3 * 3
    assert "punishment" not in html.split('<h2 id="world-1">')[1].split('<h2 id="decisions">')[0]
    # runs are labelled by cell and seed, never by a hash
    assert "<td>donation_multiplier=2.0, seed 1</td>" in html


# --- the opening lines ----------------------------------------------------------------------------

def provenance(version="0.1.0", commit="a" * 40, model="HuggingFaceTB/SmolLM2-135M-Instruct", dirty=False):
    return {"dilemmazoo_version": version, "git_commit": commit, "git_dirty": dirty, "python": "3.12.1",
            "torch": "2.5.0", "transformers": "4.46.0",
            "agents": [{"label": "model", "kind": "llm", "backend": "embedded", "decision": "score", "model": model,
                        "revision": None, "weights_sha256": "0123456789abcdef" * 4, "base_url": None}]}


def set_summary(run_dir: Path, **fields) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.update(fields)
    (run_dir / "summary.json").write_text(json.dumps(summary))


def lead(html: str) -> str:
    return re.sub(r"\s+", " ", html.split('<div class="lead" id="provenance">')[1].split("</div>")[0])


def test_the_opening_lines_name_the_model_backend_decision_mode_and_counts(tmp_path):
    run = write_run(tmp_path / "r", run_id="r1", seed=1, fractions={1: 0.5})
    set_summary(run, provenance=provenance(), counts={"decisions": 40, "fallbacks": 3, "parse_failures": 7})
    text = lead(write_report(run).read_text(encoding="utf-8"))
    assert "model: llm, model <strong>HuggingFaceTB/SmolLM2-135M-Instruct</strong> (weights sha256 0123456789ab…)" in text
    assert "backend embedded, decision mode score" in text
    assert "<strong>Decisions:</strong> 40 · <strong>fallbacks:</strong> 3 (7.5%) · <strong>parse failures:</strong> 7" in text
    assert "dilemmazoo 0.1.0 at commit aaaaaaaaaaaa" in text
    assert "Warning" not in text


def test_the_report_warns_when_runs_differ_in_code_version_or_model(tmp_path):
    experiment = tmp_path / "exp"
    first = write_run(experiment / "a", run_id="a", seed=1, fractions={1: 0.5})
    second = write_run(experiment / "b", run_id="b", seed=2, fractions={1: 0.5})
    third = write_run(experiment / "c", run_id="c", seed=3, fractions={1: 0.5})
    set_summary(first, provenance=provenance())
    set_summary(second, provenance=provenance(commit="b" * 40, dirty=True))
    set_summary(third, provenance=provenance(model="gpt-4o"))
    text = lead(write_report(experiment).read_text(encoding="utf-8"))
    assert ("Warning: These runs come from different code versions: dilemmazoo 0.1.0 at commit aaaaaaaaaaaa (2 runs); "
            "dilemmazoo 0.1.0 at commit bbbbbbbbbbbb with uncommitted changes (1 run).") in text
    assert "Warning: 1 run ran from a working tree with uncommitted changes." in text
    assert "Warning: These runs use different models:" in text and "gpt-4o" in text
    assert "(2 of 3 runs)" in text and "(1 of 3 runs)" in text


def test_runs_without_provenance_name_their_agents_from_the_config(tmp_path):
    run = write_run(tmp_path / "r", run_id="r1", seed=1, fractions={1: 0.5})
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["agents"] = {"kind": "llm", "backend": "embedded", "decision": "generate"}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    text = lead(write_report(run).read_text(encoding="utf-8"))
    assert "llm, model <strong>not recorded</strong>, backend embedded, decision mode generate" in text
    # counts from the step records: 2 rounds x 2 donors, no fallbacks
    assert "<strong>Decisions:</strong> 4 · <strong>fallbacks:</strong> 0 (0.0%)" in text
    assert "code version not recorded" in text


# --- words, not YAML ----------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "text"), [
    (True, "yes"), ("false", "no"), ("True", "yes"), (2.0, "2.0"), ("0.10", "0.10"),
    ("{kind: scripted, strategy: split_greedy, label: greedy}", "greedy"),
    ({"kind": "scripted", "strategy": "split_welfare_maximiser"}, "split_welfare_maximiser"),
    ("[1, 2]", "1/2"), ({"kind": "llm", "backend": "embedded"}, "embedded"), ({"kind": "llm"}, "llm"), ({"alpha": 5.0, "beta": True}, "alpha=5.0, beta=yes"), ("{not yaml", "{not yaml"),
])
def test_human_value(value, text):
    assert human_value(value) == text


def test_cells_show_booleans_and_agent_groups_in_words():
    def config(punishment, partner):
        return {"name": "g", "world": {"id": "dilemmazoo/donor-game-v0", "kwargs": {"punishment": punishment}},
                "agents": [{"kind": "llm"}, partner], "seeds": [0]}

    greedy = {"kind": "scripted", "strategy": "split_greedy", "label": "greedy"}
    fair = {"kind": "scripted", "strategy": "split_welfare_maximiser", "label": "fair"}
    cells = grid_cells([config(True, fair), config(False, greedy)])
    # a group without a label or strategy is named by its kind; cells sorted by their values
    assert [cell.label for cell in cells] == ["world.kwargs.punishment=no, agents=llm/greedy",
                                              "world.kwargs.punishment=yes, agents=llm/fair"]
    # labelled cells as the runner stores them: a plain-list axis of mappings keeps their YAML text
    stored = [{"cell": {"agents.1": "{kind: scripted, strategy: split_greedy, label: greedy}"}},
              {"cell": {"agents.1": "{kind: scripted, strategy: split_welfare_maximiser, label: fair}"}}]
    assert [cell.label for cell in grid_cells(stored)] == ["agents.1=fair", "agents.1=greedy"]


def test_a_run_without_selection_shows_no_survived_column_and_nan_rates_their_reason(tmp_path):
    run = write_run(tmp_path / "r", run_id="r1", seed=1, fractions={1: 0.5}, world="dilemmazoo/elsewhere-v0")
    set_summary(run, metrics={"cooperation_rate": None, "valid_decisions": 0, "fallbacks": 4,
                              "nan_reasons": {"cooperation_rate": "every decision fell back"}})
    html = write_report(run).read_text(encoding="utf-8")
    headline = html.split("<h3>Headline metrics</h3>")[1].split("</table>")[0]
    assert '<td class="num">0</td><td class="num">4</td>' in headline  # valid decisions, fallbacks
    assert '– <span class="reason">(every decision fell back)</span>' in headline
    strategies = html.split('<h2 id="strategies">')[1].split("</table>")[0]
    assert "survived" not in strategies and "next generation" not in strategies and "False" not in strategies
    assert "No population dynamics: the same members play every generation" in strategies


def test_a_run_with_selection_says_carried_over_or_replaced(tmp_path):
    run = write_run(tmp_path / "r", run_id="r1", seed=1, fractions={1: 0.5, 2: 1.0})
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["population"] = {"dynamics": "cultural_evolution", "generations": 2}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    strategies = write_report(run).read_text(encoding="utf-8").split('<h2 id="strategies">')[1].split("</table>")[0]
    assert "<th>next generation</th>" in strategies
    assert "<td>carried over</td>" in strategies and "<td>replaced</td>" in strategies
    assert "True" not in strategies
