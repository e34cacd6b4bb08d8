"""The `quoterace` command (also `python -m sim`): main.py parses and dispatches; nothing in sim
imports the CLI."""
