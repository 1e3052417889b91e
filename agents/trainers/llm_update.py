"""The update of the LoRA trainer: the per-token policy-gradient loss and the optimizer step.

Part of :mod:`~dilemmazoo.agents.trainers.llm_trainer`. Sources: arXiv 2511.19405 (REINFORCE per
action token with a truncated importance weight, k3 KL to the base model); Schulman 2020,
"Approximating KL divergence" (the k3 estimator).

Loss (:func:`token_loss`), averaged over all action tokens of the iteration
-------------------------------------------------------------------------------
``loss_tok = -w * credit * logp - entropy_coef * H + kl_coef * k3``, with ``logp`` the current
log-probability of the token, ``w = min(exp(logp - logp_sampling), is_cap)`` the truncated
importance weight (no gradient), ``k3 = exp(logp_ref - logp) - (logp_ref - logp) - 1`` against
the base model (the adapter switched off), and ``H`` the entropy of the token's distribution.
One optimizer step (Adam) per iteration with gradient-norm clipping at ``grad_clip``; the
micro-batches of an iteration accumulate gradients. A micro-batch holds at most
``max_batch_tokens`` tokens beyond the prefix all its rows share (the world's rules): that prefix
runs once and its key/value cache is repeated for every row, gradients included.
"""

from __future__ import annotations

try:
    import torch
except ImportError as error:  # torch comes with the "local" extra
    raise ImportError('the LLM trainer needs torch, transformers and peft: '
                      'pip install "dilemmazoo[local]" peft') from error

from dilemmazoo.agents.backends.hf import _common_prefix_length
from dilemmazoo.agents.trainers.llm_model import option_log_probs
from dilemmazoo.agents.trainers.llm_rollout import Sample

__all__ = ["PolicyUpdate", "k3_kl", "token_loss", "truncated_importance_weight"]


def truncated_importance_weight(logp: torch.Tensor, sampling_logp: torch.Tensor, cap: float) -> torch.Tensor:
    """``min(exp(logp - logp_sampling), cap)``, without gradient.

    Corrects for the (small) difference between the engine that sampled (generation kernels,
    dtype, an older copy of the weights) and the policy being trained, and caps the correction.
    """
    return torch.exp(logp.detach() - sampling_logp.detach()).clamp(max=float(cap))


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of ``KL(pi || pi_ref)`` on tokens sampled from ``pi``:
    ``exp(ref - logp) - (ref - logp) - 1`` (>= 0, unbiased; Schulman 2020)."""
    log_ratio = ref_logp - logp
    return torch.exp(log_ratio) - log_ratio - 1.0


def token_loss(logp: torch.Tensor, sampling_logp: torch.Tensor, credit: torch.Tensor, *, is_cap: float,
               ref_logp: torch.Tensor | None = None, entropy: torch.Tensor | None = None, kl_coef: float = 0.0,
               entropy_coef: float = 0.0) -> dict[str, torch.Tensor]:
    """Per-token loss terms (see the module docstring); every tensor has one entry per action token.

    Returns ``loss`` (per token, to be averaged), ``pg``, ``kl``, ``weight`` (the truncated
    importance weight) and ``clipped`` (1.0 where the weight was capped).
    """
    weight = truncated_importance_weight(logp, sampling_logp, is_cap)
    raw = torch.exp(logp.detach() - sampling_logp.detach())
    pg = -weight * credit * logp
    loss = pg
    kl = k3_kl(logp, ref_logp) if ref_logp is not None else torch.zeros_like(logp)
    if ref_logp is not None and kl_coef:
        loss = loss + kl_coef * kl
    if entropy is not None and entropy_coef:
        loss = loss - entropy_coef * entropy
    return {"loss": loss, "pg": pg, "kl": kl, "weight": weight, "clipped": (raw > is_cap).to(logp.dtype)}


class PolicyUpdate:
    """One optimizer step of the LoRA policy on a rollout's samples (a mixin of
    :class:`~dilemmazoo.agents.trainers.llm_trainer.LLMTrainer`).

    Reads from the trainer: ``config``, ``model``, ``optimizer``, ``gradient_checkpointing`` and the
    passes of :class:`~dilemmazoo.agents.trainers.llm_model.PolicyPasses`.
    """

    # -- update --------------------------------------------------------------------------------
    def update(self, samples: list[Sample]) -> dict[str, float]:
        """One optimizer step on ``samples`` (gradients accumulated over micro-batches)."""
        config = self.config
        total_tokens = sum(s.action_tokens for s in samples)
        sums = {"loss": 0.0, "pg": 0.0, "kl": 0.0, "entropy": 0.0, "weight": 0.0, "clipped": 0.0}
        if total_tokens == 0:
            return {**{k: float("nan") for k in sums}, "grad_norm": 0.0}
        want_ref = config.kl_coef > 0
        self.optimizer.zero_grad(set_to_none=True)
        if self.gradient_checkpointing:
            self._checkpointing(True)
            self.model.train()  # transformers checkpoints only in training mode (LoRA dropout applies then)
        try:
            # budget micro-batches by the tokens each sample runs beyond the prefix all prompts share
            # (with checkpointing every row runs whole: no shared prefix)
            shared = _common_prefix_length([s.prompt_ids for s in samples]) \
                if len(samples) > 1 and not self.gradient_checkpointing else 0
            costs = [len(s.prompt_ids) - shared + (sum(map(len, s.options)) if s.options is not None
                                                   else len(s.completion_ids)) for s in samples]
            for batch in self._chunks(costs):
                terms = self._batch_terms([samples[i] for i in batch], want_ref)
                (terms["loss"].sum() / total_tokens).backward()
                for key in sums:
                    sums[key] += float(terms[key].detach().sum())
        finally:
            self.model.eval()
            if self.gradient_checkpointing:
                self._checkpointing(False)
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        grad_norm = float(torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        out = {key: value / total_tokens for key, value in sums.items()}
        out["grad_norm"] = grad_norm
        if not want_ref:
            out["kl"] = float("nan")
        return out

    def _batch_terms(self, batch: list[Sample], want_ref: bool) -> dict[str, torch.Tensor]:
        """Per-action-token loss terms of a micro-batch, concatenated."""
        config = self.config
        logps, sampling, credits, entropies, refs = [], [], [], [], []
        scored = [s for s in batch if s.options is not None]
        generated = [s for s in batch if s.options is None]
        if scored:
            logliks = self._option_logliks([s.prompt_ids for s in scored], [s.options for s in scored], grad=True)
            ref_logliks = (self._option_logliks([s.prompt_ids for s in scored], [s.options for s in scored],
                                                grad=False, reference=True) if want_ref else None)
            for j, (sample, ll) in enumerate(zip(scored, logliks)):
                logp = option_log_probs(ll, config.temperature)
                logps.append(logp[sample.chosen: sample.chosen + 1])
                entropies.append(-(logp.exp() * logp).sum().reshape(1))
                if ref_logliks is not None:
                    refs.append(option_log_probs(ref_logliks[j], config.temperature)[sample.chosen: sample.chosen + 1])
        if generated:
            rows = [(s.prompt_ids + s.completion_ids, len(s.completion_ids)) for s in generated]
            temps = [config.temperature] * len(rows)
            current = self._token_logprobs(rows, temps, grad=True, entropy=True)
            reference = self._token_logprobs(rows, temps, grad=False, reference=True) if want_ref else None
            for j, (logp, ent) in enumerate(current):
                logps.append(logp)
                entropies.append(ent)
                if reference is not None:
                    refs.append(reference[j][0])
        for s in scored + generated:
            sampling.extend(s.sampling_logprobs)
            credits.extend(s.token_credits)
        logp = torch.cat(logps)
        as_tensor = lambda values: torch.tensor(values, dtype=logp.dtype, device=logp.device)  # noqa: E731
        terms = token_loss(logp, as_tensor(sampling), as_tensor(credits), is_cap=config.is_cap,
                           ref_logp=torch.cat(refs) if refs else None, entropy=torch.cat(entropies),
                           kl_coef=config.kl_coef, entropy_coef=config.entropy_coef)
        terms["entropy"] = torch.cat(entropies).detach()
        return terms
