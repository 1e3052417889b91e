"""The dashboard in a real browser (headless Chromium): the live page renders and advances (Step,
then Play and pause), and the replay's scrubber walks a finished run's records.

Skipped with the reason where Chromium or Playwright is missing (tests/browser.py), or where
Solara's front-end packages are not in its asset cache (the machine is offline and ``make`` did
not install them).
"""

import re

import pytest

import browser as helpers
from browser import cli, free_port, served
from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.dashboard import action_text, missing_assets
from dilemmazoo.experiments.runner import run_experiment

pytestmark = pytest.mark.slow

LOAD_MS = 120_000  # a first page load starts a kernel and builds the page: generous, not asserted
CHANGE_MS = 60_000

browser = helpers.browser  # the fixture: a headless Chromium, or a skip with the reason

PD = {"name": "pd", "world": {"id": "dilemmazoo/repeated-game-v0",
                              "kwargs": {"game": "akata_prisoners_dilemma", "n_rounds": 4}},
      "agents": [{"kind": "scripted", "strategy": "tit_for_tat", "label": "tft", "seats": 1},
                 {"kind": "scripted", "strategy": "always_defect", "label": "alld"}],
      "seeds": [0]}


@pytest.fixture(scope="module")
def assets():
    missing = missing_assets()
    if missing:
        pytest.skip(f"Solara's front-end packages {', '.join(missing)} are not in its asset cache and this machine "
                    "may be offline (`make dashboard-assets` installs them from npm); dashboard browser tests skipped")


@pytest.fixture
def page(browser, assets):
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def steps_shown(page) -> int:
    return int(re.search(r"Step: (\d+)", page.inner_text("body")).group(1))


def test_live_dashboard_renders_steps_and_plays(page, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = cli("dashboard", "cpr_social_learning", "--cell", "2", "--set", "world.kwargs.n_rounds=40",
                  "--play-interval", "50", "--port", str(port), "--out-root", str(tmp_path))
    with served(command, url, log=tmp_path / "server.log"):
        page.goto(url)
        page.get_by_text("Step: 0").wait_for(timeout=LOAD_MS)
        page.get_by_text("dilemmazoo · cpr_social_learning (dilemmazoo/cpr-v0)").wait_for()
        page.get_by_role("button", name="Step", exact=True).click()
        page.get_by_text("Step: 1").wait_for(timeout=CHANGE_MS)
        page.get_by_text("model step 1 · generation 1, game 1, step 1").wait_for(timeout=CHANGE_MS)
        first = page.locator(".dz-latest").inner_text()
        assert first.startswith("now: survival_time=1")
        page.get_by_role("button", name="▶").click()
        page.wait_for_function("() => { const m = document.body.innerText.match(/Step: (\\d+)/);"
                               " return m && Number(m[1]) >= 5; }", timeout=CHANGE_MS)
        page.get_by_role("button", name="❚❚").click()
        stopped = steps_shown(page)
        assert stopped >= 5
        page.wait_for_function(f"() => document.querySelector('.dz-latest').innerText !== {first!r}", timeout=CHANGE_MS)
        later = page.locator(".dz-latest").inner_text()
        assert re.match(r"now: survival_time=(\d+)", later).group(1) != "1"  # the commons lasted more steps
        # the seat table lists every seat of the world with its member
        table = page.locator("table.dz-table").inner_text()
        assert all(f"player_{i}" in table for i in range(10))


def test_replay_scrubber_walks_a_finished_run(page, tmp_path):
    run_dir = run_experiment(validate(PD), tmp_path / "runs", progress=False)[0].run_dir
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with served(cli("dashboard", str(run_dir), "--port", str(port)), url, log=tmp_path / "server.log"):
        page.goto(url)
        page.get_by_text("Step 1 of 4: generation 1, episode 0, step 1").wait_for(timeout=LOAD_MS)
        slider = page.get_by_role("slider")
        slider.focus()
        slider.press("ArrowRight")
        slider.press("ArrowRight")
        page.get_by_text("Step 3 of 4: generation 1, episode 0, step 3").wait_for(timeout=CHANGE_MS)
        # the actions of step 3 as recorded: tit for tat copies always-defect's 1 (both get P = 5)
        rows = page.locator("table.dz-actions tbody tr").all_inner_texts()
        assert [r.split("\t") for r in rows] == [["player_0", "player_0", action_text("1"), "5"],
                                                 ["player_1", "player_1", action_text("1"), "5"]]
        board = page.locator("table.dz-leaderboard tbody tr").all_inner_texts()
        assert [r.split("\t") for r in board] == [["1", "player_1", "player_1", "20"], ["2", "player_0", "player_0", "10"]]
        metrics = page.locator("table.dz-metrics").inner_text()
        assert "cooperation_rate\t0.167" in metrics  # 1 cooperation in 6 decisions
        slider.press("End")
        page.get_by_text("Step 4 of 4: generation 1, episode 0, step 4").wait_for(timeout=CHANGE_MS)
        assert "cooperation_rate\t0.125" in page.locator("table.dz-metrics").inner_text()
