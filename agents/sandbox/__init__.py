"""Run LLM-written Python policies safely: the operating system is the boundary.

Why. In LLM policy synthesis (Galle, "Cooperation and Exploitation in LLM Policy Synthesis for
Sequential Social Dilemmas", 2026; code vicgalle/llm-policies-social-dilemmas) a model writes
``policy(state, agent_id) -> int`` and every agent runs it. The published code hands the policy
the LIVE mutable environment, and five attacks written as policies (Cleanup, 10 agents, agent 0
against 9 honest BFS agents, baseline reward 17) multiply the attacker's reward: teleport to
apples 2x, disable rivals' timeouts 6x, purge waste 45x, spawn all apples 59x, combined 59x
(numbers from the paper, via /work/shared/specs/gridworlds.md). Here a policy only ever sees a
read-only *copy* of what the world chose to show, in another process that the operating system
fences in, so such attacks have nothing to act on.

API::

    policy = compile_policy(llm_text)            # CompiledPolicy, or RejectedPolicy(.message for the LLM)
    state = make_snapshot({"grid": grid}, {"position": (3, 4), "orientation": 1})
    with PolicySandbox(policy, n_actions=9, fallback_action=7) as sandbox:   # isolation="auto"
        results = sandbox.call(state, [0, 1, 2])   # one round-trip per env step, all agents at once
    [r.action for r in results]; sandbox.failures   # Counter by kind; sandbox.reports: FailureReport list
    sandbox.level; sandbox.violations               # "bubblewrap"...; the host's log of refused attempts
    probe_isolation().level                         # what this machine gives

Results. ``call`` returns one :class:`PolicyResult` per agent id: ``action`` (the policy's
answer, or ``fallback_action``), ``ok``, ``error`` and ``message``. Failure kinds
(:data:`FAILURE_KINDS`):

- ``timeout``: the call ran past ``call_timeout_s`` (or the worker's CPU limit), or the
  episode's time budget (``episode_budget_s``) is spent;
- ``memory``: ``MemoryError`` (the worker's address space is capped at ``memory_mb``);
- ``crash``: any other exception, or the worker died;
- ``invalid_action``: not an ``int`` (``bool`` and floats are refused) in ``0..n_actions-1``;
- ``forbidden``: the policy tried something the sandbox blocks (an import outside the list,
  writing to the snapshot or a module, a blocked audit event, a system call the seccomp
  filter kills for). Reported to the host as it happens, so it counts even when the policy
  catches the exception and returns an action (the action is then replaced by the fallback);
- ``rejected``: the code failed :func:`compile_policy` (every call then uses the fallback).

Layers, from the boundary inwards (each part can be read alone):

- :mod:`.isolation`: user, network, IPC, PID, UTS and mount namespaces (bubblewrap, else
  ``unshare``), a read-only root holding only Python, numpy and the worker's files, an empty
  tmpfs, resource limits and an allow-list seccomp filter (x86-64, aarch64);
  :func:`probe_isolation`, :func:`resolve_isolation`;
- :mod:`.launch`: the host side: process launch, pipes, deadlines, the per-episode budget,
  restarts, the violation log; :class:`PolicySandbox`, and the trusted
  :class:`UnsafeInProcessPolicy` for tests and benchmarks;
- :mod:`.api`: what the policy sees: :class:`Snapshot`, module views, its namespace;
- :mod:`.guards`: the Python-level second layer: the static filter (:func:`compile_policy`)
  and the worker's audit hook;
- :mod:`.warmup`: what the worker runs once before it seals, so that what numpy and the
  other allowed modules load lazily is loaded (issue 25: without it ``ndarray.sum()`` failed
  with ``import of 'numpy._core._methods'``);
- :mod:`.shims`: ``dataclass``, ``namedtuple`` and ``NamedTuple`` without a compiler, for the
  policy's ``dataclasses``, ``collections`` and ``typing`` views;
- :mod:`.worker`: the worker's entry point.

Not covered: CPU time and memory of the host spent on pickling the snapshot; side channels
(timing); a kernel exploit.

Version history: v1 (issue 8, part 1): one module, Python guards with a deny-list seccomp
filter on x86-64. v2 (issue 15): this package; OS isolation levels, allow-list filter,
host-side violation log, no in-process execution from configs. v3 (issue 25): the worker is
warmed before it seals, ``dataclasses`` and ``enum`` may be imported, and small classes may
define plain special methods (``__init__``, comparisons...), so that honest model-written code
runs without false alarms (tests/honest_policies).
"""

from .api import FAILURE_KINDS, PolicyTimeout, Snapshot, make_snapshot
from .guards import (
    ALLOWED_MODULES,
    ALLOWED_SPECIAL_METHODS,
    CompiledPolicy,
    RejectedPolicy,
    SandboxViolation,
    compile_policy,
    extract_code,
)
from .isolation import (
    LEVELS,
    PRETEND_MISSING_ENV,
    REQUESTS,
    SECCOMP_ARCHES,
    Isolation,
    SandboxUnavailable,
    probe_isolation,
    resolve_isolation,
    seccomp_program,
)
from .launch import (
    FailureReport,
    PolicyResult,
    PolicySandbox,
    SandboxLimits,
    UnsafeInProcessPolicy,
    UnsafeInProcessWarning,
    Violation,
    run_unsafe_in_process,
    warn_weak_isolation,
)

__all__ = [
    "ALLOWED_MODULES",
    "ALLOWED_SPECIAL_METHODS",
    "FAILURE_KINDS",
    "LEVELS",
    "PRETEND_MISSING_ENV",
    "REQUESTS",
    "SECCOMP_ARCHES",
    "CompiledPolicy",
    "FailureReport",
    "Isolation",
    "PolicyResult",
    "PolicySandbox",
    "PolicyTimeout",
    "RejectedPolicy",
    "SandboxLimits",
    "SandboxUnavailable",
    "SandboxViolation",
    "Snapshot",
    "UnsafeInProcessPolicy",
    "UnsafeInProcessWarning",
    "Violation",
    "compile_policy",
    "extract_code",
    "make_snapshot",
    "probe_isolation",
    "resolve_isolation",
    "run_unsafe_in_process",
    "seccomp_program",
    "warn_weak_isolation",
]
