"""The evaluation protocol: scenarios as hashed data, normalised scores, the score bundle, the CLI.

Hand-checked scenarios: three rounds of the prisoner's dilemma (R=3, S=0, T=5, P=1), no noise,
one focal seat against one background seat.

Against always-defect (``pd3_defector``; zero: the lower of always-defect and always-cooperate,
one: the best of always-cooperate, tit-for-tat and grim):

    focal            focal moves  focal return   defector return   exploitation max(0, D - F)
    always-defect    D D D        1+1+1 = 3      1+1+1 = 3         0
    always-cooperate C C C        0+0+0 = 0      5+5+5 = 15        15
    tit-for-tat      C D D        0+1+1 = 2      5+1+1 = 7         5
    grim             C D D        2              7                 5

    zero = min(3, 0) = 0 (always-cooperate); one = max(0, 2, 2) = 2 (grim and tit-for-tat tie);
    normalised: tit-for-tat (2-0)/(2-0) = 1, always-cooperate 0, always-defect 3/2 = 1.5.
    background welfare change of always-cooperate: 15 - 7 = +8.

Against tit-for-tat (``pd3_reciprocator``; zero: always-defect; one: always-cooperate, tit-for-tat):

    always-defect    D D D vs C D D   5+1+1 = 7  (background 0+1+1 = 2)
    always-cooperate C C C vs C C C   3+3+3 = 9  (background 9)
    tit-for-tat      as always-cooperate: 9

    zero = 7, one = 9: always-defect 0, always-cooperate 1, tit-for-tat 1; no defectors, so no
    exploitation (NaN, null in JSON).
"""

from __future__ import annotations

import json
import math

import pytest

from dilemmazoo.analysis.evaluation import exploitation, normalise, render_report, world_summary
from dilemmazoo.experiments.evaluation import (
    EvaluationError,
    ScenarioSet,
    evaluate,
    load_scenario_set,
    load_scenarios,
    main_evaluate,
    parse_agent_spec,
)

PD = [[[3, 3], [0, 5]], [[5, 0], [1, 1]]]

HAND_SET = f"""
set: hand
version: 1
scenarios:
  - id: pd3_defector
    description: three rounds against always-defect
    world: {{id: repeated-game, kwargs: {{payoffs: {PD}, n_rounds: 3}}}}
    background: [{{kind: scripted, strategy: always_defect, role: defector, seats: 1}}]
    focal_seats: 1
    episodes: 1
    baselines:
      zero: [scripted:always_defect, scripted:always_cooperate]
      one: [scripted:always_cooperate, scripted:tit_for_tat, scripted:grim]
  - id: pd3_reciprocator
    world: {{id: repeated-game, kwargs: {{payoffs: {PD}, n_rounds: 3}}}}
    background: [{{kind: scripted, strategy: tit_for_tat, role: conditional, seats: 1}}]
    focal_seats: 1
    episodes: 1
    baselines: {{zero: [scripted:always_defect], one: [scripted:always_cooperate, scripted:tit_for_tat]}}
"""

DONOR = """
  - id: donor_tiny
    world: {id: donor-game, kwargs: {n_agents: 2, n_rounds: 2}}
    background: [{kind: scripted, strategy: defector, role: defector, seats: 1}]
    focal_seats: 1
    episodes: 1
    baselines: {zero: [scripted:defector], one: ['scripted:reciprocator']}
"""


@pytest.fixture(scope="module")
def hand_set(tmp_path_factory):
    path = tmp_path_factory.mktemp("scenarios") / "hand.yaml"
    path.write_text(HAND_SET)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One output folder for the module: baselines are run once and shared (as in real use)."""
    return tmp_path_factory.mktemp("evaluation")


def _row(bundle, scenario):
    rows = bundle.scenarios[bundle.scenarios["scenario"] == scenario]
    assert len(rows) == 1
    return rows.iloc[0]


def test_hand_checked_returns_against_always_defect(hand_set, runs):
    expected = {  # focal return, exploitation, normalised, background welfare change (see the module docstring)
        "scripted:always_defect": (3.0, 0.0, 1.5, 3.0 - 7.0),
        "scripted:always_cooperate": (0.0, 15.0, 0.0, 15.0 - 7.0),
        "scripted:tit_for_tat": (2.0, 5.0, 1.0, 0.0),
    }
    for spec, (focal, exploited, normalised, change) in expected.items():
        row = _row(evaluate(spec, hand_set, 1, runs, progress=False), "pd3_defector")
        assert row["status"] == "scored"
        assert row["zero_return"] == 0.0 and row["zero_agent"] == "scripted:always_cooperate"
        assert row["one_return"] == 2.0 and row["one_agent"] in ("scripted:grim", "scripted:tit_for_tat")
        assert row["focal_return"] == pytest.approx(focal, abs=1e-12)
        assert row["exploitation"] == pytest.approx(exploited, abs=1e-12)
        assert row["normalised"] == pytest.approx(normalised, abs=1e-12)
        assert row["background_welfare_change"] == pytest.approx(change, abs=1e-12)


def test_defector_scores_zero_and_the_cooperative_reference_one(hand_set, runs):
    scores = {spec: _row(evaluate(spec, hand_set, 1, runs, progress=False), "pd3_reciprocator")
              for spec in ("scripted:always_defect", "scripted:always_cooperate", "scripted:tit_for_tat")}
    assert scores["scripted:always_defect"]["focal_return"] == 7.0
    assert scores["scripted:always_defect"]["normalised"] == 0.0
    assert scores["scripted:always_cooperate"]["focal_return"] == 9.0
    assert scores["scripted:always_cooperate"]["normalised"] == 1.0
    assert scores["scripted:tit_for_tat"]["normalised"] == 1.0
    assert math.isnan(scores["scripted:tit_for_tat"]["exploitation"])  # no defector in this background


def test_shipped_noisy_pd_references_land_on_zero_and_one(runs):
    """With trembles (seeded), over two seeds: the zero reference scores exactly 0 and the best one
    reference exactly 1; tit-for-tat beats always-cooperate against always-defect."""
    quick = load_scenario_set("quick")
    pd_only = ScenarioSet("quick", quick.version,
                          tuple(s for s in quick.scenarios if s.id in ("pd_noise_reciprocators", "pd_noise_defectors")))
    defect = evaluate("scripted:always_defect", pd_only, 2, runs, progress=False)
    reciprocators = _row(defect, "pd_noise_reciprocators")
    assert reciprocators["zero_agent"] == "scripted:always_defect"
    assert reciprocators["normalised"] == pytest.approx(0.0, abs=1e-12)
    best = evaluate(reciprocators["one_agent"], pd_only, 2, runs, progress=False)
    assert _row(best, "pd_noise_reciprocators")["normalised"] == pytest.approx(1.0, abs=1e-12)
    tft = _row(evaluate("scripted:tit_for_tat", pd_only, 2, runs, progress=False), "pd_noise_defectors")
    allc = _row(evaluate("scripted:always_cooperate", pd_only, 2, runs, progress=False), "pd_noise_defectors")
    assert tft["normalised"] > allc["normalised"] + 0.5
    assert tft["focal_return"] > allc["focal_return"]
    assert tft["exploitation"] < allc["exploitation"]


def test_same_agent_and_seeds_give_a_byte_identical_bundle(hand_set, tmp_path):
    first = evaluate("scripted:tit_for_tat", hand_set, 2, tmp_path / "a", progress=False).write(tmp_path / "a")
    again = evaluate("scripted:tit_for_tat", hand_set, 2, tmp_path / "a", progress=False).write(tmp_path / "a2")
    fresh = evaluate("scripted:tit_for_tat", hand_set, 2, tmp_path / "b", progress=False).write(tmp_path / "b")
    for kind in ("json", "parquet", "report"):
        data = first[kind].read_bytes()
        assert data == again[kind].read_bytes() == fresh[kind].read_bytes(), kind
    text = first["json"].read_text()
    assert str(tmp_path) not in text and "tmp" not in text  # no paths in the bundle
    document = json.loads(text)
    assert document["scenario_set"]["name"] == "hand" and document["scenario_set"]["version"] == 1
    hashes = {s["scenario"]: s["scenario_hash"] for s in document["scenarios"]}
    assert hashes == {s.id: s.content_hash for s in load_scenarios(hand_set)}
    seeds = document["scenarios"][0]["seeds"]
    assert [row["seed"] for row in seeds] == [0, 1]
    assert all(len(row["episode_returns_hash"]) == 64 for row in seeds)
    assert document["scenarios"][1]["exploitation"] is None  # NaN is written as null


def test_changing_one_payoff_changes_the_scenario_hash(hand_set, tmp_path):
    original = {s.id: s.content_hash for s in load_scenarios(hand_set)}
    changed = tmp_path / "changed.yaml"
    changed.write_text(HAND_SET.replace("[[[3, 3], [0, 5]], [[5, 0], [1, 1]]]", "[[[3, 3], [0, 5]], [[4, 0], [1, 1]]]", 1))
    hashes = {s.id: s.content_hash for s in load_scenarios(changed)}
    assert hashes["pd3_defector"] != original["pd3_defector"]
    assert hashes["pd3_reciprocator"] == original["pd3_reciprocator"]
    prose = tmp_path / "prose.yaml"  # descriptions are prose, not part of what is played
    prose.write_text(HAND_SET.replace("three rounds against always-defect", "another description"))
    assert {s.id: s.content_hash for s in load_scenarios(prose)} == original


def test_shipped_sets_cover_the_worlds_and_quick_is_a_subset_of_full():
    full = {s.id: s for s in load_scenarios("full")}
    quick = load_scenarios("quick")
    assert {s.world.split("/")[1] for s in full.values()} >= {
        "repeated-game-v0", "donor-game-v0", "commons-v0", "cpr-v0", "trust-split-v0", "split-nocomm-v0",
        "cleanup-v0", "gathering-v0", "team-production-v0"}
    assert len({s.world for s in quick}) == 9
    for scenario in quick:
        assert scenario.content_hash == full[scenario.id].content_hash, scenario.id
    roles = {item["role"] for s in full.values() for item in s.background}
    assert roles == {"cooperator", "conditional", "defector", "mixed"}
    from dilemmazoo.experiments.checks import check_experiment

    for scenario in full.values():  # every baseline and background can play its world (the pre-run checks)
        specs = {json.dumps(spec, sort_keys=True): spec for spec in scenario.baselines("zero") + scenario.baselines("one")}
        for spec in specs.values():
            config = scenario.experiment(spec, [0])
            assert config.groups[0].label == "focal" and config.groups[0].seats == scenario.focal_seats
            check_experiment(config)


def test_a_focal_agent_that_cannot_play_a_world_fails_that_scenario_only(hand_set, tmp_path):
    path = tmp_path / "mixed_worlds.yaml"
    path.write_text(HAND_SET + DONOR)
    bundle = evaluate("scripted:tit_for_tat", path, 1, tmp_path / "out", progress=False)
    donor = _row(bundle, "donor_tiny")
    assert donor["status"] == "failed" and "tit_for_tat" in donor["error"]
    assert math.isnan(donor["normalised"]) and donor["one_return"] == donor["one_return"]  # baselines ran
    assert _row(bundle, "pd3_reciprocator")["status"] == "scored"
    summary = bundle.summary.set_index("world")
    assert summary.loc["dilemmazoo/donor-game-v0", "scored"] == 0
    assert summary.loc["dilemmazoo/repeated-game-v0", "scored"] == 2


def test_cli_writes_the_bundle(hand_set, tmp_path, capsys):
    assert main_evaluate(["scripted:grim", "--scenarios", str(hand_set), "--seeds", "1", "--out", str(tmp_path),
                          "--no-progress"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / name) for name in ("scores.json", "scores.parquet", "report.html")]
    page = (tmp_path / "report.html").read_text()
    assert "<svg" in page and "pd3_defector" in page and "repeated-game" in page


@pytest.mark.parametrize("argv, message", [
    (["gibberish"], "unknown agent spec 'gibberish'"),
    (["scripted:no_such_strategy"], "unknown scripted strategy 'no_such_strategy'"),
    (["llm:"], "names no backend"),
    (["llm:nonsense"], "unknown backend spec 'nonsense'"),
    (["missing.yaml"], "agent spec file 'missing.yaml' does not exist"),
    (["scripted:tit_for_tat", "--scenarios", "no_such_set"], "no scenario set or file named 'no_such_set'; shipped sets: full, quick"),
    (["scripted:tit_for_tat", "--seeds", "0"], "--seeds must be at least 1"),
    (["scripted:tit_for_tat", "--worlds", "atlantis"], "--worlds: unknown world 'atlantis'"),
])
def test_cli_errors_exit_2_with_a_clear_message(argv, message, tmp_path, capsys):
    assert main_evaluate([*argv, "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("dilemmazoo evaluate: error: ") and message in error
    assert not any(tmp_path.iterdir())  # nothing written


def test_bad_scenario_files_are_refused_with_the_field_named(tmp_path):
    cases = {
        "role": (HAND_SET.replace("role: defector, ", ""), "background item 0 needs a role"),
        "world": (HAND_SET.replace("id: repeated-game", "id: atlantis", 1), "scenario pd3_defector: world: unknown world"),
        "baseline": (HAND_SET.replace("scripted:grim", "scripted:grimm"), "baselines.one: agent spec 'scripted:grimm'"),
        "duplicate": (HAND_SET.replace("pd3_reciprocator", "pd3_defector"), "repeated: pd3_defector"),
        "field": (HAND_SET.replace("episodes: 1\n", "episodes: 1\n    seeds: 3\n", 1), "unknown fields ['seeds']"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        with pytest.raises(EvaluationError, match=message.replace("[", r"\[").replace("]", r"\]")):
            load_scenario_set(path)


def test_agent_specs_parse_to_groups(tmp_path):
    assert parse_agent_spec("scripted:tit_for_tat") == {"kind": "scripted", "strategy": "tit_for_tat"}
    assert parse_agent_spec("llm:openai:gpt-4o-mini") == {"kind": "llm", "backend": "openai:gpt-4o-mini"}
    assert parse_agent_spec("llm:embedded") == {"kind": "llm", "backend": "embedded"}
    path = tmp_path / "agent.yaml"
    path.write_text("{kind: llm, backend: embedded, temperature: 0.2, seats: 3, label: mine}\n")
    # seats and label are the scenario's; defaults are left out, so equal agents hash equally
    assert parse_agent_spec(str(path)) == {"kind": "llm", "backend": "embedded", "temperature": 0.2}


def test_pure_score_functions():
    assert normalise(5.0, 0.0, 10.0) == 0.5
    assert math.isnan(normalise(5.0, 3.0, 3.0))  # references that do not separate give no scale
    assert math.isnan(normalise(5.0, 4.0, 3.0))
    assert exploitation(15.0, 0.0) == 15.0 and exploitation(7.0, 2.0) == 5.0 and exploitation(3.0, 4.0) == 0.0
    assert math.isnan(exploitation(math.nan, 2.0))
    import pandas as pd

    rows = pd.DataFrame([
        {"world": "w", "status": "scored", "normalised": 0.5, "focal_return": 1.0, "background_welfare_change": 1.0,
         "exploitation": math.nan},
        {"world": "w", "status": "scored", "normalised": 1.0, "focal_return": 3.0, "background_welfare_change": -1.0,
         "exploitation": 2.0},
        {"world": "w", "status": "failed", "normalised": math.nan, "focal_return": math.nan,
         "background_welfare_change": math.nan, "exploitation": math.nan},
    ])
    summary = world_summary(rows).iloc[0]
    assert (summary["scenarios"], summary["scored"], summary["normalised"], summary["exploitation"]) == (3, 2, 0.75, 2.0)
    page = render_report({"agent": {"kind": "scripted", "strategy": "x<y"}, "agent_hash": "0" * 64, "seeds": [0],
                          "scenario_set": {"name": "s", "version": 1, "hash": "1" * 64}, "worlds": [], "scenarios": []})
    assert "x&lt;y" in page and "<script" not in page
