"""The LoRA policy-gradient trainer for language agents (agents/trainers/llm_trainer.py and its parts
llm_model, llm_rollout, llm_credit, llm_update, imported here through llm_trainer's re-exports;
arXiv 2511.19405 "Learning Robust Social Strategies with LLMs", Duque et al. ICLR 2025)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from dilemmazoo.agents.trainers.llm_trainer import (  # noqa: E402  (after the import checks)
    LLMTrainerConfig,
    MatchRecord,
    Sample,
    assign_credit,
    build_chat,
    decision_options,
    k3_kl,
    match_metrics,
    option_log_probs,
    round_rewards,
    token_loss,
    truncated_importance_weight,
)
from dilemmazoo.envs.base import Amount, Choice, Message  # noqa: E402


# --------------------------------------------------------------------------------------------
# Loss pieces, hand-computed
# --------------------------------------------------------------------------------------------


def test_truncated_importance_weight_caps_and_has_no_gradient():
    logp = torch.tensor([-1.0, -0.5, -2.0], requires_grad=True)
    sampling = torch.tensor([-1.0, -1.5, -1.0])
    weight = truncated_importance_weight(logp, sampling, cap=2.0)
    # exp(0) = 1; exp(1) = 2.718 -> capped at 2; exp(-1) = 0.3679
    assert weight.tolist() == pytest.approx([1.0, 2.0, math.exp(-1.0)])
    assert not weight.requires_grad


def test_k3_kl_hand_values():
    logp = torch.tensor([-1.0, -2.0, -0.7])
    ref = torch.tensor([-2.0, -1.0, -0.7])
    # log r = ref - logp: -1 -> e^-1 + 1 - 1 = 0.36788; +1 -> e - 1 - 1 = 0.71828; 0 -> 0
    assert k3_kl(logp, ref).tolist() == pytest.approx([math.exp(-1.0), math.e - 2.0, 0.0], abs=1e-6)


def test_token_loss_hand_values_and_gradient():
    logp = torch.tensor([-1.0, -2.0], requires_grad=True)
    sampling = torch.tensor([-1.0, -2.5])
    credit = torch.tensor([0.5, -1.0])
    ref = torch.tensor([-1.5, -2.0])
    entropy = torch.tensor([0.7, 0.2])
    terms = token_loss(logp, sampling, credit, is_cap=2.0, ref_logp=ref, entropy=entropy, kl_coef=0.1,
                       entropy_coef=0.01)
    w1 = math.exp(0.5)  # 1.6487 < cap 2
    assert terms["weight"].tolist() == pytest.approx([1.0, w1])
    # pg = -w * credit * logp: -(1 * 0.5 * -1) = 0.5 ; -(1.6487 * -1 * -2) = -3.2974
    assert terms["pg"].tolist() == pytest.approx([0.5, -2.0 * w1])
    kl0 = math.exp(-0.5) + 0.5 - 1.0  # 0.10653
    assert terms["kl"].tolist() == pytest.approx([kl0, 0.0], abs=1e-6)
    assert terms["loss"].tolist() == pytest.approx([0.5 + 0.1 * kl0 - 0.007, -2.0 * w1 - 0.002], abs=1e-6)
    assert terms["clipped"].tolist() == [0.0, 0.0]
    # d pg / d logp = -w * credit (the weight carries no gradient)
    terms["pg"].sum().backward()
    assert logp.grad.tolist() == pytest.approx([-0.5, w1])


def test_token_loss_counts_capped_tokens():
    terms = token_loss(torch.tensor([0.0, 0.0]), torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 1.0]), is_cap=2.0)
    assert terms["weight"].tolist() == pytest.approx([2.0, 1.0])
    assert terms["clipped"].tolist() == [1.0, 0.0]
    assert terms["kl"].tolist() == [0.0, 0.0]  # no reference: no KL term


def test_option_log_probs_normalise_with_temperature():
    logliks = torch.tensor([-1.0, -3.0])
    # T = 1: softmax(-1, -3) = (0.8808, 0.1192); T = 2: softmax(-0.5, -1.5) = (0.7311, 0.2689)
    assert option_log_probs(logliks, 1.0).exp().tolist() == pytest.approx([0.880797, 0.119203], abs=1e-6)
    assert option_log_probs(logliks, 2.0).exp().tolist() == pytest.approx([0.731059, 0.268941], abs=1e-6)


# --------------------------------------------------------------------------------------------
# Decisions and credit
# --------------------------------------------------------------------------------------------


def test_decision_options_by_spec():
    choice = Choice(instruction="", fallback=0, labels=("A", "B"), actions=(0, 1))
    assert decision_options(choice) == ["Answer: A", "Answer: B"]
    coins = Amount(instruction="", fallback=5, low=0.0, high=10.0)
    assert decision_options(coins) == [f"Answer: {k}" for k in range(11)]
    assert decision_options(Amount(instruction="", fallback=0, low=0.0, high=100.0)) is None  # too many
    assert decision_options(Amount(instruction="", fallback=0, low=0.0, high=1.5)) is None  # not whole
    assert decision_options(Amount(instruction="", fallback=0, low=0, high=3, moves=("Give", "Keep"))) is None
    assert decision_options(Message(instruction="", fallback="")) is None


def test_build_chat_matches_the_llm_policy_layout():
    chat = build_chat("RULES", "STATE", "Answer now.", persona="You are kind.")
    assert chat == [{"role": "system", "content": "You are kind.\n\nRULES"},
                    {"role": "user", "content": "STATE\n\nAnswer now."}]


def _match(group, rewards_0, rewards_1, rounds):
    return MatchRecord(env=None, seed=0, group=group, learner_seats=(0,), opponent=None,
                       rewards=[list(rewards_0), list(rewards_1)], rounds=list(rounds))


def test_round_rewards_sum_the_steps_of_a_round():
    # Trust-and-Split shape: two message steps (reward 0) then the proposal step, per round
    match = _match(0, [0, 0, 7, 0, 0, 2], [0, 0, 1, 0, 0, 9], [0, 0, 0, 1, 1, 1])
    assert round_rewards(match).tolist() == [[7.0, 2.0], [1.0, 9.0]]


def test_assign_credit_spreads_round_credit_to_every_token_of_the_round():
    # one group of K = 2 matches, two rounds of three steps; naive credit, gamma 0.5, scale 1.
    # seat 0 round rewards: match 0 [1, 1], match 1 [0, 5]
    # G: match 0 [1 + 0.5 * 1, 1] = [1.5, 1]; match 1 [0 + 0.5 * 5, 5] = [2.5, 5]
    # leave-one-out advantages: match 0 [-1, -4], match 1 [1, 4]
    matches = [_match(0, [0, 0, 1, 0, 0, 1], [0, 0, 3, 0, 0, 3], [0, 0, 0, 1, 1, 1]),
               _match(0, [0, 0, 0, 0, 0, 5], [0, 0, 3, 0, 0, 0], [0, 0, 0, 1, 1, 1])]
    samples = [
        Sample(match=0, seat=0, round=0, prompt_ids=[1], options=[[5], [6]], chosen=1, sampling_logprobs=[-0.1]),
        Sample(match=1, seat=0, round=1, prompt_ids=[1], completion_ids=[7, 8, 9], sampling_logprobs=[-1, -1, -1]),
        Sample(match=1, seat=0, round=1, prompt_ids=[1], options=[[5], [6]], chosen=0, sampling_logprobs=[-0.2]),
    ]
    params = {"gamma": 0.5, "reward_scale": 1.0, "beta": 0.0, "gamma_aa": 0.0}
    assign_credit(matches, samples, "naive", params)
    assert [s.credit for s in samples] == pytest.approx([-1.0, 4.0, 4.0])
    # the message (3 action tokens) and the action of round 1 share the round's credit
    assert [s.action_tokens for s in samples] == [1, 3, 1]
    assert [s.token_credits for s in samples] == [pytest.approx([-1.0]), pytest.approx([4.0] * 3), pytest.approx([4.0])]
    # sum-of-rewards adds the co-player's advantage: seat 1 G m0 [4.5, 3], m1 [3, 0] -> A m0 [1.5, 3], m1 [-1.5, -3]
    assign_credit(matches, samples, "sum_rewards", params)
    assert [s.credit for s in samples] == pytest.approx([-1.0 + 1.5, 4.0 - 3.0, 4.0 - 3.0])


def test_assign_credit_advantage_alignment_uses_past_own_advantages():
    matches = [_match(0, [1, 1], [3, 3], [0, 1]), _match(0, [0, 5], [3, 0], [0, 1])]
    samples = [Sample(match=0, seat=0, round=r, prompt_ids=[1], options=[[5], [6]], chosen=0) for r in (0, 1)]
    params = {"gamma": 0.5, "reward_scale": 1.0, "beta": 2.0, "gamma_aa": 0.5}
    assign_credit(matches, samples, "aa", params)
    # A1 (match 0) = [-1, -4], A2 = [1.5, 3]; w_0 = 0, w_1 = 0.5 * (0.5 * -1) = -0.25
    # credit = A1 + beta * w * A2 = [-1, -4 + 2 * -0.25 * 3] = [-1, -5.5]
    assert [s.credit for s in samples] == pytest.approx([-1.0, -5.5])


def test_assign_credit_three_players_uses_the_n_player_forms():
    # K = 2 matches, N = 3 seats, T = 2 rounds, gamma 0 (returns = rewards): with K = 2 the
    # leave-one-out advantage is the difference between the two matches.
    # A (match 0): seat 0 [-2, -2], seat 1 [-2, 2], seat 2 [2, 0]; match 1 the negatives.
    def three(rewards):
        return MatchRecord(env=None, seed=0, group=0, learner_seats=(0, 1, 2), opponent=None,
                           rewards=[list(r) for r in rewards], rounds=[0, 1])

    matches = [three([[1, 0], [0, 2], [3, 1]]), three([[3, 2], [2, 0], [1, 1]])]
    samples = [Sample(match=0, seat=seat, round=r, prompt_ids=[1], options=[[5], [6]], chosen=0)
               for seat in (0, 1) for r in (0, 1)]
    params = {"gamma": 0.0, "reward_scale": 1.0, "beta": 1.0, "gamma_aa": 0.9}

    def credit(method):
        assign_credit(matches, samples, method, params)
        return [s.credit for s in samples]

    assert credit("naive") == pytest.approx([-2, -2, -2, 2])
    # own + co-players' advantages: t0 -2 - 2 + 2 = -2, t1 -2 + 2 + 0 = 0, for every seat
    assert credit("sum_rewards") == pytest.approx([-2, 0, -2, 0])
    # N-player AA at t = 2 (1-based): seat 0 (-2) * (2 + 0) / 2 = -2; seat 1 (-2) * (-2 + 0) / 2 = 2
    assert credit("aa") == pytest.approx([-2, -4, -2, 4])
    assert match_metrics(matches[:1]) == pytest.approx({
        "return_per_round": 0.5, "other_return_per_round": (2 + 4) / 2 / 2, "welfare_per_round": 3.5,
        "cooperation_rate": math.nan, "split_efficiency": math.nan, "fallbacks": 0, "matches": 1}, nan_ok=True)


def test_a_match_that_ended_early_is_padded_with_empty_rounds():
    matches = [_match(0, [1, 1], [0, 0], [0, 1]), _match(0, [4], [0], [0])]
    assert round_rewards(matches[1], 2).tolist() == [[4.0, 0.0], [0.0, 0.0]]
    samples = [Sample(match=1, seat=0, round=0, prompt_ids=[1], options=[[5], [6]], chosen=0)]
    # gamma 1: G match 0 [2, 1], match 1 [4, 0]; advantage of match 1 at round 0: 4 - 2 = 2
    assign_credit(matches, samples, "naive", {"gamma": 1.0, "reward_scale": 1.0, "beta": 0.0, "gamma_aa": 0.0})
    assert samples[0].credit == pytest.approx(2.0)


def test_assign_credit_with_agrae_suppresses_successes_and_weights_by_difficulty():
    # the matches of the spreading test: naive seat-0 credit m0 [-1, -4], m1 [1, 4]; seat 1 m0 [1.5, 3], m1 [-1.5, -3]
    matches = [_match(0, [0, 0, 1, 0, 0, 1], [0, 0, 3, 0, 0, 3], [0, 0, 0, 1, 1, 1]),
               _match(0, [0, 0, 0, 0, 0, 5], [0, 0, 3, 0, 0, 0], [0, 0, 0, 1, 1, 1])]
    samples = [Sample(match=m, seat=seat, round=r, prompt_ids=[1], options=[[5], [6]], chosen=0)
               for m in (0, 1) for seat in (0, 1) for r in (0, 1)]
    params = {"gamma": 0.5, "reward_scale": 1.0, "beta": 0.0, "gamma_aa": 0.0}
    # success = above the group's mean return per round: seat 0 (1.0, 2.5) -> m1; seat 1 (3.0, 1.5) -> m0.
    # Each seat's group has p = 1/2, so the curriculum weight is 1; positive credit of successes halves.
    rate = assign_credit(matches, samples, "naive", params,
                         agrae={"progress": 0.0, "suppression": 0.5, "curriculum": 1.0, "success": None})
    assert rate == 0.5
    credit = {(s.match, s.seat, s.round): s.credit for s in samples}
    assert [credit[(0, 0, r)] for r in (0, 1)] == pytest.approx([-1.0, -4.0])
    assert [credit[(1, 0, r)] for r in (0, 1)] == pytest.approx([0.5, 2.0])
    assert [credit[(0, 1, r)] for r in (0, 1)] == pytest.approx([0.75, 1.5])
    assert [credit[(1, 1, r)] for r in (0, 1)] == pytest.approx([-1.5, -3.0])
    # a threshold of 0.5 per round: both seat-0 matches succeed, p = 1; at progress 0 easy groups weigh
    # 1 + 1 * (1 - 0) * (1 - 1/2) = 1.5: m0 [-1.5, -6], m1 [1, 4] * 0.5 * 1.5 = [0.75, 3]
    assign_credit(matches, samples, "naive", params,
                  agrae={"progress": 0.0, "suppression": 0.5, "curriculum": 1.0, "success": 0.5})
    credit = {(s.match, s.seat, s.round): s.credit for s in samples}
    assert [credit[(0, 0, r)] for r in (0, 1)] == pytest.approx([-1.5, -6.0])
    assert [credit[(1, 0, r)] for r in (0, 1)] == pytest.approx([0.75, 3.0])
    # at the end of training (progress 1) the same easy group weighs 1 - 0.5 = 0.5
    assign_credit(matches, samples, "naive", params,
                  agrae={"progress": 1.0, "suppression": 0.5, "curriculum": 1.0, "success": 0.5})
    assert [s.credit for s in samples if (s.match, s.seat) == (0, 0)] == pytest.approx([-0.5, -2.0])
    # without A-GRAE the rate is NaN and the credit is the plain rule's
    assert math.isnan(assign_credit(matches, samples, "naive", params))
    assert [s.credit for s in samples if (s.match, s.seat) == (1, 0)] == pytest.approx([1.0, 4.0])


def test_config_rejects_bad_values_by_name():
    with pytest.raises(ValueError, match="agrae_suppression"):
        LLMTrainerConfig(agrae=True, agrae_suppression=1.5)
    with pytest.raises(ValueError, match="agrae_curriculum"):
        LLMTrainerConfig(agrae_curriculum=3.0)
    with pytest.raises(ValueError, match="credit must be one of"):
        LLMTrainerConfig(credit="greedy")
    with pytest.raises(ValueError, match="group_size"):
        LLMTrainerConfig(group_size=1)
    with pytest.raises(ValueError, match="past_opponent_prob"):
        LLMTrainerConfig(past_opponent_prob=1.5)
    with pytest.raises(ValueError, match="model must be"):
        LLMTrainerConfig(model="gpt-4")
    params = LLMTrainerConfig(credit_preset="trust_split", beta=1.0).credit_parameters()
    assert params == {"beta": 1.0, "gamma_aa": 0.96, "gamma": 0.96, "reward_scale": 100.0}


# --------------------------------------------------------------------------------------------
# Acceptance: a LoRA on the embedded model learns the best response to always-defect
# --------------------------------------------------------------------------------------------

IPD_KWARGS = {"n_rounds": 3, "labels": ["A", "B"]}  # B is action 1: defect


@pytest.fixture(scope="module")
def base_model(trainer_base):
    """The embedded model (this module's copy of the session's load) and the trainers built on it so far."""
    return trainer_base(), []


def fresh_trainer(base_model, config):
    """A trainer on the shared base model. The previous trainer's LoRA layers come off first
    (``unload``), so the tests that use an earlier trainer must come before (pytest keeps file order)."""
    from dilemmazoo.agents.trainers.llm_trainer import LLMTrainer

    base, owners = base_model
    while owners:
        owners.pop().model.unload()
    trainer = LLMTrainer(config, base)
    owners.append(trainer)
    return trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory, base_model):
    from dilemmazoo.envs import make_world

    config = LLMTrainerConfig(world="repeated-game", world_kwargs=IPD_KWARGS, groups=2, group_size=4,
                              opponent="always_defect", credit="naive", credit_preset="ipd", lora_r=8, lora_alpha=16,
                              lr=1e-3, iterations=3, checkpoint_every=1, past_opponent_prob=0.0,
                              greedy_opponent="greedy", greedy_matches=2, greedy_every=3, seed=0)
    trainer = fresh_trainer(base_model, config)

    def p_defect() -> float:
        """Mean probability of "Answer: B" in round 1 and after the opponent defected twice."""
        env = make_world("repeated-game", **IPD_KWARGS)
        env.reset(seed=0)
        first = trainer.choice_probabilities(env, "player_0")["Answer: B"]
        env.step({"player_0": np.int64(0), "player_1": np.int64(1)})
        env.step({"player_0": np.int64(1), "player_1": np.int64(1)})
        later = trainer.choice_probabilities(env, "player_0")["Answer: B"]
        return (first + later) / 2

    before = p_defect()
    out = tmp_path_factory.mktemp("lora_ipd")
    history = trainer.train(out)
    return {"trainer": trainer, "before": before, "after": p_defect(), "history": history, "out": out}


@pytest.mark.slow
def test_lora_learns_best_response_to_always_defect(trained):
    history = trained["history"]
    assert [m["iteration"] for m in history] == [1, 2, 3]
    for metrics in history:
        assert math.isfinite(metrics["loss"]) and math.isfinite(metrics["grad_norm"])
        assert metrics["matches"] == 8 and metrics["decisions"] == 8 * 3  # one learner seat, 3 rounds
        assert metrics["is_weight_mean"] == pytest.approx(1.0, abs=1e-3)  # same weights sampled and trained
    assert trained["after"] > trained["before"] + 0.1, (trained["before"], trained["after"])
    # against always-defect the best response earns P = 1 per round; cooperating earns S = 0
    assert history[-1]["return_per_round"] >= history[0]["return_per_round"]
    assert history[-1]["cooperation_rate"] <= history[0]["cooperation_rate"]
    # the exploitation probe runs at iteration 3 only: greedy (maximin first: defect) earns P or T per round
    assert [math.isnan(m["vs_greedy_exploitation"]) for m in history] == [True, True, False]
    assert 0.0 <= history[-1]["vs_greedy_return_per_round"] <= 5.0


@pytest.mark.slow
def test_training_writes_metrics_checkpoints_plots_and_resumes_exactly(trained):
    from dilemmazoo.agents.trainers.llm_trainer import latest_checkpoint

    trainer, out = trained["trainer"], trained["out"]
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in lines] == [1, 2, 3]
    # the report layer draws the run: plots/*.png and report.html from the files alone
    from dilemmazoo.analysis.training import write_training_plots, write_training_report

    plots = {p.name for p in write_training_plots(out)}
    assert {"returns.png", "cooperation.png", "exploitation.png", "loss.png", "kl_entropy.png"} <= plots
    html = write_training_report(out).read_text()
    assert "Training report" in html and "return_per_round" in html and html.count("data:image/png;base64,") >= 5
    latest = latest_checkpoint(out)
    assert latest.name == "iter_000003"
    assert (latest / "adapter_model.safetensors").exists() and (latest / "adapter_config.json").exists()
    saved_weights = trainer.adapter_state()
    saved_rng = trainer.rng.bit_generator.state
    # move away from the checkpoint (weights, generator, iteration), then restore it
    with torch.no_grad():
        for parameter in trainer.model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.01)
    trainer.rng.random(5)
    trainer.iteration = 99
    trainer.load_checkpoint(latest)
    assert trainer.iteration == 3
    assert trainer.rng.bit_generator.state == saved_rng
    restored = trainer.adapter_state()
    assert all(torch.equal(saved_weights[k], restored[k]) for k in saved_weights)


@pytest.mark.slow
def test_rollouts_are_seeded_and_evaluation_alternates_seats(trained):
    trainer = trained["trainer"]
    saved = trainer.rng
    try:
        runs = []
        for _ in range(2):
            trainer.rng = np.random.default_rng(7)
            matches, samples = trainer.play(["always_defect"] * 2, [3, 3], [(0,), (1,)])
            runs.append(([m.rewards for m in matches], [s.chosen for s in samples]))
        assert runs[0] == runs[1]
        assert [s.seat for s in samples] == [0, 1] * 3  # both matches decide every round
    finally:
        trainer.rng = saved
    rows = trainer.evaluate(["always_defect", "always_cooperate"], matches=2, seed=1)
    assert [(r["adapter"], r["opponent"]) for r in rows] == [("live", "always_defect"), ("live", "always_cooperate")]
    # against always-defect the learner gets S = 0 or P = 1 per round and the opponent T = 5 or P = 1
    assert 0.0 <= rows[0]["return_per_round"] <= 1.0 and 1.0 <= rows[0]["other_return_per_round"] <= 5.0


# --------------------------------------------------------------------------------------------
# Training configs (experiments/train_llm.py)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["ipd_naive", "ipd_advantage_alignment", "trust_split_naive",
                                    "trust_split_advantage_alignment"])
def test_presets_validate_with_the_spec_values(preset):
    from dilemmazoo.experiments.train_llm import load_training_config, trainer_config

    config = load_training_config(preset)
    trainer = trainer_config(config.trainer)
    assert config.name == preset
    assert (trainer.lora_r, trainer.lora_alpha, trainer.lr) == (32, 64, 3e-6)
    assert (trainer.is_cap, trainer.grad_clip) == (2.0, 1.0)
    assert (trainer.temperature, trainer.max_new_tokens, trainer.past_opponent_prob) == (1.0, 400, 0.5)
    assert trainer.credit == ("naive" if preset.endswith("naive") else "aa")
    matches = trainer.groups * trainer.group_size
    if preset.startswith("ipd"):
        assert (matches, trainer.kl_coef, trainer.credit_parameters()["beta"]) == (128, 0.0, 0.5)
    else:
        assert (matches, trainer.kl_coef, trainer.credit_parameters()["beta"]) == (64, 0.001, 2.0)


def test_training_config_overrides_and_errors(tmp_path):
    from dilemmazoo.experiments.train_llm import load_training_config

    config = load_training_config("ipd_naive", ["trainer.iterations=5", "trainer.world_kwargs.n_rounds=3",
                                                "evaluation.matches=2"])
    assert config.trainer["iterations"] == 5 and config.trainer["world_kwargs"]["n_rounds"] == 3
    assert config.evaluation.matches == 2
    with pytest.raises(ValueError, match="trainer.learning_rate: unknown field"):
        load_training_config("ipd_naive", ["trainer.learning_rate=0.1"])
    with pytest.raises(ValueError, match="credit must be one of"):
        load_training_config("ipd_naive", ["trainer.credit=selfish"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        load_training_config("ipd_naive", ["trainer.lr"])
    with pytest.raises(ValueError, match="no training config"):
        load_training_config("ipd_nonexistent")
    (tmp_path / "t.yaml").write_text("name: mine\ntrainer: {credit: sum_rewards}\nextra: 1\n")
    with pytest.raises(ValueError, match="extra"):
        load_training_config(str(tmp_path / "t.yaml"))


@pytest.mark.slow
def test_option_scoring_on_a_shared_prompt_cache_matches_whole_rows(trained):
    """Options scored on top of their prompt's cache (prefix shared by the batch) equal each
    prompt + option run whole, in value and in gradient."""
    from dilemmazoo.envs import make_world

    trainer = trained["trainer"]
    prompts, options = [], []
    for seed, world in enumerate(["repeated-game", "trust-split"]):
        env = make_world(world)
        env.reset(seed=seed)
        if world == "trust-split":  # two messages, then both propose 0..10 coins
            env.step({a: "Hello." for a in env.agents})
            env.step({a: "Hi." for a in env.agents})
        for agent in env.deciders():
            spec = env.action_spec(agent)
            prompts.append(trainer.prompt_ids(build_chat(env.rules(agent), env.describe(agent), spec.instruction)))
            options.append([trainer.reply_ids(o) for o in decision_options(spec)])
    assert [len(o) for o in options] == [2, 2, 11, 11]
    cached = trainer._option_logliks(prompts, options, grad=False)
    whole = trainer._option_logliks_whole(prompts, options, grad=False)
    for a, b in zip(cached, whole):
        assert torch.allclose(a, b, atol=1e-4)
    # gradients on the IPD prompts (two rows share the rules' prefix; the Trust-and-Split rows add cost only)
    prompts, options = prompts[:2], options[:2]
    cached = trainer._option_logliks(prompts, options, grad=True)
    whole = trainer._option_logliks_whole(prompts, options, grad=True)
    parameters = [p for p in trainer.model.parameters() if p.requires_grad]
    grads_cached = torch.autograd.grad(sum(x.sum() for x in cached), parameters)
    grads_whole = torch.autograd.grad(sum(x.sum() for x in whole), parameters)
    for a, b in zip(grads_cached, grads_whole):  # float32 sums in another order: compare by norm
        assert float((a - b).norm()) <= 1e-3 * float(b.norm()) + 1e-6


@pytest.mark.slow
def test_trust_split_iteration_trains_generated_messages_with_their_round_credit(base_model):
    """One self-play iteration of Trust-and-Split: messages are generated (free text), proposals
    scored; the sampling log-probabilities of generated tokens equal the training forward's
    (importance weight 1 before the step), and a round's messages share the proposal's credit."""
    config = LLMTrainerConfig(world="trust-split", world_kwargs={"n_rounds": 1}, groups=1, group_size=2,
                              opponent="self", credit="aa", credit_preset="trust_split", lora_r=4, lora_alpha=8,
                              lr=1e-4, iterations=1, max_new_tokens=6, seed=3)
    trainer = fresh_trainer(base_model, config)
    captured = {}
    original = trainer.update

    def update(samples):
        captured["samples"] = list(samples)
        return original(samples)

    trainer.update = update
    metrics = trainer.iterate()
    samples = captured["samples"]
    messages = [s for s in samples if s.completion_ids]
    proposals = [s for s in samples if s.options]
    # 2 matches x 2 seats x (1 message + 1 proposal); both seats learn in self-play
    assert len(messages) == 4 and len(proposals) == 4
    assert all(1 <= len(s.completion_ids) <= 6 and len(s.sampling_logprobs) == len(s.completion_ids)
               for s in messages)
    for message in messages:
        proposal = next(p for p in proposals if (p.match, p.seat, p.round) == (message.match, message.seat, 0))
        assert message.round == 0 and message.token_credits == [proposal.credit] * len(message.completion_ids)
    assert metrics["is_weight_mean"] == pytest.approx(1.0, abs=2e-3)
    assert metrics["is_clipped_fraction"] == 0.0
    assert math.isfinite(metrics["loss"]) and 0.0 <= metrics["split_efficiency"] <= 1.0
    assert metrics["decisions"] == 8 and metrics["matches"] == 2


@pytest.mark.slow
def test_three_player_commons_iteration_rotates_the_learner_seat(base_model):
    """Mixed play in a three-player world: one scripted instance per other seat, the learner's seat
    rotating over groups (g % 3), only its decisions trained, N-player credit."""
    config = LLMTrainerConfig(world="commons", world_kwargs={"n_agents": 3, "n_months": 1, "communication": False},
                              groups=3, group_size=2, opponent="commons_sustainable", credit="aa", credit_preset="ipd", lora_r=4,
                              lora_alpha=8, lr=1e-4, iterations=1, max_new_tokens=6, seed=5)
    trainer = fresh_trainer(base_model, config)
    assert trainer.players == 3
    captured = {}
    original = trainer.assign_credit

    def assign_credit_spy(matches, samples):
        captured["matches"], captured["samples"] = list(matches), list(samples)
        return original(matches, samples)

    trainer.assign_credit = assign_credit_spy
    metrics = trainer.iterate()
    matches, samples = captured["matches"], captured["samples"]
    assert [m.learner_seats for m in matches] == [(0,), (0,), (1,), (1,), (2,), (2,)]
    assert all(len(m.scripted) == 2 and len(m.rewards) == 3 for m in matches)
    assert samples and all(s.seat == matches[s.match].learner_seats[0] for s in samples)
    assert all(math.isfinite(s.credit) for s in samples)
    own = np.mean([sum(m.rewards[m.learner_seats[0]]) / len(set(m.rounds)) for m in matches])
    assert metrics["return_per_round"] == pytest.approx(own)
    assert math.isfinite(metrics["loss"]) and metrics["matches"] == 6


@pytest.mark.slow
def test_bfloat16_with_gradient_checkpointing_trains_on_cpu(base_model):
    """The GPU settings (bf16 weights, gradient checkpointing: whole rows, no caches in training, a KL
    reference pass) run one IPD iteration on the CPU. Runs last: it turns the shared base model to bf16."""
    base, owners = base_model
    while owners:
        owners.pop().model.unload()
    base[0].to(torch.bfloat16)
    config = LLMTrainerConfig(world="repeated-game", world_kwargs={**IPD_KWARGS, "n_rounds": 2}, groups=1,
                              group_size=2, opponent="self", credit="aa", credit_preset="ipd", lora_r=4, lora_alpha=8,
                              lr=1e-4, iterations=1, kl_coef=0.001, gradient_checkpointing="on", seed=3)
    trainer = fresh_trainer(base_model, config)
    assert trainer.gradient_checkpointing and next(trainer.model.parameters()).dtype == torch.bfloat16
    metrics = trainer.iterate()
    assert math.isfinite(metrics["loss"]) and metrics["grad_norm"] > 0.0
    assert metrics["kl"] >= 0.0 and math.isfinite(metrics["kl"])
    # sampling ran with caches, training whole rows: in bf16 they agree to a few hundredths
    assert metrics["is_weight_mean"] == pytest.approx(1.0, abs=0.1)
