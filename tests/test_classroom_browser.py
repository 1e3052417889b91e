"""The classroom in a real browser: headless Chromium (tests/browser.py) drives two students and the
teacher against `dilemmazoo classroom` served on loopback. Two students play a 5-round prisoner's
dilemma (Axelrod 1984: R=3 S=0 T=5 P=1) and the pages' leaderboards show the hand-computed totals;
in a second game one student's page is closed after two rounds, the fallback (tit-for-tat) takes the
seat and the other student's game still finishes.

Run as a script to save the README screenshots (tests never write into the repository):

    .venv/bin/python tests/test_classroom_browser.py docs/images
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from browser import browser, chromium_path, cli, free_port, served  # noqa: E402,F401

TOKEN = "browser-test-token"
WAIT_MS = 15_000

# game 1 (Alice, Bob): CC 3,3  CD 0,5  DC 5,0  DD 1,1  CD 0,5  -> Alice 9, Bob 14
GAME_1 = [("Cooperate", "Cooperate"), ("Cooperate", "Defect"), ("Defect", "Cooperate"), ("Defect", "Defect"),
          ("Cooperate", "Defect")]
# game 2: Bob plays D, C and closes his page; tit-for-tat then copies Alice's C, D, D:
# CD 0,5  CC 3,3  DC 5,0  DD 1,1  DD 1,1  -> Alice 10, Bob 10
GAME_2_BOTH = [("Cooperate", "Defect"), ("Cooperate", "Cooperate")]
GAME_2_ALICE_ALONE = ["Defect", "Defect", "Defect"]


def _join(page, base: str, name: str) -> None:
    page.goto(base + "/")
    page.fill("#name", name)
    page.click("#join")
    page.wait_for_url(base + "/play")
    page.locator("#who").filter(has_text=name).wait_for(timeout=WAIT_MS)


def _expect_text(locator, text: str) -> None:
    from playwright.sync_api import expect

    expect(locator).to_have_text(text, timeout=WAIT_MS)


def _play(page, round_number: int, move: str) -> None:
    _expect_text(page.locator("#status"), f"Round {round_number} of 5")
    page.click(f"button[data-move='{move}']", timeout=WAIT_MS)
    page.locator("#answer").filter(has_text="Answer sent").or_(page.locator("#status").filter(
        has_text=f"Round {round_number + 1} of 5")).or_(page.locator("#status").filter(has_text="over")).first.wait_for(
        timeout=WAIT_MS)


def _total(page, name: str):
    return page.locator(f"#leaderboard tr[data-name='{name}'] td.total")


def play_class(chromium, base: str, shots: Path | None = None) -> None:
    """Two students and the teacher: game 1 to the end, game 2 with Bob leaving after two rounds."""
    alice = chromium.new_context(viewport={"width": 1200, "height": 800}).new_page()
    bob_context = chromium.new_context(viewport={"width": 1200, "height": 800})
    bob = bob_context.new_page()
    teacher = chromium.new_context(viewport={"width": 1200, "height": 800}).new_page()
    _join(alice, base, "Alice")
    _join(bob, base, "Bob")
    teacher.goto(f"{base}/teacher?token={TOKEN}")
    teacher.locator("#students tr[data-name='Bob']").wait_for(timeout=WAIT_MS)
    _expect_text(teacher.locator("#count"), "2 here, 2 joined")
    teacher.click("#start")
    _expect_text(teacher.locator("#message"), "game 1 started: 1 table(s)")

    for number, (a, b) in enumerate(GAME_1, start=1):
        _play(alice, number, a)
        _play(bob, number, b)
        if number == 3 and shots is not None:
            _expect_text(alice.locator("#status"), "Round 4 of 5")
            alice.screenshot(path=str(shots / "classroom.png"))
    for page in (alice, bob):
        _expect_text(page.locator("#status"), "The game is over.")
        _expect_text(_total(page, "Alice"), "9")
        _expect_text(_total(page, "Bob"), "14")
    _expect_text(teacher.locator("#gametitle"), "Game 1: Prisoner's dilemma, 5 rounds — finished")

    teacher.click("#start")
    _expect_text(teacher.locator("#message"), "game 2 started: 1 table(s)")
    for number, (a, b) in enumerate(GAME_2_BOTH, start=1):
        _play(alice, number, a)
        _play(bob, number, b)
    _expect_text(alice.locator("#status"), "Round 3 of 5")
    bob_context.close()  # the tab goes away mid-game: the pagehide beacon, or else the 2 s timeout
    for number, move in enumerate(GAME_2_ALICE_ALONE, start=3):
        _play(alice, number, move)
    _expect_text(alice.locator("#status"), "The game is over.")
    _expect_text(alice.locator("#takeovers"), "Takeovers at your table: 1")
    assert "fallback strategy plays" in alice.locator("#others").inner_text()
    _expect_text(_total(alice, "Alice"), "19")
    _expect_text(_total(alice, "Bob"), "24")
    _expect_text(teacher.locator("#takeovers"), "Takeovers: 1")
    teacher.click("#export")
    teacher.locator("#exports li").nth(1).wait_for(timeout=WAIT_MS)
    if shots is not None:
        teacher.screenshot(path=str(shots / "classroom_teacher.png"))


@pytest.mark.slow
def test_two_students_play_in_the_browser_and_one_leaves(browser, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = cli("classroom", "--port", str(port), "--token", TOKEN, "--out", str(tmp_path / "runs"),
                  "--name", "class_browser", "--timeout", "2", "--rounds", "5")
    with served(command, base + "/api/leaderboard", log=tmp_path / "server.log"):
        play_class(browser, base)
    games = sorted((tmp_path / "runs" / "class_browser").glob("game=*/seed=*/complete.json"))
    assert [path.parent.parent.name for path in games] == ["game=1", "game=2"]
    import pandas as pd

    steps = pd.read_parquet(games[1].parent / "steps.parquet")
    bob = steps[steps["name"] == "Bob"].sort_values("step")
    assert bob["taken_over"].tolist() == [False, False, True, True, True]
    assert bob["reward"].sum() == 10.0


if __name__ == "__main__":  # save the README screenshots
    from playwright.sync_api import sync_playwright

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images")
    target.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as scratch:
        command = cli("classroom", "--port", str(port), "--token", TOKEN, "--out", str(Path(scratch) / "runs"),
                      "--name", "class_demo", "--timeout", "2", "--rounds", "5")
        with served(command, base + "/api/leaderboard", log=Path(scratch) / "server.log"), sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=chromium_path(), headless=True,
                                          args=["--no-sandbox", "--disable-dev-shm-usage"])
            play_class(chromium, base, shots=target)
            chromium.close()
    print(f"saved {target / 'classroom.png'} and {target / 'classroom_teacher.png'}")
