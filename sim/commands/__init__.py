"""The `sim` verbs of this room, one module each. Each registers its click command in
yamlspec.COMMANDS where it is defined; pyproject.toml's `accelsim.commands` entry points
name the modules so the CLI finds them (as it finds `rtl` and `experiment`)."""
