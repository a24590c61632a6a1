"""The leaf every room may import: reading YAML with errors that name the file and key
path, output-path checks, size limits, and the one extension mechanism (Registry).

Every room reads user input and must report it the same way, and every room registers
extensions; this package is the one place that knows how, so no room imports another
for it.
"""

from yamlspec import limits
from yamlspec.errors import SpecError, from_pydantic, key_path
from yamlspec.files import check_writable
from yamlspec.reader import parse_yaml_text, read_yaml
from yamlspec.registry import COMMANDS, SWEEP_COLUMNS, Registry

__all__ = ["COMMANDS", "SWEEP_COLUMNS", "Registry", "SpecError", "check_writable", "from_pydantic", "key_path", "limits",
           "parse_yaml_text", "read_yaml"]
