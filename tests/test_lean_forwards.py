"""In-place inference forwards (``agents/backends/lean.py``): the library's values, bit for bit."""

import types

import pytest
import torch

from dilemmazoo.agents.backends import lean


def tiny_llama(dtype=torch.bfloat16):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=48, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=256)
    return LlamaForCausalLM(config).to(dtype).eval()


def lean_modules(model) -> dict[str, int]:
    counts: dict[str, int] = {}
    for module in model.modules():
        if isinstance(getattr(module, "forward", None), types.MethodType) and module.forward.__func__ in (
                lean._mlp_forward, lean._norm_forward):
            counts[type(module).__name__] = counts.get(type(module).__name__, 0) + 1
    return counts


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_a_lean_model_gives_the_library_logits_bit_for_bit(dtype):
    plain, model = tiny_llama(dtype), tiny_llama(dtype)
    assert lean.install(model) == 2 + 5  # two MLPs; two norms per layer and the final one
    assert lean_modules(model) == {"LlamaMLP": 2, "LlamaRMSNorm": 5}
    ids = torch.randint(0, 97, (3, 40), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.equal(model(input_ids=ids).logits, plain(input_ids=ids).logits)
        greedy = dict(max_new_tokens=8, do_sample=False, pad_token_id=0)
        assert torch.equal(model.generate(ids, **greedy), plain.generate(ids, **greedy))


def test_with_gradients_the_library_forward_runs_and_trains_alike():
    plain, model = tiny_llama(torch.float32), tiny_llama(torch.float32)
    lean.install(model)
    ids = torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(2))
    for m in (plain, model):
        m(input_ids=ids, labels=ids).loss.backward()
    for (name, a), b in zip(plain.named_parameters(), model.parameters()):
        assert torch.equal(a.grad, b.grad), name


def test_a_norm_that_computes_otherwise_keeps_its_own_forward():
    class OffsetRMSNorm(torch.nn.Module):  # Gemma's kind: scales by (1 + weight)
        def __init__(self, width):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.randn(width))
            self.variance_epsilon = 1e-6

        def forward(self, x):
            h = x.float()
            h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
            return (h * (1.0 + self.weight.float())).to(x.dtype)

    model = torch.nn.Sequential(OffsetRMSNorm(16), OffsetRMSNorm(16)).to(torch.bfloat16)
    assert lean.install(model) == 0
    assert all(not isinstance(m.forward, types.MethodType) or m.forward.__func__ is not lean._norm_forward
               for m in model)


@pytest.mark.slow
def test_the_embedded_model_runs_lean(embedded_backend):
    layers = embedded_backend.model.config.num_hidden_layers
    assert lean_modules(embedded_backend.model) == {"LlamaMLP": layers, "LlamaRMSNorm": 2 * layers + 1}
