"""The workload IR: tensors with named ranks, extended Einsums, and cascades of them.

An Einsum names its output and inputs with rank letters that are local to it, as in
ordinary Einsum notation: `K[b,h,m,e]` in one Einsum and `K[b,h,p,e]` in another are the
same tensor as long as the sizes agree position by position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from graphlib import CycleError, TopologicalSorter

from yamlspec import SpecError

BINARY_OPS = ("add", "subtract", "multiply", "divide", "max", "min")
UNARY_OPS = ("exp", "gelu", "relu", "silu", "tanh", "sigmoid", "sqrt", "rsqrt", "reciprocal", "neg")
REDUCE_OPS = ("sum", "max", "min", "none")


@dataclass(frozen=True)
class Tensor:
    """A named tensor: its shape (positional), number format and storage width."""

    name: str
    shape: tuple[int, ...]
    format: str = "fp16"
    bits: int = 16

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    @property
    def bytes(self) -> int:
        return math.ceil(self.elements * self.bits / 8)


@dataclass(frozen=True)
class TensorRef:
    """A tensor as one Einsum indexes it: rank letters in the tensor's dimension order."""

    tensor: Tensor
    ranks: tuple[str, ...]


@dataclass(frozen=True)
class Expr:
    """A node of an Einsum's map expression.

    op is 'ref' (leaf: inputs[index]), 'const' (leaf: value), a binary op or a unary op.
    """

    op: str
    args: tuple["Expr", ...] = ()
    index: int = -1
    value: float = 0.0

    def __hash__(self) -> int:
        # cached: cascades key many dicts by Einsum signatures, which hold whole trees
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.op, self.args, self.index, self.value))
            object.__setattr__(self, "_hash", h)
        return h

    def __getstate__(self) -> dict:
        # string hashes differ between processes: never carry the cached one over
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    def count_ops(self) -> dict[str, int]:
        """How many of each operation one evaluation of this expression performs."""
        counts: dict[str, int] = {}
        stack = [self]
        while stack:
            node = stack.pop()
            if node.op not in ("ref", "const"):
                counts[node.op] = counts.get(node.op, 0) + 1
            stack.extend(node.args)
        return counts


@dataclass(frozen=True)
class Einsum:
    """One extended Einsum: output[ranks] = expr(inputs) reduced over the other ranks."""

    name: str
    output: TensorRef
    inputs: tuple[TensorRef, ...]
    expr: Expr
    reduce: str = "none"
    text: str = ""
    where: str = ""  # key path in the source file, for error messages
    source: str = field(default="", compare=False)  # the workload file, for error messages

    @cached_property
    def rank_sizes(self) -> dict[str, int]:
        """Every rank of the iteration space with its size (output ranks first)."""
        sizes: dict[str, int] = {}
        for ref in (self.output, *self.inputs):
            for rank, size in zip(ref.ranks, ref.tensor.shape):
                sizes.setdefault(rank, size)
        return sizes

    @cached_property
    def reduced_ranks(self) -> tuple[str, ...]:
        return tuple(r for r in self.rank_sizes if r not in self.output.ranks)

    @property
    def points(self) -> int:
        """Points of the iteration space (one evaluation of expr each)."""
        return math.prod(self.rank_sizes.values())

    @property
    def output_points(self) -> int:
        return self.output.tensor.elements

    @cached_property
    def is_contraction(self) -> bool:
        """A multiply of two tensors summed over at least one shared rank: a (batched) GEMM
        or GEMV, the work a MAC array runs.

        Every rank must appear in at least two of the three tensors (so it is a batched
        matrix product), and the output must have a rank of its own besides the batch.
        """
        e = self.expr
        if not (self.reduce == "sum" and self.reduced_ranks and e.op == "multiply"):
            return False
        if not all(a.op == "ref" for a in e.args) or len(self.inputs) != 2:
            return False
        a, b, o = (set(r.ranks) for r in (self.inputs[0], self.inputs[1], self.output))
        if not all(sum(r in s for s in (a, b, o)) >= 2 for r in self.rank_sizes):
            return False
        groups = self.gemm_groups()
        return bool(groups["M"] or groups["N"])  # a batched dot product is vector work

    @property
    def macs(self) -> int:
        """Multiply-accumulates the Einsum defines (contractions only)."""
        return self.points if self.is_contraction else 0

    @cached_property
    def vector_ops(self) -> dict[str, int]:
        """Element-wise and reduction operations of a non-contraction Einsum, by kind."""
        if self.is_contraction:
            return {}
        ops = {op: n * self.points for op, n in self.expr.count_ops().items()}
        if self.reduce != "none" and self.reduced_ranks:
            ops[self.reduce] = ops.get(self.reduce, 0) + self.points - self.output_points
        return ops

    def gemm_groups(self) -> dict[str, tuple[str, ...]]:
        """Ranks of a contraction grouped as a batched GEMM: B (batch), M, N, K.

        M ranks belong to the first input and the output, N ranks to the second input
        and the output, K ranks to both inputs (reduced), B ranks to all three.
        """
        return dict(self._gemm_groups)

    @cached_property
    def _gemm_groups(self) -> dict[str, tuple[str, ...]]:
        a, b, o = (set(r.ranks) for r in (self.inputs[0], self.inputs[1], self.output))
        groups = {"B": [], "M": [], "N": [], "K": []}
        for rank in self.rank_sizes:
            if rank in a and rank in b and rank in o:
                groups["B"].append(rank)
            elif rank in a and rank in o:
                groups["M"].append(rank)
            elif rank in b and rank in o:
                groups["N"].append(rank)
            else:
                groups["K"].append(rank)
        return {g: tuple(r) for g, r in groups.items()}

    def gemm_shape(self) -> dict[str, int]:
        """Sizes of the B, M, N, K groups (1 for an empty group)."""
        return {
            g: math.prod(self.rank_sizes[r] for r in ranks)
            for g, ranks in self.gemm_groups().items()
        }

    def signature(self) -> tuple:
        """What determines this Einsum's cost: equal signatures simulate identically."""
        return self._signature

    @cached_property
    def _signature(self) -> tuple:
        refs = tuple((r.ranks, r.tensor.shape, r.tensor.bits) for r in (self.output, *self.inputs))
        return (refs, self.expr, self.reduce)


@dataclass(frozen=True)
class Cascade:
    """A DAG of Einsums connected by tensor names, validated on construction."""

    name: str
    einsums: tuple[Einsum, ...]
    source: str = ""  # the file it came from, for error messages
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        self._validate()

    @cached_property
    def signature_ids(self) -> tuple[int, ...]:
        """Each Einsum's number among the distinct signatures (0, 1, ... in order of first
        appearance): equal numbers simulate identically."""
        ids: dict[tuple, int] = {}
        return tuple(ids.setdefault(e.signature(), len(ids)) for e in self.einsums)

    def _fail(self, einsum: Einsum | None, message: str):
        raise SpecError(message, self.source or None, einsum.where if einsum else None)

    def _validate(self):
        if not self.einsums:
            self._fail(None, f"cascade '{self.name}' has no Einsums")
        names: set[str] = set()
        tensors: dict[str, Tensor] = {}
        producer: dict[str, Einsum] = {}
        for e in self.einsums:
            if e.name in names:
                self._fail(e, f"Einsum name '{e.name}' is used twice")
            names.add(e.name)
            if e.output.tensor.name in producer:
                self._fail(e, f"tensor '{e.output.tensor.name}' is produced twice "
                              f"(also by '{producer[e.output.tensor.name].name}')")
            producer[e.output.tensor.name] = e
            for ref in (e.output, *e.inputs):
                known = tensors.setdefault(ref.tensor.name, ref.tensor)
                if known.shape != ref.tensor.shape:
                    self._fail(e, f"tensor '{ref.tensor.name}' has shape {list(ref.tensor.shape)} "
                                  f"here but {list(known.shape)} elsewhere (ranks do not match)")
        graph = {
            e.name: {producer[r.tensor.name].name for r in e.inputs if r.tensor.name in producer}
            for e in self.einsums
        }
        try:
            tuple(TopologicalSorter(graph).static_order())
        except CycleError as exc:
            cycle = " -> ".join(exc.args[1])
            self._fail(None, f"the Einsums form a cycle ({cycle}); a cascade must be a DAG")

    @cached_property
    def tensors(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for e in self.einsums:
            for ref in (e.output, *e.inputs):
                out.setdefault(ref.tensor.name, ref.tensor)
        return out

    @cached_property
    def inputs(self) -> tuple[Tensor, ...]:
        """Tensors read but produced by no Einsum: they start in DRAM."""
        produced = {e.output.tensor.name for e in self.einsums}
        return tuple(t for n, t in self.tensors.items() if n not in produced)

    @cached_property
    def outputs(self) -> tuple[Tensor, ...]:
        """Tensors produced but read by no Einsum: they end in DRAM."""
        consumed = {r.tensor.name for e in self.einsums for r in e.inputs}
        return tuple(e.output.tensor for e in self.einsums if e.output.tensor.name not in consumed)

    @property
    def macs(self) -> int:
        return sum(e.macs for e in self.einsums)

    @property
    def compulsory_dram_bytes(self) -> int:
        """Bytes that must cross the DRAM interface under any mapping: inputs read once,
        outputs written once."""
        return sum(t.bytes for t in self.inputs) + sum(t.bytes for t in self.outputs)
