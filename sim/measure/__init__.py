"""Measurement: running a scenario on an engine (run.py) and what its records add up to:
latency histograms, tallies, exact percentiles, fill quality, paired comparison and sweeps.
"""
