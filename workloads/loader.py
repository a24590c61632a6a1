"""workloads.load(path): a YAML file -> Cascade.

Two kinds of file:
- a model file (top-level `model:`, `phase:`, `batch:`, `format:`), built by
  workloads.transformer;
- an explicit cascade (top-level `workload:` with `ranks:`, `inputs:` and `einsums:`);
  every tensor an Einsum reads is declared in `inputs:` or produced by an Einsum;
  an optional `iterative:` block gives the loop-carried tensors of a recurrence (e.g.
  attention_1pass.yaml; their meaning: workloads.attention).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from yamlspec import SpecError, from_pydantic, read_yaml
from yamlspec.limits import MAX_BATCH, MAX_RANK
from workloads.formats import format_bits
from workloads.builder import CascadeBuilder
from workloads.ir import Cascade
from workloads.transformer import ModelSpec, PhaseSpec, build_transformer

SHIPPED_DIR = Path(__file__).parent  # gpt2.yaml etc. ship inside the package


class ModelFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: ModelSpec
    phase: PhaseSpec = PhaseSpec()
    batch: Annotated[int, Field(strict=True, gt=0, le=MAX_BATCH)] = 1
    format: str = "fp16"


def load(path: str | Path, **overrides) -> Cascade:
    """Load a workload YAML file. `overrides` replace top-level keys of a model file
    (e.g. batch=8, phase={'kind': 'decode', 'kv_len': 512})."""
    path = Path(path)
    if not path.exists() and (SHIPPED_DIR / path.name).exists():
        path = SHIPPED_DIR / path.name  # `sim run gpt2.yaml` works from any folder
    data = read_yaml(path)
    file = str(path)
    if "model" in data:
        data.update(overrides)
        try:
            spec = ModelFile.model_validate(data)
            format_bits(spec.format)
        except ValidationError as err:
            raise from_pydantic(err, file) from None
        except ValueError as err:
            raise SpecError(str(err), file, "format") from None
        return build_transformer(spec.model, spec.phase, spec.batch, spec.format, file)
    if "workload" in data:
        if overrides:
            raise SpecError("overrides apply to model files only", file)
        spec = data["workload"]
        iterative = None
        if isinstance(spec, dict) and "iterative" in spec:
            spec = dict(spec)
            iterative = spec.pop("iterative")
        cascade = _explicit(spec, file)
        if iterative is not None:
            cascade.meta["iterative"] = _iterative(iterative, cascade, file)
        return cascade
    raise SpecError("expected a top-level 'model:' (a transformer) or 'workload:' "
                    "(an explicit Einsum cascade)", file)


def _iterative(iterative, cascade: Cascade, file: str) -> dict:
    """Check an `iterative:` block: {rank: R, carry: {IN: [OUT, init]}, final: {END: OUT}}."""
    if not isinstance(iterative, dict) or not {"rank", "carry"} <= set(iterative):
        raise SpecError("expected {rank: ..., carry: {IN: [OUT, init]}, final: {...}}",
                        file, "workload.iterative")
    names = set(cascade.tensors)
    carry = iterative["carry"] if isinstance(iterative["carry"], dict) else {None: None}
    for key, pair in carry.items():
        where = f"workload.iterative.carry.{key}"
        if not (isinstance(pair, list) and len(pair) == 2):
            raise SpecError("expected [SOURCE_TENSOR, initial value]", file, where)
        if key not in names or not isinstance(pair[0], str) or pair[0] not in names:
            raise SpecError(f"carried tensor {key} <- {pair[0]} names an unknown tensor",
                            file, where)
        try:
            float(pair[1])
        except (TypeError, ValueError):
            raise SpecError(f"initial value {pair[1]!r} is not a number", file, where) from None
    finals = iterative.get("final", {})
    if not isinstance(finals, dict) or any(k not in names or not isinstance(v, str)
                                           or v not in names for k, v in finals.items()):
        raise SpecError("expected {FINAL_TENSOR: SOURCE_TENSOR} naming known tensors",
                        file, "workload.iterative.final")
    return iterative


def _explicit(spec, file: str) -> Cascade:
    if not isinstance(spec, dict):
        raise SpecError("expected a mapping", file, "workload")
    unknown = set(spec) - {"name", "format", "ranks", "inputs", "einsums"}
    if unknown:
        raise SpecError(f"unknown key(s) {sorted(map(str, unknown))} (known: name, format, ranks, "
                        "inputs, einsums)", file, "workload")
    ranks = spec.get("ranks")
    if not isinstance(ranks, dict) or not ranks:
        raise SpecError("expected a mapping of rank name -> size", file, "workload.ranks")
    for rank, size in ranks.items():
        if not isinstance(rank, str) or not rank.isidentifier():
            raise SpecError(f"a rank name must be a plain name, got {rank!r}", file,
                            "workload.ranks")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise SpecError(f"size must be a positive integer, got {size!r}", file,
                            f"workload.ranks.{rank}")
        if size > MAX_RANK:
            raise SpecError(f"size {size:,} exceeds the limit {MAX_RANK:,} (2**48) of a rank",
                            file, f"workload.ranks.{rank}")
    fmt = spec.get("format", "fp16")
    try:
        format_bits(fmt)
    except ValueError as err:
        raise SpecError(str(err), file, "workload.format") from None
    name = spec.get("name", Path(file).stem)
    if not isinstance(name, (str, int)) or isinstance(name, bool):
        raise SpecError(f"expected a name, got {name!r}", file, "workload.name")
    builder = CascadeBuilder(str(name), ranks, fmt, file)
    inputs = spec.get("inputs")
    if not isinstance(inputs, dict) or not inputs:
        raise SpecError("expected a mapping of tensor name -> {ranks, format}", file,
                        "workload.inputs")
    declared_shapes = {}
    for name, decl in inputs.items():
        where = f"workload.inputs.{name}"
        if not isinstance(decl, dict) or not isinstance(decl.get("ranks"), list):
            raise SpecError("expected {ranks: [...], format: ...}", file, where)
        if not all(isinstance(r, str) for r in decl["ranks"]):
            raise SpecError(f"ranks must be rank names, got {decl['ranks']!r}", file,
                            f"{where}.ranks")
        extra = set(decl) - {"ranks", "format"}
        if extra:
            raise SpecError(f"unknown key(s) {sorted(map(str, extra))} (known: ranks, format)",
                            file, where)
        missing = [r for r in decl["ranks"] if r not in ranks]
        if missing:
            raise SpecError(f"ranks {missing} have no size in workload.ranks", file, where)
        declared_shapes[name] = tuple(ranks[r] for r in decl["ranks"])
        if "format" in decl:
            try:
                builder.declare(name, decl["format"])
            except ValueError as err:
                raise SpecError(str(err), file, f"{where}.format") from None
    einsums = spec.get("einsums")
    if not isinstance(einsums, list) or not einsums:
        raise SpecError("expected a non-empty list of Einsums", file, "workload.einsums")
    for i, item in enumerate(einsums):
        where = f"workload.einsums[{i}]"
        if isinstance(item, str):
            item = {"einsum": item}
        if not isinstance(item, dict) or not isinstance(item.get("einsum"), str):
            raise SpecError("expected an Einsum string or {einsum: ..., reduce: ...}", file, where)
        extra = set(item) - {"einsum", "reduce", "name", "format"}
        if extra:
            raise SpecError(f"unknown key(s) {sorted(map(str, extra))} (known: einsum, reduce, "
                            f"name, format)", file, where)
        for key in ("reduce", "name"):
            if item.get(key) is not None and not isinstance(item[key], str):
                raise SpecError(f"expected a string, got {item[key]!r}", file, f"{where}.{key}")
        if "format" in item:
            out_name = item["einsum"].split("[", 1)[0].strip()
            try:
                builder.declare(out_name, item["format"])
            except ValueError as err:
                raise SpecError(str(err), file, f"{where}.format") from None
        einsum = builder.add(item["einsum"], reduce=item.get("reduce"), name=item.get("name"),
                             where=where)
        for ref in einsum.inputs:
            want = declared_shapes.get(ref.tensor.name)
            if want is not None and want != ref.tensor.shape:
                raise SpecError(f"tensor '{ref.tensor.name}' is declared with shape {list(want)} "
                                f"but indexed with shape {list(ref.tensor.shape)} (ranks do not "
                                f"match)", file, where)
    cascade = builder.build()
    produced = {e.output.tensor.name for e in cascade.einsums}
    undefined = [t.name for t in cascade.inputs if t.name not in declared_shapes]
    if undefined:
        raise SpecError(f"tensor(s) {undefined} are read but neither declared in workload.inputs "
                        f"nor produced by an Einsum", file, "workload.einsums")
    unused = [n for n in declared_shapes if n in produced]
    if unused:
        raise SpecError(f"tensor(s) {unused} are declared as inputs but also produced by an "
                        f"Einsum", file, "workload.inputs")
    return cascade
