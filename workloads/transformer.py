"""Build a full transformer forward pass (prefill or decode) as a Cascade.

Attention is the plain 3-pass softmax cascade (scores, max, exp, sum, divide,
weighted sum), as PyTorch runs it. Not modeled: the embedding lookup (a gather, not an
Einsum; its output X0 is the cascade's input) and causal masking (the full score
matrix is computed, as dense kernels do).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from yamlspec import SpecError
from yamlspec.limits import MAX_EINSUMS, MAX_LAYERS, MAX_RANK, MAX_TOKENS
from workloads.builder import CascadeBuilder
from workloads.ir import Cascade


Size = Annotated[int, Field(strict=True, gt=0, le=MAX_RANK)]  # a rank size (no 1.5, no "8")
Layers = Annotated[int, Field(strict=True, gt=0, le=MAX_LAYERS)]


class ModelSpec(BaseModel):
    """Published dimensions of a transformer."""

    model_config = ConfigDict(extra="forbid")
    name: str
    layers: Layers
    d_model: Size
    heads: Size
    d_ff: Size
    vocab: Size
    head_dim: Size | None = None  # default d_model / heads
    kv_heads: Size | None = None  # grouped-query attention: K/V heads (default heads)
    gated_ffn: bool = False              # FFN = W2 (act(x W1) * (x W3)), as Llama's SwiGLU
    activation: Literal["gelu", "relu", "silu"] = "gelu"
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    norm_position: Literal["pre", "post"] = "pre"
    bias: bool = True
    lm_head: bool = True
    source: str = Field(min_length=1, description="where the dimensions come from")

    @model_validator(mode="after")
    def _head_dim(self):
        if self.head_dim is None:
            if self.d_model % self.heads:
                raise ValueError(f"d_model {self.d_model} is not divisible by heads {self.heads}; "
                                 "give head_dim explicitly")
            self.head_dim = self.d_model // self.heads
        if self.kv_heads is not None and self.heads % self.kv_heads:
            raise ValueError(f"heads {self.heads} is not a multiple of kv_heads {self.kv_heads}")
        return self

    @property
    def grouped(self) -> bool:
        """Grouped-query attention: heads h split into K/V groups g of q query heads."""
        return self.kv_heads is not None and self.kv_heads != self.heads


class PhaseSpec(BaseModel):
    """prefill: seq_len tokens at once, attending to `cached` tokens already in the KV
    cache (a later chunk of a chunked prefill) plus themselves. decode: `tokens` steps of
    one token each, the first attending to kv_len cached tokens plus itself."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["prefill", "decode"] = "prefill"
    seq_len: Size = 1024
    kv_len: Size = 1024
    tokens: Annotated[int, Field(strict=True, gt=0, le=MAX_TOKENS)] = 1
    cached: Annotated[int, Field(strict=True, ge=0, le=MAX_RANK)] = 0

    @model_validator(mode="after")
    def _cache_fits(self):
        if self.kind == "decode" and self.kv_len + self.tokens > MAX_RANK:
            raise ValueError(f"kv_len + tokens must not exceed {MAX_RANK:,} (2**48), the "
                             f"largest rank size")
        return self


def build_transformer(model: ModelSpec, phase: PhaseSpec, batch: int = 1,
                      fmt: str = "fp16", source: str = "") -> Cascade:
    dims = {"b": batch, "d": model.d_model, "h": model.heads, "e": model.head_dim,
            "f": model.d_ff, "v": model.vocab}
    if model.grouped:
        dims.update(g=model.kv_heads, q=model.heads // model.kv_heads)
    builder = CascadeBuilder(f"{model.name}-{phase.kind}", dims, fmt, source)
    if phase.kind == "prefill":
        ranks = {**dims, "p": phase.seq_len, "m": phase.cached + phase.seq_len}
        _forward(builder, model, ranks, prefix="", cached_kv=phase.cached > 0)
    else:
        for t in range(phase.tokens):
            ranks = {**dims, "p": 1, "m": phase.kv_len + t + 1}
            _forward(builder, model, ranks, prefix=f"t{t}_", cached_kv=True)
            if t == 0 and len(builder.einsums) * phase.tokens > MAX_EINSUMS:
                raise SpecError(f"{phase.tokens:,} decode steps of {len(builder.einsums):,} "
                                f"Einsums each exceed the limit of {MAX_EINSUMS:,} Einsums per "
                                f"cascade; decode fewer tokens", source or None, "phase.tokens")
    meta = {"model": model.name, "phase": phase.kind, "batch": batch,
            "layers": model.layers, "format": fmt}
    return builder.build(meta)


def _forward(b: CascadeBuilder, model: ModelSpec, ranks: dict, prefix: str, cached_kv: bool):
    x = f"{prefix}X0"
    for layer in range(model.layers):
        x = _layer(b, model, ranks, f"{prefix}l{layer}_", x, cached_kv)
    if model.lm_head:
        if model.norm_position == "pre":
            x = _norm(b, model, ranks, f"{prefix}lnf", x)
        b.add(f"{prefix}LOGITS[b,p,v] = {x}[b,p,d] * WTE[d,v]", ranks=ranks)


def _layer(b: CascadeBuilder, model: ModelSpec, ranks: dict, x: str, inp: str,
           cached_kv: bool) -> str:
    add = lambda text, **kw: b.add(text, ranks=ranks, **kw)  # noqa: E731
    scale = 1.0 / model.head_dim ** 0.5
    pre = model.norm_position == "pre"
    h = _norm(b, model, ranks, f"{x}ln1", inp) if pre else inp
    hq, hk = ("g,q", "g") if model.grouped else ("h", "h")  # query / key-value head ranks
    for t in ("Q", "K", "V"):
        hs = hq if t == "Q" else hk
        add(f"{x}{t}[b,{hs},p,e] = {h}[b,p,d] * {x}W{t}[d,{hs},e]")
        if model.bias:
            add(f"{x}{t}b[b,{hs},p,e] = {x}{t}[b,{hs},p,e] + {x}B{t}[{hs},e]")
    q, k, v = (f"{x}{t}b" if model.bias else f"{x}{t}" for t in ("Q", "K", "V"))
    if cached_kv:  # this token's K, V are appended to the cache, which attention reads
        k, v = f"{x}Kcache", f"{x}Vcache"
    add(f"{x}QK[b,{hq},p,m] = {q}[b,{hq},p,e] * {k}[b,{hk},m,e]")
    add(f"{x}GM[b,{hq},p] = {x}QK[b,{hq},p,m]", reduce="max")
    add(f"{x}SN[b,{hq},p,m] = exp(({x}QK[b,{hq},p,m] - {x}GM[b,{hq},p]) * {scale!r})")
    add(f"{x}SD[b,{hq},p] = {x}SN[b,{hq},p,m]")
    add(f"{x}A[b,{hq},p,m] = {x}SN[b,{hq},p,m] / {x}SD[b,{hq},p]")
    add(f"{x}AV[b,{hq},p,e] = {x}A[b,{hq},p,m] * {v}[b,{hk},m,e]")
    add(f"{x}Z[b,p,d] = {x}AV[b,{hq},p,e] * {x}WO[{hq},e,d]")
    bias_o = f" + {x}BO[d]" if model.bias else ""
    add(f"{x}R1[b,p,d] = {inp}[b,p,d] + {x}Z[b,p,d]{bias_o}")
    r1 = f"{x}R1" if pre else _norm(b, model, ranks, f"{x}ln1", f"{x}R1")
    h2 = _norm(b, model, ranks, f"{x}ln2", r1) if pre else r1
    add(f"{x}F1[b,p,f] = {h2}[b,p,d] * {x}W1[d,f]")
    bias_1 = f" + {x}BF1[f]" if model.bias else ""
    if model.gated_ffn:
        add(f"{x}F3[b,p,f] = {h2}[b,p,d] * {x}W3[d,f]")
        add(f"{x}G[b,p,f] = {model.activation}({x}F1[b,p,f]{bias_1}) * {x}F3[b,p,f]")
    else:
        add(f"{x}G[b,p,f] = {model.activation}({x}F1[b,p,f]{bias_1})")
    add(f"{x}F2[b,p,d] = {x}G[b,p,f] * {x}W2[f,d]")
    bias_2 = f" + {x}BF2[d]" if model.bias else ""
    add(f"{x}Y[b,p,d] = {r1}[b,p,d] + {x}F2[b,p,d]{bias_2}")
    return f"{x}Y" if pre else _norm(b, model, ranks, f"{x}ln2", f"{x}Y")


def _norm(b: CascadeBuilder, model: ModelSpec, ranks: dict, n: str, inp: str) -> str:
    """LayerNorm or RMSNorm over d as four (three) Einsums; returns the output name."""
    add = lambda text, **kw: b.add(text, ranks=ranks, **kw)  # noqa: E731
    inv_d = 1.0 / model.d_model
    if model.norm == "layernorm":
        add(f"{n}_sum[b,p] = {inp}[b,p,d]")
        add(f"{n}_xc[b,p,d] = {inp}[b,p,d] - {n}_sum[b,p] * {inv_d!r}")
        centered = f"{n}_xc"
    else:
        centered = inp
    add(f"{n}_ss[b,p] = {centered}[b,p,d] * {centered}[b,p,d]")
    add(f"{n}_rstd[b,p] = rsqrt({n}_ss[b,p] * {inv_d!r} + 1e-05)")
    shift = f" + {n}_B[d]" if model.norm == "layernorm" else ""
    add(f"{n}[b,p,d] = {centered}[b,p,d] * {n}_rstd[b,p] * {n}_G[d]{shift}")
    return n
