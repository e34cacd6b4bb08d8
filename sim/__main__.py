"""`python -m sim` is the `quoterace` command."""

from sim.cli.main import command

command()
