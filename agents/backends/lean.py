"""In-place inference forwards for a causal LM's MLP and RMSNorm blocks: the same values, less memory.

A prefill of a long batch is where a local model's memory peaks: for 12 prompts of ~1,800 tokens
each SmolLM2-135M layer's MLP holds four tensors of ``tokens x 1536`` bf16 at once (gate, its
activation, up, their product: ~60 MiB each), and each RMSNorm three float32 copies of the hidden
states. Without autograd none of them needs to outlive the next operation, so:

- the MLP computes ``down(act(gate(x)) * up(x))`` as ``h = gate(x); act_(h); h *= up(x); down(h)``,
  and
- the RMSNorm scales its float32 copy of the hidden states in place,

with the same operations in the same order: every value, hence every generated text and score, is
bit for bit the one the library's forward gives. :func:`install` checks that on random inputs
before it replaces a module's forward, and leaves alone any module whose result differs (another
architecture's variant). With gradients enabled the library's forward runs unchanged.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F

__all__ = ["install"]


def _mlp_forward(self, x: torch.Tensor) -> torch.Tensor:
    if torch.is_grad_enabled():
        return self._library_forward(x)
    h = self.gate_proj(x)
    F.silu(h, inplace=True)
    h.mul_(self.up_proj(x))
    return self.down_proj(h)


def _norm_forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
    if torch.is_grad_enabled() or hidden_states.dtype == torch.float32:
        return self._library_forward(hidden_states)  # a float32 input is not copied: scaling it in place is not ours
    input_dtype = hidden_states.dtype
    h = hidden_states.to(torch.float32)
    variance = h.pow(2).mean(-1, keepdim=True)
    h.mul_(torch.rsqrt(variance + self.variance_epsilon))
    return self.weight * h.to(input_dtype)


def _fits_mlp(module) -> bool:
    return (all(hasattr(module, name) for name in ("gate_proj", "up_proj", "down_proj"))
            and type(getattr(module, "act_fn", None)).__name__ in ("SiLU", "SiLUActivation"))  # torch's, transformers


def _fits_norm(module) -> bool:
    return type(module).__name__.endswith("RMSNorm") and hasattr(module, "variance_epsilon") and hasattr(module, "weight")


def _same(module, lean, sample: torch.Tensor) -> bool:
    """Whether ``lean`` gives ``module``'s own result, bit for bit, on ``sample``."""
    with torch.inference_mode():
        return torch.equal(module._library_forward(sample), lean(module, sample.clone()))


def install(model) -> int:
    """Give ``model``'s MLP and RMSNorm blocks their in-place forwards (see the module docstring);
    the number of modules changed. Each kind is checked once, on random inputs of the model's dtype."""
    checked: dict[type, bool] = {}
    changed = 0
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if _fits_mlp(module):
            lean = _mlp_forward
            width = module.gate_proj.in_features
        elif _fits_norm(module):
            lean = _norm_forward
            width = module.weight.shape[-1]
        else:
            continue
        module._library_forward = module.forward
        kind = type(module)
        if kind not in checked:
            weight = next(module.parameters())
            sample = torch.randn((2, 7, width), generator=generator).to(dtype=weight.dtype, device=weight.device)
            checked[kind] = _same(module, lean, sample)
        if checked[kind]:
            module.forward = types.MethodType(lean, module)
            changed += 1
    return changed
