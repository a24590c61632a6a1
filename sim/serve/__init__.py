"""sim.serve: a discrete-event simulation of an inference server on a simulated
architecture (`sim serve`, docs/serve.md).

requests (trace or generator) -> schedulers (SCHEDULERS registry) -> server (event
loop) with cost (iteration costs from sim.simulate, memoized) -> metrics.
"""

from __future__ import annotations

from yamlspec import SpecError

# Capacity of one DRAM device by its `type`, where the type fixes it. An architecture
# file whose DRAM type is not here needs --dram-gib.
DRAM_GIB = {
    "HBM2": 8.0,  # one stack of 8 dies x 8 Gb: JEDEC JESD235A's largest HBM2 stack
}


def model_file(path: str, overrides: dict | None = None):
    """The workloads.loader.ModelFile of a model YAML (a model file, not a cascade),
    `overrides` replacing its top-level keys."""
    from pydantic import ValidationError

    from workloads.loader import SHIPPED_DIR, ModelFile
    from yamlspec import from_pydantic, read_yaml
    from pathlib import Path

    file = Path(path)
    if not file.exists() and (SHIPPED_DIR / file.name).exists():
        file = SHIPPED_DIR / file.name
    data = read_yaml(file)
    if not isinstance(data, dict) or "model" not in data:
        raise SpecError("serving needs a model file (top-level `model:`), not an explicit "
                        "cascade", str(file))
    try:
        return ModelFile.model_validate({**data, **(overrides or {})})
    except ValidationError as err:
        raise from_pydantic(err, str(file)) from None


def weight_bytes(spec) -> int:
    """Bytes of the model's weights: every input tensor of its one-token forward pass
    but the activations X0 (the LM head shares the token embedding, as GPT-2 ties them)."""
    from workloads import PhaseSpec, build_transformer

    cascade = build_transformer(spec.model, PhaseSpec(seq_len=1), 1, spec.format)
    produced = {e.output.tensor.name for e in cascade.einsums}
    seen = {}
    for e in cascade.einsums:
        for ref in e.inputs:
            t = ref.tensor
            if t.name not in produced and t.name != "X0":
                seen[t.name] = t.bytes
    return sum(seen.values())


def kv_bytes_per_token(spec) -> int:
    """K and V of every layer for one token, at the model's format."""
    from workloads.formats import format_bits

    m = spec.model
    heads = m.kv_heads or m.heads
    return 2 * m.layers * heads * m.head_dim * format_bits(spec.format) // 8


def kv_capacity_tokens(spec, architecture, dram_gib: float | None = None) -> dict:
    """KV-cache tokens that fit: DRAM capacity minus the weights, over the bytes per
    token. Returns the derivation as numbers."""
    dram = architecture.dram
    if dram_gib is None:
        dram_gib = DRAM_GIB.get(getattr(dram, "type", ""))
        if dram_gib is None:
            raise SpecError(f"the DRAM of architecture '{architecture.name}' is of type "
                            f"'{getattr(dram, 'type', '?')}', whose capacity is not known "
                            f"(known: {', '.join(DRAM_GIB)}); give --dram-gib",
                            architecture.file or None, "components")
    capacity = int(dram_gib * 2 ** 30)
    weights = weight_bytes(spec)
    per_token = kv_bytes_per_token(spec)
    if weights >= capacity:
        raise SpecError(f"the weights ({weights / 2**30:.2f} GiB) do not fit in "
                        f"{dram_gib:g} GiB of DRAM", architecture.file or None, "components")
    return {"dram_bytes": capacity, "weight_bytes": weights, "kv_bytes_per_token": per_token,
            "tokens": (capacity - weights) // per_token}
