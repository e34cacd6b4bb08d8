"""What a run in process loads: nothing of network mode, trio (the trio engine's tasks) or the
console's tables (rich) when it prints JSON, and numba only for compiled scans. Those are
imported on first use, so that a fast run starts sooner; these tests fail if an import at the
top of a module brings them back."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sim
import venues
from sim.cli import network as cli_network

# modules a quiet JSON run on the fast engine has no use for
NOT_LOADED = ("venues.fix", "sim.network", "sim.engines.trio", "trio", "rich", "sim.report.console")

PROBE = """
import sys
from sim.cli.main import main
main([{args}])
loaded = sorted(m for m in sys.modules if m.startswith({names}))
print(loaded, file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["run", "overload", "--engine", "fast", "--requests", "300", "--json", "--quiet"],
        ["run", "--requests", "300", "--json", "--quiet"],
    ],
)
def test_a_quiet_json_run_loads_no_network_mode_nor_rich(args: list[str]) -> None:
    code = PROBE.format(args=", ".join(map(repr, args)), names=repr(NOT_LOADED))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "[]"


def test_the_probe_sees_what_is_loaded() -> None:
    """The same probe names the modules once a run loads them (the tables print with rich)."""
    code = PROBE.format(args="'run', '--requests', '30'", names=repr(NOT_LOADED))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "'rich'" in done.stderr and "'sim.report.console'" in done.stderr


def test_the_lazy_names_are_the_modules_own() -> None:
    from sim.network.run import Network
    from venues import fix, wall_clock

    assert cli_network.NETWORKS == fix.NETWORKS
    assert cli_network.TIMERS == wall_clock.TIMERS
    assert sim.Network is Network
    assert venues.VenueServer is fix.VenueServer and venues.FixError is fix.FixError
    assert venues.WallClock is wall_clock.WallClock and venues.TIMERS is wall_clock.TIMERS
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        venues.nothing  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        sim.nothing  # noqa: B018
    assert {"Network", "run"} <= set(dir(sim))
    assert {"VenueServer", "WallClock", "TIMERS", "Venue"} <= set(dir(venues))


LOAD = """
import sys
{before}
from sim.cli.compiled import PROBED, load_numba
load_numba()
loaded = sorted(n for n in PROBED if n in sys.modules)
print(loaded, sys.modules.get("numba") is not None, file=sys.stderr)
import scipy.linalg, yaml  # importable again
"""


@pytest.mark.parametrize(("before", "seen"), [("", "[] True"), ("import yaml", "['yaml'] True")])
def test_numba_is_loaded_without_its_probes_which_stay_importable(before: str, seen: str) -> None:
    pytest.importorskip("scipy")
    pytest.importorskip("yaml")
    code = LOAD.format(before=before)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == seen


def test_numba_reads_its_config_file_where_there_is_one(tmp_path) -> None:
    """yaml is not hidden where the working directory has a numba config file: numba decides
    once, as it starts, whether it can read it (else it warns at each compile and ignores it)."""
    pytest.importorskip("yaml")
    (tmp_path / ".numba_config.yaml").write_text("num_threads: 1\n")
    code = LOAD.format(before="") + "from numba.core import config\nassert config._HAVE_YAML\n"
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "['yaml'] True"


def test_a_run_loads_numba_only_where_it_runs_compiled_scans() -> None:
    from sim.engines.fast import compiled
    from sim.model.scenario import load

    assert compiled(load("overload")) and compiled(load("hedging"))
    assert compiled(load("coordinated-omission"))
    assert not compiled(load("default"))
    code = PROBE.format(args="'run', '--requests', '30', '--json', '--quiet'", names="('numba',)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "[]"
