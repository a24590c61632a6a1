"""Assemble a Cascade from Einsum texts, keeping one Tensor per name."""

from __future__ import annotations

from yamlspec import SpecError
from workloads.formats import format_bits
from workloads.ir import Cascade, Einsum, Tensor
from workloads.parse import parse_einsum


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
        einsum = parse_einsum(text, ranks or self.ranks, self._tensor, reduce=reduce, name=name,
                              file=self.source or None, where=where)
        self.einsums.append(einsum)
        return einsum

    def build(self, meta: dict | None = None) -> Cascade:
        if not self.einsums:
            raise SpecError(f"workload '{self.name}' has no Einsums", self.source or None)
        return Cascade(self.name, tuple(self.einsums), self.source, meta or {})
