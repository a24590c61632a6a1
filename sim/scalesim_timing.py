"""Closed-form compute cycles of SCALE-Sim v3 (PyPI ``scalesim`` 3.0.0) for a GEMM.

Our GEMM is C[M,N] = A[M,K] x B[K,N] on an R x C systolic array (R = rows, C = cols).

How SCALE-Sim sees a GEMM (``topology_utils.py``, ``load_arrays_gemm``): the CSV row
``Layer, M, N, K,`` becomes a convolution with an M x K input, a 1 x K filter and N
filters, so the operand matrices built in ``compute/operand_matrix.py`` are
ifmap = A (M x K: ofmap pixels x window), filter = B (K x N), ofmap = C (M x N).

Each dataflow (``compute/systolic_compute_{os,ws,is}.py``) pins two GEMM ranks to the
array's rows and columns, tiles them into folds, and streams the third rank through
time.  Per fold it builds demand matrices (one line per cycle), padding a partial
fold to the full array and adding the systolic skew (fill) and drain rows:

    dataflow  array rows hold  array cols hold  streamed  cycles per fold
    os        M (outputs)      N (outputs)      K         K + R + C - 2
    ws        K (weights)      N (weights)      M         M + 2R + C - 2
    is        K (inputs)       M (inputs)       N         N + 2R + C - 2

- os: output C[m,n] stays in a PE; A and B enter skewed over K cycles, then the
  array drains (ifmap gets C-1 and filter R-1 trailing idle lines, then skew).
- ws: a K x N tile of B is loaded (R lines), then A streams M rows, with skew
  (R-1 + C-1) before the last partial sum leaves the bottom.
- is: same shape as ws with A (transposed) stationary and B streaming N columns.

Folds never overlap: fold i+1's lines are concatenated after fold i's drain, so
fill and drain are paid on every fold, and partial folds cost as much as full ones.

The count reported ("Total Cycles" in COMPUTE_REPORT.csv, ``get_total_compute_cycles``
in ``memory/double_buffered_scratchpad_mem.py``) is the cycle of the last demand line,
i.e. (folds x cycles per fold) - 1, plus stalls.  In CALC bandwidth mode the read
buffers are stall-free (``memory/read_buffer_estimate_bw.py``) and the output drains
at C words/cycle, so stalls are 0 and the formula below is exact.
"""

from __future__ import annotations


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _mapping(m: int, k: int, n: int, rows: int, cols: int, dataflow: str):
    """(rank on array rows, rank on array cols, streamed rank, extra fill/drain)."""
    if dataflow == "os":
        return m, n, k, rows + cols - 2
    if dataflow == "ws":
        return k, n, m, 2 * rows + cols - 2
    if dataflow == "is":
        return k, m, n, 2 * rows + cols - 2
    raise ValueError(f"dataflow must be 'os', 'ws' or 'is', not {dataflow!r}")


def scalesim_folds(m: int, k: int, n: int, rows: int, cols: int, dataflow: str) -> int:
    """Number of folds (array-sized tiles) SCALE-Sim runs one after another."""
    on_rows, on_cols, _, _ = _mapping(m, k, n, rows, cols, dataflow)
    return _ceil_div(on_rows, rows) * _ceil_div(on_cols, cols)


def scalesim_fold_cycles(m: int, k: int, n: int, rows: int, cols: int, dataflow: str) -> int:
    """Cycles of one fold: the streamed rank plus fill and drain."""
    _, _, streamed, overhead = _mapping(m, k, n, rows, cols, dataflow)
    return streamed + overhead


def scalesim_compute_cycles(m: int, k: int, n: int, rows: int, cols: int, dataflow: str) -> int:
    """SCALE-Sim v3 compute cycles ("Total Cycles", CALC mode) for C[M,N] = A[M,K] x B[K,N]."""
    for name, value in (("m", m), ("k", k), ("n", n), ("rows", rows), ("cols", cols)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    folds = scalesim_folds(m, k, n, rows, cols, dataflow)
    # SCALE-Sim reports the index of the last cycle (cycles are counted from 0).
    return folds * scalesim_fold_cycles(m, k, n, rows, cols, dataflow) - 1


def scalesim_word_counts(m: int, k: int, n: int, rows: int, cols: int,
                         dataflow: str) -> dict[str, int]:
    """SCALE-Sim's buffer and DRAM word counts (detail report), CALC mode, operands
    fitting its SRAMs.

    Buffer reads are the words its demand matrices name: os reads A once per column
    fold and B once per row fold; ws reads B once and A once per column fold; is reads
    A once and B once per column fold. Outputs: os writes each once; ws/is write a
    partial sum per row fold of K, and each goes to DRAM. SCALE-Sim also counts
    rows + cols ofmap buffer writes per os fold (its drain lines); kept so the counts
    compare one to one. DRAM reads are each operand once (both fit the SRAM).
    """
    _mapping(m, k, n, rows, cols, dataflow)  # validates the dataflow
    m_folds, n_folds, k_folds = _ceil_div(m, rows), _ceil_div(n, cols), _ceil_div(k, rows)
    if dataflow == "os":
        reads = m * k * n_folds + k * n * m_folds
        writes = m * n + m_folds * n_folds * (rows + cols)
        dram_writes = m * n
    elif dataflow == "ws":
        reads = m * k * n_folds + k * n
        writes = dram_writes = m * n * k_folds
    else:
        reads = m * k + k * n * _ceil_div(m, cols)
        writes = dram_writes = m * n * k_folds
    return {"sram_reads": reads, "sram_writes": writes, "dram_reads": m * k + k * n,
            "dram_writes": dram_writes}
