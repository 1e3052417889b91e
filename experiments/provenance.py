"""Where a run came from: code version, commit, library versions and each agent group's model.

``summary.json`` carries this as ``provenance`` (see :class:`~dilemmazoo.experiments.records.Summary`),
so a number in a report can be traced to the code and the model that produced it (a lab
notebook's habit; cf. the reproducibility checklists of NeurIPS and of Pineau et al. 2021,
JMLR 22(164)). Versions are read from the installed distributions' metadata: torch and
transformers are named, not imported.
"""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["agent_provenance", "code_provenance", "git_state", "package_version"]

# The source tree is a git checkout when the package folders (experiments/, agents/, ...) sit at its top.
_SOURCE_ROOT = Path(__file__).resolve().parent.parent
_GIT_TIMEOUT_S = 5.0
_MODEL_FIELDS = ("model", "revision", "weights_sha256", "base_url")


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or ``None`` when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(_SOURCE_ROOT), *args], capture_output=True, text=True,
                              timeout=_GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):  # git missing, or hanging on a slow file system
        return None
    return done.stdout if done.returncode == 0 else None


def git_state() -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the source tree the package runs from, or ``(None, None)`` when it
    is not a git checkout of this project (an installed wheel, or git missing).

    ``dirty`` is true when tracked files differ from the commit (untracked files do not count).
    An installed copy inside some other repository (a venv in a checkout) is not mistaken for
    it: the repository's top must be the folder holding the package's own folders.
    """
    top = _git("rev-parse", "--show-toplevel")
    if top is None or Path(top.strip()).resolve() != _SOURCE_ROOT:
        return None, None
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    if commit is None:
        return None, None
    return commit.strip(), None if status is None else bool(status.strip())


def code_provenance() -> dict[str, Any]:
    """dilemmazoo version, git commit and dirty flag, and the Python, torch and transformers versions."""
    import platform

    commit, dirty = git_state()
    return {
        "dilemmazoo_version": package_version("dilemmazoo") or "unknown",
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "torch": package_version("torch"),
        "transformers": package_version("transformers"),
    }


def agent_provenance(label: str, group: Any, policy: Any) -> dict[str, Any]:
    """One agent group's entry: its label and kind, the backend spec, the resolved decision mode
    and the model's id, revision, weights hash and server (``None`` where unknown).

    Language-model and synthesized groups ask their policy (``LLMPolicy.provenance``: the
    backend's provenance plus the decision mode it used; ``SynthesizedPolicy.provenance``: the
    code-writing backend's, with no decision mode since written code plays, and the sandbox
    isolation its code ran under); scripted groups have no model.
    """
    entry: dict[str, Any] = {"label": label, "kind": group.kind, "backend": None, "decision": None,
                             **dict.fromkeys(_MODEL_FIELDS)}
    if group.kind == "scripted":
        return entry
    info = policy.provenance()
    entry["backend"] = group.backend
    entry.update({name: info.get(name) for name in ("decision", *_MODEL_FIELDS)})
    if group.kind == "synthesized":  # the sandbox level the written code actually ran under
        entry["isolation"] = info.get("isolation")
    if "personas" in info:  # census personas: which cell each seat was written from
        entry["personas"] = info["personas"]
        entry["persona_fallbacks"] = info["persona_fallbacks"]
    return entry
