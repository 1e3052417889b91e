"""The conformance kit (``dilemmazoo check-backend``): every built-in backend passes it, and
deliberately broken backends fail it loudly, in the check that names what they break.

The broken backends are toy models defined here: :class:`WordModel` does what the kit's chats
ask (it says the word a chat names, then filler words drawn from a generator seeded by the seed
and the chat), and each subclass breaks one promise. HTTP backends run against the kit's own
loopback server; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fake_openai_server  # noqa: E402

from dilemmazoo.agents.backends import Backend, Completion, GenerationParams, OptionScores, chat_hash  # noqa: E402
from dilemmazoo.agents.backends.loopback import FakeOpenAIServer  # noqa: E402
from dilemmazoo.agents.backends.openai_backend import OpenAIBackend  # noqa: E402
from dilemmazoo.agents.backends.scripted import ScriptedBackend  # noqa: E402
from dilemmazoo.experiments import check_backend as kit  # noqa: E402
from dilemmazoo.experiments.check_backend import (  # noqa: E402
    CHECKS,
    KEY_ENV,
    WORDS,
    Promises,
    check_backend,
    main_check_backend,
    promises_for,
)

HTTP_CHECKS = ("retry-429", "retry-5xx", "timeout", "malformed", "secrets")
FAST = {"retry_after_s": 0.1}  # the HTTP fault checks, quickly (a 0.5 s timeout holds on a busy machine)
FILLER = ("soft", "bright", "slow", "green", "quiet", "round", "cold", "early")


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def statuses(report) -> dict[str, str]:
    return {row.name: row.status for row in report.rows}


# -- toy models -----------------------------------------------------------------------------

class WordModel(Backend):
    """Says the word the chat names (one of the kit's ``WORDS``); sampling (temperature > 0)
    adds five filler words drawn from ``random.Random(seed, chat)``."""

    name = "toy:words"

    def rng(self, chat, params: GenerationParams) -> random.Random:
        return random.Random(f"{params.seed}|{chat_hash(chat)}")

    def generate(self, chats, *, params):
        completions = []
        for chat in chats:
            asked = [w for w in WORDS if w in chat[-1]["content"]]
            text = asked[0] if asked else "nothing"
            if params.temperature > 0:
                rng = self.rng(chat, params)
                text += " " + " ".join(rng.choice(FILLER) for _ in range(5))
            completions.append(Completion(text=text, prompt_tokens=len(chat[-1]["content"].split()),
                                          completion_tokens=len(text.split()), latency_s=0.001))
        return completions


class SeedIgnoringModel(WordModel):
    """Samples from a fresh generator every call: the seed does nothing."""

    name = "toy:ignores-seeds"

    def rng(self, chat, params):
        return random.Random()


class OrderLosingModel(WordModel):
    """Hands a batch's answers back reversed."""

    name = "toy:loses-order"

    def generate(self, chats, *, params):
        return list(reversed(super().generate(chats, params=params)))


class ProbabilityScorer(ScriptedBackend):
    """Returns probabilities (1 and 0) where log-likelihoods (0 and -inf) belong."""

    def score(self, chats, options):
        return [OptionScores([math.exp(x) for x in row]) for row in super().score(chats, options)]


class UncountedRetries(OpenAIBackend):
    """Retries, but reports every answer as a first try."""

    async def _complete(self, *args, **kwargs):
        completion = await super()._complete(*args, **kwargs)
        completion.retries = 0
        return completion


class NeverRetries(OpenAIBackend):
    """Gives up on the first transient failure, whatever it is told."""

    def __init__(self, model, **options):
        super().__init__(model, **{**options, "max_retries": 0})


class KeyInRepr(OpenAIBackend):
    """Shows its key in ``repr``."""

    def __repr__(self) -> str:
        return f"KeyInRepr({self.model!r}, key={self._api_key.value})"


# -- the built-in backends pass -------------------------------------------------------------

def test_scripted_passes_through_the_cli_and_checks_on_copies(tmp_path, capsys):
    script = tmp_path / "answers.txt"
    script.write_text("Answer: C\nAnswer: D\nI will cooperate.\n")
    code = main_check_backend([f"scripted:{script}", "--json"])
    out = capsys.readouterr().out
    report = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and report["passed"] and report["failed"] == []
    got = {row["name"]: row["status"] for row in report["checks"]}
    assert got == {"generate": "pass", "seeds": "skip", "batching": "pass", "async": "pass", "score": "pass",
                   **dict.fromkeys(HTTP_CHECKS, "skip"), "throughput": "pass"}
    assert list(got) == list(CHECKS)
    rows = {row["name"]: row["detail"] for row in report["checks"]}
    assert "order_dependent" in rows["seeds"]
    assert "longer scores lower (-inf < 0.00); generate's answer scores highest" in rows["score"]
    assert "PASS: every applicable check passed" in out and "│ generate" in out
    assert report["measurements"]["batch_size"] == 8

    backend = ScriptedBackend(["Answer: C", "Answer: D"])
    assert check_backend(backend, quick=True).passed
    assert backend.position == 0  # an order-dependent backend is checked on copies of itself


def test_top_level_cli_hands_its_arguments_to_the_kit(tmp_path, capsys):
    from dilemmazoo.experiments.cli import main

    script = tmp_path / "answers.txt"
    script.write_text("C\n")
    assert main(["check-backend", f"scripted:{script}", "--quick"]) == 0
    assert "check-backend scripted:answers.txt@" in capsys.readouterr().out


@pytest.mark.parametrize("spec", ["openai:gpt-4o-mini", "litellm:gpt-4o-mini"])
def test_http_backends_pass_against_the_loopback_server(spec):
    importlib.import_module("litellm")  # importing it sets httpx's log level: before the levels are read

    levels = {name: logging.getLogger(name).level for name in kit.CAPTURED_LOGGERS}
    report = check_backend(spec, quick=True, **FAST)
    assert report.passed, report.text()
    assert statuses(report) == {"generate": "pass", "seeds": "skip", "batching": "pass", "async": "pass",
                                "score": "skip", **dict.fromkeys(HTTP_CHECKS, "pass"), "throughput": "pass"}
    assert report.row("seeds").detail.startswith("not deterministic")
    assert "4 answers say their own word" in report.row("generate").detail
    assert "retried after" in report.row("retry-429").detail
    assert "3 attempts" in report.row("timeout").detail
    assert set(report.measurements) == {"latency_s", "batch_size", "batch_s", "calls_per_s", "tokens_per_s"}
    assert report.measurements["batch_size"] == 4 and report.measurements["tokens_per_s"] > 0
    # the kit leaves logging and the environment as it found them
    assert {name: logging.getLogger(name).level for name in kit.CAPTURED_LOGGERS} == levels
    assert all(logging.getLogger(name).propagate for name in kit.CAPTURED_LOGGERS)
    assert KEY_ENV not in os.environ


def test_a_built_http_backend_is_checked_where_it_points_and_faulted_on_the_kits_server():
    with FakeOpenAIServer(answer=kit._loopback_answer("unused-key")) as server:
        backend = OpenAIBackend("fake-model", base_url=server.url)
        report = check_backend(backend, quick=True, only=["generate", "retry-5xx"], **FAST)
        served = len(server.completions)
    assert report.passed, report.text()
    assert [row.name for row in report.rows if row.status == "pass"] == ["generate", "retry-5xx"]
    assert report.row("seeds").detail == "not selected (--only)"
    assert served > 0 and all(r.mode == "ok" for r in server.completions)  # faults went elsewhere


def test_the_loopback_server_is_the_packages():
    assert fake_openai_server.FakeOpenAIServer is FakeOpenAIServer


# -- broken backends fail, naming the check -------------------------------------------------

def test_a_well_behaved_toy_model_passes():
    report = check_backend(WordModel())
    assert report.passed, report.text()
    assert report.row("seeds").detail.startswith("seed 7 twice (temperature 1): 4/4 texts identical")
    assert report.row("generate").detail.endswith("8 answers say their own word")


def test_a_backend_that_ignores_seeds_fails_the_seeds_check():
    report = check_backend(SeedIgnoringModel())
    assert not report.passed
    assert report.failed == ["seeds", "async"]  # async compares seeded samples too
    assert "seed 7 twice at temperature 1 gave different texts for 4/4 chats" in report.row("seeds").detail
    assert "(the seed is ignored)" in report.row("seeds").detail
    assert "FAIL: seeds, async" in report.text()


def test_a_backend_that_loses_batch_order_fails_generate_and_batching():
    report = check_backend(OrderLosingModel())
    assert report.failed == ["generate", "batching"]
    assert report.row("generate").detail == "order lost: answer 0 (asked for 'apple') says ['meadow']: 'meadow'"
    assert report.row("batching").detail.startswith("8/8 answers differ from the same chat sent alone; "
                                                    "chat 0: batch 'meadow', alone 'apple'")


def test_probabilities_instead_of_log_likelihoods_fail_the_score_check():
    report = check_backend(ProbabilityScorer(["Answer: C"]), quick=True)
    assert report.failed == ["score"]
    assert report.row("score").detail == "chat 0: log-likelihood 1.0 is not a float <= 0"


def test_a_key_in_repr_fails_the_secrets_check(monkeypatch):
    monkeypatch.setattr(kit, "make_backend", lambda spec, **options: KeyInRepr(spec.partition(":")[2], **options))
    report = check_backend("openai:fake-model", quick=True, only=["secrets"], **FAST)
    assert report.failed == ["secrets"]
    assert report.row("secrets").detail == "the API key appeared in: repr(backend), str(backend)"


@pytest.mark.parametrize("broken, detail", [
    (UncountedRetries, "500 then ok: 2 requests but Completion.retries = 0, not 1: retries are not counted"),
    (NeverRetries, "raised BackendError: openai:fake-model: request failed on the first attempt: InternalServerError"),
])
def test_a_backend_that_does_not_retry_or_count_fails_the_retry_check(monkeypatch, broken, detail):
    monkeypatch.setattr(kit, "make_backend", lambda spec, **options: broken(spec.partition(":")[2], **options))
    report = check_backend("openai:fake-model", quick=True, only=["generate", "retry-5xx"], **FAST)
    assert report.failed == ["retry-5xx"] and report.row("generate").status == "pass"
    assert report.row("retry-5xx").detail.startswith(detail)


def test_a_broken_backend_makes_the_cli_exit_1(monkeypatch, capsys):
    monkeypatch.setattr(kit, "make_backend", lambda spec, **options: OrderLosingModel())
    assert main_check_backend(["scripted:unused.txt", "--quick"]) == 1
    assert "FAIL: generate, batching" in capsys.readouterr().out


def test_promises_of_the_built_in_classes():
    assert promises_for(ScriptedBackend(["x"])) == Promises(
        finite_scores=False, note="answers follow the call order, not the seed (order_dependent)")
    http = promises_for(OpenAIBackend("m", base_url="http://127.0.0.1:9/v1"))
    assert (http.http, http.reproducible_seeds, http.exact_batching) == ("openai", False, True)
    assert promises_for(WordModel()) == Promises()
    with pytest.raises(ValueError, match="http must be None, 'openai' or 'litellm'"):
        Promises(http="grpc")


# -- bad specs ------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["nosuch:model"], "unknown backend spec 'nosuch:model'"),
    (["scripted"], "needs an argument"),
    (["scripted:/no/such/answers.txt"], "cannot read scripted answers"),
    (["openai:m", "--option", "novalue"], "--option expects key=value"),
    (["openai:m", "--option", "no_such_option=1"], "no_such_option"),
])
def test_a_bad_spec_exits_2_with_the_reason(argv, message, capsys):
    assert main_check_backend(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot check") and message in err


def test_check_backend_refuses_options_for_a_built_backend_and_unknown_checks():
    with pytest.raises(ValueError, match="options are for a spec"):
        check_backend(WordModel(), options={"concurrency": 2})
    with pytest.raises(ValueError, match="only: unknown check speed; checks: generate, seeds"):
        check_backend(WordModel(), only=["seeds", "speed"])


def test_only_runs_the_checks_named(capsys):
    assert main_check_backend(["openai:m", "--only", "generate,secrets", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [row["name"] for row in report["checks"] if row["status"] == "pass"] == ["generate", "secrets"]


# -- the embedded model ---------------------------------------------------------------------

@pytest.mark.slow
def test_the_embedded_model_passes(embedded_backend):
    report = check_backend(embedded_backend, quick=True)
    assert report.passed, report.text()
    assert statuses(report) == {"generate": "pass", "seeds": "pass", "batching": "pass", "async": "pass",
                                "score": "pass", **dict.fromkeys(HTTP_CHECKS, "skip"), "throughput": "pass"}
    assert "4 answers say their own word" in report.row("generate").detail  # the prefilled word chats
    assert report.measurements["tokens_per_s"] > 0 and report.measurements["batch_size"] == 4
    exact = str(embedded_backend.dtype) == "torch.float32"
    assert promises_for(embedded_backend).exact_batching is exact


@pytest.mark.slow
def test_hf_is_the_embedded_class_and_passes_too(embedded_backend):
    from dilemmazoo.agents.backends.embedded import EMBEDDED_GGUF, embedded_model_folder

    # the same folder, file, dtype and device: the session's loaded model is shared, not loaded again
    report = check_backend(f"hf:{embedded_model_folder()}", options={"gguf_file": EMBEDDED_GGUF}, quick=True,
                           only=["generate", "score"])
    assert report.passed, report.text()
    assert report.backend == f"hf:{embedded_model_folder()}"
    assert [row.name for row in report.rows if row.status == "pass"] == ["generate", "score"]
