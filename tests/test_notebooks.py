"""Every notebook runs top to bottom (teaching material must not rot), shows its plots inline,
and writes nothing into the repository."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))

# PNG outputs each notebook shows: one per figure it draws. Counting them exactly also catches a
# figure shown twice (a pyplot figure returned as a cell's value is shown again at the cell's end).
IMAGES = {"commons": 4, "donor_game_tour": 1, "teaching_repeated_games": 3, "training_advantage_alignment": 2, "tax_world": 3,
          "loyalty": 8, "alignment_tipping": 6, "watch_norms_emerge": 4, "mechanisms": 3}

# what may change in the tree while a notebook runs: caches, the venv, and runs/ (gitignored output)
_NOT_CONTENT = {".git", ".venv", "runs", "__pycache__", ".pytest_cache", ".ipynb_checkpoints"}


def repo_files(root: Path = REPO) -> set[Path]:
    """Every file under ``root``, outside the folders in ``_NOT_CONTENT``."""
    found = set()
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in _NOT_CONTENT and not name.endswith(".egg-info")]
        found.update(Path(folder, name).relative_to(root) for name in files)
    return found


def png_outputs(notebook) -> list[str]:
    return [output["data"]["image/png"] for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", []) if "image/png" in output.get("data", {})]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    before = repo_files()
    # the kernel starts in the notebook's folder, as in Jupyter, so a stray relative write lands in
    # the repo and is caught below; TMPDIR keeps the notebooks' tempfile folders inside tmp_path
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute(env={**os.environ, "TMPDIR": str(tmp_path)})
    errors = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors
    # the last cell prints something: the notebook really ran to the end
    last = [o for o in notebook.cells[-1].get("outputs", []) if o.output_type == "stream"]
    assert last and last[0]["text"].strip()
    if path.stem == "donor_game_tour":  # its last cell prints the report it wrote
        assert last[0]["text"].strip().endswith("report.html")
    images = png_outputs(notebook)
    assert len(images) == IMAGES.get(path.stem, 0), "figures shown inline (register a new notebook's count in IMAGES)"
    assert len(set(images)) == len(images), "a figure was shown twice"
    assert repo_files() - before == set(), "the notebook wrote into the repository"


def test_image_counts_name_existing_notebooks():
    assert set(IMAGES) <= {path.stem for path in NOTEBOOKS}


def test_the_new_file_check_sees_new_files_outside_runs_and_caches(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "commons.ipynb").write_text("{}")
    before = repo_files(tmp_path)
    assert before == {Path("notebooks/commons.ipynb")}
    for name in ("notebooks/answers.txt", "runs/demo/summary.json", "notebooks/__pycache__/x.pyc", "report.html"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert repo_files(tmp_path) - before == {Path("notebooks/answers.txt"), Path("report.html")}
