"""Einsum text -> Einsum, e.g. `QK[b,h,p,m] = Q[b,h,p,e] * K[b,h,m,e]`.

The text is valid Python syntax, so Python's own parser reads it; this module only
walks the tree. Operators: + - * / and the calls max(a, b), min(a, b), exp(a),
gelu(a), ... (see workloads.ir.UNARY_OPS); numeric constants are allowed.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from yamlspec import SpecError
from workloads.ir import BINARY_OPS, REDUCE_OPS, UNARY_OPS, Einsum, Expr, Tensor, TensorRef

_BINOPS = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide"}

# Looks up a tensor by name and the sizes its ranks have here -> Tensor.
TensorFactory = Callable[[str, tuple[str, ...], tuple[int, ...]], Tensor]


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
        raise SpecError(f"{msg} in Einsum '{text}'", file, where)

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
        for r in ranks:
            if r not in rank_sizes:
                fail(f"rank '{r}' has no size (known ranks: {', '.join(rank_sizes) or 'none'})")
        shape = tuple(rank_sizes[r] for r in ranks)
        try:
            tensor = make_tensor(node.value.id, ranks, shape)
        except SpecError:
            raise
        except ValueError as exc:
            fail(str(exc))
        return TensorRef(tensor, ranks)

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
