"""Token budgets of the API backends: ``litellm.token_counter`` where LiteLLM knows the model,
4 characters a token (:func:`chars_per_token_estimate`, named) only as the fallback.

The fallback under-counts code and non-English text; these tests show it does, on texts where
the counts are worked out by hand, and that a model LiteLLM does not know (or could count only
by downloading a tokenizer) falls back, saying so.
"""

from __future__ import annotations

import os

import pytest

from dilemmazoo.agents.backends.base import GenerationParams
from dilemmazoo.agents.backends.limits import (
    CHARS_PER_TOKEN,
    TOKENS_PER_MESSAGE,
    TokenCounter,
    chars_per_token_estimate,
    estimate_tokens,
    litellm_token_count,
    prompt_tokens,
)

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # the bundled model map: no network
import litellm  # noqa: E402 - the api extra, after the line above

CODE = "def f(x):\n    return {k: v for k, v in x.items() if v is not None}\n"  # 67 characters
CHINESE = "协作还是背叛？每一轮你都要选择。合作的收益是三分。"  # 25 characters
KNOWN = "gpt-4o-mini"


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_the_fallback_is_four_characters_a_token_plus_framing():
    assert (CHARS_PER_TOKEN, TOKENS_PER_MESSAGE) == (4, 4)
    assert len(CODE) == 67 and len(CHINESE) == 25
    assert chars_per_token_estimate(chat(CODE)) == 67 // 4 + 4 == 20
    assert chars_per_token_estimate(chat(CHINESE)) == 25 // 4 + 4 == 10
    two = [{"role": "system", "content": "You play."}, {"role": "user", "content": ""}]
    assert chars_per_token_estimate(two) == (9 // 4 + 4) + (0 + 4) == 10


@pytest.mark.parametrize("text, fallback", [(CODE, 20), (CHINESE, 10)], ids=["code", "chinese"])
def test_a_known_model_is_counted_by_litellm_and_the_fallback_undercounts(text, fallback):
    count, method = prompt_tokens(chat(text), KNOWN)
    assert method == "litellm.token_counter"
    assert count == litellm.token_counter(model=KNOWN, messages=chat(text))
    # the text alone is at least this many tokens in GPT-4's encoding (cl100k_base, bundled with LiteLLM)
    content = TokenCounter("gpt-4").count(text)
    assert TokenCounter("gpt-4").kind == "cl100k_base"
    assert count >= content > fallback  # chars/4 misses tokens a tokenizer sees
    assert estimate_tokens(chat(text), 50, KNOWN) == count + 50


@pytest.mark.parametrize("model", ["my-local-model", "", "hosted_vllm/our-finetune"])
def test_an_unknown_model_falls_back_and_names_the_fallback(model):
    assert litellm_token_count(chat(CODE), model) is None
    assert prompt_tokens(chat(CODE), model) == (20, "chars_per_token_estimate")
    assert estimate_tokens(chat(CODE), 7, model) == 27


def test_a_model_whose_tokenizer_litellm_would_download_falls_back():
    """LiteLLM fetches Llama-3's tokenizer from the Hugging Face Hub: never from a token budget."""
    model = "anyscale/meta-llama/Meta-Llama-3-8B-Instruct"
    litellm.get_model_info(model)  # LiteLLM knows it...
    assert prompt_tokens(chat(CHINESE), model) == (10, "chars_per_token_estimate")  # ...but it is not counted


@pytest.mark.parametrize("backend_name", ["openai", "litellm"])
def test_api_backends_count_their_tokens_per_minute_budget_with_litellm(backend_name, monkeypatch):
    from dilemmazoo.agents.backends.litellm_backend import LiteLLMBackend
    from dilemmazoo.agents.backends.openai_backend import OpenAIBackend

    params = GenerationParams(max_tokens=32)

    def build(**limits):
        if backend_name == "openai":
            return OpenAIBackend(KNOWN, base_url="http://127.0.0.1:9/v1", **limits)
        return LiteLLMBackend(KNOWN, mock_response="Answer: C", **limits)

    limited, unlimited = build(tokens_per_minute=10_000), build(requests_per_minute=60)
    try:
        expected = litellm.token_counter(model=KNOWN, messages=chat(CHINESE)) + 32
        assert limited._tokens_estimate(chat(CHINESE), params) == expected
        assert unlimited._tokens_estimate(chat(CHINESE), params) == 0  # no token bucket: nothing to count
    finally:
        limited.close()
        unlimited.close()
