"""The model: what a scenario describes and the random draws it makes.

The scenario schema (config, scenario), arrivals, the market's mid path, keyed random streams
and the draws of a run. The lowest layer of sim: it imports only venues and strategies.
"""
