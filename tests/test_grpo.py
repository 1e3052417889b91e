"""The single-agent GRPO baseline on TRL (agents/trainers/grpo.py; TRL GRPOTrainer, Shao et al. 2024;
A-GRAE: arXiv 2602.05548)."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("trl")

from dilemmazoo.agents.trainers.grpo import (  # noqa: E402  (after the import checks)
    GRPO_METRIC_KEYS,
    GRPOBaselineConfig,
    MatchRollout,
    agrae_rescale,
    evaluate_grpo,
    grpo_config_from_dict,
    match_grpo_trainer_class,
    match_return_reward,
    train_grpo,
)

IPD_2_ROUNDS = {"game": "prisoners_dilemma", "n_rounds": 2, "labels": ["A", "B"]}


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def test_defaults_are_the_spec_trl_values():
    config = GRPOBaselineConfig()
    assert (config.world, config.opponent, config.model) == ("repeated-game", "always_defect", "embedded")
    assert (config.epsilon, config.loss_type, config.beta) == (0.2, "dapo", 0.0)
    assert config.num_generations >= 2 and config.agrae is False


@pytest.mark.parametrize("field, value, message", [
    ("num_generations", 1, "num_generations must be an integer >= 2"),
    ("loss_type", "ppo", "loss_type must be one of"),
    ("scale_rewards", "max", "scale_rewards must be one of"),
    ("opponent", "self", "opponent must be a scripted strategy name"),
    ("model", "gpt2", "model must be 'embedded' or 'hf:PATH'"),
    ("beta", -0.1, "beta"),
    ("epsilon", 0.0, "epsilon must be a number > 0"),
    ("iterations", 0, "iterations must be an integer >= 1"),
    ("micro_batch_size", 3, "micro_batch_size must be None or a divisor"),
    ("agrae_suppression", 1.5, "agrae_suppression must be a number <= 1"),
    ("agrae_curriculum", 2.5, "agrae_curriculum must be a number <= 2"),
    ("dtype", "float16", "dtype must be one of"),
    ("world_kwargs", [1], "world_kwargs must be a mapping"),
])
def test_bad_config_values_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        GRPOBaselineConfig(**{field: value})


def test_micro_batch_size_divides_the_step():
    assert GRPOBaselineConfig(prompts_per_step=2, num_generations=4, micro_batch_size=4).micro_batch_size == 4


def test_config_from_a_training_file_mapping_and_from_flat_fields():
    file_layout = {"name": "ipd_grpo", "description": "x", "algorithm": "grpo",
                   "trainer": {"iterations": "5", "lr": "1e-4", "world_kwargs": IPD_2_ROUNDS},
                   "evaluation": {"opponents": ["always_defect"]}}
    config = grpo_config_from_dict(file_layout)
    assert (config.iterations, config.lr, config.world_kwargs) == (5, 1e-4, IPD_2_ROUNDS)  # strings converted
    flat = grpo_config_from_dict({"trainer": "grpo", "description": "x", "num_generations": 4, "agrae": True})
    assert (flat.num_generations, flat.agrae) == (4, True)


def test_config_from_dict_rejects_unknown_fields_and_other_algorithms():
    with pytest.raises(ValueError, match="trainer.groups: unknown field"):
        grpo_config_from_dict({"algorithm": "grpo", "trainer": {"groups": 4}})
    with pytest.raises(ValueError, match="algorithm must be 'grpo'"):
        grpo_config_from_dict({"algorithm": "policy_gradient", "trainer": {}})
    with pytest.raises(ValueError, match="num_generations must be an integer >= 2"):
        grpo_config_from_dict({"trainer": {"num_generations": 1}})


def test_the_preset_file_loads():
    from pathlib import Path

    import yaml

    import dilemmazoo.experiments as experiments

    path = Path(experiments.__file__).resolve().parent / "configs" / "training" / "ipd_grpo.yaml"
    data = yaml.safe_load(path.read_text())
    config = grpo_config_from_dict(data)
    assert data["algorithm"] == "grpo" and data["name"] == "ipd_grpo"
    assert (config.opponent, config.num_generations, config.loss_type, config.epsilon) == ("always_defect", 8,
                                                                                            "dapo", 0.2)


# --------------------------------------------------------------------------------------------
# Reward and A-GRAE, hand-computed
# --------------------------------------------------------------------------------------------


def test_reward_is_the_return_per_round_passed_by_the_rollout():
    assert match_return_reward(["p", "p"], ["c1", "c2"], return_per_round=[0.5, 1]) == [0.5, 1.0]
    with pytest.raises(ValueError, match="one return per completion"):
        match_return_reward(["p"], ["c1", "c2"], return_per_round=[0.5])


def test_agrae_rescale_hand_values():
    # group 1: rewards 1,0,0,1 (mean 0.5): successes 0 and 3, success rate 1/2 -> curriculum weight 1;
    #          positive advantages of successes x (1 - 0.3).
    # group 2: rewards 3,0,0,0 (mean 0.75): success 0 only, rate 1/4; progress 0 -> weight
    #          1 + 1 * (1 - 0) * (1/4 - 1/2) = 0.75; progress 1 -> 1 + 1 * (-1) * (-1/4) = 1.25.
    advantages = [0.866, -0.866, -0.866, 0.866, 1.5, -0.5, -0.5, -0.5]
    rewards = [1, 0, 0, 1, 3, 0, 0, 0]
    start = agrae_rescale(advantages, rewards, 4, progress=0.0, suppression=0.3, curriculum=1.0)
    assert start.tolist() == pytest.approx([0.866 * 0.7, -0.866, -0.866, 0.866 * 0.7,
                                            1.5 * 0.7 * 0.75, -0.375, -0.375, -0.375])
    end = agrae_rescale(advantages, rewards, 4, progress=1.0, suppression=0.3, curriculum=1.0)
    assert end[4:].tolist() == pytest.approx([1.5 * 0.7 * 1.25, -0.625, -0.625, -0.625])
    # a threshold instead of the group mean: every reward is above -1 (rate 1, weight 1.5 at progress 0)
    threshold = agrae_rescale(advantages, rewards, 4, progress=0.0, success_threshold=-1.0)
    assert threshold[4:].tolist() == pytest.approx([1.5 * 0.7 * 1.5, -0.75, -0.75, -0.75])
    strict = agrae_rescale(advantages, rewards, 4, progress=0.0, success_threshold=1.0)
    # 1 is not above 1: no success in group 1, rate 0 -> weight 1 + 1 * 1 * (0 - 1/2) = 0.5, nothing suppressed
    assert strict[:4].tolist() == pytest.approx([0.433, -0.433, -0.433, 0.433])


def test_agrae_rescale_checks_the_group_layout():
    with pytest.raises(ValueError, match="whole groups"):
        agrae_rescale([1.0, -1.0, 0.0], [1.0, 0.0, 0.0], 2, progress=0.5)
    with pytest.raises(ValueError, match="progress must be in"):
        agrae_rescale([1.0, -1.0], [1.0, 0.0], 2, progress=1.5)


@pytest.mark.parametrize("agrae", [False, True])
def test_trainer_subclass_hands_rows_to_the_rollout_and_rescales_with_agrae(monkeypatch, agrae):
    import types

    from trl import GRPOTrainer

    seen = {}

    def parent(self, inputs):  # stands in for TRL's generation and scoring
        seen["rows"] = self.match_inputs
        for row, reward in zip(inputs, [3.0, 0.0, 0.0, 0.0]):
            row["return_per_round"] = reward  # TRL merges the rollout's extra fields into the rows
        return {"advantages": torch.tensor([1.5, -0.5, -0.5, -0.5])}

    monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions", parent)
    cls = match_grpo_trainer_class()
    trainer = cls.__new__(cls)  # no model: only the override is exercised
    trainer.grpo_baseline = GRPOBaselineConfig(num_generations=4, agrae=agrae)
    trainer.num_generations = 4
    trainer.state = types.SimpleNamespace(global_step=2, max_steps=10)
    rows = [{"match_seed": 7, "learner_seat": k % 2} for k in range(4)]
    out = trainer._generate_and_score_completions(rows)
    assert seen["rows"] is rows and trainer.match_inputs is None
    # one success (3 > mean 0.75), rate 1/4; progress 2/10 -> weight 1 + (1 - 0.4) * (1/4 - 1/2) = 0.85;
    # the success's positive advantage also x 0.7
    expected = [1.5 * 0.7 * 0.85, -0.425, -0.425, -0.425] if agrae else [1.5, -0.5, -0.5, -0.5]
    assert out["advantages"].tolist() == pytest.approx(expected, abs=1e-6)


# --------------------------------------------------------------------------------------------
# Rollouts with a scripted generator (the real tokenizer, no model)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from dilemmazoo.agents.backends.embedded import EMBEDDED_GGUF, embedded_model_folder

    return AutoTokenizer.from_pretrained(embedded_model_folder(), gguf_file=EMBEDDED_GGUF, local_files_only=True)


def scripted_generator(tokenizer, replies_per_match: list[list[str]], calls: list):
    """Answers the rollout's calls in order: call k gives match m its k-th reply (log-prob -0.25 per token)."""

    def generate(sequences, seed):
        k = len(calls)
        calls.append((list(map(list, sequences)), seed))
        out = []
        for m in range(len(sequences)):
            ids = tokenizer(replies_per_match[m][k], add_special_tokens=False)["input_ids"]
            out.append((ids, [-0.25] * len(ids)))
        return out

    return generate


def test_rollout_plays_whole_matches_masks_feedback_and_counts_invalid_answers(tokenizer):
    config = GRPOBaselineConfig(world_kwargs=IPD_2_ROUNDS, opponent="always_defect", answer_prefix="Answer:")
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    rollout = MatchRollout(config, tokenizer, [end])
    replies = [[" B<|im_end|>", " maybe<|im_end|>"],  # defect, then an answer that does not parse
               [" B<|im_end|>", " B<|im_end|>"]]
    calls = []
    out = rollout.play(scripted_generator(tokenizer, replies, calls), match_seeds=[7, 7], learner_seats=[0, 1], seed=3)
    # match 0: B vs D -> 1; fallback A (cooperate) vs D -> 0: (1 + 0) / 2 rounds. match 1: 1 and 1.
    assert out["return_per_round"] == [0.5, 1.0]
    assert len(calls) == 2  # one generation call per round, both matches batched
    matches, _ = rollout.take()
    assert [m.record.fallbacks for m in matches] == [1, 0]
    assert [m.decisions for m in matches] == [2, 2]
    assert matches[0].record.played == [(1, 1), (0, 1)]  # (learner seat 0, opponent)
    assert matches[1].record.played == [(1, 1), (1, 1)]  # seat 1: (opponent, learner)
    for m in range(2):
        ids, mask, logps = out["completion_ids"][m], out["env_mask"][m], out["logprobs"][m]
        assert len(ids) == len(mask) == len(logps)
        answer_ids = [i for i, keep in zip(ids, mask) if keep]
        expected = sum((tokenizer(r, add_special_tokens=False)["input_ids"] for r in replies[m]), [])
        assert answer_ids == expected  # exactly the learner's tokens are trainable
        assert [x for x, keep in zip(logps, mask) if keep] == [-0.25] * len(expected)
        assert all(x == 0.0 for x, keep in zip(logps, mask) if not keep)
        assert ids[-1] == end  # the completion ends with the last answer's end-of-turn
        # the second call saw exactly prompt + completion so far, ending with the masked answer prefix
        second = calls[1][0][m]
        assert second == out["prompt_ids"][m] + ids[: len(second) - len(out["prompt_ids"][m])]
        assert tokenizer.decode(second).endswith("<|im_start|>assistant\nAnswer:")
    text = tokenizer.decode(out["prompt_ids"][0] + out["completion_ids"][0])
    assert text.count("<|im_start|>user") == 2 and "In round 1, you chose Option B" in text
    assert text.rstrip().endswith("Answer: maybe<|im_end|>")


def test_rollout_is_reproducible_and_the_generator_seed_follows_the_step_seed(tokenizer):
    config = GRPOBaselineConfig(world_kwargs=IPD_2_ROUNDS, answer_prefix="Answer:")
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    replies = [[" A<|im_end|>", " B<|im_end|>"]]
    runs = []
    for seed in (5, 5, 6):
        calls = []
        out = MatchRollout(config, tokenizer, [end]).play(scripted_generator(tokenizer, replies, calls), [11], [0],
                                                          seed=seed)
        runs.append((out, [c[1] for c in calls]))
    assert runs[0] == runs[1]
    assert runs[0][1] != runs[2][1]
    assert runs[0][0]["return_per_round"] == [0.5]  # A vs D: 0, B vs D: 1


def test_rollout_serves_worlds_with_talk_phases(tokenizer):
    # Trust-and-Split: each round one message each (the starter alternates), then both propose;
    # the learner answers its own message and proposal turns, the opponent's talk is played without tokens
    config = GRPOBaselineConfig(world="trust-split", opponent="split_greedy", answer_prefix="Answer:")
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    rollout = MatchRollout(config, tokenizer, [end])
    replies = [[" 5<|im_end|>"] * 20]
    out = rollout.play(scripted_generator(tokenizer, replies, []), [1], [0], seed=0)
    (match,), _ = rollout.take()
    assert match.decisions == 20 and match.record.fallbacks == 0  # 10 messages + 10 proposals, all valid
    assert sorted(set(match.record.rounds)) == list(range(10))
    assert len(out["completion_ids"][0]) == len(out["env_mask"][0]) == len(out["logprobs"][0])
    per_answer = len(tokenizer(" 5<|im_end|>", add_special_tokens=False)["input_ids"])
    assert sum(out["env_mask"][0]) == 20 * per_answer  # only the learner's answer tokens are trainable
    assert out["return_per_round"][0] == pytest.approx(sum(match.record.rewards[0]) / 10)


def test_evaluate_needs_an_adapter(tmp_path):
    with pytest.raises(ValueError, match="no peft adapter"):
        evaluate_grpo(tmp_path, ["always_defect"], config=GRPOBaselineConfig())


# --------------------------------------------------------------------------------------------
# Training the embedded model with TRL (slow)
# --------------------------------------------------------------------------------------------


def _defect_probability(model, tokenizer, config: GRPOBaselineConfig) -> float:
    """P(" B" | the first round's prompt + "Answer:") under ``model``, normalised over " A" and " B"."""
    from dilemmazoo.agents.trainers.llm_rollout import build_chat
    from dilemmazoo.envs import make_world

    env = make_world(config.world, **config.world_kwargs)
    env.reset(seed=0)
    chat = build_chat(env.rules("player_0"), env.describe("player_0"), env.action_spec("player_0").instruction)
    text = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False) + "Answer:"
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    option_a = tokenizer(" A", add_special_tokens=False)["input_ids"][0]
    option_b = tokenizer(" B", add_special_tokens=False)["input_ids"][0]
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, -1].float()
    two = torch.softmax(logits[[option_a, option_b]], dim=0)
    return float(two[1])


@pytest.mark.slow
def test_grpo_trains_the_embedded_model_toward_defecting_against_always_defect(tmp_path, trainer_base):
    from dilemmazoo.agents.trainers.llm_trainer import read_metrics

    base = trainer_base()
    untrained = trainer_base()  # the evaluation's base (training injects LoRA into base); a copy, not a second load
    # small enough for a shared 2-core CPU (~2 minutes): one prompt x G=4 matches of 2 rounds per step,
    # LoRA on the attention's q and v projections only, a large learning rate so 3 steps show
    config = GRPOBaselineConfig(world_kwargs=IPD_2_ROUNDS, opponent="always_defect", device="cpu", iterations=3,
                                prompts_per_step=1, num_generations=4, max_new_tokens=2, answer_prefix="Answer:",
                                lr=2e-3, lora_r=8, lora_alpha=16, lora_target_modules=["q_proj", "v_proj"],
                                checkpoint_every=2, seed=0)
    before = _defect_probability(base[0], base[1], config)
    history = train_grpo(config, tmp_path, base=base)
    after = _defect_probability(base[0], base[1], config)  # LoRA layers were injected into base in place

    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == [1, 2, 3] and len(history) == 3
    assert all(set(row) == set(GRPO_METRIC_KEYS) for row in rows)
    for row in rows:
        assert math.isfinite(row["loss"]) and math.isfinite(row["grad_norm"])
        assert row["matches"] == 4 and row["decisions"] == 8
        assert 0.0 <= row["cooperation_rate"] <= 1.0 and 0.0 <= row["return_per_round"] <= 1.0  # vs always-defect
        assert 0.0 <= row["invalid_answer_rate"] <= 1.0
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    assert json.loads((tmp_path / "config.json").read_text())["num_generations"] == 4
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    from dilemmazoo.analysis.training import write_training_plots

    assert "returns.png" in {p.name for p in write_training_plots(tmp_path)}  # the analysis layer reads the run
    # against always-defect the best response is to defect: GRPO must not make it less likely
    assert after > before + 0.05, (before, after)

    # the saved adapter plays again from disk, against fixed opponents
    evaluation = evaluate_grpo(tmp_path, ["always_defect", "always_cooperate"], matches=2, seed=1,
                               base=untrained)
    assert [row["opponent"] for row in evaluation] == ["always_defect", "always_cooperate"]
    assert all(row["matches"] == 2 and row["adapter"].endswith("adapter") for row in evaluation)
    assert 0.0 <= evaluation[0]["return_per_round"] <= 1.0  # vs always-defect: P = 1 at best
    assert 3.0 <= evaluation[1]["return_per_round"] <= 5.0  # vs always-cooperate: R = 3 or T = 5
