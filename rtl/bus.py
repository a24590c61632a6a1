"""The engines' host word bus map (docs/rtl.md) and the address-width helper."""

# Host bus regions (addr[31:28]); bank in addr[27:20], word in addr[19:0].
REGION_CTRL, REGION = 0, {"A": 1, "W": 2, "O": 3}
REGION_VECTOR = 4  # the 1D unit's results (rtl/cascade_engine.py): bank = Einsum number
REG_CTRL, REG_STATUS, REG_CYCLES = 0, 1, 2
BANK_SHIFT, REGION_SHIFT = 20, 28


def bits_for(n: int) -> int:
    """Address bits for indices 0..n-1 (0 when n == 1)."""
    return max(0, (n - 1).bit_length())
