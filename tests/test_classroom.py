"""The classroom (experiments/classroom.py) through its web API, with starlette's TestClient: joining,
pairing, refused names, hand-computed prisoner's-dilemma totals (Axelrod 1984: R=3 S=0 T=5 P=1), the odd
student against tit-for-tat, a silent student taken over by the fallback, and the export as a run directory
that `dilemmazoo report` reads."""

from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("starlette", reason="the classroom needs starlette (pip install 'dilemmazoo[viz]')")
pytest.importorskip("httpx", reason="starlette's TestClient needs httpx")
from starlette.testclient import TestClient  # noqa: E402

from dilemmazoo.experiments import store  # noqa: E402
from dilemmazoo.experiments.classroom import ClassSettings, Classroom, ClassroomError, create_app, validate_name  # noqa: E402

TOKEN = "teacher-secret"


class Clock:
    """A hand-driven monotonic clock: time passes only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def make_class(tmp_path, clock, **settings):
    settings = {"rounds": 5, "timeout": 2.0, **settings}
    classroom = Classroom(ClassSettings(**settings), out=tmp_path / "runs", name="class_test", token=TOKEN, clock=clock)
    return classroom, create_app(classroom, ticker=False)


def student(app, name: str) -> TestClient:
    client = TestClient(app)
    response = client.post("/join", data={"name": name}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/play"
    return client


def teacher(client: TestClient, action: str, body: dict | None = None) -> dict:
    response = client.post(f"/api/teacher/{action}?token={TOKEN}", json=body or {})
    assert response.status_code == 200, response.text
    return response.json()


def answer(client: TestClient, text: str) -> dict:
    response = client.post("/api/answer", json={"answer": text})
    assert response.status_code == 200, response.text
    return response.json()


def board(client: TestClient) -> dict[str, float]:
    return {row["name"]: row["total"] for row in client.get("/api/leaderboard").json()}


def state(client: TestClient) -> dict:
    response = client.get("/api/state")
    assert response.status_code == 200
    return response.json()


# -- names -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, message", [
    ("", "cannot be empty"), ("   ", "cannot be empty"), ("x" * 41, "at most 40"), ("a\u0000b", "control"),
    ("agent 1", "computer players"),
])
def test_bad_names_are_refused_with_a_message(tmp_path, clock, name, message):
    _, app = make_class(tmp_path, clock)
    client = TestClient(app)
    response = client.post("/join", data={"name": name})
    assert response.status_code == 400
    assert message in response.text
    assert "dilemmazoo_student" not in response.cookies


def test_a_taken_name_is_refused_and_names_are_escaped(tmp_path, clock):
    _, app = make_class(tmp_path, clock)
    student(app, "<b>Ann</b>")
    other = TestClient(app)
    response = other.post("/join", data={"name": "<B>ann</B>"})
    assert response.status_code == 400
    assert "is taken" in response.text
    assert "<b>Ann</b>" not in response.text and "&lt;B&gt;ann&lt;/B&gt;" in response.text
    assert validate_name("  Ann   Lee ") == "Ann Lee"


def test_malformed_requests_get_messages_not_errors(tmp_path, clock):
    _, app = make_class(tmp_path, clock)
    alice = student(app, "Alice")
    bad_json = alice.post("/api/answer", content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]
    nothing = alice.post("/api/answer", json={"answer": "Cooperate"})
    assert nothing.status_code == 400 and "nothing to answer" in nothing.json()["error"]
    assert TestClient(app).get("/api/state").status_code == 401
    assert TestClient(app).get("/teacher?token=wrong").status_code == 403
    assert TestClient(app).post("/api/teacher/start?token=wrong").status_code == 403
    refused = alice.post(f"/api/teacher/settings?token={TOKEN}", json={"game": "chess"})
    assert refused.status_code == 400 and "game must be one of" in refused.json()["error"]
    refused = alice.post(f"/api/teacher/settings?token={TOKEN}", json={"rounds": "many"})
    assert refused.status_code == 400 and "rounds must be a whole number" in refused.json()["error"]
    refused = alice.post(f"/api/teacher/settings?token={TOKEN}", json={"opponent": "split_greedy"})
    assert refused.status_code == 400 and "cannot play this game" in refused.json()["error"]


# -- playing -----------------------------------------------------------------------------------

ALICE = ["Cooperate", "C", "2", "Defect", "cooperate"]  # label, first letter, option number: C C D D C
BOB = ["Cooperate", "Defect", "Cooperate", "D", "Defect"]  # C D C D D


def test_two_students_play_five_rounds_and_the_leaderboard_adds_up(tmp_path, clock):
    classroom, app = make_class(tmp_path, clock)
    alice, bob = student(app, "Alice"), student(app, "Bob")
    assert state(alice)["status"] == "waiting"
    assert "started" in teacher(alice, "start")["message"]
    view = state(alice)
    assert view["status"] == "playing" and [p["name"] for p in view["table"]["players"]] == ["Bob"]
    assert view["table"]["form"] == {"kind": "choice", "labels": ["Cooperate", "Defect"], "hint": "Choose one."}
    assert "Option Cooperate and the other player chooses Option Defect" in view["table"]["rules"]
    for round_number, (a, b) in enumerate(zip(ALICE, BOB), start=1):
        assert state(alice)["table"]["round"] == round_number
        refused = answer(alice, "maybe")
        assert refused == {"ok": False, "error": "'maybe' is not a move here."}
        assert answer(alice, a) == {"ok": True}
        assert state(alice)["table"]["answered"] is True
        assert answer(bob, b) == {"ok": True}
    # rounds (Alice, Bob): CC 3,3  CD 0,5  DC 5,0  DD 1,1  CD 0,5
    assert board(alice) == {"Alice": 9.0, "Bob": 14.0}
    assert state(bob)["status"] == "finished"
    assert classroom.current.finished
    rows = state(alice)["leaderboard"]
    assert [(r["name"], r["game"], r["total"]) for r in rows] == [("Bob", 14.0, 14.0), ("Alice", 9.0, 9.0)]


def test_the_odd_student_plays_tit_for_tat(tmp_path, clock):
    classroom, app = make_class(tmp_path, clock)
    alice, bob, carol = student(app, "Alice"), student(app, "Bob"), student(app, "Carol")
    teacher(alice, "start")
    tables = classroom.current.tables
    assert len(tables) == 2
    lone = [t for t in tables if any(not s.person for s in t.seats.values())]
    assert len(lone) == 1
    odd = next(s.name for s in lone[0].seats.values() if s.person)
    clients = {"Alice": alice, "Bob": bob, "Carol": carol}
    partner = next(p["name"] for p in state(clients[odd])["table"]["players"])
    assert partner == "agent 1"
    for move in ["Defect", "Cooperate", "Cooperate", "Defect", "Defect"]:
        assert answer(clients[odd], move) == {"ok": True}
    # tit-for-tat plays C D C C D: the student gets 5+0+3+5+1, tit-for-tat 0+5+3+0+1
    view = state(clients[odd])["table"]
    assert view["score"] == 14.0 and view["players"][0]["score"] == 9.0
    assert board(alice)[odd] == 14.0


def test_a_silent_student_is_taken_over_by_the_fallback(tmp_path, clock):
    classroom, app = make_class(tmp_path, clock, rounds=3, fallback="tit_for_tat")
    alice, bob = student(app, "Alice"), student(app, "Bob")
    teacher(alice, "start")
    answer(alice, "Cooperate")
    answer(bob, "Cooperate")
    clock.now += 1.5
    state(alice)
    classroom.tick()
    assert not classroom.students["Bob"].away  # 1.5 s of silence is within the 2 s timeout
    clock.now += 1.0
    state(alice)  # Alice's page keeps polling; Bob's has been silent for 2.5 s
    classroom.tick()
    assert classroom.students["Bob"].away
    view = state(alice)["table"]
    assert view["takeovers"] == 1 and view["players"][0]["taken_over"] is True
    assert any("Bob was silent" in line and "tit_for_tat plays their seat" in line for line in view["news"])
    teacher_view = alice.get(f"/api/teacher/state?token={TOKEN}").json()
    assert teacher_view["game"]["takeovers"] == 1
    answer(alice, "Defect")  # tit-for-tat for Bob copies Alice's C
    answer(alice, "Cooperate")  # ... then her D
    assert classroom.current.finished
    # CC 3,3  DC 5,0  CD 0,5
    assert board(alice) == {"Alice": 8.0, "Bob": 8.0}
    steps = pd.DataFrame(classroom.current.records.steps)
    bob_rows = steps[steps["name"] == "Bob"].sort_values("step")
    assert bob_rows["taken_over"].tolist() == [False, True, True]
    assert bob_rows["person"].all() and (bob_rows["policy"] == "person").all()


def test_a_closed_page_hands_the_seat_over_and_a_returning_student_takes_it_back(tmp_path, clock):
    classroom, app = make_class(tmp_path, clock, rounds=3)
    alice, bob = student(app, "Alice"), student(app, "Bob")
    teacher(alice, "start")
    bob.post("/api/leave")  # the pagehide beacon
    assert classroom.students["Bob"].away
    answer(alice, "Defect")  # Bob's fallback (tit-for-tat) cooperates in round 1
    assert state(bob)["table"]["asked"] is True  # polling again: Bob is back and answers round 2 himself
    assert answer(bob, "Defect") == {"ok": True}
    answer(alice, "Defect")
    answer(alice, "Defect")
    answer(bob, "Defect")
    steps = pd.DataFrame(classroom.current.records.steps)
    assert steps[steps["name"] == "Bob"].sort_values("step")["taken_over"].tolist() == [True, False, False]
    assert board(alice) == {"Alice": 7.0, "Bob": 2.0}  # DC 5,0  DD 1,1  DD 1,1


def test_the_teacher_changes_the_game_and_a_second_game_adds_to_the_totals(tmp_path, clock):
    classroom, app = make_class(tmp_path, clock, rounds=2)
    alice, bob = student(app, "Alice"), student(app, "Bob")
    teacher(alice, "start")
    refused = alice.post(f"/api/teacher/start?token={TOKEN}")
    assert refused.status_code == 400 and "still being played" in refused.json()["error"]
    for _ in range(2):
        answer(alice, "Cooperate")
        answer(bob, "Cooperate")
    teacher(alice, "settings", {"game": "stag_hunt", "rounds": "1", "noise": "0"})
    assert classroom.settings.game == "stag_hunt" and classroom.settings.opponent == "tit_for_tat"
    teacher(alice, "start")
    assert state(alice)["table"]["form"]["labels"] == ["Stag", "Hare"]
    answer(alice, "Stag")
    answer(bob, "Hare")
    # game 1: CC twice, 3+3 each; game 2: stag hunt SH gives 1 to the stag hunter, 3 to the hare
    assert board(alice) == {"Alice": 7.0, "Bob": 9.0}


def test_donor_game_seats_the_class_with_agents_and_reads_amounts(tmp_path, clock):
    classroom, app = make_class(tmp_path, clock, game="donor-game", rounds=4)
    alice, bob = student(app, "Alice"), student(app, "Bob")
    teacher(alice, "start")
    table = classroom.current.tables[0]
    assert len(table.seats) == 4 and sum(s.person for s in table.seats.values()) == 2
    for _ in range(20):
        for client in (alice, bob):
            view = state(client)["table"]
            if view["asked"]:
                assert view["form"]["kind"] == "amount"
                assert answer(client, "lots")["ok"] is False
                assert answer(client, "1") == {"ok": True}
        if classroom.current.finished:
            break
    assert classroom.current.finished
    steps = pd.DataFrame(classroom.current.records.steps)
    people = steps[steps["person"] & steps["decided"]]
    assert len(people) > 0 and (people["parse_failures"] == 1).all()


# -- records -----------------------------------------------------------------------------------

def test_export_writes_a_finished_run_that_report_reads(tmp_path, clock):
    classroom, app = make_class(tmp_path, clock)
    alice, bob, carol = student(app, "Alice"), student(app, "Bob"), student(app, "Carol")
    refused = alice.post(f"/api/teacher/export?token={TOKEN}")
    assert refused.status_code == 400 and "no game has finished" in refused.json()["error"]
    teacher(alice, "start")
    for _ in range(5):
        for client in (alice, bob, carol):
            if state(client)["table"]["asked"]:
                answer(client, "Cooperate")
    assert classroom.current.finished
    written = teacher(alice, "export")["dirs"]
    assert len(written) == 1
    run_dir = tmp_path / "runs" / "class_test" / "game=1" / "seed=0"
    assert written == [str(run_dir)]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert store.inspect_run(run_dir, summary["run_id"], deep=True).finished
    steps = pd.read_parquet(run_dir / "steps.parquet")
    assert len(steps) == 2 * 2 * 5  # two tables, two seats, five rounds
    assert sorted(steps.loc[steps["person"], "name"].unique()) == ["Alice", "Bob", "Carol"]
    assert steps.loc[~steps["person"], "policy"].unique().tolist() == ["agent:tit_for_tat"]
    assert (steps["reward"] == 3.0).all() and not steps["taken_over"].any()
    episodes = pd.read_parquet(run_dir / "episodes.parquet")
    assert sorted(episodes["return"]) == [15.0] * 4
    assert summary["counts"]["takeovers"] == 0 and summary["counts"]["people"] == 3
    assert summary["classroom"]["students"] and summary["episodes"] == 2
    assert summary["metrics"]  # the world's headline metrics
    assert teacher(alice, "export")["dirs"] == []  # exported once
    from dilemmazoo.analysis.report import write_report

    report = write_report(tmp_path / "runs" / "class_test")
    assert report.is_file() and "repeated-game" in report.read_text()
    # a new classroom on the same folder numbers its games after the exported ones
    later = Classroom(ClassSettings(), out=tmp_path / "runs", name="class_test", clock=clock)
    assert later.first_game == 2


def test_settings_are_checked():
    with pytest.raises(ClassroomError, match="noise must be a number"):
        ClassSettings(noise=2).checked()
    with pytest.raises(ClassroomError, match="fallback 'llm:embedded' cannot play"):
        ClassSettings(fallback="llm:embedded").checked()
    assert ClassSettings(game="trust_split").checked().opponent == "split_greedy"


def test_a_language_model_opponent_decides_through_its_backend(tmp_path, clock):
    answers = tmp_path / "answers.txt"
    answers.write_text("Answer: Defect\nAnswer: Cooperate\n")
    classroom, app = make_class(tmp_path, clock, rounds=2, opponent=f"llm:scripted:{answers}")
    alice = student(app, "Alice")
    teacher(alice, "start")
    answer(alice, "Cooperate")
    answer(alice, "Cooperate")
    # the script answers D then C: CD 0,5  CC 3,3
    assert board(alice) == {"Alice": 3.0}
    run_dir = classroom.export()[0]
    calls = pd.read_parquet(run_dir / "llm_calls.parquet")
    assert len(calls) == 2 and set(calls["agent"]) == {"player_1"}
    config = (run_dir / "config.yaml").read_text()
    assert "backend: scripted:" in config and "label: person" in config


def test_trust_split_students_write_messages_and_claim_coins(tmp_path, clock):
    classroom, app = make_class(tmp_path, clock, game="trust-split", rounds=2)
    alice = student(app, "Alice")
    teacher(alice, "start")
    kinds = []
    for _ in range(10):
        view = state(alice)["table"]
        if view["done"]:
            break
        assert view["asked"]
        kinds.append(view["form"]["kind"])
        if view["form"]["kind"] == "message":
            assert answer(alice, "")["ok"] is False  # an empty message is refused by the world's spec
            assert answer(alice, "My honest answer is <rock> & you?") == {"ok": True}
        else:
            assert answer(alice, "11")["ok"] is False
            assert answer(alice, "4") == {"ok": True}
    # each round: one message each (the agent's is not asked of Alice), then both claim coins
    assert kinds.count("message") == 2 and kinds.count("amount") == 2
    steps = pd.DataFrame(classroom.current.records.steps)
    mine = steps[(steps["name"] == "Alice") & steps["decided"]]
    assert (mine.loc[mine["phase"] == "message", "message"] == "My honest answer is <rock> & you?").all()
    assert (mine.loc[mine["phase"] == "proposal", "proposal"] == 4).all()
    agent = steps[(steps["name"] == "agent 1") & (steps["phase"] == "proposal")]
    assert (agent["proposal"] == 10).all()  # split_greedy keeps everything


def test_teacher_pace_holds_each_round_until_released(tmp_path, clock):
    classroom, app = make_class(tmp_path, clock, rounds=2, pace="teacher")
    alice, bob = student(app, "Alice"), student(app, "Bob")
    teacher(alice, "start")
    answer(alice, "Cooperate")
    answer(bob, "Cooperate")
    view = state(alice)["table"]
    assert view["asked"] is False and view["waiting_teacher"] is True and view["round"] == 2
    assert teacher(alice, "round")["message"] == "round 2 may be played"
    assert state(alice)["table"]["asked"] is True
    answer(alice, "Defect")
    answer(bob, "Cooperate")
    assert board(alice) == {"Alice": 8.0, "Bob": 3.0}


def test_the_command_line_refuses_bad_arguments(capsys):
    from dilemmazoo.experiments.classroom import main_classroom

    with pytest.raises(SystemExit) as exit_info:
        main_classroom(["--game", "chess"])
    assert exit_info.value.code == 2
    assert "game must be one of prisoners_dilemma, stag_hunt, trust-split, donor-game" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main_classroom(["--name", "../elsewhere"])
    assert "name must be one folder name" in capsys.readouterr().err


def test_the_teacher_ends_a_game_and_the_fallback_plays_the_rest(tmp_path, clock):
    classroom, app = make_class(tmp_path, clock, rounds=3)
    alice, bob = student(app, "Alice"), student(app, "Bob")
    teacher(alice, "start")
    answer(alice, "Defect")
    answer(bob, "Cooperate")
    assert teacher(alice, "finish")["message"] == "game 1 ended: the fallback played the rest"
    assert classroom.current.finished
    # round 1 DC 5,0; then tit-for-tat for both: Alice copies Bob's C, Bob copies Alice's D: CD 0,5; then DC 5,0
    assert board(alice) == {"Alice": 10.0, "Bob": 5.0}
    assert teacher(alice, "export")["dirs"]
    summary = json.loads((tmp_path / "runs" / "class_test" / "game=1" / "seed=0" / "summary.json").read_text())
    assert summary["counts"]["takeovers"] == 2 and summary["counts"]["taken_over_decisions"] == 4


@pytest.mark.slow  # importing axelrod takes seconds
def test_axelrod_opponents_are_checked_by_name():
    pytest.importorskip("axelrod", reason="the games extra (axelrod) is not installed")
    assert ClassSettings(opponent="axelrod:TitForTat").checked().opponent == "axelrod:TitForTat"
    with pytest.raises(ClassroomError, match="opponent: .*NoSuchStrategy"):
        ClassSettings(opponent="axelrod:NoSuchStrategy").checked()


def test_unknown_agents_are_refused_before_a_game_starts(tmp_path, clock):
    classroom, app = make_class(tmp_path, clock)
    alice = student(app, "Alice")
    refused = alice.post(f"/api/teacher/settings?token={TOKEN}", json={"opponent": "llm:nonsense"})
    assert refused.status_code == 200  # a backend spec is only tried when the game starts ...
    refused = alice.post(f"/api/teacher/start?token={TOKEN}")
    assert refused.status_code == 400 and "the opponent llm:nonsense cannot start" in refused.json()["error"]
    assert classroom.current is None
