"""Design-space sweeps: sweep files, the executor and the SQLite results store.

    sweep = sim.sweep.load("experiments/sweeps/gpt2_dse.yaml")
    stats = sim.sweep.run(sweep, "gpt2_dse.db")          # resumes if interrupted
    df = sim.sweep.load_results("gpt2_dse.db")           # a pandas DataFrame
"""

from sim.sweep.executor import (SweepStats, check_scheduler, plan, probe_scheduler, run,
                                violations)
from sim.sweep.spec import Point, Sweep, SweepFile, load
from sim.sweep.store import Store, export, load_results, point_key

__all__ = ["Point", "Store", "Sweep", "SweepFile", "SweepStats", "check_scheduler", "export",
           "load", "load_results", "plan", "point_key", "probe_scheduler", "run", "violations"]
