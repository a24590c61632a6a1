"""Amaranth RTL generators for the simulated blocks, built from the same `arch` objects
the simulator uses; co-simulation against sim's cycle models (rtl.cosim, the only module
that imports sim); Verilog, yosys synthesis and nextpnr timing (rtl.synth).

Blocks register in rtl.blocks.BLOCKS where they are defined: mac-pe (rtl.mac), array2d
(rtl.array2d), bitserial-pe / bitserial-array (rtl.bitserial), vector1d (rtl.vector1d),
pim-bank-mac (rtl.pim_bank_mac), engine (rtl.engine: SRAM banks, a sequencer running a
GemmMapping, the array and a host bus). `sim rtl` is rtl.command. See docs/rtl.md.
"""
