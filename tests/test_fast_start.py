"""`import sim`, `quoterace --help`, `scenarios` and `validate` load no plotting, statistics,
dataframe or cluster library: those commands start fast, and the heavy modules come only
with the commands that use them. Which modules load is checked, not how long it takes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("matplotlib", "scipy", "pandas", "pyarrow", "dask", "distributed", "PIL", "numba")


def loaded_after(code: str) -> set[str]:
    """The heavy top-level packages a fresh interpreter has loaded after running `code`."""
    report = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    probe = f"{code}\n{report}"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout.splitlines()[-1])) & set(HEAVY)


@pytest.mark.parametrize(
    "code",
    [
        "import sim",
        "from sim.cli.main import parser; parser()",
        "from sim.cli.main import main\ntry: main(['--help'])\nexcept SystemExit: pass",
        "from sim.cli.main import main; main(['scenarios'])",
        "from sim.cli.main import main; main(['validate', 'default', 'overload'])",
        "from sim.cli.main import main; main(['strategies'])",
    ],
)
def test_starts_without_heavy_libraries(code: str) -> None:
    assert loaded_after(code) == set()


def test_the_probe_sees_a_heavy_library_when_one_loads() -> None:
    """The check can fail: a results folder needs plotting, and the probe sees it."""
    assert "matplotlib" in loaded_after("import sim.report.plots")


def test_a_fast_run_loads_no_test_tooling() -> None:
    """trio.testing imports pytest when it is installed (as it is here, not in a plain
    `pip install .`): a run on the fast engine needs neither, nor the trio engine's clock."""
    code = (
        "from sim.cli.main import main\n"
        "main(['run', 'default', '--engine', 'fast', '--requests', '300', '--quiet', '--json'])\n"
        "import json, sys\n"
        "tooling = ('pytest', 'trio.testing')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(tooling))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout.splitlines()[-1]) == []
