"""AccelForge as a referee: its mapper run on a spec, the chosen mapping evaluated in
detail, and that mapping translated into ours (mapper.mapping.HierarchyMapping).

Avoids its known traps (1.0.467): the detailed evaluation `map_workload_to_arch` runs
writes ./mapping.svg through Graphviz, so the mapper runs without it and the chosen
mapping is evaluated here; with LATENCY alone it breaks ties arbitrarily, so it
optimizes LATENCY and ENERGY and the Pareto row with the least latency, then energy,
is taken.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from sim.accelforge.load import accelforge, peer_errors, spec as load_spec
from mapper.mapping import GROUPS, HierarchyMapping, LevelMapping

SEP = "<SEP>"


@dataclass
class PeerEinsum:
    latency_s: float
    energy_j: dict[str, float]                # component -> J
    bits: dict[tuple[str, str, str], float]   # (component, tensor, read|write) -> bits
    nodes: list = field(repr=False)           # the mapping's nodes, outermost first


@dataclass
class PeerRun:
    map_seconds: float
    latency_s: float
    energy_j: float
    einsums: dict[str, PeerEinsum]


def run(arch: str | Path, workload: str | Path, variables: dict | None = None,
        unfused: bool = True, jobs: int = 1) -> PeerRun:
    """Map `workload` onto `arch` with AccelForge's FFM. `unfused`: the top memory must
    keep every tensor (each Einsum reads its operands from DRAM and writes its result
    back, as this tool runs them), so action counts compare one to one."""
    af = accelforge()
    from accelforge.frontend.mapper.metrics import Metrics
    from accelforge.mapper.FFM.main import map_workload_to_arch
    from accelforge.model.main import evaluate_mapping
    af.set_n_parallel_jobs(jobs)
    spec = load_spec(arch, workload, variables=variables, file=str(arch))
    with peer_errors(str(arch), "arch"):
        if unfused:
            spec.arch.nodes[0].tensors.keep = "All"
        spec.mapper.metrics = Metrics.LATENCY | Metrics.ENERGY
        start = time.perf_counter()
        found = map_workload_to_arch(spec, print_progress=False, eval_in_detail=False)
        seconds = time.perf_counter() - start
        rows = found.data
        best = min(range(len(rows)), key=lambda i: (rows.iloc[i][f"Total{SEP}latency"],
                                                    rows.iloc[i][f"Total{SEP}energy"]))
        detail = copy.deepcopy(spec)
        detail.model.metrics = detail.mapper.info_metrics
        detail.mapping = rows.iloc[best][f"Total{SEP}mapping"](_for_model=True)
        evaluated = evaluate_mapping(detail, flattened_arches=found.flattened_arches,
                                     evaluated_specs=found.evaluated_specs)
    row = evaluated.data.iloc[0].to_dict()
    nodes = dict(_nests(detail.mapping.nodes, []))
    einsums = {}
    for name, nest in nodes.items():
        energy, bits, latency = {}, {}, 0.0
        for key, value in row.items():
            parts = key.split(SEP)
            if parts[0] != name or not isinstance(value, (int, float)):
                continue
            if parts[1] == "energy":
                energy[parts[2]] = energy.get(parts[2], 0.0) + float(value)
            elif parts[1] == "action" and parts[4] in ("read", "write"):
                bits[(parts[2], parts[3], parts[4])] = float(value)
            elif parts[1] == "latency":
                latency = max(latency, float(value))
        einsums[name] = PeerEinsum(latency, energy, bits, nest)
    return PeerRun(seconds, float(row[f"Total{SEP}latency"]), float(row[f"Total{SEP}energy"]),
                   einsums)


def _nests(nodes, above: list):
    """(Einsum, its nodes from the root down to its Compute) of a mapping tree, whose
    Split nodes branch into one nest per Einsum."""
    path = list(above)
    for node in nodes:
        kind = type(node).__name__
        if kind in ("Split", "Sequential", "Pipeline", "_Parallel"):
            for child in node.nodes:
                yield from _nests(getattr(child, "nodes", [child]), path)
        elif kind == "Nested":
            yield from _nests(node.nodes, path)
        else:
            path.append(node)
            if kind == "Compute":
                yield str(node.einsum), path


def to_mapping(peer: PeerEinsum, einsum, hierarchy) -> HierarchyMapping:
    """AccelForge's mapping of one Einsum in our terms: per memory level, the tensors it
    stores, the tile at its deepest storage node, the temporal loops stepped since the
    level above (innermost last; a group stepped by several loops keeps each loop's
    tile), how many of them lie above each tensor's storage node, and the rank split over
    its fan-out; a register below the PE array fixes the dataflow (weight: ws, output: os,
    input: is)."""
    role = {einsum.inputs[0].tensor.name: "A", einsum.inputs[1].tensor.name: "W",
            einsum.output.tensor.name: "O"}
    groups = einsum.gemm_groups()
    group = {r: g for g, ranks in groups.items() for r in ranks}
    extent = dict(einsum.rank_sizes)
    levels = {m.name: {"above": {}, "tile": None, "loops": [], "spatial": None}
              for m in hierarchy.memories}
    pending: list[tuple[str, int]] = []  # (group, tile) stepped since the last storage node
    current, dataflow = None, "ws"
    for node in peer.nodes:
        kind = type(node).__name__
        if kind == "Temporal":
            var = str(node.rank_variable)
            if node.tile_shape is not None and int(node.tile_shape) < extent[var]:
                extent[var] = int(node.tile_shape)
                pending.append((group[var], math.prod(extent[r] for r in groups[group[var]])))
        elif kind == "Spatial":
            var, comp = str(node.rank_variable), str(node.component)
            shape = int(node.tile_shape) if node.tile_shape is not None else extent[var]
            if comp in levels and shape < extent[var]:
                levels[comp]["spatial"] = group[var]
            extent[var] = min(extent[var], shape)
        elif kind == "Storage":
            comp = str(node.component)
            if comp in levels:
                lv = levels[comp]
                lv["loops"] = (lv["loops"] if comp == current else []) + pending
                current, pending = comp, []
                for t in node.tensors:
                    lv["above"][role[str(t)]] = len(lv["loops"])
                lv["tile"] = tuple(math.prod(extent[r] for r in ranks)
                                   for ranks in groups.values())
            elif comp != hierarchy.dram.name:
                kept = {role[str(t)] for t in node.tensors}
                dataflow = {"W": "ws", "O": "os", "A": "is"}[kept.pop()] if len(kept) == 1 else "ws"
    out, parent = [], tuple(einsum.gemm_shape()[g] for g in GROUPS)
    for mem in hierarchy.memories:
        lv = levels[mem.name]
        inner = list(parent)
        if lv["spatial"]:
            i = GROUPS.index(lv["spatial"])
            inner[i] = math.ceil(inner[i] / mem.instances)
        tiles = tuple(int(t) for t in (lv["tile"] or inner))  # storing nothing: all it is given
        loops = lv["loops"]
        stepped = [g for g, _ in loops]
        still = [g for g in GROUPS if g not in stepped]
        keep = tuple(o for o in ("A", "W", "O") if o in lv["above"])
        depths = tuple(len(still) + lv["above"][o] for o in keep)
        order = "".join(still + stepped)
        twice = len(set(stepped)) < len(stepped)  # a group stepped by more than one loop
        out.append(LevelMapping(mem.name, keep, tiles, order, lv["spatial"],
                                None if all(d == len(order) for d in depths) else depths,
                                tuple([tiles[GROUPS.index(g)] for g in still]
                                      + [t for _, t in loops]) if twice else None))
        parent = tiles
    return HierarchyMapping(dataflow, tuple(out))
