"""A local cache of GGUF models as transformers loads them, so that the second load takes a second.

Loading the embedded model's GGUF file (SmolLM2-135M-Instruct, Q4_1, 98 MB) through transformers
takes about 20-30 s on a 2-core CPU, and little of it is the arithmetic: transformers' GGUF reader
parses the file's metadata three times (tokenizer, config, weights), element by element through
numpy memmaps, and builds the tensor-name map once per tensor; the de-quantizing itself is about
1.5 s (measured with cProfile; see ``benchmarks/memory.py --profile`` and issue 26). Every process
that uses the model (each run of a grid's workers, each test session, ``make demo``) paid it again.

:func:`load_pretrained` pays it once per GGUF file, dtype and transformers version: after the
first load it writes the loaded model to ``<cache>/<file stem>-<sha256[:16]>-<dtype>-transformers<version>/``
as an ordinary transformers folder (``config.json``, ``generation_config.json``, the tokenizer's
``tokenizer.json`` and ``tokenizer_config.json``, and the weights in ``model.safetensors``, exactly
as loaded, in the dtype asked for) and later loads read that folder instead, the weights through
safetensors' memory map. The cached weights are the loaded tensors byte for byte (no dtype
conversion on the way back), so a model loaded from the cache computes exactly what the model
loaded from the GGUF file does; the folder's ``dilemmazoo_source.json`` names the GGUF file, its
sha256, the dtype and the transformers version.

Where: ``$DILEMMAZOO_WEIGHTS_CACHE`` if set (``off``, ``0`` or ``none`` turns the cache off), else
``$XDG_CACHE_HOME/dilemmazoo/weights``, else ``~/.cache/dilemmazoo/weights``. A folder is written
under a temporary name and renamed into place, so concurrent first loads (a grid's workers) do not
read half-written files; the loser of the race drops its copy. A folder that fails to load is
ignored (the GGUF file is loaded instead and the folder rewritten). When the cache cannot be
written (a read-only home), the model still loads from the GGUF file.

Provenance does not change: the backend still names and hashes the GGUF file, and the cache is
keyed by that hash, so a changed file never reads another file's weights.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch

from dilemmazoo.agents.backends.base import file_sha256

__all__ = ["CACHE_ENV", "cache_root", "cached_folder", "load_pretrained"]

#: the environment variable naming the cache folder (or turning the cache off)
CACHE_ENV = "DILEMMAZOO_WEIGHTS_CACHE"
_OFF = {"", "0", "off", "none", "false", "no"}
_SOURCE_FILE = "dilemmazoo_source.json"
_DIGESTS: dict[tuple, str] = {}


def cache_root() -> Path | None:
    """The cache folder from the environment (see the module docstring); None when it is off."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dilemmazoo" / "weights"


def _digest(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_sha256(path)
    return _DIGESTS[key]


def _dtype_name(dtype: torch.dtype | str) -> str:
    if isinstance(dtype, str):
        if dtype == "auto":
            raise ValueError("dtype must be a resolved torch dtype (e.g. torch.bfloat16), got 'auto'")
        return dtype
    return str(dtype).removeprefix("torch.")


def cached_folder(gguf_path: str | Path, dtype: torch.dtype | str, *, root: str | Path | None = None,
                  digest: str | None = None) -> Path | None:
    """The cache folder for ``gguf_path`` loaded in ``dtype`` (it need not exist); None when the cache is off.

    ``digest`` is the file's sha256 when the caller has it already; ``root`` overrides :func:`cache_root`.
    """
    import transformers

    base = Path(root).expanduser() if root is not None else cache_root()
    if base is None:
        return None
    gguf_path = Path(gguf_path)
    digest = digest or _digest(gguf_path)
    name = f"{gguf_path.stem}-{digest[:16]}-{_dtype_name(dtype)}-transformers{transformers.__version__}"
    return base / name


def _complete(folder: Path) -> bool:
    return all((folder / f).is_file() for f in (_SOURCE_FILE, "config.json", "model.safetensors"))


def _load_folder(folder: Path, dtype: torch.dtype, extra: dict[str, Any]):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    options = {k: v for k, v in extra.items() if k != "gguf_file"}
    options["local_files_only"] = True
    tokenizer = AutoTokenizer.from_pretrained(folder, **options)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **options)
    return tokenizer, model


def _unique_tensors(model) -> dict[str, torch.Tensor]:
    """The state dict with each shared tensor once, under its first name in module order.

    Tied weights (``lm_head.weight`` is ``model.embed_tokens.weight`` when the config ties them)
    are kept under the input embedding's name, which is where transformers looks for them.
    """
    tensors: dict[str, torch.Tensor] = {}
    seen: set[tuple] = set()
    for name, tensor in model.state_dict().items():
        key = (tensor.device.type, tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if key in seen:
            continue
        seen.add(key)
        tensors[name] = tensor.detach().contiguous()
    return tensors


def _store(folder: Path, tokenizer, model, record: dict[str, Any]) -> bool:
    """Write ``model`` and ``tokenizer`` into ``folder`` through a temporary name; False if it could not."""
    from safetensors.torch import save_file

    temporary = folder.parent / f".{folder.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        temporary.mkdir(parents=True)
        config = model.config.to_dict()
        config.pop("quantization_config", None)  # the folder holds plain weights, not GGUF blocks
        config.pop("_name_or_path", None)
        (temporary / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.save_pretrained(temporary)
        tokenizer.save_pretrained(temporary)
        save_file(_unique_tensors(model), str(temporary / "model.safetensors"), metadata={"format": "pt"})
        (temporary / _SOURCE_FILE).write_text(json.dumps(record, indent=2, sort_keys=True))
        try:
            temporary.rename(folder)
        except OSError:  # another process got there first: its copy is as good
            shutil.rmtree(temporary, ignore_errors=True)
        return _complete(folder)
    except (OSError, RuntimeError, TypeError, ValueError):
        shutil.rmtree(temporary, ignore_errors=True)
        return False


def load_pretrained(source: str | Path, *, gguf_file: str | None = None, dtype: torch.dtype,
                    digest: str | None = None, root: str | Path | None = None, **extra: Any):
    """``(tokenizer, model)`` of ``source``, as ``AutoTokenizer``/``AutoModelForCausalLM.from_pretrained`` give.

    With a ``gguf_file`` (inside ``source``) and the cache on, the model comes from the cache folder
    when one is there, else from the GGUF file, and is then written to the cache for the next
    process. Without a ``gguf_file``, or with the cache off, this is ``from_pretrained`` itself.

    Args:
        source: the model folder (or hub id, when there is no ``gguf_file``).
        gguf_file: the GGUF file inside ``source``, or None.
        dtype: the resolved torch dtype to load in (part of the cache key).
        digest: the GGUF file's sha256, when the caller has hashed it already.
        root: the cache folder (default: :func:`cache_root`).
        **extra: ``from_pretrained`` keywords (``local_files_only``, ``trust_remote_code``, ...).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def from_source():
        options = dict(extra, gguf_file=gguf_file) if gguf_file is not None else dict(extra)
        return (AutoTokenizer.from_pretrained(source, **options),
                AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **options))

    if gguf_file is None:
        return from_source()
    gguf_path = Path(source) / gguf_file
    if not gguf_path.is_file():  # not a local file: let from_pretrained say what is wrong
        return from_source()
    folder = cached_folder(gguf_path, dtype, root=root, digest=digest)
    if folder is None:
        return from_source()
    if _complete(folder):
        try:
            return _load_folder(folder, dtype, extra)
        except (OSError, ValueError, RuntimeError, json.JSONDecodeError):
            shutil.rmtree(folder, ignore_errors=True)  # damaged: rebuilt below
    tokenizer, model = from_source()
    import transformers

    record = {"gguf_file": gguf_file, "sha256": digest or _digest(gguf_path), "dtype": _dtype_name(dtype),
              "transformers": transformers.__version__, "torch": torch.__version__}
    _store(folder, tokenizer, model, record)
    return tokenizer, model
