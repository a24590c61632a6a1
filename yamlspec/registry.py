"""The one extension mechanism: a named registry per extension point.

Everything that can be added to the tool (a component class, the engine that times a
unit, a cascade strategy, an RTL block, an experiment, a CLI verb) registers itself
where it is defined, under the name YAML or the CLI uses:

    COMPONENTS = Registry("component class")

    @COMPONENTS.register("dram")
    class DRAM(Component): ...

A lookup miss is a SpecError naming what is registered. Each registry has an entry-point
group (``accelsim.<group>``, declared in a package's pyproject.toml) naming the modules
that define its entries; they are imported on the registry's first lookup, so nothing
imports them in advance and the core never imports upward (rtl, experiments and
third-party plug-ins add to registries the same way). The shape is Ramulator 2's
self-registering implementations and Accelergy's estimator plug-ins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from importlib import import_module, metadata
from typing import Generic, TypeVar

from yamlspec.errors import SpecError

T = TypeVar("T")


@lru_cache(maxsize=1)
def _entry_points() -> metadata.EntryPoints:
    """Every installed entry point, read once per process (a scan of all packages)."""
    return metadata.entry_points()


class Registry(Generic[T]):
    """Name -> implementation for one extension point (`kind` names it in errors); the
    modules in entry-point group ``accelsim.<group>`` are imported on first lookup."""

    def __init__(self, kind: str, group: str, core: Mapping[str, str] | None = None):
        self.kind = kind
        self.group = f"accelsim.{group}"
        # the package's own entries: every core name -> the module registering it,
        # imported on the first lookup of that name (all of them for a listing)
        self.core = core or {}
        self._items: dict[str, T] = {}
        self._loaded = False
        self._core_loaded = False

    def load_plugins(self, name: str | None = None) -> None:
        """Import the modules that register entries here: the core module of `name`
        (or all core modules), then the entry point called `name` (commands and
        experiments are named as they register), then, if that did not register it,
        all of them (once)."""
        if name is not None and name in self._items:
            return
        # a failing import raises at every lookup, not once
        if name in self.core:
            import_module(self.core[name])
            if name in self._items:
                return
        if name is None and not self._core_loaded:
            for module in self.core.values():
                import_module(module)
            self._core_loaded = True
        if self._loaded:
            return
        eps = _entry_points().select(group=self.group)
        if name is not None:
            for ep in eps.select(name=name):
                import_module(ep.module)
            if name in self._items:
                return
        self._loaded = True
        for ep in eps:
            import_module(ep.module)

    def register(self, name: str, item: T | None = None) -> Callable[[T], T] | T:
        """`@reg.register("name")` on a class or function, or `reg.register("name", obj)`."""
        def add(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._items[name] = obj
            return obj
        return add if item is None else add(item)

    def get(self, name: str, file: str | None = None, path: str | None = None) -> T:
        """The implementation named `name`, or a SpecError naming `file`, `path` and
        every registered name."""
        if not isinstance(name, str) or name not in self:
            shown = name if isinstance(name, str) else type(name).__name__
            raise SpecError(f"no {self.kind} '{shown}' is registered (registered: "
                            f"{', '.join(self.names()) or 'none'})", file, path)
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if name not in self._items:
            self.load_plugins(name)
        return name in self._items

    def names(self) -> list[str]:
        self.load_plugins()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        self.load_plugins()
        return iter(sorted(self._items.items()))


# The CLI's verbs come from every room (sim, rtl, experiments), so their registry sits in
# this leaf, which all of them may import.
COMMANDS: Registry = Registry("command", "commands")

# Result columns a sweep file may request (`columns:`) that rooms above sim compute (e.g.
# rtl's FPGA resources). An entry has check(options, archs) (raises ValueError on bad
# options), columns(arch, options) -> {column: value} and version() (part of a point's
# store key); its registry sits here for the same reason.
SWEEP_COLUMNS: Registry = Registry("sweep result column", "sweep_columns")
