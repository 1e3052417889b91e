"""Every ```python block of README.md runs as written, each in a fresh interpreter in an
empty folder (so the runs it writes land in ``runs/`` there, and what one block registers
stays out of the test session)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.M | re.S)


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 3
    assert any("catalog(" in block for block in BLOCKS)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("readme")


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, workdir):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "TOKENIZERS_PARALLELISM": "false", "DILEMMAZOO_CACHE": str(workdir / "cache")}
    done = subprocess.run([sys.executable, "-c", BLOCKS[index]], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"README python block {index + 1} failed:\n{BLOCKS[index]}\n{done.stderr[-3000:]}"


def test_the_readme_grid_lands_in_readable_folders(workdir):
    grid_blocks = [i for i, block in enumerate(BLOCKS) if "multiplier_sweep" in block]
    assert grid_blocks, "the README's grid example is gone; update this test with it"
    sweep = workdir / "runs" / "multiplier_sweep"
    if not sweep.exists():  # this test run alone: run the block first
        test_readme_python_block_runs(grid_blocks[0], workdir)
    folders = sorted(p.parent.relative_to(sweep).as_posix() for p in sweep.rglob("summary.json"))
    assert folders == sorted(f"donation_multiplier={m}/seed={s}" for m in (1.5, 2.0, 3.0) for s in range(3))
