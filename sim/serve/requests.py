"""Requests to serve: read from a trace file (CSV or YAML) or drawn by a seeded generator.

A trace row is (arrival_s, prompt_tokens, output_tokens). A generator file holds
`generator: {rate_per_s, duration_s, seed, prompt: DIST, output: DIST}` where DIST is
`{fixed: N}`, `{uniform: [LO, HI]}` or `{lognormal: {median: M, sigma: S, max: X}}`;
arrivals are Poisson at rate_per_s.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from yamlspec import SpecError, from_pydantic, read_yaml

Tokens = Annotated[int, Field(strict=True, gt=0, le=1 << 20)]


@dataclass
class Request:
    id: int
    arrival: float
    prompt: int
    output: int
    kv: int = 0                # tokens in its KV cache
    prefill_left: int = 0      # tokens to prefill before its next token (set on serving)
    generated: int = 0         # output tokens emitted
    token_times: list[float] = field(default_factory=list)
    done: float | None = None
    preempted: int = 0         # times its KV cache was dropped (it prefills again)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Lognormal(_Strict):
    median: Annotated[float, Field(gt=0)]
    sigma: Annotated[float, Field(ge=0)]
    max: Tokens


class Dist(_Strict):
    fixed: Tokens | None = None
    uniform: tuple[Tokens, Tokens] | None = None
    lognormal: Lognormal | None = None

    @model_validator(mode="after")
    def _one(self):
        given = [k for k in ("fixed", "uniform", "lognormal") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of fixed, uniform, lognormal")
        if self.uniform and self.uniform[0] > self.uniform[1]:
            raise ValueError("uniform: [LO, HI] needs LO <= HI")
        return self

    def draw(self, rng, n: int):
        import numpy as np

        if self.fixed is not None:
            return np.full(n, self.fixed)
        if self.uniform is not None:
            return rng.integers(self.uniform[0], self.uniform[1] + 1, n)
        d = self.lognormal
        x = rng.lognormal(np.log(d.median), d.sigma, n)
        return np.clip(np.rint(x), 1, d.max).astype(int)


class Generator(_Strict):
    rate_per_s: Annotated[float, Field(gt=0, le=1e6)]
    duration_s: Annotated[float, Field(gt=0, le=1e7)]
    seed: int = 0
    prompt: Dist
    output: Dist


class GeneratorFile(_Strict):
    generator: Generator


class TraceRow(_Strict):
    arrival_s: Annotated[float, Field(ge=0)]
    prompt_tokens: Tokens
    output_tokens: Tokens


class TraceFile(_Strict):
    requests: list[TraceRow] = Field(min_length=1)


def generate(spec: Generator, rate: float | None = None) -> list[Request]:
    """Poisson arrivals over spec.duration_s (at `rate` if given), lengths drawn."""
    import numpy as np

    rate = rate or spec.rate_per_s
    rng = np.random.default_rng(spec.seed)
    n_max = int(rate * spec.duration_s + 10 * (rate * spec.duration_s) ** 0.5 + 10)
    times = np.cumsum(rng.exponential(1.0 / rate, n_max))
    times = times[times < spec.duration_s]
    prompts, outputs = spec.prompt.draw(rng, len(times)), spec.output.draw(rng, len(times))
    return [Request(i, float(t), int(p), int(o))
            for i, (t, p, o) in enumerate(zip(times, prompts, outputs))]


def load(path: str | Path) -> "list[Request] | Generator":
    """A trace (list of requests, by arrival) or a generator spec from `path`."""
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise SpecError("no such trace file", file)
    if path.suffix.lower() == ".csv":
        return _csv(path)
    data = read_yaml(path)
    try:
        if isinstance(data, dict) and "generator" in data:
            return GeneratorFile.model_validate(data).generator
        rows = TraceFile.model_validate(data).requests
    except ValidationError as err:
        raise from_pydantic(err, file) from None
    return _requests(rows)


def _csv(path: Path) -> list[Request]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        rows = []
        for i, raw in enumerate(reader):
            try:
                rows.append(TraceRow.model_validate(
                    {k: _number(v) for k, v in raw.items() if k is not None}))
            except (ValidationError, ValueError) as err:
                raise SpecError(f"row {i + 1}: {err}".splitlines()[0] + " (columns: "
                                "arrival_s, prompt_tokens, output_tokens)", str(path),
                                f"row {i + 1}") from None
    if not rows:
        raise SpecError("the trace has no requests", str(path))
    return _requests(rows)


def _number(text: str):
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


def _requests(rows: list[TraceRow]) -> list[Request]:
    ordered = sorted(rows, key=lambda r: r.arrival_s)
    return [Request(i, r.arrival_s, r.prompt_tokens, r.output_tokens)
            for i, r in enumerate(ordered)]
