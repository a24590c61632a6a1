"""The Architecture: clock, technology and components, loaded from YAML."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from yamlspec import SpecError, from_pydantic, read_yaml
from arch.components import COMPONENTS, Array1D, Array2D, Buffer, Component, DRAM
from arch.costmodels import resolve

PRESETS_DIR = Path(__file__).parent / "presets"
DEFAULT = "default"


class Architecture(BaseModel):
    """A named accelerator: one DRAM, one global buffer, a 2D MAC array, a 1D vector unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    # 1 Hz (AccelForge's unitless examples: one action per second) to 1 PHz
    clock_ghz: float = Field(ge=1e-9, le=1e6)
    technology_nm: PositiveInt = Field(le=1_000_000)
    description: str = ""
    leakage: bool = True  # false: no static energy (for papers that excluded it)
    # fused-group strategies (sim/fused.py) the mapper may choose for attention groups
    fusion: list[str] = []
    components: list[Component] = Field(min_length=1)
    file: str = ""

    def memo(self) -> dict:
        """A dict for values derived from this architecture, kept by whoever derives them
        (its roles' components, mapper.search's cache keys: asked for hundreds of
        thousands of times in a sweep): safe as the models are frozen (and nothing edits
        their lists in place); a copy, made while this one lives, has another id and
        starts its own."""
        found = self.__dict__.get("_memo")
        if found is None or found["of"] != id(self):  # not an id: == would recurse
            found = self.__dict__["_memo"] = {"of": id(self)}
        return found

    def _one(self, cls: type[Component]):
        memo = self.memo()
        found = memo.get(cls)
        if found is None:
            matches = [c for c in self.components if isinstance(c, cls)]
            if len(matches) != 1:
                raise SpecError(f"expected exactly one component of class '{cls.class_name}', "
                                f"found {len(matches)}", self.file or None,
                                "architecture.components")
            found = memo[cls] = matches[0]
        return found

    ROLES: ClassVar[tuple[str, ...]] = ("dram", "buffer", "array2d", "array1d")  # below

    @property
    def dram(self) -> DRAM:
        return self._one(DRAM)

    @property
    def buffer(self) -> Buffer:
        return self._one(Buffer)

    @property
    def array2d(self) -> Array2D:
        return self._one(Array2D)

    @property
    def array1d(self) -> Array1D:
        return self._one(Array1D)

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram.bandwidth_gb_s / self.clock_ghz

    def area_breakdown_mm2(self) -> dict[str, float]:
        return {c.name: c.area_mm2() for c in self.components}

    def with_changes(self, **changes) -> "Architecture":
        """A copy with component fields replaced: with_changes(**{'PE.rows': 64})."""
        data = self.to_dict()
        for key, value in changes.items():
            if "." in key:
                comp, field = key.split(".", 1)
                target = next((c for c in data["components"] if c["name"] == comp), None)
                if target is None:
                    raise SpecError(f"no component named '{comp}'", self.file or None, key)
                target[field] = value
            else:
                data[key] = value
        return from_dict(data, self.file)

    def to_dict(self) -> dict:
        out = self.model_dump(exclude={"file", "components"})
        # Each component as written (the declared type would drop its fields, and cost
        # model outputs are recomputed from the sizes when it is loaded again).
        out["components"] = [c.to_spec() for c in self.components]
        return out


def _technology_nm(data: dict) -> float:
    """The node cost models price at (validated with the rest of the architecture)."""
    node = data.get("technology_nm")
    return float(node) if isinstance(node, (int, float)) and node > 0 else 45.0


def from_dict(data: dict, file: str = "") -> Architecture:
    """Validate a plain dict (the `architecture:` mapping) into an Architecture."""
    if not isinstance(data, dict):
        raise SpecError("expected a mapping", file or None, "architecture")
    comps = data.get("components")
    if not isinstance(comps, list):
        raise SpecError("expected a list of components", file or None, "architecture.components")
    built = []
    for i, comp in enumerate(comps):
        where = f"architecture.components[{i}]"
        if not isinstance(comp, dict) or "class" not in comp:
            raise SpecError("each component needs a 'class:' key", file or None, where)
        cls = COMPONENTS.get(comp["class"], file or None, f"{where}.class")
        priced, filled = resolve(cls, comp, _technology_nm(data), file or None, where)
        try:
            component = cls.model_validate(priced)
        except ValidationError as err:
            raise from_pydantic(err, file or None, where) from None
        if filled:
            component._spec = comp
        built.append(component)
    try:
        return Architecture.model_validate({**data, "components": built, "file": file})
    except ValidationError as err:
        raise from_pydantic(err, file or None, "architecture") from None


def load(name_or_path: str | Path | None = None) -> Architecture:
    """A preset name from arch/presets (default: 'default') or a YAML file path."""
    name_or_path = name_or_path or DEFAULT
    path = Path(name_or_path)
    if not path.suffix:
        preset = PRESETS_DIR / f"{name_or_path}.yaml"
        if not preset.exists():
            raise SpecError(f"no preset named '{name_or_path}' (presets: "
                            f"{', '.join(presets())}); or give a path to a YAML file")
        path = preset
    data = read_yaml(path, expect_key="architecture")
    arch = from_dict(data["architecture"], str(path))
    if not any(getattr(c, "standalone", False) for c in arch.components):  # PIM / roofline archs
        for getter in ("dram", "buffer", "array2d", "array1d"):
            getattr(arch, getter)  # each must be present exactly once
    return arch


def presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
