"""The engines: the trio engine races each request as tasks; the fast engine decides the same
races with numpy. Both write the same Records (records.py). Imports only sim.model below it.
"""
