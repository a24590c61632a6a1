"""The `sim` command line: a group whose verbs are the COMMANDS registry's entries
(sim/commands/ here; `rtl` and `experiment` from their own rooms)."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.text import Text

from yamlspec import COMMANDS, SpecError

err_console = Console(stderr=True)


class Sim(click.Group):
    """Verbs come from the registry; bad input prints one paragraph and exits 2."""

    def list_commands(self, ctx):
        return COMMANDS.names()

    def get_command(self, ctx, name):
        return COMMANDS.get(name) if name in COMMANDS else None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SpecError as exc:
            # Printed as plain text: rich markup would eat every bracketed rank list.
            err_console.print(Text.assemble(("error: ", "bold red"), str(exc)),
                              highlight=False, soft_wrap=True)
            sys.exit(2)


@click.group(cls=Sim)
@click.version_option(package_name="accelsim")
def main():
    """Simulate Einsum-cascade workloads on accelerator architectures.

    Workloads and architectures are YAML files; see README.md for their format.
    """


if __name__ == "__main__":
    main()
