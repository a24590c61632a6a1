"""FPGA resources of a sweep point's RTL blocks as sweep result columns.

    sweep:
      columns:
        fpga: {blocks: [array2d, vector1d], family: ecp5, synthesis: false}

adds, per block B, `fpga.B.luts`, `fpga.B.ffs`, `fpga.B.dsps`, `fpga.B.brams` and
`fpga.B.fits` (whether it fits the family's device, rtl/synth.py DEVICES): from the fit
estimate (rtl/synth.py `estimate`, instant) or, with `synthesis: true`, from yosys for
the family (minutes per block and point; no place-and-route, so no clock).
"""

from __future__ import annotations

import hashlib
import tempfile
from functools import cache
from pathlib import Path

from yamlspec import SWEEP_COLUMNS

FAMILIES = ("ecp5", "ice40")
OPTIONS = {"blocks", "family", "synthesis"}


def _build(block: str, architecture):
    from rtl.blocks import BLOCKS, BlockOptions
    from rtl.cosim import fusemax_vector_einsums

    einsums = (tuple(fusemax_vector_einsums(architecture.array1d)) if block == "vector1d" else ())
    return BLOCKS.get(block).build(architecture, BlockOptions(einsums=einsums))


class FpgaColumns:
    doc = "FPGA resources (LUT4, FF, DSP, BRAM, fits) of RTL blocks built from each point"

    def check(self, options, archs) -> None:
        """Bad options, blocks that need more than an architecture (the engine needs a
        workload and mapping), or that no architecture of the sweep can build."""
        from rtl.blocks import BLOCKS

        if not isinstance(options, dict) or set(options) - OPTIONS:
            extra = sorted(set(options) - OPTIONS) if isinstance(options, dict) else options
            raise ValueError(f"fpga takes {{blocks: [...], family: ecp5|ice40, synthesis: "
                             f"true|false}}, not {extra!r}")
        blocks = options.get("blocks")
        if not isinstance(blocks, list) or not blocks or not all(isinstance(b, str) for b in blocks):
            raise ValueError(f"fpga.blocks must be a non-empty list of block names (registered: "
                             f"{', '.join(BLOCKS.names())}), not {blocks!r}")
        if options.get("family", "ecp5") not in FAMILIES:
            raise ValueError(f"fpga.family must be one of {', '.join(FAMILIES)}, not "
                             f"{options['family']!r}")
        if not isinstance(options.get("synthesis", False), bool):
            raise ValueError(f"fpga.synthesis must be true or false, not {options['synthesis']!r}")
        for block in blocks:
            if block not in BLOCKS.names():
                raise ValueError(f"no RTL block '{block}' (registered: {', '.join(BLOCKS.names())})")
            if block == "engine":
                raise ValueError("the engine needs a workload's contraction and a mapping; it "
                                 "is not a sweep column (use `sim rtl engine`)")
            for a in archs:
                try:
                    dut = _build(block, a)
                except ValueError as exc:
                    raise ValueError(f"block '{block}' cannot be built from architecture "
                                     f"'{a.name}': {exc}") from None
                dut._MustUse__silence = True  # built to be measured, never elaborated
                if not options.get("synthesis") and self._estimate(dut, options) is None:
                    raise ValueError(f"block '{block}' has no fit estimate (it is small: "
                                     f"set synthesis: true to count it with yosys)")

    @staticmethod
    def _estimate(dut, options):
        from rtl.synth import estimate

        return estimate(dut, options.get("family", "ecp5"))

    def columns(self, architecture, options) -> dict:
        from rtl.synth import DEVICES, synthesize, write_verilog

        family = options.get("family", "ecp5")
        out = {}
        for block in options["blocks"]:
            dut = _build(block, architecture)
            if options.get("synthesis"):
                with tempfile.TemporaryDirectory() as tmp:
                    r = synthesize(write_verilog(dut, Path(tmp)), family)
                _, max_luts, max_dsps, max_brams, _ = DEVICES[family]
                values = (r.luts, r.ffs, r.dsps, r.brams,
                          r.luts <= max_luts and r.dsps <= max_dsps and r.brams <= max_brams)
            else:
                dut._MustUse__silence = True
                e = self._estimate(dut, options)
                values = (e.luts, e.ffs, e.dsps, e.brams, e.fits)
            out.update({f"fpga.{block}.{k}": v for k, v in
                        zip(("luts", "ffs", "dsps", "brams", "fits"), values)})
        return out

    @cache
    def version(self) -> str:
        """A hash of rtl/'s sources (the code computing the columns)."""
        digest = hashlib.sha256()
        for path in sorted(Path(__file__).parent.glob("*.py")):
            digest.update(path.name.encode() + path.read_bytes())
        return digest.hexdigest()[:12]


SWEEP_COLUMNS.register("fpga", FpgaColumns())
