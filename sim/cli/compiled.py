"""numba, loaded for the fast engine's compiled scans without the optional packages it probes.

Starting, numba imports scipy (a version check, then scipy.linalg's BLAS for np.dot's inner
products) and yaml (for a .numba_config.yaml) when they are installed. quoterace's scans use
neither, and the probes cost about a seventh of a second: over a tenth of a short run, which
is mostly starting up. So the CLI loads numba itself before such a run, with the two hidden
unless something imported them already (then nothing is hidden), and puts them back after.
numba decides once whether it can read its config file: where the working directory has one,
yaml is not hidden, so the file is read as it would be without the CLI.
"""

from __future__ import annotations

import os
import sys

# numba's optional imports that quoterace's compiled code never needs
PROBED = ("scipy", "yaml")
# what numba reads, with yaml, from the working directory as it starts (numba.core.config)
NUMBA_CONFIG = ".numba_config.yaml"


def load_numba() -> None:
    """Import numba and make its CPU target (what the first call of a compiled function
    does), `PROBED` hidden meanwhile where not imported yet (an import of them fails, as
    where they are not installed); yaml not where there is a `NUMBA_CONFIG` for it."""
    config = os.path.isfile(NUMBA_CONFIG)
    hidden = [n for n in PROBED if n not in sys.modules and not (n == "yaml" and config)]
    sys.modules.update(dict.fromkeys(hidden))  # None: ImportError
    try:
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()
    finally:
        for name in hidden:
            del sys.modules[name]
