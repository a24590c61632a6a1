"""The parser's memory of forms (workloads.parse.Parser): a text whose form (its tensor
names taken out) was parsed before gives the Einsum, or the error, that parsing it
afresh gives."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import workloads
from conftest import REPO
from workloads.builder import CascadeBuilder
from workloads.parse import Parser, parse_einsum
from yamlspec import SpecError

RANKS = {"b": 2, "p": 3, "d": 4, "e": 5}
# texts with NAME placeholders for tensor names; one form each
FORMS = [
    "{0}[b,p] = {1}[b,p,d] * {2}[d]",
    "{0}[b,p,e] = {1}[b,p,d] * {2}[d,e]",
    "{0}[b,p] = {1}[b,p,d] * {1}[b,p,d]",
    "{0}[b,p,d] = exp(({1}[b,p,d] - {2}[b,p]) * 0.125)",
    "{0}[b,p] = rsqrt({1}[b,p] * 0.25 + 1e-05)",
    "{0}[b,p,d] = {1}[b,p,d] + {2}[b, p, d]  + {3} [d]",
    "{0}[b,p] = {1}[b,p,e]",  # e has a size here, but not under SMALL_RANKS
]
SMALL_RANKS = {"b": 2, "p": 3, "d": 4}

names = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True),
    st.sampled_from(["None", "lambda", "exp", "_0", "_1", "b", "d", "match", "é"]))


def make_tensor(name, ranks, shape):
    if name.startswith("bad"):
        raise ValueError(f"tensor '{name}' refused")
    return workloads.Tensor(name, shape)


def outcome(parse, text, rank_sizes, reduce):
    try:
        return parse(text, rank_sizes, make_tensor, reduce=reduce, file="f.yaml", where="w")
    except SpecError as err:
        return str(err)


@settings(max_examples=300, deadline=None)
@given(form=st.sampled_from(FORMS), first=st.lists(names, min_size=4, max_size=4),
       second=st.lists(names, min_size=4, max_size=4), reduce=st.sampled_from([None, "max"]),
       small=st.booleans())
def test_a_remembered_form_parses_as_afresh(form, first, second, reduce, small):
    parser = Parser()
    parser.parse(form.format("Out", "X", "Y", "Z"), RANKS, make_tensor, reduce=reduce)
    for text in (form.format(*first), form.format(*second)):
        sizes = SMALL_RANKS if small else RANKS
        assert outcome(parser.parse, text, sizes, reduce) == outcome(parse_einsum, text, sizes,
                                                                     reduce)


def test_named_errors_on_a_remembered_form():
    parser = Parser()
    form = "{0}[b,p] = {1}[b,p,d] * {2}[d]"
    parser.parse(form.format("O", "X", "Y"), RANKS, make_tensor)
    for text, fragment in [(form.format("O", "bad1", "Y"), "tensor 'bad1' refused"),
                           (form.format("None", "X", "Y"), r"must be written NAME\[rank"),
                           (form.format("lambda", "X", "Y"), "cannot parse")]:
        with pytest.raises(SpecError, match=fragment):
            parser.parse(text, RANKS, make_tensor)
    with pytest.raises(SpecError, match="rank 'd' has no size"):
        parser.parse(form.format("O2", "X2", "Y2"), {"b": 1, "p": 1}, make_tensor)


def test_a_comment_is_not_a_tensor():
    parser = Parser()
    parser.parse("O[b] = X[b]  # Y[b]", RANKS, make_tensor)
    assert not parser._forms  # the names differ from the tensors: nothing remembered
    e = parser.parse("O2[b] = X2[b]  # Y2[b]", RANKS, make_tensor)
    assert [r.tensor.name for r in e.inputs] == ["X2"]


@pytest.mark.parametrize("name", ["gpt2", "gpt2-decode", "llama3-8b", "phi-2", "bert-base",
                                  "attention_1pass"])
def test_shipped_workloads_equal_parsed_afresh(monkeypatch, name):
    """Every Einsum of a shipped workload equals the one parsing each text gives, and a
    transformer parses each form once."""
    path = f"{REPO}/workloads/{name}.yaml"
    remembered = workloads.load(path)
    parses = []
    original = parse_einsum

    def counted(*args, **kwargs):
        parses.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr("workloads.parse.parse_einsum", counted)
    monkeypatch.setattr(Parser, "_remember", lambda *args: None)
    afresh = workloads.load(path)
    assert remembered == afresh
    assert [e.text for e in remembered.einsums] == [e.text for e in afresh.einsums]
    assert len(parses) == len(afresh.einsums)
    if name.startswith("gpt2"):
        parses.clear()
        monkeypatch.undo()
        monkeypatch.setattr("workloads.parse.parse_einsum", counted)
        workloads.load(path)
        assert len(parses) < 40 < len(remembered.einsums)


def test_builder_shares_a_form_across_layers():
    b = CascadeBuilder("two", {"m": 4, "k": 8})
    b.add("l0_Y[m] = l0_X[m,k] * W0[k]")
    b.add("l1_Y[m] = l0_Y[m] * l1_S[m]")
    e = b.add("l2_Y[m] = l1_Y[m] * l2_S[m]")
    assert [r.tensor.name for r in e.inputs] == ["l1_Y", "l2_S"] and e.name == "l2_Y"
    assert e.expr is b.einsums[1].expr
