"""AccelForge architectures -> our YAML (a memory hierarchy, arch/hierarchy.py).

AccelForge evaluates its own spec (Jinja variables, expressions, component models) with
a probe workload (a matmul and a copy) so that expressions over `input`, `weight` and
`output` resolve; the evaluated path from the top memory to the compute unit that runs
three-tensor Einsums becomes: the first memory -> `dram`; each further memory -> a
`memory` level (its fan-out, and that of containers above it, -> `instances`); the last
container's two fan-outs -> the `array2d`'s rows (the one reusing outputs) and columns;
a register below it keeping one operand -> that operand stationary (ws/os/is); the unit
for two-tensor Einsums -> an `array1d`. What has no counterpart is named by its key path.
Units: AccelForge actions are per `bits_per_action` bits with energies in J, throughputs
in actions per second and areas in m^2.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from yamlspec import SpecError
from arch.costmodels import ensure_cacti
from sim.accelforge.load import peer_errors, spec as load_spec

# Tensor names of the probe workload and the roles they stand for.
PROBE_ROLES = {"In": "input", "Wt": "weight", "Out": "output"}
PROBE = """workload:
  rank_sizes: {M: 16, N: 16, K: 16}
  bits_per_value: {All: 8}
  einsums:
  - einsum: "Out[m, n] = In[m, k] * Wt[k, n]"
    renames: {input: In, weight: Wt, output: Out}
  - einsum: "Cp[m, n] = Cin[m, n]"
"""
STATIONARY = {"weight": "ws", "output": "os", "input": "is"}
FORMATS = ("int4", "int8", "fp16", "fp32")  # what translated workloads may use (workload.py)


class Untranslatable(SpecError):
    pass


def _fail(msg: str, file: str, where: str):
    raise Untranslatable(f"cannot translate: {msg}", file, where)


def _roles(value, by_name: dict, file: str, where: str, seen=()) -> list[str]:
    """An evaluated tensor set (or AccelForge's '~NODE.tensors' / '~NODE' left as text)
    as roles of the probe's matmul."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("~") and text[1:].split(".")[0] in by_name and text not in seen:
            other = by_name[text[1:].split(".")[0]]
            kept = _roles(other.tensors.keep, by_name, file, where, (*seen, text))
            return [r for r in PROBE_ROLES.values() if r not in kept]
        _fail(f"the tensor set {value!r} does not evaluate", file, where)
    names = set(value)
    return [role for name, role in PROBE_ROLES.items() if name in names]


def _action(node, name: str):
    return next((a for a in node.actions if a.name == name), None)


def _per_byte(node, action: str, file: str, where: str) -> tuple[float, float]:
    """(pJ per byte, bytes per second; inf when unlimited) of a memory action."""
    a = _action(node, action)
    if a is None or a.energy is None:
        _fail(f"memory '{node.name}' has no {action} energy", file, f"{where}.actions")
    bits = a.bits_per_action or 1
    rate = math.inf if a.throughput is None else float(a.throughput) * bits / 8
    return float(a.energy) * 1e12 * 8 / bits, rate


def _fanout(node) -> int:
    return math.prod(int(s.fanout) for s in (getattr(node, "spatial", None) or []))


def _compute_path(ev, einsum: str, file: str):
    """The path to the unit enabled for the probe's matmul, and any other unit's path."""
    with peer_errors(file, "arch"):
        paths = ev._get_flattened_architecture()
    enabled = [p for p in paths if getattr(p[-1], "enabled", True) is True]
    if not enabled:
        _fail(f"no compute unit is enabled for a {einsum}", file, "arch.nodes")
    return enabled[0], next((p for p in paths if p[-1].name != enabled[0][-1].name), None)


def _number(value) -> float:
    """An area or leak power: 0 when AccelForge left it to a component model."""
    return float(value) if isinstance(value, (int, float)) else 0.0


def translate(path: str | Path, variables: dict | None = None) -> dict:
    """The `architecture:` mapping of our YAML for AccelForge architecture `path`."""
    file = str(path)
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.yaml"
        probe.write_text(PROBE)
        spec = load_spec(path, probe, variables=variables, file=file)
        ensure_cacti()  # AccelForge prices memories with the same CACTI
        with peer_errors(file, "arch"):  # areas and leak powers only where given
            mm = spec.calculate_component_costs(einsum_name="Out", area=False, leak=False)
    path3, path2 = _compute_path(mm, "matmul", file)
    by_name = {n.name: n for n in path3}
    mac = path3[-1]
    where_mac = f"arch.nodes.{mac.name}"
    compute = _action(mac, "compute")
    if compute is None or compute.throughput in (None, math.inf):
        _fail(f"compute unit '{mac.name}' has no finite compute throughput (it sets the "
              f"clock)", file, f"{where_mac}.actions")
    clock_hz = float(compute.throughput)
    components, leaves = [], path3[:-1]
    last_container = max((i for i, n in enumerate(leaves) if type(n).__name__ == "Container"),
                         default=None)
    memories = [i for i, n in enumerate(leaves) if type(n).__name__ == "Memory"]
    if not memories or memories[0] != 0:
        _fail("the top of the hierarchy must be a memory (DRAM)", file, "arch.nodes")
    pending = 1  # fan-out of containers above the next memory level
    arrays = 1   # copies of the PE array: every memory level's fan-out
    array = {"rows": 1, "cols": 1}
    stationary, pe_area_m2, pe_leak_w = None, 0.0, 0.0
    for i, node in enumerate(leaves):
        kind = type(node).__name__
        where = f"arch.nodes.{node.name}"
        name = str(node.name)
        if kind == "Container":
            if i == last_container:
                for s in node.spatial or []:
                    reuse = _roles(s.reuse, by_name, file, f"{where}.spatial.{s.name}.reuse")
                    side = "rows" if "output" in reuse else "cols"
                    if array[side] != 1:
                        _fail("an array of more than two fan-outs, or two reducing the "
                              "same way", file, f"{where}.spatial")
                    array[side] = int(s.fanout)
            else:
                pending *= _fanout(node)
            continue
        if kind != "Memory":
            _fail(f"a {kind} between memories", file, where)
        read_pj, read_rate = _per_byte(node, "read", file, where)
        write_pj, write_rate = _per_byte(node, "write", file, where)
        keep = _roles(node.tensors.keep, by_name, file, f"{where}.tensors.keep")
        may_keep = _roles(node.tensors.may_keep, by_name, file, f"{where}.tensors.may_keep")
        if last_container is not None and i > last_container:  # inside a PE
            if len(keep) != 1 or float(node.size) > 64:
                _fail(f"memory '{node.name}' inside the PE array holds more than one value "
                      f"of one tensor (a per-PE scratchpad; our arrays keep one register "
                      f"per PE)", file, where)
            if read_pj or write_pj:
                _fail(f"PE register '{node.name}' costs energy per access, which our "
                      f"arrays do not count", file, f"{where}.actions")
            stationary = STATIONARY[keep[0]]
            pe_area_m2 += _number(node.area)
            pe_leak_w += _number(node.leak_power)
            continue
        latency = str(getattr(node, "total_latency", "") or "")
        copies = pending * _fanout(node)
        pending = 1
        arrays *= copies
        if i == 0:
            if read_pj != write_pj:
                _fail("DRAM read and write energies differ; our dram has one energy per "
                      "bit", file, f"{where}.actions")
            components.append({
                "name": name, "class": "dram", "type": "AccelForge",
                "bandwidth_gb_s": min(read_rate, write_rate, 1e12) / 1e9,
                "energy_pj_per_bit": read_pj / 8,
                "source": f"AccelForge example {Path(file).name}, node {name}"})
            continue
        shared = latency.startswith("sum(") and "n_calls / a.throughput" in latency
        if not shared and not latency.startswith("max(") and math.isfinite(
                min(read_rate, write_rate)):
            _fail(f"total_latency {latency!r} is neither separate ports (max over actions) "
                  f"nor one shared port (sum over actions)", file, f"{where}.total_latency")
        mem = {"name": name, "class": "memory",
               "read_pj_per_byte": read_pj, "write_pj_per_byte": write_pj,
               "area_mm2_each": _number(node.area) * 1e6,
               "leak_mw": _number(node.leak_power) * 1e3 * copies,
               "keep": keep, "may_keep": sorted(set(may_keep) | set(keep),
                                                key=list(PROBE_ROLES.values()).index),
               "source": f"AccelForge example {Path(file).name}, node {name}"}
        if math.isfinite(float(node.size)):
            mem["capacity_kib"] = float(node.size) / 8 / 1024
        for key, rate in (("read_bytes_per_cycle", read_rate), ("write_bytes_per_cycle", write_rate)):
            if math.isfinite(rate):
                mem[key] = rate / clock_hz
        if shared and math.isfinite(read_rate):
            mem["shared_port"] = True
        if copies > 1:
            mem["instances"] = copies
        mem["double_buffered"] = False  # AccelForge fits one tile of each kept tensor
        components.append(mem)
    if pending > 1:
        _fail("a fan-out below the last memory that is not the PE array", file, "arch.nodes")
    mac_pj = float(compute.energy or 0) * 1e12
    area_um2 = (_number(mac.area) + pe_area_m2) * 1e12
    pes = array["rows"] * array["cols"] * arrays
    components.append({  # AccelForge's MAC costs the same whatever the width
        "name": str(mac.name), "class": "array2d", **array, "formats": list(FORMATS),
        "dataflows": [stationary] if stationary else ["ws", "os", "is"],
        "mac_pj": dict.fromkeys(FORMATS, mac_pj), "pe_area_um2": area_um2 or 1e-9,
        "leak_mw": (_number(mac.leak_power) + pe_leak_w) * 1e3 * pes,
        "source": f"AccelForge example {Path(file).name}, node {mac.name}"
                  + ("" if area_um2 else " (area 0 there)")})
    if path2 is not None:
        unit = path2[-1]
        op = _action(unit, "compute")
        lanes = max(1, round(float(op.throughput) / clock_hz)) if op and op.throughput else 1
        components.append({
            "name": str(unit.name), "class": "array1d", "lanes": lanes, "formats": list(FORMATS),
            "op_pj": {"default": float(op.energy or 0) * 1e12 if op else 0.0},
            "lane_area_um2": max(_number(unit.area) * 1e12 / lanes, 1e-9),
            "source": f"AccelForge example {Path(file).name}, node {unit.name}"})
    name = Path(file).stem
    return {"name": name, "clock_ghz": clock_hz / 1e9, "technology_nm": 7, "leakage": True,
            "description": f"translated from AccelForge's {Path(file).name} by `sim "
                           f"import-accelforge` (technology_nm is a placeholder: every cost "
                           f"is AccelForge's number)", "components": components}
