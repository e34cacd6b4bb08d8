"""Network mode: a scenario's venues served as FIX servers (venues.fix.server)."""
