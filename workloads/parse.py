"""Einsum text -> Einsum, e.g. `QK[b,h,p,m] = Q[b,h,p,e] * K[b,h,m,e]`.

The text is valid Python syntax, so Python's own parser reads it; this module only
walks the tree. Operators: + - * / and the calls max(a, b), min(a, b), exp(a),
gelu(a), ... (see workloads.ir.UNARY_OPS); numeric constants are allowed.

A transformer's Einsums differ from layer to layer only in their tensor names
(`l3_QK[...] = l3_Qb[...] * l3_Kb[...]`), so Parser reads each form (the text with its
tensor names taken out) once and fills in the names and sizes of later texts.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass

from yamlspec import SpecError
from workloads.ir import BINARY_OPS, REDUCE_OPS, UNARY_OPS, Einsum, Expr, Tensor, TensorRef

_BINOPS = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide"}

# Looks up a tensor by name and the sizes its ranks have here -> Tensor.
TensorFactory = Callable[[str, tuple[str, ...], tuple[int, ...]], Tensor]

# A tensor name: a whole identifier (not the tail of a number or an attribute) before `[`.
_TENSOR_NAME = re.compile(r"(?<![\w.])([A-Za-z_]\w*)(?=\s*\[)", re.ASCII)


def _fail(msg: str, text: str, file: str | None, where: str):
    raise SpecError(f"{msg} in Einsum '{text}'", file, where)


def _tensor_ref(name: str, ranks: tuple[str, ...], rank_sizes: dict[str, int],
                make_tensor: TensorFactory, text: str, file: str | None, where: str) -> TensorRef:
    """The tensor `name` indexed by `ranks`, sized by this Einsum's rank sizes."""
    for r in ranks:
        if r not in rank_sizes:
            _fail(f"rank '{r}' has no size (known ranks: {', '.join(rank_sizes) or 'none'})",
                  text, file, where)
    try:
        tensor = make_tensor(name, ranks, tuple(rank_sizes[r] for r in ranks))
    except SpecError:
        raise
    except ValueError as exc:
        _fail(str(exc), text, file, where)
    return TensorRef(tensor, ranks)


def parse_einsum(
    text: str,
    rank_sizes: dict[str, int],
    make_tensor: TensorFactory,
    reduce: str | None = None,
    name: str | None = None,
    file: str | None = None,
    where: str = "",
) -> Einsum:
    """Parse one Einsum. Unknown ranks, operations or bad syntax raise SpecError."""

    def fail(msg: str):
        _fail(msg, text, file, where)

    try:
        tree = ast.parse(text.strip(), mode="exec")
    except SyntaxError as exc:
        fail(f"cannot parse ({exc.msg}); write e.g. 'C[m,n] = A[m,k] * B[k,n]'")
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assign):
        fail("expected exactly one assignment 'OUT[ranks] = expression'")
    assign = tree.body[0]
    if len(assign.targets) != 1 or not isinstance(assign.targets[0], ast.Subscript):
        fail("the left side must be one tensor 'OUT[ranks]'")

    inputs: list[TensorRef] = []

    def ref(node: ast.Subscript) -> TensorRef:
        if not isinstance(node.value, ast.Name):
            fail("a tensor must be written NAME[rank, ...]")
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if not all(isinstance(e, ast.Name) for e in elts):
            fail(f"the ranks of '{node.value.id}' must be plain names")
        ranks = tuple(e.id for e in elts)
        if len(set(ranks)) != len(ranks):
            fail(f"tensor '{node.value.id}' repeats a rank")
        return _tensor_ref(node.value.id, ranks, rank_sizes, make_tensor, text, file, where)

    def walk(node: ast.AST) -> Expr:
        if isinstance(node, ast.Subscript):
            inputs.append(ref(node))
            return Expr("ref", index=len(inputs) - 1)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return Expr("const", value=float(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return Expr("neg", (walk(node.operand),))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return Expr(_BINOPS[type(node.op)], (walk(node.left), walk(node.right)))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            op, args = node.func.id, node.args
            if op in ("max", "min") and len(args) == 2:
                return Expr(op, (walk(args[0]), walk(args[1])))
            if op in UNARY_OPS and len(args) == 1:
                return Expr(op, (walk(args[0]),))
            fail(f"unknown operation '{op}' with {len(args)} argument(s) (known: "
                 f"{', '.join(UNARY_OPS)} with one argument; max, min with two)")
        if isinstance(node, ast.Name):
            fail(f"'{node.id}' needs ranks: write it as {node.id}[...]")
        fail(f"unsupported syntax '{ast.unparse(node)}' (operators: + - * /; known ops: "
             f"{', '.join(BINARY_OPS + UNARY_OPS)})")

    expr = walk(assign.value)
    if not inputs:
        fail("the right side reads no tensor")
    out_ref = ref(assign.targets[0])
    reduced = [r for r in dict.fromkeys(r for i in inputs for r in i.ranks) if r not in out_ref.ranks]
    if reduce is None:
        reduce = "sum" if reduced else "none"
    if reduce not in REDUCE_OPS:
        fail(f"unknown reduce '{reduce}' (known: {', '.join(REDUCE_OPS)})")
    if reduced and reduce == "none":
        fail(f"ranks {reduced} are not in the output, so they need a reduce (sum, max or min)")
    missing = [r for r in out_ref.ranks if not any(r in i.ranks for i in inputs)]
    if missing:
        fail(f"output ranks {missing} appear in no input")
    return Einsum(
        name=name or out_ref.tensor.name,
        output=out_ref,
        inputs=tuple(inputs),
        expr=expr,
        reduce=reduce if reduced else "none",
        text=text.strip(),
        where=where,
        source=file or "",
    )


@dataclass(frozen=True)
class _Form:
    """An Einsum text's structure with its tensor names replaced by their order of first
    appearance (slots): the output's and each input's (slot, ranks), the expression and
    the reduce."""

    output: tuple[int, tuple[str, ...]]
    inputs: tuple[tuple[int, tuple[str, ...]], ...]
    expr: Expr
    reduce: str


def _split_names(text: str) -> tuple[str, tuple[str, ...]] | None:
    """(the text with each tensor name replaced by `_<slot>`, the names by slot), or None
    if names could read differently after the swap (a keyword, or non-ASCII text, which
    Python normalizes)."""
    if not text.isascii():
        return None
    names: dict[str, int] = {}
    form = _TENSOR_NAME.sub(lambda m: f"_{names.setdefault(m[1], len(names))}", text)
    if any(keyword.iskeyword(n) for n in names):
        return None
    return form, tuple(names)


class Parser:
    """parse_einsum with a memory of forms: a text whose form (tensor names taken out)
    parsed before is not parsed again; its names, ranks' sizes and tensors are checked
    and made as parse_einsum does, with the same errors."""

    def __init__(self):
        self._forms: dict[tuple[str, str | None], _Form] = {}

    def parse(self, text: str, rank_sizes: dict[str, int], make_tensor: TensorFactory,
              reduce: str | None = None, name: str | None = None, file: str | None = None,
              where: str = "") -> Einsum:
        stripped = text.strip()
        split = _split_names(stripped)
        form = self._forms.get((split[0], reduce)) if split else None
        if form is None:
            einsum = parse_einsum(text, rank_sizes, make_tensor, reduce, name, file, where)
            if split:
                self._remember(split, reduce, einsum)
            return einsum
        names = split[1]
        inputs = tuple(_tensor_ref(names[slot], ranks, rank_sizes, make_tensor, text, file, where)
                       for slot, ranks in form.inputs)  # in parse_einsum's order, for its errors
        slot, ranks = form.output
        output = _tensor_ref(names[slot], ranks, rank_sizes, make_tensor, text, file, where)
        return Einsum(name=name or output.tensor.name, output=output, inputs=inputs,
                      expr=form.expr, reduce=form.reduce, text=stripped, where=where,
                      source=file or "")

    def _remember(self, split: tuple[str, tuple[str, ...]], reduce: str | None, einsum: Einsum):
        form, names = split
        slot = {n: i for i, n in enumerate(names)}
        refs = (einsum.output, *einsum.inputs)
        if {r.tensor.name for r in refs} != set(names):
            return  # a name-like text outside the tensors (e.g. a comment): not a form
        self._forms[form, reduce] = _Form(
            (slot[einsum.output.tensor.name], einsum.output.ranks),
            tuple((slot[r.tensor.name], r.ranks) for r in einsum.inputs), einsum.expr,
            einsum.reduce)
