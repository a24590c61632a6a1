"""sim serve: the serving simulation's invariants, its cost model against sim.simulate,
the grid's interpolation error, and the policies' known orderings."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import arch
import workloads
from sim.cli import main
from sim.serve import kv_capacity_tokens, model_file
from sim.serve.cost import CostModel
from sim.serve.metrics import summarize
from sim.serve.requests import Generator, Request, generate
from sim.serve.schedulers import SCHEDULERS
from sim.serve.server import serve
from sim.serve.session import GRID_PER_OCTAVE
from sim.simulate import simulate

POLICIES = ("static", "prepack", "continuous", "chunked")
SPEC = model_file("gpt2.yaml")
DEFAULT = arch.load(None)
EXACT = CostModel(SPEC.model, DEFAULT)                 # shared: memoized shapes carry over
GRID = CostModel(SPEC.model, DEFAULT, per_octave=GRID_PER_OCTAVE)


def _requests(rows):
    return [Request(i, t, p, o) for i, (t, p, o) in enumerate(sorted(rows))]


def test_parts_sum_to_the_simulated_forward_pass():
    """A prefill of P tokens with logits for all P rows is exactly `sim run`'s prefill
    cascade; a one-token decode step exactly its decode cascade."""
    prefill = simulate(workloads.load("workloads/gpt2.yaml", phase={"seq_len": 200}), DEFAULT)
    seconds, joules, _ = EXACT.iteration(200, [(200, 200)], 200)
    assert seconds == prefill.seconds
    assert joules == pytest.approx(prefill.energy_j, rel=1e-12)
    decode = simulate(workloads.load("workloads/gpt2.yaml",
                                     phase={"kind": "decode", "kv_len": 200, "tokens": 1}),
                      DEFAULT)
    seconds, joules, _ = EXACT.iteration(1, [(1, 201)], 1)
    assert seconds == decode.seconds
    assert joules == pytest.approx(decode.energy_j, rel=1e-12)


@pytest.mark.parametrize("policy", POLICIES)
def test_one_request_sees_the_simulated_prefill_and_decode_times(policy):
    prompt, output = 100, 5
    run = serve(_requests([(0.25, prompt, output)]), SCHEDULERS.get(policy)(), EXACT, 10**6)
    r = run.requests[0]
    assert r.token_times[0] - r.arrival == pytest.approx(
        EXACT.iteration(prompt, [(prompt, prompt)], 1)[0], rel=1e-12)
    # the decode producing token k+1 attends to the prompt and k tokens (the last new)
    steps = [EXACT.iteration(1, [(1, prompt + k + 1)], 1)[0] for k in range(output - 1)]
    assert np.diff(r.token_times) == pytest.approx(steps, rel=1e-12)
    first = simulate(workloads.load("workloads/gpt2.yaml", phase={
        "kind": "decode", "kv_len": prompt, "tokens": 1}), DEFAULT).seconds
    assert r.token_times[1] - r.token_times[0] == pytest.approx(first, rel=1e-12)


trace = st.lists(st.tuples(st.floats(0, 0.05), st.integers(1, 48), st.integers(1, 12)),
                 min_size=1, max_size=12)


@pytest.mark.parametrize("model", ["gpt2.yaml", "llama3-8b.yaml"])
def test_resized_part_einsums_equal_freshly_built_ones(model):
    """CostModel builds each part's Einsums once and resizes them: every resized Einsum
    (tensor shapes, names, text) equals the one build_transformer gives at that size."""
    from sim.serve.cost import ATTENTION, HEAD

    spec = model_file(model)
    cost = CostModel(spec.model, DEFAULT, spec.format)
    one_layer = spec.model.model_copy(update={"layers": 1})
    dense = lambda n: not (ATTENTION.match(n) or HEAD.match(n))  # noqa: E731
    rng = random.Random(5)
    for _ in range(12):
        p, cached = rng.randint(1, 900), rng.choice([0, rng.randint(1, 900)])
        for kind, size, phase, keep in [
                ("attention", (p, p + cached), workloads.PhaseSpec(seq_len=p, cached=cached),
                 ATTENTION.match),
                ("dense", (p,), workloads.PhaseSpec(seq_len=p), dense),
                ("head", (p,), workloads.PhaseSpec(seq_len=p), HEAD.match)]:
            whole = workloads.build_transformer(one_layer, phase, 1, spec.format)
            part = cost.part_cascade(kind, *size)
            assert part.einsums == tuple(e for e in whole.einsums if keep(e.name))
            assert [e.rank_sizes for e in part.einsums] == [
                e.rank_sizes for e in whole.einsums if keep(e.name)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=trace, policy=st.sampled_from(POLICIES), capacity=st.integers(60, 400))
def test_every_request_completes_once_with_all_its_tokens(rows, policy, capacity):
    rows = [r for r in rows if r[1] + r[2] <= capacity] or [(0.0, 1, 1)]
    run = serve(_requests(rows), SCHEDULERS.get(policy)(max_batch=4, token_budget=32), GRID,
                capacity)
    for r in run.requests:
        assert r.generated == r.output == len(r.token_times)
        assert r.done == r.token_times[-1]
        assert r.token_times[0] > r.arrival
        assert all(np.diff(r.token_times) > 0)
    kv = np.array(run.iterations["kv_used"])
    assert kv.max() <= capacity
    assert kv[-1] == 0  # every reservation freed
    # throughput bound: an iteration emits at most one token per token it computes, so
    # tokens/s over the run cannot beat the fastest iteration's tokens per second
    seconds = np.array(run.iterations["seconds"])
    computed = np.array(run.iterations["tokens"])
    tokens = sum(r.output for r in run.requests)
    assert tokens <= computed.sum()
    assert summarize(run)["tokens_per_s"] <= (computed / seconds).max() * (1 + 1e-12)
    metrics = summarize(run)
    assert metrics["busy_fraction"] <= 1 + 1e-12
    assert 0 <= metrics["array_utilization"] <= 1


def test_grid_interpolation_stays_within_one_percent():
    """Iteration latency and energy on the grid against exact costs, random batches of
    decodes (KV lengths to 1200) and a prefill chunk."""
    rng = random.Random(3)
    for _ in range(6):
        attention = [(1, rng.randint(2, 1200)) for _ in range(rng.randint(1, 40))]
        if rng.random() < 0.5:
            p = rng.randint(2, 400)
            attention.append((p, p + rng.randint(0, 600)))
        shape = (sum(p for p, _ in attention), attention, len(attention))
        exact, gridded = EXACT.iteration(*shape), GRID.iteration(*shape)
        for e, g in zip(exact[:2], gridded[:2]):
            assert abs(g / e - 1) < 0.01, shape


MIXED = Generator.model_validate({
    "rate_per_s": 12, "duration_s": 20, "seed": 7,
    "prompt": {"lognormal": {"median": 600, "sigma": 1.0, "max": 1024}},
    "output": {"lognormal": {"median": 60, "sigma": 0.8, "max": 256}}})


def _metrics(policy, **options):
    run = serve(generate(MIXED), SCHEDULERS.get(policy)(**options), GRID, 10**6)
    return summarize(run)


def test_chunked_prefill_lowers_p99_tbt_below_prefill_priority():
    chunked = _metrics("chunked", token_budget=128)
    continuous = _metrics("continuous")
    assert chunked["tbt_s"]["p99"] < continuous["tbt_s"]["p99"]


@pytest.mark.parametrize("policy,capacity", [("chunked", 10**6), ("continuous", 10**6),
                                             ("chunked", 3000), ("continuous", 3000)])
def test_decode_stretches_equal_iteration_by_iteration(policy, capacity):
    """serve() runs pure-decode stretches in one numpy step: the run (every token time,
    every iteration's columns, preemptions) equals running them one iteration at a
    time, to the bit."""
    bulk = serve(generate(MIXED), SCHEDULERS.get(policy)(), GRID, capacity)
    one_by_one = type("OneByOne", (SCHEDULERS.get(policy),), {"steady_decode": False})
    single = serve(generate(MIXED), one_by_one(), GRID, capacity)
    assert bulk.iterations == single.iterations
    assert [r.token_times for r in bulk.requests] == [r.token_times for r in single.requests]
    assert (bulk.end, bulk.preemptions) == (single.end, single.preemptions)
    assert len(bulk.iterations["start"]) > 1000
    assert bulk.preemptions > 0 or capacity == 10**6  # the small cache preempts


def test_prepacking_spends_less_time_in_prefill_than_padding():
    static, prepack = _metrics("static"), _metrics("prepack")
    assert prepack["prefill_s"] < static["prefill_s"]
    assert prepack["output_tokens"] == static["output_tokens"]


def test_a_small_kv_cache_preempts_and_still_serves_everything():
    reqs = _requests([(0.001 * i, 40, 30) for i in range(8)])
    run = serve(reqs, SCHEDULERS.get("continuous")(), GRID, 200)
    assert run.preemptions > 0
    assert all(r.generated == r.output for r in run.requests)
    assert max(run.iterations["kv_used"]) <= 200


def test_kv_capacity_is_dram_minus_weights_over_bytes_per_token():
    kv = kv_capacity_tokens(SPEC, DEFAULT)
    assert kv["kv_bytes_per_token"] == 2 * 12 * 768 * 2  # K and V, 12 layers, fp16
    # GPT-2 small's 124.4M parameters less its 0.8M position embeddings (the cascade
    # starts after the embedding lookup), at 2 bytes
    assert kv["weight_bytes"] == 2 * (124_439_808 - 1024 * 768)
    assert kv["tokens"] == (8 * 2**30 - kv["weight_bytes"]) // kv["kv_bytes_per_token"]


def test_generator_is_seeded_and_poisson():
    a, b = generate(MIXED), generate(MIXED)
    assert [(r.arrival, r.prompt, r.output) for r in a] == [(r.arrival, r.prompt, r.output)
                                                           for r in b]
    assert abs(len(a) / MIXED.duration_s - MIXED.rate_per_s) < 3 * (12 / 20) ** 0.5


def test_cli_json_and_slo(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n0,30,4\n0.001,60,3\n")
    result = CliRunner().invoke(main, ["serve", "gpt2.yaml", "--trace", str(trace), "--json",
                                       "--slo", "ttft=1ms,tbt=1s", "--policy", "continuous"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["requests"] == 2 and out["output_tokens"] == 7
    assert out["slo"]["attained"] < 1  # the second request waits behind the first prefill


@pytest.mark.parametrize("text, where", [
    ("arrival_s,prompt_tokens\n0,30\n", "row 1"),
    ("arrival_s,prompt_tokens,output_tokens\n0,-3,4\n", "row 1"),
])
def test_bad_trace_is_one_paragraph(tmp_path, text, where):
    trace = tmp_path / "bad.csv"
    trace.write_text(text)
    result = CliRunner().invoke(main, ["serve", "gpt2.yaml", "--trace", str(trace)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and where in result.output


def test_a_serving_point_goes_into_the_sweep_store(tmp_path):
    import sim.sweep as sweeps

    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n0,30,4\n0.001,60,3\n")
    path = tmp_path / "s.yaml"
    path.write_text(f"""\
sweep:
  name: serving
  workloads:
    - path: gpt2.yaml
      overrides: {{serve: {{trace: "{trace}", policy: continuous, slo: "ttft=1s"}}}}
  axes:
    - {{param: workload.serve.max_batch, values: [1, 4]}}
""")
    (tmp_path / "gpt2.yaml").write_text(
        (workloads.loader.SHIPPED_DIR / "gpt2.yaml").read_text())
    stats = sweeps.run(sweeps.load(path), tmp_path / "s.db", jobs=1)
    assert stats.failed == 0, stats
    df = sweeps.load_results(tmp_path / "s.db")
    assert sorted(df["tokens_per_s"] > 0) == [True, True]
    assert set(df["slo_attained"]) == {1.0}
    # one batch slot: the second request's first token waits for the first request
    one, four = (df[df["design"].notna()].sort_values("workload")["ttft_p50_s"]).tolist()
    assert one >= four
