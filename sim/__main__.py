"""`python -m sim` is the `quoterace` command."""

import sys

from sim.cli.main import main

sys.exit(main())
