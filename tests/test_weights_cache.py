"""agents/backends/weights_cache.py: a cached GGUF model loads back as the very same model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dilemmazoo.agents.backends import weights_cache
from dilemmazoo.agents.backends.embedded import EMBEDDED_GGUF, embedded_model_folder


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(weights_cache.CACHE_ENV, str(tmp_path / "w"))
    assert weights_cache.cache_root() == tmp_path / "w"
    for off in ("off", "0", "none", " OFF "):
        monkeypatch.setenv(weights_cache.CACHE_ENV, off)
        assert weights_cache.cache_root() is None
        assert weights_cache.cached_folder(tmp_path / "m.gguf", torch.float32, digest="ab" * 32) is None
    monkeypatch.delenv(weights_cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights_cache.cache_root() == tmp_path / "xdg" / "dilemmazoo" / "weights"


def test_the_folder_is_keyed_by_file_hash_dtype_and_transformers_version(tmp_path):
    import transformers

    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"not really a model")
    folder = weights_cache.cached_folder(gguf, torch.bfloat16, root=tmp_path / "cache")
    import hashlib

    digest = hashlib.sha256(b"not really a model").hexdigest()
    assert folder == tmp_path / "cache" / f"tiny-{digest[:16]}-bfloat16-transformers{transformers.__version__}"
    assert weights_cache.cached_folder(gguf, torch.float32, root=tmp_path / "cache").name.endswith(
        f"-float32-transformers{transformers.__version__}")
    gguf.write_bytes(b"another model")  # a changed file is another folder
    assert weights_cache.cached_folder(gguf, torch.bfloat16, root=tmp_path / "cache") != folder
    with pytest.raises(ValueError, match="dtype"):
        weights_cache.cached_folder(gguf, "auto", root=tmp_path)


def test_a_stored_model_loads_back_identical(embedded_backend, tmp_path):
    """The embedded model as loaded from its GGUF file, stored, then read back through load_pretrained."""
    loaded = embedded_backend.loaded
    source, root = embedded_model_folder(), tmp_path / "cache"
    folder = weights_cache.cached_folder(Path(source) / EMBEDDED_GGUF, loaded.dtype, root=root)
    assert weights_cache._store(folder, loaded.tokenizer, loaded.model, {"gguf_file": EMBEDDED_GGUF})
    assert json.loads((folder / "dilemmazoo_source.json").read_text()) == {"gguf_file": EMBEDDED_GGUF}
    assert [p.name for p in root.iterdir()] == [folder.name]  # no temporary folder left behind

    tokenizer, model = weights_cache.load_pretrained(source, gguf_file=EMBEDDED_GGUF, dtype=loaded.dtype, root=root,
                                                     local_files_only=True)
    model.to(loaded.device).eval()
    before, after = loaded.model.state_dict(), model.state_dict()
    assert before.keys() == after.keys()
    assert all(before[k].dtype == after[k].dtype and torch.equal(before[k], after[k]) for k in before)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # still tied

    chat = [{"role": "system", "content": "You play the Donor Game."},
            {"role": "user", "content": "How much do you give? Answer: ½ of 10, “all” — or 2.5?"}]
    text = loaded.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) == text
    ids = loaded.tokenizer(text, return_tensors="pt")
    assert tokenizer(text, return_tensors="pt")["input_ids"].tolist() == ids["input_ids"].tolist()
    assert (tokenizer.eos_token_id, tokenizer.pad_token_id) == (loaded.tokenizer.eos_token_id,
                                                              loaded.tokenizer.eos_token_id)
    with torch.no_grad():
        assert torch.equal(model(**ids).logits, loaded.model(**ids).logits)


def test_without_a_gguf_file_or_with_the_cache_off_nothing_is_written(monkeypatch, tmp_path):
    calls = []

    class Fake:
        @staticmethod
        def from_pretrained(source, **options):
            calls.append((source, options))
            return source

    import transformers

    monkeypatch.setattr(transformers, "AutoTokenizer", Fake)
    monkeypatch.setattr(transformers, "AutoModelForCausalLM", Fake)
    monkeypatch.setenv(weights_cache.CACHE_ENV, "off")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"x")
    assert weights_cache.load_pretrained(tmp_path, gguf_file="m.gguf", dtype=torch.float32) == (tmp_path, tmp_path)
    assert weights_cache.load_pretrained("some/hub-id", gguf_file=None, dtype=torch.float32) == ("some/hub-id",) * 2
    assert calls[0] == (tmp_path, {"gguf_file": "m.gguf"})
    assert calls[1] == (tmp_path, {"gguf_file": "m.gguf", "dtype": torch.float32})
    assert calls[3] == ("some/hub-id", {"dtype": torch.float32})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gguf"]
