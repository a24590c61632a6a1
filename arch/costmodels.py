"""Cost models: a component's per-action energy, area and leak power from the field's
component models (hwcomponents, the Accelergy project's library: CACTI for memories,
Aladdin for arithmetic) instead of typed-in numbers.

A component names one with `model: NAME`; arch.spec resolves it when the architecture
is loaded, from the component's own sizes and the architecture's technology node, and
fills every cost field the YAML does not give (numbers given explicitly win, field by
field). Each filled field's `source` says which model, inputs and package version
produced it. A model is a function registered in COST_MODELS:

    @cost_model("cacti")
    def cacti(component, technology_nm) -> Costs: ...

Answers are cached on disk keyed by the model, its inputs and the package versions
(`$ACCELSIM_CACHE_DIR`, default ~/.cache/accelsim), so a sweep pays CACTI once per
distinct buffer and a warm cache never imports hwcomponents.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from pydantic import ValidationError

from yamlspec import Registry, SpecError, from_pydantic
from arch.components import Component, is_cost_field


@dataclass(frozen=True)
class Costs:
    values: dict[str, float]   # component field -> number
    source: str                # the model, its inputs and version: cited for every field


COST_MODELS: Registry[Callable[["Component", float], Costs]] = Registry("cost model",
                                                                        "cost_models")


def cost_model(name: str):
    """Register model(component, technology_nm) -> Costs under `name` (YAML `model:`)."""
    return COST_MODELS.register(name)


def resolve(cls: type[Component], data: dict, technology_nm: float, file: str | None,
            where: str) -> tuple[dict, frozenset[str]]:
    """Component data with the cost fields its `model:` provides filled in, and the names
    of the fields the model filled. Numbers the YAML gives win: a field given whole stays;
    a per-format table (e.g. mac_pj) given in part is merged, the YAML's entries winning.
    The model sees the component validated first (sizes and types checked, limits named),
    with a stand-in 1.0 for each cost field it lacks (per format, for a per-format table)."""
    name = data.get("model")
    if name is None:
        return data, frozenset()
    model = COST_MODELS.get(name, file, f"{where}.model")
    formats = data.get("formats")
    ones = dict.fromkeys(formats if isinstance(formats, list) and
                         all(isinstance(f, str) for f in formats) else (), 1.0)
    placeholders = {}
    for f, info in cls.model_fields.items():
        if not is_cost_field(f) or not (info.is_required() or f in data):
            continue
        per_format = getattr(info.annotation, "__origin__", None) is dict
        if per_format and isinstance(data.get(f, {}), dict):
            placeholders[f] = {**ones, **data.get(f, {})}
        elif f not in data:
            placeholders[f] = 1.0
    source = data.get("source", "")
    draft_source = ({**source, **dict.fromkeys(placeholders, name)} if isinstance(source, dict)
                    else source)
    try:
        draft = cls.model_validate({**data, **placeholders, "source": draft_source})
    except ValidationError as err:
        raise from_pydantic(err, file, where) from None
    try:
        costs = model(draft, technology_nm)
    except ValueError as exc:  # the model does not apply to this component
        raise SpecError(f"cost model '{name}': {exc}", file, where) from None
    except Exception as exc:  # noqa: BLE001  hwcomponents and CACTI raise bare Exceptions
        raise SpecError(f"cost model '{name}' could not price this component "
                        f"({type(exc).__name__}: {str(exc)[:300]})", file, where) from None
    filled = {}
    for f, v in costs.values.items():
        given = data.get(f)
        if given is None:
            filled[f] = v
        elif isinstance(v, dict) and isinstance(given, dict):
            filled[f] = {**v, **given}
    cited = dict(source) if isinstance(source, dict) else {}
    if isinstance(source, str) and source:  # one citation for the numbers given
        cited = {f: source for f in data if f not in ("name", "class", "model", "source")}
    for f in filled:
        cited[f] = costs.source + ("; entries given in the YAML win" if f in data else "")
    return {**data, **filled, "source": cited}, frozenset(filled)


# ------------------------------------------------------------------ the disk cache

def _cache_path() -> Path:
    root = os.environ.get("ACCELSIM_CACHE_DIR") or Path.home() / ".cache" / "accelsim"
    return Path(root) / "cost_models.json"


_memory: dict[str, dict] | None = None


def cached(model: str, inputs: dict, packages: tuple[str, ...],
           compute: Callable[[], dict[str, float]]) -> dict[str, float]:
    """compute() once per (model, inputs, package versions), remembered on disk."""
    global _memory
    versions = {p: _version(p) for p in packages}
    key = hashlib.sha256(json.dumps([model, inputs, versions], sort_keys=True).encode()
                         ).hexdigest()
    path = _cache_path()
    if _memory is None:
        try:
            _memory = json.loads(path.read_text())
        except (OSError, ValueError):
            _memory = {}
    if key not in _memory:
        _memory[key] = compute()
        try:  # another process may write too: write whole files, replace atomically
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                on_disk = json.loads(path.read_text())
            except (OSError, ValueError):
                on_disk = {}
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({**on_disk, **_memory}))
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only home: the answer is still remembered for this process
    return _memory[key]


@lru_cache(maxsize=None)
def _version(package: str) -> str:
    return metadata.version(package)


def versions_text(packages: tuple[str, ...]) -> str:
    return ", ".join(f"{p} {_version(p)}" for p in packages)


# ------------------------------------------------------------------------ CACTI

CACTI_PACKAGES = ("hwcomponents", "hwcomponents-cacti")


def _cacti_folder() -> Path:
    import hwcomponents_cacti

    return Path(hwcomponents_cacti.__file__).parent / "cacti"


def _cacti_runs(folder: Path) -> bool:
    """Whether the CACTI binary starts here (the wheel's prebuilt one needs glibc 2.38)."""
    binary = folder / "cacti"
    if not binary.is_file():
        return False
    done = subprocess.run([str(binary)], cwd=folder, capture_output=True, text=True)
    return "GLIBC" not in done.stderr and done.returncode != 127


def ensure_cacti() -> None:
    """Rebuild CACTI from the source hwcomponents-cacti ships if its binary does not run
    here; at most once per installation (the rebuilt binary replaces the broken one)."""
    folder = _cacti_folder()
    if _cacti_runs(folder):
        return
    with open(folder / ".accelsim-build.lock", "w") as lock:  # sweep workers build once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _cacti_runs(folder):
            _build_cacti(folder)


def _build_cacti(folder: Path) -> None:
    print("CACTI's prebuilt binary does not run on this machine; building it from the "
          f"source hwcomponents-cacti ships in {folder} (once; about 10-60 s)...",
          file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        done = subprocess.run(["make", "opt", f"-j{os.cpu_count() or 1}"], cwd=folder,
                              capture_output=True, text=True)
    except FileNotFoundError:
        done = None
    if done is None or done.returncode != 0 or not _cacti_runs(folder):
        tail = "" if done is None else (done.stderr or done.stdout)[-400:]
        raise SpecError("cost model 'cacti' needs the CACTI binary, whose prebuilt copy does "
                        f"not run here, and rebuilding it in {folder} failed (it needs make "
                        f"and a C++ compiler: apt-get install make g++). {tail.strip()}")
    print(f"CACTI built in {time.perf_counter() - start:.0f} s.", file=sys.stderr, flush=True)


def cacti_sram(capacity_bytes: int, width_bits: int, banks: int, technology_nm: float
               ) -> dict[str, float]:
    """CACTI (through hwcomponents-cacti) for one SRAM: read and write energy per byte
    of a `width_bits` access, total area and leak power."""
    inputs = {"capacity_bytes": capacity_bytes, "width_bits": width_bits, "banks": banks,
              "technology_nm": technology_nm}

    def compute():
        ensure_cacti()
        from hwcomponents_cacti import SRAM

        sram = SRAM(tech_node=technology_nm * 1e-9, width=width_bits,
                    size=capacity_bytes * 8, n_banks=banks)
        per_byte = 1e12 / (width_bits / 8)
        return {"read_pj_per_byte": sram.read().energy * per_byte,
                "write_pj_per_byte": sram.write().energy * per_byte,
                "area_mm2": sram.area * 1e6, "leak_mw": sram.leak_power * 1e3}

    return cached("cacti-sram", inputs, CACTI_PACKAGES, compute)


@cost_model("cacti")
def cacti(c: Component, technology_nm: float) -> Costs:
    """A `buffer`: `macros` equal SRAMs sharing its capacity, each accessed `row_bits` at
    a time (default: the read port, read_bytes_per_cycle x 8, over the macros) in `banks`
    banks, at the architecture's node. A byte costs what it costs in one macro; area and
    leak power are all the macros'."""
    if c.class_name != "buffer":
        raise ValueError(f"CACTI models memories; class '{c.class_name}' is not one (use it "
                         f"on a buffer)")
    capacity = c.capacity_bytes
    macros, banks = c.macros, c.banks
    each = capacity // macros
    width = c.row_bits or c.read_bytes_per_cycle * 8 // macros
    sram = cacti_sram(each, width, banks, technology_nm)
    return Costs({"read_pj_per_byte": sram["read_pj_per_byte"],
                  "write_pj_per_byte": sram["write_pj_per_byte"],
                  "area_mm2_per_mib": sram["area_mm2"] * macros / (capacity / 2**20),
                  "leak_mw": sram["leak_mw"] * macros},
                 f"CACTI via hwcomponents-cacti: {macros} x SRAM {each / 2**20:g} MiB, "
                 f"{width}-bit rows, {banks} bank(s), {technology_nm:g} nm "
                 f"({versions_text(CACTI_PACKAGES)})")


# ---------------------------------------------------------------------- Aladdin

ALADDIN_PACKAGES = ("hwcomponents", "hwcomponents-library")


def aladdin_int_mac(bits: int, acc_bits: int, technology_nm: float) -> dict[str, float]:
    """Aladdin's integer MAC (hwcomponents-library): energy per MAC, area, leak power."""
    inputs = {"bits": bits, "acc_bits": acc_bits, "technology_nm": technology_nm}

    def compute():
        from hwcomponents_library import AladdinIntMAC

        mac = AladdinIntMAC(tech_node=technology_nm * 1e-9, adder_width=acc_bits,
                            multiplier_width=bits)
        return {"mac_pj": mac.mac().energy * 1e12, "area_um2": mac.area * 1e12,
                "leak_mw": mac.leak_power * 1e3}

    return cached("aladdin-int-mac", inputs, ALADDIN_PACKAGES, compute)


@cost_model("aladdin")
def aladdin(c: Component, technology_nm: float) -> Costs:
    """An `array2d` of integer MAC PEs: per-format MAC energy, PE area and the array's
    leak power from Aladdin's multiplier + adder (accumulator 4x the operand width).
    Aladdin has no floating-point units: give those formats' `mac_pj` explicitly."""
    if c.class_name != "array2d":
        raise ValueError(f"the Aladdin model prices array2d MAC PEs, not class '{c.class_name}'")
    ints = [f for f in c.formats if f.startswith("int") and f[3:].isdigit()]
    if not ints:
        raise ValueError("Aladdin models integer MACs; the array has no intN format")
    macs = {f: aladdin_int_mac(int(f[3:]), 4 * int(f[3:]), technology_nm) for f in ints}
    widest = macs[max(ints, key=lambda f: int(f[3:]))]
    pes = c.pes
    return Costs({"mac_pj": {f: m["mac_pj"] for f, m in macs.items()},
                  "pe_area_um2": widest["area_um2"], "leak_mw": widest["leak_mw"] * pes},
                 f"Aladdin (Shao et al., ISCA 2014) via hwcomponents-library: int MAC "
                 f"{', '.join(ints)} with 4x-wide accumulators, {technology_nm:g} nm "
                 f"({versions_text(ALADDIN_PACKAGES)})")


# ------------------------------------------------------------------ CENT's AiM model

# CENT (Gu et al., "PIM Is All You Need: A CXL-Enabled GPU-Free System for LLM
# Inference", ASPLOS 2025), its AiM power calculator: Morteza1814/CENT
# cent_simulation/cellar_power_calculator.py (the same file ships as
# arkhadem/aim_simulator scripts/cellar_power_calculator.py). Per-channel powers in mW
# (DRAM_POWER: the x16 figures halved to one channel) and the times they are charged over.
CENT_AIM = {
    "P_ACT_mw": 132.6 / 2, "P_RD_mw": 876.3 / 2, "P_WR_mw": 1106.3 / 2,
    "P_ACT_STBY_mw": 527.5 / 2, "P_PRE_STBY_mw": 366.3 / 2,
    "tRC_ns": 44.5, "tBL_ns": 1.25, "tCCDL_ns": 1.0,   # the calculator's own tRC, tBL, tCCDL
    "DQ_pj_per_bit": 5.5,
    "CTRL_PHY_mw": 381.0445262, "CTRL_TRX_mw": 267.7082056,  # CTRL_POWER, per controller
    "CH_PER_CTRL": 2.0, "FREQ_ghz": 2.0,
}


@cost_model("cent-aim")
def cent_aim(c: Component, technology_nm: float) -> Costs:
    """A `pim_dram` priced per command as CENT prices GDDR6-AiM:
    ACT (per bank) = P_ACT x tRC; RD, RDMAC = P_RD x tBL; WR = P_WR x tBL; an all-bank
    MAC (MAC16) = 3 x P_RD x tCCDL over 16 banks (multiply included: mac_pj 0); DQ 5.5
    pJ/bit on every burst crossing the interface; standby P_PRE_STBY with every bank
    precharged, P_ACT_STBY with a row open; the memory controller's PHY power per command
    and transaction-engine power per column command, at 2 GHz, one controller per two
    channels. CENT has no refresh energy: the YAML's refresh_pj stays."""
    if c.class_name != "pim_dram":
        raise ValueError(f"CENT's AiM model prices pim_dram channels, not class '{c.class_name}'")
    k = CENT_AIM
    per_cmd = 1.0 / (k["CH_PER_CTRL"] * k["FREQ_ghz"])   # mW -> pJ per command (x ns)
    return Costs({"act_pj": k["P_ACT_mw"] * k["tRC_ns"],
                  "read_pj": k["P_RD_mw"] * k["tBL_ns"],
                  "write_pj": k["P_WR_mw"] * k["tBL_ns"],
                  "column_pj": 3 * k["P_RD_mw"] * k["tCCDL_ns"] / 16,
                  "mac_pj": 0.0,
                  "io_pj_per_bit": k["DQ_pj_per_bit"],
                  "background_mw_per_channel": k["P_PRE_STBY_mw"],
                  "active_standby_mw_per_channel": k["P_ACT_STBY_mw"],
                  "command_pj": k["CTRL_PHY_mw"] * per_cmd,
                  "transfer_pj": k["CTRL_TRX_mw"] * per_cmd},
                 "CENT AiM power model (Gu et al., ASPLOS 2025; Morteza1814/CENT "
                 "cent_simulation/cellar_power_calculator.py: DRAM_POWER, tRC 44.5 ns, tBL "
                 "1.25 ns, tCCDL 1 ns, DQ 5.5 pJ/bit, CTRL_POWER)")


# ------------------------------------------------------- the PIM-GPT ASIC (Aladdin)

# Element-wise units of a bf16 datapath built from Aladdin's integer blocks: an add is a
# 16-bit adder, a multiply an 8x8 significand multiplier plus an 8-bit exponent adder, a
# max a 16-bit comparator. Aladdin has no floating-point units, so alignment and
# normalization logic are not priced. exp, gelu, divide and rsqrt are polynomial /
# Newton-Raphson iterations (PIM-GPT: Taylor series, Newton-Raphson reciprocal, fast
# inverse square root) of POLY_MACS multiply-adds each, one unit of that many pipelined
# stages per lane (the FuseMax convention the preset used before: 6).
POLY_MACS = 6


def aladdin_block(kind: str, width: int, technology_nm: float) -> dict[str, float]:
    inputs = {"kind": kind, "width": width, "technology_nm": technology_nm}

    def compute():
        import hwcomponents_library as hw

        tech = technology_nm * 1e-9
        if kind == "adder":
            u = hw.AladdinAdder(tech_node=tech, width=width)
            e = u.add().energy
        elif kind == "multiplier":
            u = hw.AladdinMultiplier(tech_node=tech, width=width)
            e = u.multiply().energy
        else:
            u = hw.AladdinComparator(tech_node=tech, width=width)
            e = u.compare().energy
        return {"pj": e * 1e12, "area_um2": u.area * 1e12, "leak_mw": u.leak_power * 1e3}

    return cached("aladdin-block", inputs, ALADDIN_PACKAGES, compute)


@cost_model("aladdin-asic")
def aladdin_asic(c: Component, technology_nm: float) -> Costs:
    """A `pim_asic`: per-element energy of every unit (Aladdin blocks, above), `lanes`
    copies of each unit kind in `cycles_per_element`, and the buffer from CACTI
    (`buffer_kib`, one lanes x 16-bit wide port); area and leak power of all of it."""
    if c.class_name != "pim_asic":
        raise ValueError(f"this model prices a pim_asic, not class '{c.class_name}'")
    node = c.technology_nm
    add = aladdin_block("adder", 16, node)
    exp_add = aladdin_block("adder", 8, node)
    mul8 = aladdin_block("multiplier", 8, node)
    cmp_ = aladdin_block("comparator", 16, node)
    mult = {k: mul8[k] + exp_add[k] for k in ("pj", "area_um2", "leak_mw")}
    mac = {k: mult[k] + add[k] for k in mult}
    poly = {k: POLY_MACS * v for k, v in mac.items()}
    units = {"add": add, "multiply": mult, "max": cmp_}
    priced = {op: units.get(op, poly) for op in c.cycles_per_element}
    width = c.lanes * 16
    sram = cacti_sram(int(c.buffer_kib * 1024), width, 1, node)
    area_um2 = c.lanes * sum(u["area_um2"] for u in priced.values())
    leak = c.lanes * sum(u["leak_mw"] for u in priced.values()) + sram["leak_mw"]
    return Costs({"op_pj": {**{op: u["pj"] for op, u in priced.items()},
                            "buffer_byte": (sram["read_pj_per_byte"] + sram["write_pj_per_byte"]) / 2},
                  "static_mw": leak,
                  "area_mm2_total": area_um2 * 1e-6 + sram["area_mm2"]},
                 f"Aladdin blocks (bf16 as 16-bit add, 8x8 mult + 8-bit exponent add, 16-bit "
                 f"compare; exp/gelu/divide/rsqrt {POLY_MACS} multiply-adds) and CACTI SRAM "
                 f"{c.buffer_kib:g} KiB x {width} bit, {node} nm "
                 f"({versions_text(ALADDIN_PACKAGES + CACTI_PACKAGES[1:])})")
