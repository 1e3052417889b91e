"""A loopback OpenAI-compatible server for tests, benchmarks and the conformance kit, on the
standard library only.

:class:`FakeOpenAIServer` listens on ``127.0.0.1`` (an ephemeral port), serves
``POST /v1/chat/completions`` (and ``GET /v1/models``) from a ``ThreadingHTTPServer`` on a
background thread, answers requests concurrently, and records each one. What it does with a
request is scripted: :meth:`~FakeOpenAIServer.enqueue` behaviours are used one per request in
arrival order, then the default. Modes:

===============  ==========================================================================
``ok``           a chat completion with the answer text and ``usage`` (after ``latency_ms``)
``latency``      sleep ``latency_ms`` (default 300), then ``ok``
``timeout``      sleep ``hang_s`` (longer than the client's timeout), then try ``ok``
``429``          HTTP 429 with ``Retry-After: <retry_after>``
``500``, ``503`` HTTP 500 / 503 with an OpenAI-style error body
``disconnect``   read the request, close the socket without a response
``garbage``      HTTP 200, ``application/json``, a body that is not JSON
``no_choices``   HTTP 200, a JSON completion without ``choices``
``empty``        HTTP 200, a completion whose content is empty
``long``         a completion of ``long_words`` words (``w0 w1 ...``), ignoring ``max_tokens``
``echo``         HTTP 500 whose error message quotes every request header (Authorization
                 included) and the whole body: a misbehaving server, for redaction tests
===============  ==========================================================================

The Authorization header is checked against ``expected_api_key`` when given (a mismatch gets
HTTP 401) and only the verdict is recorded: the server keeps a hash of the expected key and
never logs or records a key; only the ``echo`` mode sends one back, on purpose.

    with FakeOpenAIServer(latency_ms=300) as server:           # a benchmark's server
        backend = make_backend("openai:fake", base_url=server.url)

``dilemmazoo check-backend openai:MODEL`` (:mod:`dilemmazoo.experiments.check_backend`) points
the backend under test at one of these to provoke 429s, 5xx, hangs, malformed answers and a
server that quotes the request's headers back. The tests' copy, ``tests/fake_openai_server.py``,
re-exports this module and adds the ``fake_openai_server`` pytest fixture.

The server is bounded: it stops at the end of the ``with`` block or fixture, and by itself
after ``lifetime_s`` seconds; its threads are daemons and every sleep ends when it stops.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["MODES", "Behaviour", "FakeOpenAIServer", "RecordedRequest"]

MODES = ("ok", "latency", "timeout", "429", "500", "503", "disconnect", "garbage", "no_choices", "empty", "long",
         "echo")


@dataclass(frozen=True)
class Behaviour:
    """What to do with one request; unset fields take the server's defaults."""

    mode: str = "ok"
    text: str | None = None
    latency_ms: float | None = None
    retry_after: str | None = None
    hang_s: float | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; known: {', '.join(MODES)}")


@dataclass
class RecordedRequest:
    """One request as received: its JSON body (or raw text), headers without Authorization,
    whether the key matched (None when no key was expected) and the mode it was served."""

    path: str
    body: Any
    headers: dict[str, str]
    authorized: bool | None
    mode: str
    received_at: float = field(default_factory=time.monotonic)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many concurrent clients connect at once; the default backlog is 5
    allow_reuse_address = True


class FakeOpenAIServer:
    """A scriptable OpenAI-compatible chat server on ``127.0.0.1:<ephemeral port>``.

    Args:
        answer: the reply text, or ``answer(body) -> str`` computed from the request body.
        latency_ms: delay before every ``ok`` answer (and the ``latency`` mode's default 300).
        default: the mode used when the queue is empty.
        retry_after: the ``Retry-After`` value sent with 429 (seconds, as text).
        hang_s: how long ``timeout`` sleeps.
        long_words: how many words the ``long`` mode answers with.
        choose: ``choose(body) -> mode name, Behaviour or None``, asked first for every request
            (a run's requests can then fail by what they carry, whatever the order they arrive in).
        expected_api_key: if given, requests must carry ``Authorization: Bearer <key>``.
        lifetime_s: the server stops by itself after this long.
    """

    def __init__(self, *, answer: str | Callable[[Any], str] = "Answer: C", latency_ms: float = 0.0,
                 default: str = "ok", retry_after: str = "0.05", hang_s: float = 5.0, long_words: int = 300,
                 choose: Callable[[Any], str | Behaviour | None] | None = None,
                 expected_api_key: str | None = None, lifetime_s: float = 300.0):
        self.answer = answer
        self.latency_ms = latency_ms
        self.default = Behaviour(default)
        self.retry_after = retry_after
        self.hang_s = hang_s
        self.long_words = long_words
        self.choose = choose
        self.lifetime_s = lifetime_s
        self._expected_key_digest = None if expected_api_key is None else _digest(f"Bearer {expected_api_key}")
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Timer | None = None

    # -- scripting ---------------------------------------------------------------------------
    def enqueue(self, *behaviours: str | Behaviour) -> FakeOpenAIServer:
        """Serve the next requests with these behaviours (mode names or :class:`Behaviour`)."""
        with self._lock:
            self._queue.extend(b if isinstance(b, Behaviour) else Behaviour(b) for b in behaviours)
        return self

    def reset(self) -> None:
        """Forget recorded requests, the queue and the in-flight peak."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.max_in_flight = self.in_flight

    @property
    def url(self) -> str:
        """The API root to give a client as ``base_url``: ``http://127.0.0.1:PORT/v1``."""
        if self._server is None:
            raise RuntimeError("the server is not running; use start() or a with block")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def completions(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeOpenAIServer:
        if self._server is not None:
            return self
        self._server = _Server(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai-server", daemon=True)
        self._thread.start()
        self._watchdog = threading.Timer(self.lifetime_s, self.stop)
        self._watchdog.daemon = True
        self._watchdog.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake every sleeping handler and drop open connections. Idempotent."""
        self._stopped.set()
        server, self._server = self._server, None
        if server is None:
            return
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.cancel()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- serving (called from handler threads) -----------------------------------------------
    def _next(self, body: Any) -> Behaviour:
        chosen = self.choose(body) if self.choose is not None else None
        if chosen is not None:
            return chosen if isinstance(chosen, Behaviour) else Behaviour(chosen)
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True if it did not stop."""
        return not self._stopped.wait(max(0.0, seconds))

    def _completion(self, body: Any, text: str | None) -> dict[str, Any]:
        if text is None:
            text = self.answer(body) if callable(self.answer) else self.answer
        messages = body.get("messages", []) if isinstance(body, dict) else []
        prompt_tokens = sum(len(str(m.get("content", "")).split()) + 3 for m in messages if isinstance(m, dict))
        completion_tokens = len(text.split())
        return {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake") if isinstance(body, dict) else "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }


def _error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _make_handler(fake: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10  # an idle keep-alive connection frees its thread after this long

        def setup(self):
            super().setup()
            with fake._lock:
                fake._connections.add(self.connection)

        def finish(self):
            with fake._lock:
                fake._connections.discard(self.connection)
            try:
                super().finish()
            except OSError:
                pass

        def log_message(self, format, *args):  # quiet, and nothing of a request is written anywhere
            pass

        def _send(self, status: int, payload: bytes, content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()
            except OSError:  # the client gave up (its timeout) or the server is stopping
                self.close_connection = True

        def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(obj).encode(), headers=headers)

        def do_GET(self):
            if self.path.rstrip("/").endswith("/v1/models"):
                self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "fake"}]})
            else:
                self._json(404, _error_body(f"no route {self.path}", "not_found"))

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw or b"null")
            except ValueError:
                body = raw.decode(errors="replace")
            authorized = None
            if fake._expected_key_digest is not None:
                authorized = _digest(self.headers.get("Authorization", "")) == fake._expected_key_digest
            if not self.path.rstrip("/").endswith("/v1/chat/completions"):
                self._json(404, _error_body(f"no route {self.path}", "not_found"))
                return
            behaviour = fake._next(body)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
            with fake._lock:
                fake.requests.append(RecordedRequest(self.path, body, headers, authorized, behaviour.mode))
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            try:
                if behaviour.mode == "echo":
                    quoted = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
                    message = f"upstream rejected the request with headers {quoted} and body {raw.decode(errors='replace')}"
                    self._json(500, _error_body(message, "server_error"))
                else:
                    self._serve(behaviour, body, authorized)
            finally:
                with fake._lock:
                    fake.in_flight -= 1

        def _serve(self, behaviour: Behaviour, body: Any, authorized: bool | None) -> None:
            if authorized is False:
                self._json(401, _error_body("Incorrect API key provided.", "invalid_request_error"))
                return
            mode = behaviour.mode
            if mode == "long":
                text = " ".join(f"w{k}" for k in range(fake.long_words))
                self._json(200, fake._completion(body, text))
            elif mode in ("ok", "latency", "empty", "no_choices"):
                default_ms = 300.0 if mode == "latency" and not fake.latency_ms else fake.latency_ms
                latency_ms = behaviour.latency_ms if behaviour.latency_ms is not None else default_ms
                if not fake._sleep(latency_ms / 1000):
                    self.close_connection = True
                    return
                completion = fake._completion(body, "" if mode == "empty" else behaviour.text)
                if mode == "no_choices":
                    del completion["choices"]
                self._json(200, completion)
            elif mode == "timeout":
                if fake._sleep(behaviour.hang_s if behaviour.hang_s is not None else fake.hang_s):
                    self._json(200, fake._completion(body, behaviour.text))
                else:
                    self.close_connection = True
            elif mode == "429":
                self._json(429, _error_body("Rate limit reached; try again later.", "rate_limit_error"),
                           headers={"Retry-After": behaviour.retry_after or fake.retry_after})
            elif mode in ("500", "503"):
                self._json(int(mode), _error_body(f"fake server error {mode}", "server_error"))
            elif mode == "disconnect":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            elif mode == "garbage":
                self._send(200, b"<html>502 Bad Gateway: upstream sent nonsense", content_type="application/json")

    return Handler
