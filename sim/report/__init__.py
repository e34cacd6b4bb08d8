"""Reports: what a run shows and writes: console tables, plots, report.md, interval logs,
requests files, results folders, the gallery and sweep files, always written atomically.
"""
