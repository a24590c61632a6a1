"""The sweep file: a base architecture, workloads, parameter axes, constraints and
objectives, validated with pydantic; and its expansion into points.

    sweep:
      name: gpt2_dse
      base: default                      # preset name or architecture YAML
      workloads: [gpt2.yaml, {path: gpt2-decode.yaml, label: decode}]
      mapper: {objective: latency, search: grid}
      axes:
        - {param: [PE2D.rows, PE2D.cols], values: [32, 64, 128]}
        - {param: GLB.capacity_kib, range: {start: 512, stop: 8192, num: 5, scale: log}}
        - {param: DRAM.bandwidth_gb_s, random: {low: 64, high: 1024, scale: log}}
      samples: 20                        # draws of the `random:` axes (crossed with the grid)
      constraints: {max_area_mm2: 400, max_power_w: 60}
      objectives: [seconds, energy_j]
      columns: {fpga: {blocks: [array2d]}}   # extra result columns (yamlspec.SWEEP_COLUMNS)

A `param` is `COMPONENT.field` (Architecture.with_changes), `arch` (a preset name or
file per point) or `workload.KEY[.SUBKEY]` (an override of the workload file's keys,
e.g. `workload.phase.seq_len`). A list of params moves them together.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from yamlspec import SpecError, from_pydantic, read_yaml
from yamlspec.limits import MAX_YAML_VALUES

Number = int | float
Value = int | float | str | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Range(_Strict):
    """Evenly spaced values from start to stop inclusive: by `step`, or `num` of them
    (linear or log spaced)."""

    start: Number
    stop: Number
    step: Number | None = None
    num: int | None = Field(default=None, ge=1)
    scale: Literal["linear", "log"] = "linear"
    integer: bool | None = None  # default: integer when start and stop are

    @model_validator(mode="after")
    def _one_spacing(self):
        if (self.step is None) == (self.num is None):
            raise ValueError("give exactly one of 'step' or 'num'")
        if self.step is not None and (self.step <= 0 or self.scale == "log"):
            raise ValueError("'step' must be positive and is for linear ranges (use 'num' for log)")
        if self.scale == "log" and min(self.start, self.stop) <= 0:
            raise ValueError("a log range needs positive start and stop")
        count = self.num if self.num is not None else (self.stop - self.start) / self.step + 1
        if count > MAX_YAML_VALUES:  # each value is a sweep point: none needs more
            raise ValueError(f"a range of more than {MAX_YAML_VALUES:,} values")
        return self

    def values(self) -> list[Number]:
        if self.step is not None:
            n = int(math.floor((self.stop - self.start) / self.step + 1e-9)) + 1
            raw = [self.start + i * self.step for i in range(max(n, 0))]
        elif self.scale == "log":
            raw = list(np.geomspace(self.start, self.stop, self.num))
        else:
            raw = list(np.linspace(self.start, self.stop, self.num))
        return _cast(raw, self.integer, self.start, self.stop)


class Random(_Strict):
    """Uniform (or log-uniform) draws between low and high, or from `choices`."""

    low: Number | None = None
    high: Number | None = None
    choices: list[Value] | None = None
    scale: Literal["linear", "log"] = "linear"
    integer: bool | None = None

    @model_validator(mode="after")
    def _bounds_or_choices(self):
        if self.choices is None and (self.low is None or self.high is None):
            raise ValueError("give 'low' and 'high', or 'choices'")
        if self.choices is None and self.low > self.high:
            raise ValueError("'low' must not exceed 'high'")
        if self.scale == "log" and self.choices is None and self.low <= 0:
            raise ValueError("a log-scale draw needs a positive 'low'")
        return self

    def draw(self, rng: np.random.Generator, n: int) -> list[Value]:
        if self.choices is not None:
            return [self.choices[int(i)] for i in rng.integers(0, len(self.choices), n)]
        if self.scale == "log":
            raw = np.exp(rng.uniform(math.log(self.low), math.log(self.high), n))
        else:
            raw = rng.uniform(self.low, self.high, n)
        return _cast(list(raw), self.integer, self.low, self.high)


def _cast(raw: list, integer: bool | None, *ends) -> list[Number]:
    if integer is None:
        integer = all(isinstance(e, int) for e in ends)
    if integer:
        return list(dict.fromkeys(int(round(float(v))) for v in raw))
    return [float(v) for v in raw]


class Axis(_Strict):
    param: str | list[str] = Field(min_length=1)
    values: list[Value] | None = Field(default=None, min_length=1)
    range: Range | None = None
    random: Random | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        kinds = [k for k in ("values", "range", "random") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of 'values', 'range' or 'random'")
        return self

    @property
    def params(self) -> list[str]:
        return [self.param] if isinstance(self.param, str) else list(self.param)


class WorkloadEntry(_Strict):
    path: str
    label: str | None = None
    overrides: dict = Field(default_factory=dict)


class MapperSettings(_Strict):
    objective: Literal["latency", "energy", "edp"] = "latency"
    search: Literal["grid", "heuristic", "random", "exhaustive"] = "grid"
    budget: int | None = Field(default=None, ge=1)
    seed: int = 0


class Constraints(_Strict):
    max_area_mm2: float | None = Field(default=None, gt=0)
    max_power_w: float | None = Field(default=None, gt=0)
    max_seconds: float | None = Field(default=None, gt=0)
    max_energy_j: float | None = Field(default=None, gt=0)


class SweepFile(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    base: str = "default"
    workloads: list[str | WorkloadEntry] = Field(min_length=1)
    mapper: MapperSettings = MapperSettings()
    axes: list[Axis] = Field(default_factory=list)
    samples: int = Field(default=0, ge=0)
    seed: int = 0
    constraints: Constraints = Constraints()
    objectives: list[str] = Field(default_factory=lambda: ["seconds", "energy_j"])
    baseline: str | None = None  # a design label for speedup plots
    columns: dict[str, dict] = Field(default_factory=dict)  # extra result columns (SWEEP_COLUMNS)

    @model_validator(mode="after")
    def _samples_match_random_axes(self):
        has_random = any(a.random is not None for a in self.axes)
        if has_random and self.samples == 0:
            raise ValueError("axes with 'random:' need 'samples: N' (how many draws)")
        if self.samples and not has_random:
            raise ValueError("'samples' is set but no axis has 'random:'")
        return self


@dataclass(frozen=True)
class Point:
    """One (architecture, workload) to simulate."""

    design: str          # label of the architecture: base or preset plus arch params
    workload: str        # label of the workload entry plus workload params
    arch_source: str     # preset name or file the architecture starts from
    arch_changes: tuple  # ((param, value), ...) for Architecture.with_changes
    workload_path: str
    workload_overrides: tuple  # ((top-level key, JSON-able value), ...)
    params: tuple        # ((param, value), ...) every swept value, as named in the file


@dataclass
class Sweep:
    spec: SweepFile
    file: str
    root: Path                       # folder relative paths are resolved against
    skipped: list[str] = field(default_factory=list)  # human-readable notes
    _files: dict = field(default_factory=dict, repr=False)  # workload YAML already read

    @property
    def name(self) -> str:
        return self.spec.name

    def points(self) -> list[Point]:
        """Every point: the grid axes crossed with `samples` draws of the random axes,
        for every workload; presets that do not exist are skipped (see `skipped`)."""
        grid = [a for a in self.spec.axes if a.random is None]
        rand = [a for a in self.spec.axes if a.random is not None]
        grid_values = [a.values if a.values is not None else a.range.values() for a in grid]
        rng = np.random.default_rng(self.spec.seed)
        draws = [a.random.draw(rng, self.spec.samples) for a in rand]
        random_rows = list(zip(*draws)) if rand else [()]
        self.skipped = []
        out = []
        for entry in self._workloads():
            for combo in itertools.product(*grid_values):
                for drawn in random_rows:
                    assign = []
                    for axis, value in zip(grid + rand, combo + tuple(drawn)):
                        assign.extend((p, value) for p in axis.params)
                    point = self._point(entry, assign)
                    if point is not None:
                        out.append(point)
        return list(dict.fromkeys(out))  # an integer range may repeat values

    def _workloads(self) -> list[WorkloadEntry]:
        entries = [WorkloadEntry(path=w) if isinstance(w, str) else w for w in self.spec.workloads]
        return [e.model_copy(update={"path": str(self.resolve(e.path, "workload"))})
                for e in entries]

    def resolve(self, path: str, what: str) -> Path:
        """A file relative to the sweep file, the working folder or the shipped data."""
        import workloads.loader

        for candidate in (self.root / path, Path(path),
                          workloads.loader.SHIPPED_DIR / Path(path).name):
            if candidate.is_file():
                return candidate.resolve()
        raise SpecError(f"{what} file '{path}' not found (looked beside the sweep file, in "
                        f"the working folder and among the shipped workloads)", self.file,
                        "sweep.workloads" if what == "workload" else "sweep.base")

    def _arch_source(self, name: str) -> str | None:
        import arch

        if not Path(name).suffix:
            return name if name in arch.presets() else None
        for candidate in (self.root / name, Path(name)):
            if candidate.is_file():
                return str(candidate.resolve())
        return None

    def _point(self, entry: WorkloadEntry, assign: list[tuple[str, Value]]) -> Point | None:
        source = self.spec.base
        changes, overrides = [], copy.deepcopy(entry.overrides)
        for param, value in assign:
            if param == "arch":
                source = str(value)
            elif param.startswith("workload."):
                _set_nested(overrides, param.split(".")[1:], value, self._file_data(entry.path))
            else:
                changes.append((param, value))
        resolved = self._arch_source(source)
        if resolved is None:
            import arch

            note = (f"architecture '{source}' does not exist (not a preset: "
                    f"{', '.join(arch.presets())}; not a file); its points are skipped")
            if note not in self.skipped:
                self.skipped.append(note)
            return None
        design = ",".join([Path(source).stem] + [f"{p}={v}" for p, v in changes])
        wl_params = [(p, v) for p, v in assign if p.startswith("workload.")]
        label = entry.label or Path(entry.path).stem
        workload = ",".join([label] + [f"{p[9:]}={v}" for p, v in wl_params])
        return Point(design, workload, resolved, tuple(changes), entry.path,
                     tuple(sorted((k, _freeze(v)) for k, v in overrides.items())),
                     tuple(assign))

    def _file_data(self, path: str) -> dict:
        if path not in self._files:
            self._files[path] = read_yaml(path)
        return self._files[path]


def _set_nested(overrides: dict, keys: list[str], value, file_data: dict):
    """overrides['phase']['seq_len'] = value, starting from the file's own 'phase'."""
    top = keys[0]
    if len(keys) == 1:
        overrides[top] = value
        return
    node = overrides.setdefault(top, copy.deepcopy(file_data.get(top, {})) or {})
    for k in keys[1:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value


def _freeze(value):
    """Nested dicts as sorted tuples so a Point is hashable."""
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def thaw(value):
    if isinstance(value, tuple) and all(isinstance(i, tuple) and len(i) == 2 for i in value):
        return {k: thaw(v) for k, v in value}
    return value


def load(path: str | Path) -> Sweep:
    """Read and validate a sweep file (SpecError naming the file and key on bad input)."""
    path = Path(path)
    data = read_yaml(path, expect_key="sweep")
    try:
        spec = SweepFile.model_validate(data["sweep"])
    except ValidationError as err:
        raise from_pydantic(err, str(path), "sweep") from None
    sweep = Sweep(spec, str(path), path.resolve().parent)
    for i, axis in enumerate(spec.axes):
        for p in axis.params:
            if p != "arch" and not p.startswith("workload.") and "." not in p:
                raise SpecError(f"param '{p}' must be COMPONENT.field, 'arch' or "
                                f"'workload.KEY'", str(path), f"sweep.axes[{i}].param")
    if sweep._arch_source(spec.base) is None and not any(
            "arch" in a.params for a in spec.axes):
        import arch
        raise SpecError(f"base architecture '{spec.base}' is neither a preset "
                        f"({', '.join(arch.presets())}) nor a file", str(path), "sweep.base")
    archs = _check_arch_axes(sweep)
    _check_workload_axes(sweep)
    _check_objectives(sweep, archs)
    _check_columns(sweep, archs)
    return sweep


def _check_columns(sweep: Sweep, archs: list):
    """Each requested column set is registered and accepts its options on every
    architecture the sweep starts from."""
    from yamlspec import SWEEP_COLUMNS

    for name, options in sweep.spec.columns.items():
        provider = SWEEP_COLUMNS.get(name, sweep.file, "sweep.columns")
        try:
            provider.check(options, archs)
        except ValueError as exc:
            raise SpecError(str(exc), sweep.file, f"sweep.columns.{name}") from None


# Metric columns every evaluated point has (sim/sweep/evaluate.py metrics()); besides
# these, "energy_j.C", "utilization.C" and "area_mm2.C" for a component C.
METRICS = ("cycles", "seconds", "energy_j", "area_mm2", "macs", "dram_bytes", "power_w",
           "edp_js", "peak_macs_per_s", "vec_peak_ops_per_s", "dram_gb_s", "macs_per_s",
           "mappings_scored")
PER_COMPONENT_METRICS = ("energy_j.", "utilization.", "area_mm2.")


def _arch_sources(sweep: Sweep) -> list[str]:
    """Every architecture the points start from (the base, or each `arch` axis value)."""
    names = [sweep.spec.base]
    for axis in sweep.spec.axes:
        if "arch" in axis.params:
            names = [str(v) for v in (axis.values or [])] or names
    return [s for s in dict.fromkeys(sweep._arch_source(n) for n in names) if s is not None]


def _check_arch_axes(sweep: Sweep) -> list:
    """Each COMPONENT.field param names a field of a component that some architecture of
    the sweep has, and each of its grid values is valid there: an axis that can only give
    failed points is an error now, not after the sweep."""
    import arch

    archs = []
    for source in _arch_sources(sweep):
        try:
            archs.append(arch.load(source))
        except SpecError as exc:  # the base or an `arch` value: report it as the sweep's
            raise SpecError(f"architecture '{source}' does not load: {exc}", sweep.file,
                            "sweep.base") from None
    for i, axis in enumerate(sweep.spec.axes):
        params = [p for p in axis.params if p != "arch" and not p.startswith("workload.")]
        for p in params:
            comp, field_name = p.split(".", 1)
            found = [c for a in archs for c in a.components if c.name == comp]
            if not found:
                names = sorted({c.name for a in archs for c in a.components})
                raise SpecError(f"no component named '{comp}' in the sweep's architectures "
                                f"(components: {', '.join(names)})", sweep.file,
                                f"sweep.axes[{i}].param")
            fields = {n for c in found for n in type(c).model_fields if n != "class_"}
            if field_name not in fields:
                raise SpecError(f"component '{comp}' has no field '{field_name}' (fields: "
                                f"{', '.join(sorted(fields))})", sweep.file,
                                f"sweep.axes[{i}].param")
        if not params or axis.random is not None:
            continue
        values = axis.values if axis.values is not None else axis.range.values()
        for j, value in enumerate(values):
            for a in archs:
                if not all(any(c.name == p.split(".")[0] for c in a.components) for p in params):
                    continue
                try:
                    a.with_changes(**{p: value for p in params})
                except SpecError as exc:
                    where = (f"sweep.axes[{i}].values[{j}]" if axis.values is not None
                             else f"sweep.axes[{i}].range")
                    raise SpecError(f"{', '.join(params)} = {value!r} is not valid for "
                                    f"architecture '{a.name}': {exc.reason}", sweep.file,
                                    where) from None
    return archs


def _check_workload_axes(sweep: Sweep):
    """Every workload loads with its overrides, and with each value of each `workload.`
    axis on its own (so a typo'd key or a bad value fails now)."""
    import workloads

    entries = sweep._workloads()
    for k, entry in enumerate(entries):
        tries = [(dict(entry.overrides), f"sweep.workloads[{k}]")]
        data = sweep._file_data(entry.path)
        for i, axis in enumerate(sweep.spec.axes):
            params = [p for p in axis.params if p.startswith("workload.")]
            if not params:
                continue
            values = (axis.values if axis.values is not None else axis.range.values()
                      if axis.range is not None else [axis.random.low, axis.random.high]
                      if axis.random.choices is None else axis.random.choices)
            for j, value in enumerate(values):
                overrides = copy.deepcopy(entry.overrides)
                for p in params:
                    keys = p.split(".")[1:]
                    if not keys or not all(keys):
                        raise SpecError(f"param '{p}' must be workload.KEY[.SUBKEY]",
                                        sweep.file, f"sweep.axes[{i}].param")
                    if isinstance(value, float) and axis.random is not None:
                        value = _cast([value], axis.random.integer, axis.random.low,
                                      axis.random.high)[0]
                    _set_nested(overrides, keys, value, data)
                tries.append((overrides, f"sweep.axes[{i}]"))
        for overrides, where in tries:
            try:  # `serve:` holds a serving point's options (sim.serve.session.sweep_metrics)
                workloads.load(entry.path, **{k: v for k, v in overrides.items()
                                              if k != "serve"})
            except SpecError as exc:
                raise SpecError(f"workload '{entry.path}' with {overrides or 'no overrides'} "
                                f"does not load: {exc.path + ': ' if exc.path else ''}"
                                f"{exc.reason}", sweep.file, where) from None


def _check_objectives(sweep: Sweep, archs: list):
    components = {c.name for a in archs for c in a.components}
    for i, objective in enumerate(sweep.spec.objectives):
        per = next((p for p in PER_COMPONENT_METRICS if objective.startswith(p)), None)
        if objective in METRICS or (per and objective[len(per):] in components):
            continue
        raise SpecError(f"unknown objective '{objective}' (known: {', '.join(METRICS)}, or "
                        f"energy_j.C, utilization.C, area_mm2.C for a component C)",
                        sweep.file, f"sweep.objectives[{i}]")
