"""Sub-commands of `sim`, one module each, found by `sim.cli` at start-up.

A module here that defines a module-level ``command`` (a ``click.Command``) becomes
``sim <command.name>``; adding a verb touches no central list.
"""
