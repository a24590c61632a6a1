"""Architectures: the YAML schema, the component registry and the presets.

Imports nothing of the project but the `yamlspec` leaf.
"""

from arch.components import COMPONENTS, Array1D, Array2D, Buffer, Component, DRAM, register
from arch.costmodels import COST_MODELS, cost_model
from arch.spec import Architecture, from_dict, load, presets

__all__ = ["COMPONENTS", "COST_MODELS", "Architecture", "Array1D", "Array2D", "Buffer",
           "Component", "DRAM", "cost_model", "from_dict", "load", "presets", "register"]
