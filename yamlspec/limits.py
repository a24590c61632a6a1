"""Largest sizes a spec may give: beyond them no physical machine exists, and the
engines would overflow int64 or run for ever. Checked at load, the limit named."""

MAX_YAML_VALUES = 10**6      # values in one YAML file, aliases expanded: no spec needs more
MAX_INT = 2**63 - 1          # any integer in any YAML file: numpy's int64
MAX_NUMBER = 1e15            # any component number (size, rate, energy, area): products stay finite
MAX_RANK = 2**48             # a rank size: 48-bit address spaces hold no more elements
MAX_TENSOR_ELEMENTS = 2**56  # a tensor: 64 PiB at one byte each, beyond any memory system
MAX_POINTS = 2**62           # an Einsum's iteration space (MACs, ops): int64 counters, with headroom
MAX_BUFFER_BYTES = 2**50     # a buffer: 1 PiB, ~10^4 times the largest on-chip SRAM
MAX_ARRAY_SIDE = 2**20       # PEs along one side of an array, or lanes: a million per side
MAX_FORMAT_BITS = 64         # bits per element: no number format is wider
MAX_LAYERS = 10_000          # transformer layers: the largest published models have ~100
MAX_TOKENS = 100_000         # decode steps: each adds one forward pass of Einsums
MAX_BATCH = 2**20            # sequences per batch: a million
MAX_EINSUMS = 1_000_000      # Einsums per cascade: building and simulating is per Einsum
