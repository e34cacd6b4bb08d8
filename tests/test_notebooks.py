"""The teaching notebooks run: each examples/notebooks/*.py (jupytext percent format, kept as
text for review) is converted to a notebook and executed in a Jupyter kernel, as a reader would
run it. Every notebook asserts its own figures against theory, so a cell that raises, an
assertion included, fails its test; each must also draw its figure.

The kernel is ipykernel's own "python3", started with this interpreter (jupyter_client runs a
spec whose command is "python" with sys.executable), so nothing needs `ipykernel install`.
matplotlib draws with the inline backend: Agg rendering, never a window, and the figure comes
back to the notebook as a PNG that the test can see.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "examples" / "notebooks").glob("*.py"))
CELL_TIMEOUT_S = 300  # a bound on any one cell, far above what each takes


def test_the_notebooks_are_there():
    names = {path.stem for path in NOTEBOOKS}
    lessons = {"tail_at_scale", "hedging", "coordinated_omission", "stale_quotes", "overload"}
    assert lessons <= names, f"missing: {sorted(lessons - names)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_notebook_runs_and_draws(path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = jupytext.read(path)
    assert any(cell.cell_type == "markdown" for cell in notebook.cells), "no lesson text"
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell raises
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert any("image/png" in output.get("data", {}) for output in outputs), "no figure"
