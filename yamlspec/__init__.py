"""YAML reading with errors that name the file and key path.

Both `workloads` and `arch` read user YAML and must report bad input the same way;
this leaf package is the one place that knows how, so neither imports the other.
"""

from yamlspec.errors import SpecError, from_pydantic, key_path
from yamlspec.reader import read_yaml

__all__ = ["SpecError", "from_pydantic", "key_path", "read_yaml"]
