"""`quoterace bench`: the engines' speed and memory against their baselines (suite.py), network
mode against in-process runs (network.py), and the bare trio skeleton the trio engine is
measured against (skeleton.py)."""
