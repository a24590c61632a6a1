"""Serving metrics of a Run: latency percentiles, throughput, energy per token,
utilization and KV occupancy over time, goodput under an SLO."""

from __future__ import annotations

from dataclasses import dataclass

from yamlspec import SpecError

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class SLO:
    ttft_s: float | None = None
    tbt_s: float | None = None  # the request's p99 time between tokens

    @classmethod
    def parse(cls, text: str) -> "SLO":
        """'ttft=0.5,tbt=0.05' (seconds; a suffix ms or s is allowed)."""
        values = {}
        for item in filter(None, (t.strip() for t in text.split(","))):
            key, _, raw = item.partition("=")
            if key not in ("ttft", "tbt") or not raw:
                raise SpecError(f"--slo item '{item}' is not ttft=SECONDS or tbt=SECONDS",
                                None, "--slo")
            scale = 1e-3 if raw.endswith("ms") else 1.0
            try:
                values[f"{key}_s"] = float(raw.removesuffix("ms").removesuffix("s")) * scale
            except ValueError:
                raise SpecError(f"--slo item '{item}': '{raw}' is not a number of seconds",
                                None, "--slo") from None
        if not values:
            raise SpecError("--slo gives no target (e.g. ttft=0.5,tbt=50ms)", None, "--slo")
        return cls(**values)

    def met(self, ttft, tbt_p99):
        """Which requests meet the SLO (numpy arrays in, boolean array out)."""
        import numpy as np

        ok = np.ones(len(ttft), dtype=bool)
        if self.ttft_s is not None:
            ok &= ttft <= self.ttft_s
        if self.tbt_s is not None:
            ok &= tbt_p99 <= self.tbt_s
        return ok


def summarize(run, slo: SLO | None = None, bins: int = 50) -> dict:
    """The metrics of a run, as plain numbers (JSON-ready)."""
    import numpy as np

    reqs = run.requests
    arrival = np.array([r.arrival for r in reqs])
    first = np.array([r.token_times[0] for r in reqs])
    done = np.array([r.done for r in reqs])
    gaps = [np.diff(r.token_times) for r in reqs]
    tbt = np.concatenate(gaps) if gaps else np.zeros(0)
    tbt_p99 = _p99_each(gaps)
    ttft, e2e = first - arrival, done - arrival
    it = {k: np.asarray(v) for k, v in run.iterations.items()}
    span = run.end - float(arrival.min()) if len(reqs) else 0.0
    tokens = int(sum(r.output for r in reqs))
    busy_s = float(it["seconds"].sum())

    def pct(x):
        return {f"p{p}": float(np.percentile(x, p)) if len(x) else 0.0 for p in PERCENTILES} | {
            "mean": float(x.mean()) if len(x) else 0.0}

    out = {
        "policy": run.policy,
        "requests": len(reqs),
        "output_tokens": tokens,
        "iterations": int(len(it["seconds"])),
        "simulated_s": span,
        "ttft_s": pct(ttft),
        "tbt_s": pct(tbt),
        "e2e_s": pct(e2e),
        "tokens_per_s": tokens / span if span else 0.0,
        "requests_per_s": len(reqs) / span if span else 0.0,
        "energy_j": float(it["joules"].sum()),
        "energy_per_token_j": float(it["joules"].sum()) / tokens if tokens else 0.0,
        "busy_fraction": busy_s / span if span else 0.0,
        "array_utilization": float(it["busy"].sum()) / busy_s if busy_s else 0.0,
        "kv_capacity_tokens": run.kv_capacity,
        "kv_peak_tokens": int(it["kv_used"].max()) if len(it["kv_used"]) else 0,
        "preemptions": run.preemptions,
        "prefill_s": float(it["seconds"][it["prefill"].astype(bool)].sum()),
        "over_time": _over_time(it, run.kv_capacity, float(arrival.min()), run.end, bins),
    }
    if slo is not None:
        ok = slo.met(ttft, tbt_p99)
        out["slo"] = {"ttft_s": slo.ttft_s, "tbt_p99_s": slo.tbt_s,
                      "attained": float(ok.mean()) if len(ok) else 0.0,
                      "goodput_requests_per_s": float(ok.sum()) / span if span else 0.0}
    return out


def _p99_each(gaps: list):
    """Each array's 99th percentile (0 if empty): arrays of one length at a time, as the
    rows of one np.percentile call (the same numbers, one call per length)."""
    import numpy as np

    out = np.zeros(len(gaps))
    by_length: dict[int, list[int]] = {}
    for i, g in enumerate(gaps):
        by_length.setdefault(len(g), []).append(i)
    for n, rows in by_length.items():
        if n:
            out[rows] = np.percentile(np.stack([gaps[i] for i in rows]), 99, axis=1)
    return out


def _over_time(it: dict, capacity: int, t0: float, t1: float, bins: int) -> dict:
    """Per time bin: the fraction of time the server computed, the 2D array's
    utilization while computing, and the KV-cache occupancy (time-weighted)."""
    import numpy as np

    edges = np.linspace(t0, t1, bins + 1)
    start, seconds = it["start"], it["seconds"]
    end = start + seconds
    busy, util_w, kv_w = (np.zeros(bins) for _ in range(3))
    util = np.divide(it["busy"], seconds, out=np.zeros_like(seconds), where=seconds > 0)
    for b in range(bins):  # each iteration's overlap with the bin
        overlap = np.clip(np.minimum(end, edges[b + 1]) - np.maximum(start, edges[b]), 0, None)
        busy[b] = overlap.sum()
        util_w[b] = (overlap * util).sum()
        kv_w[b] = (overlap * it["kv_used"]).sum()
    width = np.diff(edges)
    safe = np.where(busy > 0, busy, 1.0)
    return {"t_s": edges[:-1].tolist(), "busy_fraction": (busy / width).tolist(),
            "array_utilization": (util_w / safe).tolist(),
            "kv_occupancy": (kv_w / safe / capacity).tolist()}
