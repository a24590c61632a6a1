"""The one place action counts become energy: every engine counts what its components
do and hands the counts to an Actions, which prices each at its component's energy per
action (Component.energy_pj). Keys are 'label.action' (the label is the component's
name unless the engine names a sub-part, e.g. 'PE2D_RF'). Static energy is every
component's leak power over the step's time, 'COMPONENT.leak' (none when the
architecture says `leakage: false`)."""

from __future__ import annotations

from arch import Architecture, Component


class Actions:
    """Priced action counts: 'label.action' -> picojoules."""

    def __init__(self):
        self.pj: dict[str, float] = {}

    def add(self, component: Component, action: str, count: float, fmt: str | None = None,
            key: str | None = None) -> "Actions":
        """`count` of `action` on `component` (booked under `key`, default
        'component.action')."""
        key = key or f"{component.name}.{action}"
        self.pj[key] = self.pj.get(key, 0.0) + count * component.energy_pj(action, fmt)
        return self

    def memory(self, arch: Architecture, glb_read: float, glb_write: float,
               dram_read: float, dram_write: float) -> "Actions":
        """Bytes read from and written to the global buffer and DRAM."""
        glb, dram = arch.buffer, arch.dram
        self.add(glb, "read_byte", glb_read, key=f"{glb.name}.read")
        self.add(glb, "write_byte", glb_write, key=f"{glb.name}.write")
        self.add(dram, "read_byte", dram_read, key=f"{dram.name}.read")
        self.add(dram, "write_byte", dram_write, key=f"{dram.name}.write")
        return self

    def power(self, component: Component, milliwatts: float, ns: float,
              action: str = "static") -> "Actions":
        """A constant draw over a time (static or background power): mW x ns = pJ."""
        key = f"{component.name}.{action}"
        self.pj[key] = self.pj.get(key, 0.0) + milliwatts * ns
        return self

    def leakage(self, arch: Architecture, cycles: int, clock_ghz: float | None = None
                ) -> "Actions":
        """Every component's leak power over `cycles` of the clock (the architecture's)."""
        if arch.leakage:
            ns = cycles / (clock_ghz or arch.clock_ghz)
            for c in arch.components:
                if c.leak_mw:
                    self.power(c, c.leak_mw, ns, "leak")
        return self

    def merge(self, pj: dict[str, float]) -> "Actions":
        """Add energies another Actions priced."""
        for key, value in pj.items():
            self.pj[key] = self.pj.get(key, 0.0) + value
        return self
