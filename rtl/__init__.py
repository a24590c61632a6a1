"""Amaranth RTL generators for the simulated blocks (to come: see the RTL issue).

Will import arch (and sim only in its co-simulation module).
"""
