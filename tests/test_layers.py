"""Imports point one way (docs/design.md section 2), checked by import-linter's contracts in
pyproject.toml: venues <- strategies <- sim, inside sim model <- engines <- measure <- network
<- report <- bench <- cli, and no cycle anywhere, lazy imports included."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sim", "strategies", "venues")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the packages in `root`, with `root`'s contracts."""
    script = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True
    )


def test_imports_keep_the_layers_and_have_no_cycle() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contracts(tmp_path: Path) -> None:
    """The check can fail: one import of the CLI from the model layer breaks it."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    errors = tmp_path / "sim" / "model" / "errors.py"
    errors.write_text(errors.read_text() + "\n\ndef _upward():\n    import sim.cli.main\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "sim.model is not allowed to import sim.cli" in result.stdout


def test_only_python_m_sim_imports_the_cli() -> None:
    graph = grimp.build_graph(*PACKAGES)
    cli = graph.find_descendants("sim.cli") | {"sim.cli"}
    importers = set().union(*(graph.find_modules_that_directly_import(m) for m in cli))
    assert importers - cli == {"sim.__main__"}
