"""Assemble a Cascade from Einsum texts, keeping one Tensor per name."""

from __future__ import annotations

from dataclasses import replace

from yamlspec import SpecError
from yamlspec.limits import MAX_EINSUMS, MAX_POINTS, MAX_RANK, MAX_TENSOR_ELEMENTS
from workloads.formats import format_bits
from workloads.ir import Cascade, Einsum, Tensor
from workloads.parse import Parser


class CascadeBuilder:
    """Collects Einsums; tensors get the default format unless declared otherwise."""

    def __init__(self, name: str, ranks: dict[str, int], default_format: str = "fp16",
                 source: str = ""):
        self.name = name
        self.ranks = dict(ranks)
        self.default_format = default_format
        self.source = source
        self.formats: dict[str, str] = {}
        self.einsums: list[Einsum] = []
        self._tensors: dict[str, Tensor] = {}
        self._exprs: dict = {}  # equal expressions shared, so comparing them is by identity
        self._parser = Parser()  # each layer's texts differ only in names: one parse per form

    def declare(self, tensor: str, fmt: str):
        """Give `tensor` a number format other than the default."""
        format_bits(fmt)  # raises ValueError on an unknown format
        self.formats[tensor] = fmt

    def _tensor(self, name: str, ranks: tuple[str, ...], shape: tuple[int, ...]) -> Tensor:
        known = self._tensors.get(name)
        if known is not None and known.shape == shape:
            return known
        fmt = self.formats.get(name, self.default_format)
        tensor = Tensor(name, shape, fmt, format_bits(fmt))
        self._tensors.setdefault(name, tensor)
        return tensor

    def add(self, text: str, reduce: str | None = None, name: str | None = None,
            ranks: dict[str, int] | None = None, where: str = "") -> Einsum:
        einsum = self._parser.parse(text, ranks or self.ranks, self._tensor, reduce=reduce,
                                    name=name, file=self.source or None, where=where)
        self._check_size(einsum, where)
        expr = self._exprs.setdefault(einsum.expr, einsum.expr)
        if expr is not einsum.expr:
            einsum = replace(einsum, expr=expr)
        self.einsums.append(einsum)
        return einsum

    def _check_size(self, einsum: Einsum, where: str):
        """Sizes no machine has would overflow the engines' int64 counters or run for ever."""
        def fail(message: str):
            raise SpecError(f"{message} in Einsum '{einsum.name}'", self.source or None,
                            where or einsum.name)
        if len(self.einsums) >= MAX_EINSUMS:
            fail(f"more than {MAX_EINSUMS:,} Einsums (the limit per cascade)")
        for rank, size in einsum.rank_sizes.items():
            if size > MAX_RANK:
                fail(f"rank '{rank}' has size {size:,}, over the limit {MAX_RANK:,} (2**48)")
        for ref in (einsum.output, *einsum.inputs):
            if ref.tensor.elements > MAX_TENSOR_ELEMENTS:
                fail(f"tensor '{ref.tensor.name}' has {ref.tensor.elements:,} elements, over "
                     f"the limit {MAX_TENSOR_ELEMENTS:,} (2**56)")
        if einsum.points > MAX_POINTS:
            fail(f"the iteration space has {einsum.points:,} points, over the limit "
                 f"{MAX_POINTS:,} (2**62)")

    def build(self, meta: dict | None = None) -> Cascade:
        if not self.einsums:
            raise SpecError(f"workload '{self.name}' has no Einsums", self.source or None)
        return Cascade(self.name, tuple(self.einsums), self.source, meta or {})
