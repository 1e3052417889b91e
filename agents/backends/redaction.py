"""Secrets out of every record, log line and terminal line.

A secret reaches a run in a few known places, and each is found by name, not by guessing values:

- **credential fields** at any depth of a config: a key named like ``api_key``, ``apikey``,
  ``secret``, ``password``, ``token`` or ``authorization`` (``api_key_env`` is the *name* of a
  variable, not a secret; ``max_tokens`` is a count);
- **headers** (any mapping whose key says ``headers``: ``extra_headers``, ``default_headers``)
  named like ``authorization``, ``api-key``, ``x-api-key``, ``token``, ``cookie`` or ``key``;
- **request bodies** (``extra_body``, ``body``) with keys named like ``key``, ``token`` or ``secret``;
- **URL userinfo**: ``https://user:pass@host/`` in ``base_url`` or any other string value;
- **environment variables the config names**: a field ending in ``_env`` names a variable,
  whose *value* is a secret wherever it appears.

:func:`secrets_in_config` lists those values, :func:`redact_config` copies a config with each
replaced by :data:`REDACTED` (variable names kept, userinfo dropped) and registers the values,
and :func:`redact_text` removes every registered value, and anything key-shaped
(``sk-...``, ``Bearer ...``, ``api_key=...``, ``user:pass@``), from free text: tracebacks,
error messages, log lines. :func:`install_log_redaction` routes every :mod:`logging` record
through :func:`redact_text`, and :func:`install_stream_redaction` every line a library prints to
``sys.stdout``/``sys.stderr`` (a last net for what bypasses logging).

Messages about a missing or bad variable name the variable, never its value.
"""

from __future__ import annotations

import copy
import io
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "Secret",
    "RedactingWriter",
    "install_log_redaction",
    "install_stream_redaction",
    "is_secret_name",
    "redact_config",
    "redact_secrets",
    "redact_text",
    "redact_url",
    "register_secrets",
    "registered_secrets",
    "secrets_in_config",
    "secrets_in_environment",
]

REDACTED = "***"

#: shortest value searched for in text; shorter ones would blank out ordinary words
MIN_SECRET_CHARS = 4
#: placeholders local servers accept as "no key" (vLLM's, ollama's); not secrets
PLACEHOLDERS = frozenset({"EMPTY", "none", "None", "null", "NULL"})

_REGISTERED: set[str] = set()
_LOCK = threading.Lock()


# -- names ----------------------------------------------------------------------------------

#: words that make a field a credential wherever it sits
_CREDENTIAL_WORDS = frozenset({"apikey", "secret", "secrets", "password", "passwd", "passphrase", "token",
                               "authorization", "auth", "credential", "credentials", "cookie", "bearer"})
#: words that make a key a credential inside headers or request bodies
_CONTAINER_WORDS = _CREDENTIAL_WORDS | {"key", "signature"}
#: ``<word>_token`` fields that name a vocabulary item or a count, not a credential
_TOKEN_NOT_SECRET = frozenset({"max", "min", "stop", "eos", "bos", "pad", "unk", "sep", "cls", "mask",
                               "num", "n", "count", "limit", "start", "end", "special", "first", "last", "per"})


def _words(name: str) -> list[str]:
    """``"X-Api-Key"`` -> ``["x", "api", "key"]``; ``"apiKey"`` -> ``["api", "key"]``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def _env_name(name: str) -> bool:
    return str(name).lower().endswith("_env")


def is_secret_name(name: str, *, container: bool = False) -> bool:
    """Whether a field called ``name`` holds a credential (``container``: inside headers or a body).

    ``api_key``, ``apiKey``, ``x-api-key``, ``Authorization``, ``hf_token``, ``password`` are;
    ``api_key_env`` (a variable's name), ``max_tokens`` and ``stop_token`` are not. Inside
    headers and bodies a plain ``key`` is one too.
    """
    if _env_name(name):
        return False
    words = _words(name)
    joined = "".join(words)
    if "apikey" in joined or "accesskey" in joined or "secretkey" in joined or "privatekey" in joined:
        return True
    for i, word in enumerate(words):
        if word == "token" and any(w in _TOKEN_NOT_SECRET for w in words[:i]):
            continue
        if word in (_CONTAINER_WORDS if container else _CREDENTIAL_WORDS):
            return True
    return False


def _is_header_container(name: str) -> bool:
    return "headers" in _words(name) or str(name).lower().endswith("headers")


def _is_body_container(name: str) -> bool:
    words = _words(name)
    return "body" in words or "params" in words and "extra" in words


# -- registration ---------------------------------------------------------------------------

def _worth_hiding(value: Any) -> bool:
    return isinstance(value, str) and len(value) >= MIN_SECRET_CHARS and value not in PLACEHOLDERS


def register_secrets(values: Iterable[str | None]) -> None:
    """Add ``values`` to the process-wide set :func:`redact_text` always removes.

    Values shorter than 4 characters, None and the ``EMPTY`` placeholder are ignored.
    """
    found = [v for v in values if _worth_hiding(v)]
    if found:
        with _LOCK:
            _REGISTERED.update(found)


def registered_secrets() -> frozenset[str]:
    """The values registered so far in this process (for workers started by hand)."""
    with _LOCK:
        return frozenset(_REGISTERED)


def _forget_registered() -> None:  # tests only
    with _LOCK:
        _REGISTERED.clear()


class Secret:
    """A string that does not show itself: ``repr`` and ``str`` give ``Secret('***')``, and it
    refuses to be pickled (a backend re-reads its key from the environment in a new process)."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a secret is not pickled")


#: environment variable names that end like this name a place, not a secret
_NOT_SECRET_SUFFIXES = ("_file", "_path", "_dir", "_env", "_url", "_host", "_name", "_id", "_sock")


def secrets_in_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of environment variables named like credentials (``OPENAI_API_KEY``,
    ``ANTHROPIC_API_KEY``, ``HF_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ...): the keys a library such
    as LiteLLM reads by itself, which a config never names. ``*_FILE``/``*_PATH``/``*_DIR``/
    ``*_URL`` variables are not included (their values are places, not keys)."""
    environ = os.environ if environ is None else environ
    return [value for name, value in environ.items()
            if is_secret_name(name) and not name.lower().endswith(_NOT_SECRET_SUFFIXES) and _worth_hiding(value)]


# -- URLs -----------------------------------------------------------------------------------

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>]+")


def _url_secrets(text: str) -> list[str]:
    """Userinfo parts and secret-named query values of every URL in ``text``."""
    found = []
    for match in _URL.finditer(text):
        try:
            parts = urlsplit(match.group(0))
            password, user = parts.password, parts.username
        except ValueError:
            continue
        if password:
            found.append(password)
        elif user:  # https://TOKEN@host: the user name is the credential
            found.append(user)
        found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if is_secret_name(k, container=True)]
    return found


def redact_url(url: str) -> str:
    """``url`` without userinfo, and with secret-named query values replaced by :data:`REDACTED`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return _USERINFO.sub(r"\1", url)
    if host is None:
        return url
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_name(k, container=True) for k, _ in pairs):
            query = urlencode([(k, REDACTED if is_secret_name(k, container=True) else v) for k, v in pairs],
                              safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# -- configs --------------------------------------------------------------------------------

def _leaves(value: Any) -> Iterable[str]:
    """Every string inside ``value`` (itself, or in nested lists and mapping values)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)


def _field(key: Any, container: bool) -> tuple[str, bool, bool]:
    """``(name, container, under_secret)`` of a mapping key. A dotted key (a grid axis or a
    ``--set`` path, ``agents.0.backend_options.extra_body.key``) is named by its last part, inside
    a header or body container when an earlier part is one, and is secret as a whole when an
    earlier part names a credential."""
    *path, name = str(key).split(".")
    for part in path:
        if is_secret_name(part, container=container):
            return name, container, True
        container = container or _is_header_container(part) or _is_body_container(part)
    return name, container, False


def _walk(data: Any, environ: Mapping[str, str], found: list[str], container: bool = False) -> None:
    if isinstance(data, Mapping):
        for key, value in data.items():
            name, inside, under_secret = _field(key, container)
            if under_secret or is_secret_name(name, container=inside):
                for leaf in _leaves(value):
                    found.append(leaf)
                    scheme, _, credential = leaf.partition(" ")  # "Bearer X": X alone too
                    if credential and scheme.lower() in ("bearer", "basic", "token"):
                        found.append(credential.strip())
            elif _env_name(name):
                found.extend(environ[v] for v in _leaves(value) if v in environ)
            else:
                inner = _is_header_container(name) or _is_body_container(name)
                _walk(value, environ, found, container=inner or (inside and isinstance(value, Mapping)))
    elif isinstance(data, (list, tuple)):
        for item in data:
            _walk(item, environ, found, container)
    elif isinstance(data, str):
        found.extend(_url_secrets(data))


def secrets_in_config(data: Mapping, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value in, or referenced by, a config mapping (raw YAML or ``model_dump``).

    Credential fields, secret headers and body keys, URL userinfo, and the values of the
    environment variables named by fields ending in ``_env`` (looked up in ``environ``, default
    ``os.environ``). Values shorter than 4 characters and ``EMPTY`` are left out; order is the
    order found, without repeats.
    """
    environ = os.environ if environ is None else environ
    found: list[str] = []
    _walk(data, environ, found)
    return list(dict.fromkeys(v for v in found if _worth_hiding(v)))


def _redacted(data: Any, container: bool = False) -> Any:
    if isinstance(data, Mapping):
        out = {}
        for key, value in data.items():
            name, inside, under_secret = _field(key, container)
            if under_secret or is_secret_name(name, container=inside):
                out[key] = _blank(value)
            elif _env_name(name):
                out[key] = copy.deepcopy(value)  # a variable's name stays: it says where the key lives
            else:
                inner = _is_header_container(name) or _is_body_container(name)
                out[key] = _redacted(value, inner or (inside and isinstance(value, Mapping)))
        return out
    if isinstance(data, list):
        return [_redacted(item, container) for item in data]
    if isinstance(data, tuple):
        return tuple(_redacted(item, container) for item in data)
    if isinstance(data, str):
        return _URL.sub(lambda m: redact_url(m.group(0)), data) if "://" in data else data
    return copy.deepcopy(data)


def _blank(value: Any) -> Any:
    """A credential field's value with every string in it replaced (None and numbers kept)."""
    if isinstance(value, str):
        return REDACTED if value else value
    if isinstance(value, Mapping):
        return {k: _blank(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_blank(v) for v in value)
    return value


def redact_config(data: Mapping) -> dict:
    """A deep copy of ``data`` with every secret replaced by :data:`REDACTED`.

    Credential fields, secret headers and body keys are blanked; URLs lose their userinfo;
    fields ending in ``_env`` keep the variable's name. The values found (and the values of the
    named variables) are registered with :func:`register_secrets`, so :func:`redact_text`
    removes them from any text written later in this process.
    """
    register_secrets(secrets_in_config(data))
    return _redacted(data)


# -- text -----------------------------------------------------------------------------------

_KEY_SHAPED = re.compile(r"\b(sk|pk|rk|key|sess|ghp|gho|hf|xox[abpr])([-_])[A-Za-z0-9_\-]{8,}")
_BEARER = re.compile(r"\b((?:Bearer|Basic|Token)\s+)[^\s\"',;]+", re.IGNORECASE)
_KEY_FIELD = re.compile(
    r"((?:api[_-]?key|x-api-key|api-key|secret|password|passwd|access[_-]?token|auth[_-]?token|token"
    r"|authorization)[\"']?\s*[:=]\s*[\"']?)(?!Bearer\s|Basic\s|\*\*\*)[^\s\"',;&}]+",
    re.IGNORECASE,
)
_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s@\"'<>]+@")


def redact_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every registered and given secret value replaced, and nothing else touched
    (for a model's answers, where key-shaped words are the model's own)."""
    given = [s for s in secrets if _worth_hiding(s)]
    with _LOCK:
        values = sorted({*_REGISTERED, *given}, key=len, reverse=True)
    for secret in values:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every registered and given secret, and anything key-shaped, blanked out.

    Key-shaped: ``sk-...``/``pk-...``/``key-...``/``hf_...``/``ghp_...`` tokens (the prefix is
    kept: ``sk-***``), ``Bearer ...``/``Basic ...`` credentials, ``api_key=...``,
    ``token: ...``, ``password=...`` fields, and ``user:pass@`` in URLs (dropped). Longer
    secrets are replaced first, so one that contains another leaves no tail behind.
    """
    text = redact_secrets(text if isinstance(text, str) else str(text), secrets)
    text = _USERINFO.sub(r"\1", text)
    text = _KEY_SHAPED.sub(rf"\1\2{REDACTED}", text)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    return _KEY_FIELD.sub(rf"\1{REDACTED}", text)


# -- logging --------------------------------------------------------------------------------

_INSTALLED = False


def install_log_redaction() -> None:
    """Route every :mod:`logging` record of this process through :func:`redact_text`.

    The record factory is wrapped, so every logger is covered whatever its handlers (also ones
    added later, and libraries' own: LiteLLM, httpx, openai): the message is formatted at once
    and redacted, and an exception's traceback text is formatted and redacted too. Idempotent.
    """
    global _INSTALLED
    with _LOCK:
        if _INSTALLED:
            return
        _INSTALLED = True
    make_record = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def redacting_factory(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it as usual
            return record
        record.msg, record.args = redact_text(message), None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact_text(formatter.formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return record

    logging.setLogRecordFactory(redacting_factory)


# -- terminal -------------------------------------------------------------------------------

class RedactingWriter(io.TextIOBase):
    """A text stream that passes what is written through :func:`redact_text` before ``target``.

    Text is held until a line ends (``\n`` or ``\r``, so progress bars still move) or the stream is
    flushed, so a secret written in two pieces is still found whole.
    """

    def __init__(self, target):
        super().__init__()
        self.target = target
        self._pending = ""
        self._lock = threading.RLock()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            end = max(self._pending.rfind("\n"), self._pending.rfind("\r"))
            if end >= 0:
                ready, self._pending = self._pending[: end + 1], self._pending[end + 1:]
                self.target.write(redact_text(ready))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self.target.write(redact_text(self._pending))
                self._pending = ""
            self.target.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.target, "errors", None)


def install_stream_redaction() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` in :class:`RedactingWriter` (once): what a library
    ``print``s, or a dying worker's traceback, passes :func:`redact_text` like log records do.
    Writes straight to the file descriptors (C code, child processes) are not covered."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingWriter):
            setattr(sys, name, RedactingWriter(stream))


def request_options_digest(options: Mapping[str, Any]) -> str | None:
    """A short sha256 of the options that shape an API answer (``extra_body``, ``response_format``,
    non-secret headers...), with secret values blanked first: two cells that send different request
    bodies get different provenance and so different cache keys. None when no option is set."""
    import hashlib
    import json

    present = {key: value for key, value in options.items() if value not in (None, {}, [], "")}
    if not present:
        return None
    text = json.dumps(redact_config(present), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
