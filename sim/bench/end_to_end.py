"""End to end: whole `quoterace run` processes, as a user runs them, timed from outside.

Each figure is a fresh process, `python -m sim run SCENARIO --engine E --requests N --quiet
--json`: Python's start and imports, loading and drawing the scenario, the market path,
deciding, the exact percentiles and the summary, everything a user waits for. Its rate is N
over the process's wall time, and its peak memory the child's own high-water mark (VmHWM,
which it reports as it exits). Every bundled scenario on both engines, and SPARSE: the fast
engine's hardest case, where drawing the market and the latencies costs more than deciding.
A scenario the fast engine cannot run is recorded with the reason it gives, not timed.

numba compiles each scan the first time any run needs it, once per machine (its cache beside
the modules): a user pays that once, not every run. So before timing a scenario on the fast
engine, one untimed run of WARM_UP requests fills the cache, and the figure is a run's as a
user meets it from the second on (the first run's compile is in docs/engines.md).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sim.engines.fast import unsupported
from sim.model.errors import ScenarioError
from sim.model.scenario import bundled, load

SPARSE = Path(__file__).with_name("sparse-market.toml")
SPARSE_TARGET = 1_000_000  # requests per second, whole process, on SPARSE
FAST_REQUESTS = 1_000_000  # bundled scenarios (those with servers or a scan run in one chunk)
SPARSE_REQUESTS = 4_000_000  # the sparse market's own count: startup weighs less
TRIO_REQUESTS = 20_000
WARM_UP = 2_000  # requests of the untimed run that compiles the fast engine's scans first


def end_to_end_figures(
    scenarios: tuple[str, ...] | None = None,
    fast_requests: int | None = None,
    trio_requests: int = TRIO_REQUESTS,
) -> dict[str, Any]:
    """For each of `scenarios` (bundled names or paths; default: every bundled one, then
    SPARSE), a fresh `quoterace run` on each engine: requests, seconds, requests/s, peak MB.
    The fast engine runs `fast_requests` of each (default: FAST_REQUESTS, and SPARSE_REQUESTS
    of SPARSE)."""
    names = (*bundled(), str(SPARSE)) if scenarios is None else scenarios
    figures = {}
    for source in names:
        scenario = load(source)
        why = unsupported(scenario)
        count = fast_requests or (SPARSE_REQUESTS if Path(source) == SPARSE else FAST_REQUESTS)
        if not why:
            _timed(source, "fast", min(WARM_UP, count))
        figures[scenario.name] = {
            "fast": {"refused": why} if why else _timed(source, "fast", count),
            "trio": _timed(source, "trio", trio_requests),
        }
    return {
        "what": "whole `python -m sim run SCENARIO --engine E --requests N --quiet --json` "
        "processes: requests/s over wall time, and peak resident MB",
        "fast_requests": fast_requests or FAST_REQUESTS,
        "trio_requests": trio_requests,
        "sparse_target_requests_per_s": SPARSE_TARGET,
        "scenarios": figures,
    }


# The child runs the command as `python -m sim` would, then says its own peak resident size:
# VmHWM, the high-water mark of its own memory (the ru_maxrss of a wait carries over the
# parent's peak through fork and exec).
_CHILD = (
    "import sys\n"
    "from sim.cli.main import main\n"
    "status = main(sys.argv[1:])\n"
    "peak = [x for x in open('/proc/self/status') if x.startswith('VmHWM')]\n"
    "sys.stderr.write(f'\\nVmHWM {peak[0].split()[1] if peak else 0}\\n')\n"
    "sys.exit(status)\n"
)


def _timed(source: str, engine: str, requests: int) -> dict[str, Any]:
    """One fresh process running `source` on `engine`: its wall time, rate and peak memory."""
    argv = [sys.executable, "-c", _CHILD, "run", source, "--engine", engine]
    argv += ["--requests", str(requests), "--quiet", "--json"]
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        child = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=errors, check=False)
        seconds = time.perf_counter() - start
        errors.seek(0)
        said = errors.read().decode(errors="replace").strip().splitlines()
    peak_kb = int(said.pop().split()[1]) if said and said[-1].startswith("VmHWM") else 0
    said = [line for line in said if line]
    if child.returncode:
        why = f"quoterace run {source} --engine {engine} failed: {said[-1] if said else ''}"
        if child.returncode == 2:  # bad input, said in one line: passed on as such
            raise ScenarioError("--end-to-end-scenarios", why)
        raise RuntimeError(why)
    return {
        "requests": requests,
        "seconds": round(seconds, 3),
        "requests_per_s": round(requests / seconds),
        "peak_mb": round(peak_kb / 1024) if peak_kb else None,  # None: not Linux
    }
