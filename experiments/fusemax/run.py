"""FuseMax (MICRO 2024) vs FLAT and Unfused: attention and end-to-end, 1K-1M tokens."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import arch
import sim
from experiments import EXPERIMENTS
from experiments.fusemax import paper
from mapper import Fused
from mapper.fusion import FlatMapping, flat_buffer_bytes
from sim.stream import run_cycles
from workloads import CascadeBuilder, attention

BATCH = 64  # FuseMax Sec. 6
MODELS = {  # heads, head dim, model width, FFN width
    "BERT": dict(heads=12, e=64, d=768, ff=3072,
                 source="Devlin et al. 2019, BERT-base (12 heads x 64, d 768, FFN 3072)"),
    "TrXL": dict(heads=16, e=64, d=1024, ff=4096,
                 source="Dai et al. 2019, Transformer-XL large (16 heads x 64, d 1024, FFN 4096)"),
    "T5": dict(heads=8, e=64, d=512, ff=2048,
               source="Raffel et al. 2020, T5-small encoder (8 heads x 64, d 512, FFN 2048)"),
    "XLM": dict(heads=16, e=128, d=2048, ff=8192,
                source="Lample & Conneau 2019, XLM (16 heads x 128, d 2048, FFN 8192)"),
}
SEQS = {"1K": 2**10, "4K": 2**12, "16K": 2**14, "64K": 2**16, "256K": 2**18, "1M": 2**20}
LINEAR_CHUNK = 2**20  # linear layers of B*P tokens run as identical chunks of 1M tokens
# The designs of the paper's evaluation (Figs. 6-11), then ours beside them.
DESIGNS = ("unfused", "flat", "fusemax-cascade", "fusemax-architecture", "fusemax")
EXTRA = ("flat-exp6",)
LABELS = {"unfused": "Unfused", "flat": "FLAT", "fusemax-cascade": "+Cascade",
          "fusemax-architecture": "+Architecture", "fusemax": "+Binding (FuseMax)",
          "flat-exp6": "FLAT, exp = 6 MACs (ours)"}
STRATEGY = {"flat": "flat", "flat-exp6": "flat", "fusemax": "fusemax",
            "fusemax-cascade": "fusemax-cascade", "fusemax-architecture": "fusemax-architecture"}
# Linear layers run on the 2D array, buffer and DRAM only: the same for designs sharing
# them (Unfused is FLAT's hardware, FuseMax Sec. 6).
LINEAR_ON = {"unfused": "flat", "flat": "flat", "flat-exp6": "flat", "fusemax-cascade": "flat",
             "fusemax-architecture": "fusemax", "fusemax": "fusemax"}
# Where FLAT's score block cannot stay on chip (256K, 1M), the paper's FLAT runs row
# blocks of 1024 queries with QK and A wholly off chip (the artifact's FLAT mappings,
# FPSG-UIUC/micro24-fusemax-artifact workspace/outputs/pregenerated/results/
# flat_validation.csv: fusion_granularity row, P1 1024, QK_loc and A_loc offchip), so K
# and V are re-read per block (0.25 B per score element at E 64, 0.5 at E 128).
ARTIFACT_FLAT_SPILL_ROWS = 1024


def _arches() -> dict:
    flat = arch.load("flat")
    # +Cascade is the 1-pass cascade on FLAT's hardware; the artifact charges its
    # exponentials (SLN, PRM) a subtract cycle and an exp cycle (flat_pe_proposal.py,
    # compute_cost {"exponential": 1, "add": 1}), not FLAT's shared cycle.
    return {"unfused": arch.load("unfused"), "flat": flat, "flat-exp6": arch.load("flat-exp6"),
            "fusemax-cascade": flat.with_changes(**{"VEC.op_chains": {}}),
            "fusemax-architecture": arch.load("fusemax"), "fusemax": arch.load("fusemax")}


ARCH = _arches()


@lru_cache(maxsize=None)
def _unfused_head(seq: int, e: int):
    """One head of the paper's Unfused baseline through sim.simulate (heads are
    identical): QK and AV alone through DRAM, the softmax per row in the buffer."""
    return sim.simulate(attention.three_pass(b=1, h=1, p=seq, m=seq, e=e), ARCH["unfused"],
                        Fused("softmax-rows"))


def _linear_cascade(tokens: int, d: int, h: int, e: int, ff: int):
    c = CascadeBuilder("linear", {"t": tokens, "d": d, "h": h, "e": e, "f": ff})
    for t in "QKV":
        c.add(f"{t}[h,t,e] = X[t,d] * W{t}[d,h,e]")
    c.add("Z[t,d] = AV[h,t,e] * WO[h,e,d]")
    c.add("F1[t,f] = Z[t,d] * W1[d,f]")
    c.add("F2[t,d] = F1[t,f] * W2[f,d]")
    return c.build()


@lru_cache(maxsize=None)
def _linear_chunk(model: str, chunk: int, design: str):
    """One chunk of linear layers: the same for every sequence length past LINEAR_CHUNK."""
    spec = MODELS[model]
    casc = _linear_cascade(chunk, spec["d"], spec["heads"], spec["e"], spec["ff"])
    return sim.simulate(casc, ARCH[LINEAR_ON[design]])


def _linear(model: str, seq: int, design: str) -> dict:
    """QKV/out projections and FFN of one layer for BATCH x seq tokens on `design`."""
    tokens = BATCH * seq
    chunk = min(tokens, LINEAR_CHUNK)
    r = _linear_chunk(model, chunk, design)
    k = tokens // chunk
    energy = {c: j * k for c, j in r.energy_breakdown_j.items()}
    return {"cycles": r.cycles * k, "seconds": r.seconds * k,
            "energy_j": r.energy_j * k, "dram_bytes": r.dram_bytes * k, "energy": energy}


def _fused(design: str, batch: int, heads: int, seq: int, e: int):
    """Attention of batch x heads through sim.simulate as one fused group (the 1-pass
    cascade on FuseMax and its ablations, the 3-pass one on FLAT). FLAT: our mapper's
    choice, or where that puts (almost) every score off chip, the artifact's mapping."""
    strategy, a = STRATEGY[design], ARCH[design]
    if strategy == "flat":
        casc = attention.three_pass(b=batch, h=heads, p=seq, m=seq, e=e)
        r = sim.simulate(casc, a, Fused("flat"))
        if r.meta["spill_fraction"] < 0.99:
            return r
        rows = ARTIFACT_FLAT_SPILL_ROWS
        mapping = FlatMapping(rows, False, 1.0, flat_buffer_bytes(rows, seq, e, False))
        return sim.simulate(casc, a, Fused("flat", mapping))
    return sim.simulate(attention.one_pass(b=batch, h=heads, p=seq, m=seq, e=e), a,
                        Fused(strategy))


def _attention(model: str, seq: int, design: str) -> dict:
    spec = MODELS[model]
    a = ARCH[design]
    if design == "unfused":  # one head through the per-Einsum engines; heads are identical
        r, k = _unfused_head(seq, spec["e"]), BATCH * spec["heads"]
    else:
        r, k = _fused(design, BATCH, spec["heads"], seq, spec["e"]), 1
    energy = {c: j * k for c, j in r.energy_breakdown_j.items()}
    u = r.utilization
    return {"cycles": r.cycles * k, "seconds": r.seconds * k, "energy_j": sum(energy.values()),
            "util_2d": u[a.array2d.name], "util_1d": u[a.array1d.name],
            "dram_bytes": r.dram_bytes * k,
            "buffer_bytes": r.meta.get("buffer_bytes", a.buffer.capacity_bytes),
            "mapping": r.meta.get("mapping", "per-Einsum"), "energy": energy,
            **(_block_cycles(r, a) if r.meta.get("strategy") == "flat" else {})}


def _block_cycles(r, a) -> dict:
    """Cycles one FLAT row block asks of each unit (a steady-state block, not the
    first): which of 2D, 1D and DRAM bounds the design."""
    label = {a.array2d.name: "2D", a.array1d.name: "1D", a.dram.name: "DRAM"}
    steps = r.internals["steps"]
    out = {"block_cycles_2D": 0, "block_cycles_1D": 0, "block_cycles_DRAM": 0}
    for op in r.internals["segment_ops"](0, min(1, steps - 1), steps):
        out[f"block_cycles_{label[op.unit]}"] += op.cycles
    return out


def _mean(xs):
    return sum(xs) / len(xs)


@EXPERIMENTS.register("fusemax")
def run(out_dir: Path, quick: bool) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    models = ("BERT", "XLM") if quick else tuple(MODELS)
    seqs = ("1K", "4K") if quick else tuple(SEQS)
    rows, points = [], []
    for model in models:
        for sname in seqs:
            seq = SEQS[sname]
            res = {}
            for design in (*DESIGNS, *EXTRA):
                att = _attention(model, seq, design)
                lin = _linear(model, seq, LINEAR_ON[design])
                e2e = {"seconds": att["seconds"] + lin["seconds"],
                       "energy_j": att["energy_j"] + lin["energy_j"]}
                res[design] = (att, lin, e2e)
                for scope, r in (("attention", att), ("linear", lin), ("e2e", e2e)):
                    row = {"model": model, "seq": sname, "seq_len": seq, "design": design,
                           "scope": scope, "seconds": r["seconds"], "energy_j": r["energy_j"],
                           "util_2d": r.get("util_2d", ""), "util_1d": r.get("util_1d", ""),
                           "dram_bytes": r.get("dram_bytes", ""),
                           "buffer_bytes": r.get("buffer_bytes", ""),
                           "mapping": r.get("mapping", "")}
                    row.update({k: v for k, v in r.items() if k.startswith("block_cycles_")})
                    for comp, j in r.get("energy", {}).items():
                        row[f"energy_j.{comp}"] = j
                    rows.append(row)
            points.append(_ratios(model, sname, res))
    _write_csv(out_dir / "results.csv", rows)
    _write_csv(out_dir / "ratios.csv", points)
    headline = _headline(points)
    from experiments.fusemax import plots
    plots.all_figures(out_dir, rows, points, models, seqs, _timeline())
    _write_table(out_dir / "headline_table.md", headline, points, quick, rows)
    return {k: v for k, v in headline.items() if k in paper.HEADLINE and "flat" in k}


def _ratios(model: str, sname: str, res: dict) -> dict:
    p = {"model": model, "seq": sname}
    fm = res["fusemax"]
    for base in ("flat", "unfused", "flat-exp6"):
        for i, scope in ((0, "attention"), (2, "e2e")):
            b = base.replace("-", "_")
            p[f"{scope}_speedup_vs_{b}"] = res[base][i]["seconds"] / fm[i]["seconds"]
            p[f"{scope}_energy_ratio_vs_{b}"] = fm[i]["energy_j"] / res[base][i]["energy_j"]
    for d in DESIGNS + EXTRA:
        p[f"util_2d.{d}"] = res[d][0]["util_2d"]
        p[f"util_1d.{d}"] = res[d][0]["util_1d"]
        p[f"attention_speedup_over_unfused.{d}"] = (res["unfused"][0]["seconds"]
                                                    / res[d][0]["seconds"])
        p[f"attention_energy_vs_unfused.{d}"] = res[d][0]["energy_j"] / res["unfused"][0]["energy_j"]
        p[f"e2e_speedup_over_unfused.{d}"] = res["unfused"][2]["seconds"] / res[d][2]["seconds"]
        p[f"e2e_energy_vs_unfused.{d}"] = res[d][2]["energy_j"] / res["unfused"][2]["energy_j"]
    return p


def _headline(points: list[dict]) -> dict:
    out = {}
    for key in paper.HEADLINE:
        out[key] = {"ours": round(_mean([p[key] for p in points]), 3),
                    "paper": paper.HEADLINE[key]}
    for key in ("attention_speedup_vs_flat_exp6", "attention_energy_ratio_vs_flat_exp6",
                "e2e_speedup_vs_flat_exp6", "e2e_energy_ratio_vs_flat_exp6"):
        out[key] = {"ours": round(_mean([p[key] for p in points]), 3), "paper": None}
    return out


def _timeline():
    """Per-cycle busy fraction of both arrays for one BERT head at 1K tokens (batch 1),
    from the cycle-by-cycle machine."""
    out = {}
    for design in ("fusemax", "flat"):
        a = ARCH[design]
        r = _fused(design, 1, 1, 1024, 64)
        seg, n, steps = (r.internals[k] for k in ("segment_ops", "segments", "steps"))
        span, busy = run_cycles(lambda t: seg(t // steps, t % steps, steps), n * steps)
        assert span == r.cycles  # the cycle machine and the exact schedule agree
        out[design] = {"2D": busy[a.array2d.name] / a.array2d.pes,
                       "1D": busy[a.array1d.name] / a.array1d.lanes}
    return out


def _write_csv(path: Path, rows: list[dict]):
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def _fmt(x):
    return "-" if x is None else (f"{x:.3g}" if isinstance(x, float) else str(x))


def _breakdown_lines(rows: list[dict]) -> list[str]:
    """Attention energy by component at one point (BERT 64K, or the longest run)."""
    att = [r for r in rows if r["model"] == "BERT" and r["scope"] == "attention"]
    seq = "64K" if any(r["seq"] == "64K" for r in att) else att[-1]["seq"]
    by = {r["design"]: r for r in att if r["seq"] == seq}
    comps = [k[len("energy_j."):] for k in dict.fromkeys(k for r in by.values() for k in r)
             if k.startswith("energy_j.")]
    lines = ["", f"## Attention energy by component, BERT {seq} (J; share of the design's total)",
             "", "| component | " + " | ".join(DESIGNS) + " |", "|---|" + "---|" * len(DESIGNS)]
    for c in comps + ["total"]:
        cells = []
        for d in DESIGNS:
            tot = by[d]["energy_j"]
            j = tot if c == "total" else by[d].get(f"energy_j.{c}", 0.0)
            cells.append(f"{j:.4g} ({j / tot:.1%})")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return lines + ["", "PE2D / VEC: operations of the 2D / 1D array; *_RF: PE register-file reads "
                    "and writes; *_NoC: words delivered into or out of PEs over the array "
                    "(sim/pe_energy.py)."]


def _flat_bound_lines(rows: list[dict]) -> list[str]:
    """FLAT's cycles per row block on each unit at its chosen mapping: what bounds it."""
    lines = ["", "## FLAT per row block: 2D / 1D / DRAM cycles (chosen mapping) and the bound",
             "", "| model | design | seq | mapping | 2D | 1D | DRAM | DRAM / 1D | bound |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["scope"] != "attention" or "block_cycles_1D" not in r or r["model"] not in ("BERT", "XLM"):
            continue
        c = {u: r[f"block_cycles_{u}"] for u in ("2D", "1D", "DRAM")}
        lines.append(f"| {r['model']} | {r['design']} | {r['seq']} | {r['mapping']} | "
                     f"{c['2D']:,} | {c['1D']:,} | {c['DRAM']:,} | {c['DRAM'] / c['1D']:.2f} | "
                     f"{max(c, key=c.get)} |")
    return lines


def _per_point_lines(title: str, by: dict, prefix: str, paper_table: dict) -> list[str]:
    """One markdown table: per model and length, our speedup/energy ratio | the paper's."""
    lines = ["", f"## {title}", "", "| model | " + " | ".join(paper.SEQS) + " |",
             "|---|" + "---|" * len(paper.SEQS)]
    for model in MODELS:
        cells = []
        for i, s in enumerate(paper.SEQS):
            p = by.get((model, s))
            ps, pe = paper_table[model][i]
            cells.append("-" if p is None else
                         f"{p[f'{prefix}_speedup_vs_flat']:.2f}x/"
                         f"{p[f'{prefix}_energy_ratio_vs_flat']:.2f} \\| {ps}x/{pe}")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def _design_lines(title: str, by: dict, key: str, ref: dict, models, fmt: str) -> list[str]:
    """Per model x design, per length: ours | the paper's (ref[model][design][i])."""
    lines = ["", f"## {title}", "", "| model | design | " + " | ".join(paper.SEQS) + " |",
             "|---|---|" + "---|" * len(paper.SEQS)]
    for model in models:
        for d in DESIGNS + EXTRA:
            if d == "unfused" and "unfused" in key:
                continue  # 1 by definition
            pv = ref.get(model, {}).get(d)
            cells = []
            for i, s in enumerate(paper.SEQS):
                p = by.get((model, s))
                ours = "-" if p is None else format(p[f"{key}.{d}"], fmt)
                cells.append(ours if pv is None else f"{ours} \\| {pv[i]:{fmt}}")
            lines.append(f"| {model} | {LABELS[d]} | " + " | ".join(cells) + " |")
    return lines


def _absolute_lines(rows: list[dict]) -> list[str]:
    """FLAT and FuseMax attention latency, energy and DRAM traffic: ours | the paper's."""
    att = {(r["model"], r["seq"], r["design"]): r for r in rows if r["scope"] == "attention"}
    lines = ["", "## Attention, absolute (batch 64): ours \\| paper", "",
             "| model | seq | FLAT s | FuseMax s | FLAT J | FuseMax J | FLAT DRAM GB | FuseMax DRAM GB |",
             "|---|---|---|---|---|---|---|---|"]
    for (model, seq), ref in paper.ABSOLUTE.items():
        fl, fm = att.get((model, seq, "flat")), att.get((model, seq, "fusemax"))
        if fl is None:
            continue
        ours = (fl["seconds"], fm["seconds"], fl["energy_j"], fm["energy_j"],
                fl["dram_bytes"] / 1e9, fm["dram_bytes"] / 1e9)
        lines.append(f"| {model} | {seq} | " + " | ".join(
            f"{o:.4g} \\| {r:.4g}" for o, r in zip(ours, ref)) + " |")
    return lines


def differences(points: list[dict], rows: list[dict], tol: float = 0.10) -> list[tuple]:
    """Every per-point quantity the paper reports that ours misses by more than `tol`
    (relative): (quantity, model, seq, design, ours, paper)."""
    out = []
    by = {(p["model"], p["seq"]): p for p in points}
    tables = [("attention speedup over Unfused", "attention_speedup_over_unfused",
               paper.ATTN_SPEEDUP_OVER_UNFUSED),
              ("attention energy / Unfused", "attention_energy_vs_unfused", paper.ATTN_ENERGY_VS_UNFUSED),
              ("e2e speedup over Unfused", "e2e_speedup_over_unfused", paper.E2E_SPEEDUP_OVER_UNFUSED),
              ("e2e energy / Unfused", "e2e_energy_vs_unfused", paper.E2E_ENERGY_VS_UNFUSED),
              ("2D utilization", "util_2d", paper.UTIL_2D), ("1D utilization", "util_1d", paper.UTIL_1D)]
    for (model, seq), p in by.items():
        i = paper.SEQS.index(seq)
        pairs = [("attention speedup vs FLAT", "fusemax", p["attention_speedup_vs_flat"],
                  paper.ATTN_VS_FLAT[model][i][0]),
                 ("attention energy vs FLAT", "fusemax", p["attention_energy_ratio_vs_flat"],
                  paper.ATTN_VS_FLAT[model][i][1]),
                 ("e2e speedup vs FLAT", "fusemax", p["e2e_speedup_vs_flat"],
                  paper.E2E_VS_FLAT[model][i][0]),
                 ("e2e energy vs FLAT", "fusemax", p["e2e_energy_ratio_vs_flat"],
                  paper.E2E_VS_FLAT[model][i][1])]
        for name, key, ref in tables:
            for d in DESIGNS:
                # Figs. 6a/b give BERT (= TrXL = T5) and XLM
                refm = ref.get(model) or ref.get("BERT" if model != "XLM" else "XLM")
                if d in refm and not (name.endswith("Unfused") and d == "unfused"):
                    pairs.append((name, d, p[f"{key}.{d}"], refm[d][i]))
        out += [(n, model, seq, d, o, r) for n, d, o, r in pairs if abs(o / r - 1) > tol]
    return out


def _difference_lines(points, rows) -> list[str]:
    diffs = differences(points, rows)
    lines = ["", f"## Per-point differences over 10% from the paper ({len(diffs)})", "",
             "| quantity | model | seq | design | ours | paper | ours / paper |",
             "|---|---|---|---|---|---|---|"]
    for n, model, seq, d, o, r in diffs:
        lines.append(f"| {n} | {model} | {seq} | {LABELS[d]} | {o:.3g} | {r:.3g} | {o / r:.2f} |")
    return lines


def _write_table(path: Path, headline: dict, points: list[dict], quick: bool,
                 rows: list[dict]):
    lines = ["# FuseMax reproduction: ours vs the paper", "",
             f"Grid: {'quick (BERT, XLM x 1K, 4K)' if quick else '4 models x 6 lengths'}; "
             "arithmetic means over the grid, as the paper averages.", "",
             "| headline | ours | paper | ours / paper |", "|---|---|---|---|"]
    for k, v in headline.items():
        ratio = "" if v["paper"] is None else f"{v['ours'] / v['paper']:.2f}"
        lines.append(f"| {k} | {v['ours']:.3f} | {_fmt(v['paper'])} | {ratio} |")
    lines += ["", "`*_vs_flat_exp6`: FuseMax vs FLAT with the exp cost FuseMax pays (6 MACs; "
              "preset flat-exp6), ours, beside the paper's FLAT (4 cycles per score element, "
              "as the artifact charges it), never instead of it."]
    by = {(p["model"], p["seq"]): p for p in points}
    models = [m for m in MODELS if any((m, s) in by for s in paper.SEQS)]
    lines += _per_point_lines(
        "Attention, FuseMax vs FLAT per point: speedup / energy ratio (ours | paper)",
        by, "attention", paper.ATTN_VS_FLAT)
    lines += _per_point_lines("End-to-end, FuseMax vs FLAT per point (ours | paper)",
                              by, "e2e", paper.E2E_VS_FLAT)
    util_models = [m for m in ("BERT", "XLM") if m in models]
    lines += _design_lines("2D-array utilization on attention (ours | paper, Fig. 6b)", by,
                           "util_2d", paper.UTIL_2D, util_models, ".3f")
    lines += _design_lines("1D-array utilization on attention (ours | paper, Fig. 6a)", by,
                           "util_1d", paper.UTIL_1D, util_models, ".3f")
    lines += _design_lines("Attention speedup over Unfused (ours | paper, Figs. 8/10)", by,
                           "attention_speedup_over_unfused", paper.ATTN_SPEEDUP_OVER_UNFUSED,
                           models, ".2f")
    lines += _design_lines("Attention energy / Unfused (ours | paper, Figs. 9/11)", by,
                           "attention_energy_vs_unfused", paper.ATTN_ENERGY_VS_UNFUSED, models, ".3f")
    lines += _design_lines("End-to-end speedup over Unfused (ours | paper)", by,
                           "e2e_speedup_over_unfused", paper.E2E_SPEEDUP_OVER_UNFUSED, models, ".2f")
    lines += _design_lines("End-to-end energy / Unfused (ours | paper)", by,
                           "e2e_energy_vs_unfused", paper.E2E_ENERGY_VS_UNFUSED, models, ".3f")
    lines += _absolute_lines(rows)
    lines += _breakdown_lines(rows) + _flat_bound_lines(rows) + _difference_lines(points, rows)
    path.write_text("\n".join(lines) + "\n")
