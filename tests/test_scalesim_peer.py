"""Our SCALE-Sim timing against the real SCALE-Sim, run when the `[peers]` extra is
installed (`pip install -e ".[peers]"`); skipped otherwise."""

import importlib.util

import pytest

from conftest import REPO

spec = importlib.util.spec_from_file_location("compare_scalesim",
                                              REPO / "benchmarks" / "compare_scalesim.py")
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)

pytestmark = pytest.mark.skipif(not compare.scalesim_available(),
                                reason="scalesim 3.0.0 with numpy<2.4 not installed")


def test_cycles_and_word_counts_equal_scalesim_on_small_shapes():
    cases = compare.QUICK_CASES + [(1, 96, 40, 4, 4, "ws"), (130, 17, 9, 16, 8, "is"),
                                   (9, 33, 70, 8, 8, "os")]
    results = compare.run_comparison(cases, max_seconds=5.0)
    ran = [r for r in results if not r["skipped"]]
    assert len(ran) == len(cases)
    for r in ran:
        assert r["ours"] == r["scalesim"], r
        assert r["stalls"] == 0, r
        assert r["words_match"], r
