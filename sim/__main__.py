"""`python -m sim` is the `quoterace` command."""

import sys

from sim.cli import main

sys.exit(main())
