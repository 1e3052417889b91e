"""Trainers: credit assignment and policy-gradient updates for LLM and small-net agents.

- :mod:`~dilemmazoo.agents.trainers.credit` (numpy only): returns-to-go, leave-one-out group
  baselines, naive / sum-of-rewards / Advantage Alignment credit (two-player and N-player),
  A-GRAE weighting, per-world presets, round-to-token credit. Re-exported here.
- :mod:`~dilemmazoo.agents.trainers.small_net` (needs torch, the ``local`` extra): PPO with these
  credits for small torch policies on a vectorized iterated prisoner's dilemma;
  :mod:`~dilemmazoo.agents.trainers.ippo`: IPPO on the gridworlds, with the N-player credits;
  :mod:`~dilemmazoo.agents.trainers.llm_trainer`: LoRA policy gradient for language agents (config,
  loop, checkpoints), composed of :mod:`~dilemmazoo.agents.trainers.llm_model` (base model,
  adapter weights, forward passes), :mod:`~dilemmazoo.agents.trainers.llm_rollout` (matches and
  decisions), :mod:`~dilemmazoo.agents.trainers.llm_credit` (rewards to per-token credit) and
  :mod:`~dilemmazoo.agents.trainers.llm_update` (loss and optimizer step);
  :mod:`~dilemmazoo.agents.trainers.grpo`: the single-agent GRPO baseline on TRL. Import them
  explicitly; they are not imported here so that the credit math works without torch.
"""

from dilemmazoo.agents.trainers import credit as _credit
from dilemmazoo.agents.trainers.credit import *  # noqa: F403 (the credit math is this package's API)

__all__ = list(_credit.__all__)
