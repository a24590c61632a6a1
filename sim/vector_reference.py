"""Cycle-by-cycle reference of the 1D unit's timing in sim/vector_engine.py.

Output point i goes to lane i mod lanes. A lane works on one output point at a time:
for each of its reduce_len input points it spends cycles_per_point cycles (the map
operations one after another, folding in the reduction); a finished result enters a
pipeline of `depth` stages before it is written. The unit is done when the last
result leaves the pipeline.
"""

from __future__ import annotations


def run_lanes(out_points: int, reduce_len: int, cycles_per_point: int, lanes: int,
              depth: int) -> int:
    queues = [list(range(lane, out_points, lanes)) for lane in range(lanes)]
    busy_left = [0] * lanes      # cycles left on the current input point
    inputs_left = [0] * lanes    # input points left for the current output point
    in_flight: list[int] = []    # cycles until each finished result is written
    written = cycle = 0
    while written < out_points:
        # Results already in the pipeline advance a stage; the last stage writes.
        in_flight = [t - 1 for t in in_flight]
        written += sum(1 for t in in_flight if t == 0)
        in_flight = [t for t in in_flight if t > 0]
        for lane in range(lanes):
            if busy_left[lane] == 0 and inputs_left[lane] == 0 and queues[lane]:
                queues[lane].pop(0)
                inputs_left[lane] = reduce_len
            if busy_left[lane] == 0 and inputs_left[lane] > 0:
                busy_left[lane] = cycles_per_point
                inputs_left[lane] -= 1
        for lane in range(lanes):
            if busy_left[lane]:
                busy_left[lane] -= 1
                if busy_left[lane] == 0 and inputs_left[lane] == 0:
                    in_flight.append(depth)
        cycle += 1
    return cycle
