"""AccelForge workloads (Einsums with rank projections) -> our workload YAML.

Each AccelForge Einsum of two or three tensors becomes one line of Einsum text: the
output, then the tensor AccelForge calls `input` and the other (the weight); a
projection must index each rank by one rank variable, whose size comes from the
iteration space (`0 <= v < N`) or from the size of the rank it indexes. Copy operations
become copies on the vector unit. All tensors must share one width (8 -> int8, 16 ->
fp16, 32 -> fp32). What has no counterpart is named by its key path.
"""

from __future__ import annotations

import re
from pathlib import Path

from workloads.formats import format_bits
from sim.accelforge.arch import FORMATS as NAMES, _fail
from sim.accelforge.load import peer_errors, spec as load_spec

FORMATS = {format_bits(n): n for n in NAMES}
BOUND = re.compile(r"^\s*0\s*<=\s*([A-Za-z_]\w*)\s*<\s*(\d+)\s*$")
NAME = re.compile(r"^[A-Za-z_]\w*$")


def _one(source) -> str | None:
    names = sorted(source) if not isinstance(source, str) else [source]
    return names[0] if len(names) == 1 else None


def translate(path: str | Path, variables: dict | None = None) -> dict:
    """The `workload:` mapping of our YAML for AccelForge workload `path`."""
    file = str(path)
    spec = load_spec(path, variables=variables, file=file)
    with peer_errors(file, "workload"):
        w = spec._spec_eval_expressions(eval_arch=False).workload
    sizes: dict[str, int] = {}
    for var, text in dict(w.iteration_space_shape or {}).items():
        m = BOUND.match(str(text))
        if not m or m.group(1) != var:
            _fail(f"iteration bound {text!r} is not '0 <= {var} < N'", file,
                  f"workload.iteration_space_shape.{var}")
        sizes[var] = int(m.group(2))
    bits, lines, produced, inputs = set(), [], set(), {}
    for i, e in enumerate(w.einsums):
        where = f"workload.einsums[{i}]"
        accesses = list(e.tensor_accesses)
        outs = [a for a in accesses if a.output]
        if len(outs) != 1 or len(accesses) not in (2, 3):
            _fail(f"Einsum '{e.name}' has {len(accesses)} tensors and {len(outs)} outputs "
                  f"(we take one output and one or two operands)", file, where)
        renames = {str(r.name): _one(r.source) for r in e.renames or []}
        ins = [a for a in accesses if not a.output]
        ins.sort(key=lambda a: a.name != renames.get("input"))  # the input first
        refs = []
        for j, a in enumerate([outs[0], *ins]):
            at = f"{where}.tensor_accesses.{a.name}"
            ranks = []
            for rank, var in dict(a.projection).items():
                var = str(var)
                if not NAME.match(var):
                    _fail(f"rank {rank} of '{a.name}' is indexed by {var!r}, not by one rank "
                          f"variable", file, f"{at}.projection.{rank}")
                size = sizes.get(var)
                if size is None:
                    size = dict(e.rank_sizes or {}).get(rank, dict(w.rank_sizes or {}).get(rank))
                    if size is None:
                        _fail(f"rank variable {var} has no size", file, f"{at}.projection.{rank}")
                    sizes[var] = int(size)
                ranks.append(var)
            bits.add(int(a.bits_per_value))
            refs.append(f"{a.name}[{', '.join(ranks)}]")
            if j and a.name not in produced and a.name not in inputs:
                inputs[a.name] = {"ranks": ranks}
        produced.add(outs[0].name)
        text = f"{refs[0]} = {' * '.join(refs[1:])}"
        lines.append(text if e.name == outs[0].name else {"einsum": text, "name": str(e.name)})
    if len(bits) != 1 or next(iter(bits)) not in FORMATS:
        _fail(f"tensor widths {sorted(bits)} bits: we need one width among "
              f"{sorted(FORMATS)}", file, "workload.bits_per_value")
    used = {v for line in lines
            for v in re.findall(r"[\[,]\s*(\w+)", line if isinstance(line, str) else line["einsum"])}
    return {"name": Path(file).stem, "format": FORMATS[bits.pop()],
            "ranks": {v: s for v, s in sizes.items() if v in used},
            "inputs": {str(k): v for k, v in inputs.items()},
            "einsums": lines}
