"""AccelForge (the Accelergy project's Timeloop successor, PyPI `accelforge`) as a
source of architectures and workloads and as a referee: `arch` and `workload` translate
its specs into ours, `peer` runs its mapper. Imported only by the commands and tests
that use it (`pip install accelsim[peers]`)."""
