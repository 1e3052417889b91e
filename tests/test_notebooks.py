"""Every notebook runs top to bottom (teaching material must not rot)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors
    # the last cell prints something: the notebook really ran to the end
    last = [o for o in notebook.cells[-1].get("outputs", []) if o.output_type == "stream"]
    assert last and last[0]["text"].strip()
    if path.stem == "donor_game_tour":  # its last cell prints the report it wrote
        assert last[0]["text"].strip().endswith("report.html")


def test_there_is_a_notebook():
    assert NOTEBOOKS
