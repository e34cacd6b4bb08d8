"""numba, loaded for the fast engine's compiled scans without the optional packages it probes.

Starting, numba imports scipy (a version check, then scipy.linalg's BLAS for np.dot's inner
products) and yaml (for a .numba_config.yaml) when they are installed. quoterace's scans use
neither, and the probes cost about a seventh of a second: over a tenth of a short run, which
is mostly starting up. So the CLI loads numba itself before such a run, with the two hidden
unless something imported them already (then nothing is hidden), and puts them back after.
"""

from __future__ import annotations

import sys

# numba's optional imports that quoterace's compiled code never needs
PROBED = ("scipy", "yaml")


def load_numba() -> None:
    """Import numba and make its CPU target (what the first call of a compiled function
    does), `PROBED` hidden meanwhile where not imported yet (an import of them fails, as
    where they are not installed)."""
    hidden = [name for name in PROBED if name not in sys.modules]
    sys.modules.update(dict.fromkeys(hidden))  # None: ImportError
    try:
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()
    finally:
        for name in hidden:
            del sys.modules[name]
