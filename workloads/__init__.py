"""Workloads: the Einsum-cascade IR, its YAML loader and the transformer builder.

Imports nothing of the project but the `yamlspec` leaf.
"""

from workloads.builder import CascadeBuilder
from workloads.ir import Cascade, Einsum, Expr, Tensor, TensorRef
from workloads.loader import load
from workloads.transformer import ModelSpec, PhaseSpec, build_transformer

__all__ = ["Cascade", "CascadeBuilder", "Einsum", "Expr", "ModelSpec", "PhaseSpec", "Tensor",
           "TensorRef", "build_transformer", "load"]
