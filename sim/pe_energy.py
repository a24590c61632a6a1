"""PE-local energy of attention on a 2D + 1D array: register-file (RF) accesses inside
the PEs / lanes and operand deliveries over the on-array network, counted per Einsum
from where its operands live under a design's binding. Used for FuseMax, FLAT and the
Unfused baseline alike; the per-access energies come from the architecture's
`pe_storage` component (none: nothing is charged).

Counting rules (one 16-bit word per access):
- compute: a MAC reads its two operands and its accumulator and writes the accumulator
  (3 reads, 1 write); an element-wise or reduction op reads two operands and writes one
  result (2 reads, 1 write); exp is evaluated as `exp` op_cycles MAC steps of the PE's
  one MAC unit (paper Sec. 6: exp = 6 MACs), 3 reads + 1 write each.
- arrive: every word that lands in a PE's registers from outside that PE (systolic
  operand forwarding from a neighbour, a partial sum passed along a row, a broadcast
  value, data from the other array or the buffer) is one network delivery and one RF
  write. On the 2D array each MAC's two moving operands arrive (both inputs when output
  stationary; input and partial sum when one operand stays in the PE).
- leave: every word sent from a PE to the buffer or the other array is one RF read and
  one network delivery (words passed to a neighbour are charged where they arrive).
"""

from __future__ import annotations

from arch import Architecture
from arch.components import PEStorage
from sim.energy import Actions
from workloads.ir import Einsum

ACTIONS = ("rf_read", "rf_write", "noc")
KEYS = {"rf_read": "_RF.read", "rf_write": "_RF.write", "noc": "_NoC.word"}


def storage(arch: Architecture) -> PEStorage | None:
    found = [c for c in arch.components if isinstance(c, PEStorage)]
    return found[0] if found else None


def compute_accesses(einsum: Einsum, arch: Architecture) -> tuple[int, int]:
    """RF (reads, writes) of evaluating every point of `einsum` with its operands
    already in the PE."""
    if einsum.is_contraction:
        return 3 * einsum.macs, einsum.macs
    reads = writes = 0
    for op, n in einsum.vector_ops.items():
        steps = arch.array1d.cycles_per("exp") if op == "exp" else 1
        reads += (3 if op == "exp" else 2) * steps * n
        writes += steps * n
    return reads, writes


class PECounter:
    """Accumulates RF reads / writes and network deliveries per array."""

    def __init__(self, arch: Architecture):
        self.arch = arch
        self.counts: dict[str, dict[str, float]] = {}

    def _add(self, unit: str, action: str, n: float):
        c = self.counts.setdefault(unit, dict.fromkeys(ACTIONS, 0.0))
        c[action] += n

    def compute(self, unit: str, einsum: Einsum, times: float = 1):
        r, w = compute_accesses(einsum, self.arch)
        self._add(unit, "rf_read", r * times)
        self._add(unit, "rf_write", w * times)

    def arrive(self, unit: str, words: float):
        self._add(unit, "rf_write", words)
        self._add(unit, "noc", words)

    def leave(self, unit: str, words: float, to_buffer: bool = True):
        """Words read out of PE registers and sent to the buffer (one delivery each) or
        to the other array (delivery charged where they arrive)."""
        self._add(unit, "rf_read", words)
        if to_buffer:
            self._add(unit, "noc", words)

    def gemm_os(self, unit: str, einsum: Einsum, times: float = 1):
        """A contraction on the 2D array, output stationary: both inputs move through
        the array (2 deliveries per MAC), the output is drained to the buffer."""
        self.compute(unit, einsum, times)
        self.arrive(unit, 2 * einsum.macs * times)
        self.leave(unit, einsum.output_points * times)

    def lanes(self, unit: str, einsum: Einsum, times: float = 1,
              internal: tuple[str, ...] = (), keep: bool = False):
        """An Einsum on the 1D lanes: inputs not produced in the lane (`internal`)
        arrive once per element, the output leaves unless `keep`."""
        self.compute(unit, einsum, times)
        ext = sum(r.tensor.elements for r in einsum.inputs if r.tensor.name not in internal)
        self.arrive(unit, ext * times)
        if not keep:
            self.leave(unit, einsum.output_points * times)

    def energy_pj(self) -> dict[str, float]:
        """'<array>_RF.read' / '<array>_RF.write' / '<array>_NoC.word' -> pJ."""
        st = storage(self.arch)
        if st is None:
            return {}
        acts = Actions()
        for unit, c in self.counts.items():
            for a, n in c.items():
                if n:
                    acts.add(st, a, n, key=f"{unit}{KEYS[a]}")
        return acts.pj


def einsum_energy_pj(einsum: Einsum, arch: Architecture, repeat: float = 1) -> dict[str, float]:
    """One Einsum on its own, inputs from and output to the buffer: a contraction on the
    2D array (output stationary), anything else on the lanes. {} without pe_storage."""
    if storage(arch) is None:
        return {}
    pc = PECounter(arch)
    if einsum.is_contraction:
        pc.gemm_os(arch.array2d.name, einsum, repeat)
    else:
        pc.lanes(arch.array1d.name, einsum, repeat)
    return pc.energy_pj()


def unfused_energy_pj(cascade, arch: Architecture, repeat: float = 1) -> dict[str, float]:
    """The Unfused baseline: every Einsum on its own (einsum_energy_pj), summed."""
    acts = Actions()
    for e in cascade.einsums:
        acts.merge(einsum_energy_pj(e, arch, repeat))
    return acts.pj
