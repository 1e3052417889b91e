"""Published numbers (analysis/published.py and analysis/published/*.yaml) and their report section."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from dilemmazoo.analysis.published import (DERIVED_METRICS, collective_repeated_after_success, comparison_table,
                                           coordination_rate, first_round_violation_rate, load_published,
                                           published_for, published_presets)
from dilemmazoo.analysis.report import write_report
from dilemmazoo.experiments.config import ExperimentConfig
from dilemmazoo.experiments.runner import execute

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO.parent / "shared" / "specs"


def _numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


def test_every_preset_file_loads_and_every_figure_has_its_source():
    presets = published_presets()
    # the papers the issue names: GovSim, the Donor Game, Akata, ATP, the LLM Economist
    assert {"govsim_fishery", "donor_game", "akata_repeated_games", "atp_exploration", "tax_icrl"} <= set(presets)
    for name in presets:
        published = load_published(name)
        assert published.preset == name
        assert (REPO / "experiments" / "configs" / f"{name}.yaml").is_file(), f"{name} is not a preset"
        for figure in published.figures:
            assert figure.source and figure.quote and figure.reported
            # the number is the one reported: every number of `reported` is in the spec's sentence ...
            for number in _numbers(figure.reported):
                assert number in _numbers(figure.quote), (name, figure.name)
            # ... and the stored value is it, as is or as a fraction of a percentage
            stored = ([figure.value] if figure.value is not None
                      else [figure.low, figure.high] if figure.low is not None else [])
            reported = _numbers(figure.reported)
            assert len(stored) in (0, len(reported)), (name, figure.name)
            for value, number in zip(stored, reported):
                assert value in (number, pytest.approx(number / 100)) if "%" in figure.reported else value == number
            if figure.select:
                assert figure.metric is not None or figure.value is None


@pytest.mark.skipif(not SPECS.is_dir(), reason="the paper specs (../shared/specs) are not beside this checkout")
def test_every_quote_is_the_specs_own_words():
    for name in published_presets():
        published = load_published(name)
        spec = " ".join((SPECS / Path(published.spec).name).read_text().split())
        for figure in published.figures:
            assert figure.quote in spec, (name, figure.quote)


def test_llm_economist_records_no_number_and_says_why():
    published = published_for("tax_icrl")
    assert all(not figure.has_number for figure in published.figures)
    assert any("not retrievable" in text for text in (*published.notes, *(f.source for f in published.figures)))
    assert published_for("ipd_llm") is None and published_for("no_such_preset") is None


def test_govsim_table_side_by_side_with_hand_checked_differences():
    summary = {"survival_rate": 0.4, "survival_time": 7.5, "gain": 50.0, "efficiency": 0.6, "equality": 0.9,
               "over_usage": 0.2}
    table = comparison_table(load_published("govsim_fishery"), [{"metrics": summary}]).set_index("metric")
    expected = {  # this run minus Table 1's GPT-4o row
        "survival_rate": (0.533, 0.4, -0.133), "survival_time": (9.3, 7.5, -1.8), "gain": (66.0, 50.0, -16.0),
        "efficiency": (0.55, 0.6, 0.05), "equality": (0.944, 0.9, -0.044), "over_usage": (0.108, 0.2, 0.092),
    }
    for metric, (paper, run, difference) in expected.items():
        row = table[table["paper value"].notna()].loc[metric]
        assert (row["paper value"], row["this run"], row["runs"]) == (paper, run, 1)
        assert row["difference"] == pytest.approx(difference, abs=1e-12)
        assert row["source"] == "Table 1" and row["model"] == "GPT-4o (the best model)"
    words = table[table["figure"] == "survival time of open models"].iloc[0]
    assert words["paper (as reported)"] == "collapse in month 1" and words["this run"] == 7.5
    assert pd.isna(words["difference"])  # no number reported, no difference


def test_ranges_selected_cells_and_generation_tables():
    published = load_published("donor_game")
    runs = [
        {"metrics": {"initial_cooperation": 0.52, "final_generation_avg_resources": 720.0,
                     "punishment_rate_by_generation": {"1": 2.0, "2": 4.0}},
         "cell": {"world.kwargs.punishment": True}},
        {"metrics": {"initial_cooperation": 0.40, "final_generation_avg_resources": 80.0,
                     "punishment_rate_by_generation": {"1": 0.0}},
         "config": {"world": {"kwargs": {"punishment": False}}}},
    ]
    table = comparison_table(published, runs)
    by_name = {(row["figure"], row["model"]): row for row in table.to_dict("records")}
    success = by_name[("initial cooperation (generation-1 mean donation), runs that succeeded", "Claude 3.5 Sonnet")]
    failed = by_name[("initial cooperation (generation-1 mean donation), runs that failed", "Claude 3.5 Sonnet")]
    # mean of 0.52 and 0.40 = 0.46: below 0.50-0.54 by 0.04, inside 0.44-0.47
    assert (success["paper value"], success["this run"]) == ("0.5–0.54", pytest.approx(0.46))
    assert success["difference"] == pytest.approx(-0.04)
    assert (failed["this run"], failed["difference"]) == (pytest.approx(0.46), 0.0)
    maximum = by_name[("average final resources if everyone always donates everything (the maximum)", "–")]
    assert (maximum["paper value"], maximum["this run"], maximum["difference"]) == (30720, 400.0, -30320.0)
    # punishment: only the punishment run counts, its generations' mean (2 + 4) / 2 = 3 percent
    gemini = by_name[("punishment use (% of encounters)", "Gemini 1.5 Flash")]
    assert (gemini["this run"], gemini["runs"]) == (3.0, 1)
    assert gemini["difference"] == pytest.approx(3.0 - 14.29)
    assert "world.kwargs.punishment=True" in gemini["note"]


def test_coordination_rate_from_steps_by_hand():
    # three rounds: (0, 0) coordinated, (0, 1) not, (1, 1) coordinated but one fallback: not counted
    rows = []
    for step, (a, b), fallback in ((1, (0, 0), False), (2, (0, 1), False), (3, (1, 1), True)):
        rows += [{"episode": 0, "step": step, "phase": "act", "played": a, "fallback_used": False},
                 {"episode": 0, "step": step, "phase": "act", "played": b, "fallback_used": fallback}]
    steps = pd.DataFrame(rows)
    assert coordination_rate(steps) == 0.5
    assert set(DERIVED_METRICS) == {"coordination_rate", "first_round_violation_rate",
                                    "collective_repeated_after_success"}
    table = comparison_table(load_published("akata_repeated_games"), [
        {"metrics": {}, "steps": steps, "cell": {"world.kwargs.game": "battle_of_the_sexes",
                                                 "world.kwargs.predict_first": False,
                                                 "agents.1.strategy": "axelrod:Alternator"}}])
    plain, predicting = table.iloc[0], table.iloc[1]
    assert (plain["this run"], plain["difference"]) == (0.5, 0.0)
    assert predicting["runs"] == 0 and pd.isna(predicting["this run"])  # no run of that cell


def test_atp_derived_rates_by_hand():
    # exploration: two episodes; round 1 violated in one of them, round 2 in both
    rows = [{"episode": e, "agent": "a", "round": r, "reward": 0.0, "violated": v, "answered": 1, "supervised": 0,
             "fallback_used": False} for e, r, v in ((0, 1, 1), (0, 2, 1), (1, 1, 0), (1, 2, 1))]
    assert first_round_violation_rate(pd.DataFrame(rows)) == 0.5
    # diffusion: round 1 succeeds with a and b collective; in round 2 a repeats, b does not (c's choice does not
    # count: it was independent); round 2 fails, so round 3 is no one's repetition
    choices = {"a": (1, 1, 0), "b": (1, 0, 1), "c": (0, 1, 1)}
    success = (1, 0, 1)
    rows = [{"episode": 0, "agent": agent, "round": r + 1, "reward": 0.0, "collective": picks[r],
             "success": success[r], "capital": 100.0, "threshold": 2, "fallback_used": False}
            for agent, picks in choices.items() for r in range(3)]
    assert collective_repeated_after_success(pd.DataFrame(rows)) == 0.5


def test_bad_data_files_are_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    base = "preset: x\npaper: p\nspec: s\nfigures:\n  - {name: n, reported: '1', quote: q 1%s}\n"
    path.write_text(base % "")
    with pytest.raises(ValueError, match="source"):
        load_published(path)
    path.write_text(base % ", source: Table 1, value: 1, range: [0, 2]")
    with pytest.raises(ValueError, match="value.*range"):
        load_published(path)
    path.write_text(base % ", source: Table 1, colour: red")
    with pytest.raises(ValueError, match="colour"):
        load_published(path)
    with pytest.raises(FileNotFoundError, match="govsim_fishery"):
        load_published("no_such_preset")


def test_report_shows_published_numbers_for_a_preset_run(tmp_path):
    def run(name: str) -> Path:
        config = ExperimentConfig.model_validate({
            "name": name, "seeds": [0], "cache": False,
            "world": {"id": "dilemmazoo/commons-v0",
                      "kwargs": {"n_agents": 5, "n_months": 2, "framing": "fishery", "communication": False}},
            "agents": {"kind": "scripted", "strategy": "commons_sustainable"},
        })
        execute(config, tmp_path, progress=False)
        return write_report(tmp_path / name)

    page = run("govsim_fishery").read_text()
    section = page[page.index("Published numbers: govsim_fishery"):]
    section = section[:section.index("</table>")]
    assert "Table 1" in section and "53.3%" in section and "Piatti et al." in section
    # the sustainable harvesters keep the lake for both months: survival rate 1, 1 - 0.533 = 0.467
    row = re.search(r"<tr><td>survival rate</td>(.*?)</tr>", section).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert cells[3:8] == ["0.533", "survival_rate", "1", "1", "0.467"]
    assert "Published numbers" not in run("my_fishery").read_text()
