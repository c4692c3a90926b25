"""Safe math expressions typed by a user, turned into engine ops and sympy expressions.

The Gradient lab lets a student type `sin(x) - y**3` and see its graph, values and
derivatives. The text is parsed with Python's `ast` (`ast.parse(text, mode="eval")`,
which only builds a syntax tree and runs nothing) and then walked against a whitelist:
numbers, lowercase variable names, `+ - * / **`, unary minus and a fixed table of
functions. Everything else (attributes, subscripts, strings, lambdas, comprehensions,
comparisons, keyword arguments, unknown or dunder names, huge exponents, over-long or
too-deep input, non-ASCII letters) is refused with an `ExpressionError` that quotes the
offending part and its column. The user's text is never passed to `eval`, `exec`,
`compile` or `sympy.sympify`, and no name is ever looked up in Python's namespace:
names only select entries of the tables below.

    expr = parse("sin(x) - y**3")
    expr.variables                       # ('x', 'y')
    out, variables = expr.evaluate({"x": 3.0, "y": 5.0})
    en.gradients(out, [variables["x"], variables["y"]])   # [cos 3, -75]
    expr.to_sympy()                      # sin(x) - y**3, built node by node
    expr.trace({"x": 3, "y": 5}).nodes   # the computation graph, inputs first
"""

from __future__ import annotations

import ast
import dataclasses
import math
import re
import warnings
from collections.abc import Callable, Mapping

import numpy as np

import engine as en
from engine import nn
from engine.registry import register_gradient
from engine.tensor import Tensor, Variable, as_tensor, record

# Limits: generous for anything a person types, small enough that no input can make
# parsing, differentiation or drawing slow.
MAX_LENGTH = 500
MAX_NODES = 250
MAX_DEPTH = 100
MAX_EXPONENT = 100.0
MAX_NAME_LENGTH = 24


class ExpressionError(ValueError):
    """The expression cannot be used; the message quotes the offending part and its column."""


# ----------------------------------------------------------------------------------
# tan: not an engine op yet, so it is registered here the way any user may add an op.


def tan(x) -> Tensor:
    """tan(x) = sin(x) / cos(x), as one op."""
    x = as_tensor(x)
    return record("Tan", np.tan(x.value), (x,))


try:  # another module (or a later engine version) may already provide the op
    en.get_gradient("Tan")
except LookupError:

    @register_gradient("Tan")
    def _tan_grad(op, grad):
        """d tan(x) = (1 + tan(x)^2) dx = dx / cos(x)^2."""
        y = op.output.value
        return [grad * (1 + y * y)]


# ----------------------------------------------------------------------------------
# the whitelist


@dataclasses.dataclass(frozen=True)
class Function:
    """A function the user may call: its arity, engine op and sympy form."""

    arity: int
    engine: Callable[..., Tensor]
    sympy: Callable[..., object]  # called with (sympy_module, *args)
    doc: str


def _sympy_sigmoid(sp, a):
    return 1 / (1 + sp.exp(-a))


FUNCTIONS: dict[str, Function] = {
    "sin": Function(1, en.sin, lambda sp, a: sp.sin(a), "sine"),
    "cos": Function(1, en.cos, lambda sp, a: sp.cos(a), "cosine"),
    "tan": Function(1, tan, lambda sp, a: sp.tan(a), "tangent"),
    "exp": Function(1, en.exp, lambda sp, a: sp.exp(a), "e to the power"),
    "log": Function(1, en.log, lambda sp, a: sp.log(a), "natural logarithm"),
    "tanh": Function(1, en.tanh, lambda sp, a: sp.tanh(a), "hyperbolic tangent"),
    "sqrt": Function(1, en.sqrt, lambda sp, a: sp.sqrt(a), "square root"),
    "abs": Function(1, en.abs, lambda sp, a: sp.Abs(a), "absolute value"),
    "square": Function(1, en.square, lambda sp, a: a**2, "x**2"),
    "sigmoid": Function(1, nn.sigmoid, _sympy_sigmoid, "1 / (1 + exp(-x))"),
    "relu": Function(1, nn.relu, lambda sp, a: sp.Max(a, 0), "max(x, 0)"),
    "softplus": Function(1, nn.softplus, lambda sp, a: sp.log(1 + sp.exp(a)), "log(1 + exp(x))"),
    "maximum": Function(2, en.maximum, lambda sp, a, b: sp.Max(a, b), "the larger of two"),
    "minimum": Function(2, en.minimum, lambda sp, a, b: sp.Min(a, b), "the smaller of two"),
}

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_REFUSED_BINARY = {
    ast.MatMult: ("@", "matrix products are not part of these expressions"),
    ast.Mod: ("%", "use only + - * / **"),
    ast.FloorDiv: ("//", "use / for division"),
    ast.BitXor: ("^", "use ** for powers"),
    ast.BitAnd: ("&", "use only + - * / **"),
    ast.BitOr: ("|", "use only + - * / **"),
    ast.LShift: ("<<", "use only + - * / **"),
    ast.RShift: (">>", "use only + - * / **"),
}
_ENGINE_BINARY = {"+": en.add, "-": en.subtract, "*": en.multiply, "/": en.divide,
                  "**": en.power}

# Why a kind of syntax is refused, named the way a student would say it.
_REFUSED_SYNTAX = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "indexing is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.Starred: "starred (*) arguments are not allowed",
    ast.NamedExpr: "assignment (:=) is not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "boolean operators (and, or) are not allowed",
    ast.IfExp: "conditional expressions (if/else) are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dictionaries are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Slice: "slices are not allowed",
}

_VARIABLE_NAME = re.compile(r"[a-z][a-z0-9_]*")


# ----------------------------------------------------------------------------------
# the parsed tree


@dataclasses.dataclass(frozen=True)
class Node:
    """One part of a parsed expression.

    kind: "variable" (name), "constant" (name is its text, value its number), "unary"
    (name "-"), "binary" (name is the operator) or "call" (name is the function).
    """

    kind: str
    name: str
    args: tuple[Node, ...] = ()
    value: float | None = None
    text: str = ""
    column: int = 1


@dataclasses.dataclass(frozen=True)
class TraceNode:
    """A node of the recorded computation graph: a tensor and how to label it."""

    tensor: Tensor
    label: str  # "x", "2", "Sin", "Mul", ...
    kind: str  # "variable", "constant" or "op"
    inputs: tuple[int, ...]  # indices of this node's inputs in Trace.nodes


@dataclasses.dataclass(frozen=True)
class Trace:
    """One evaluation of an expression: output, variables, and every node, inputs first."""

    output: Tensor
    variables: dict[str, Variable]
    nodes: tuple[TraceNode, ...]


class Expression:
    """A parsed, checked expression: evaluate it with the engine or rewrite it with sympy."""

    def __init__(self, text: str, root: Node, variables: tuple[str, ...]) -> None:
        self.text = text
        self.root = root
        self.variables = variables

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def build(self, tensors: Mapping[str, Tensor], dtype=np.float64) -> Tensor:
        """The expression applied to the given tensors (one per variable), recorded by the engine.

        Constants become `Tensor`s named by their text, so the graph can be labelled.
        """
        missing = [name for name in self.variables if name not in tensors]
        if missing:
            raise ExpressionError(f"no value given for {', '.join(missing)}")
        return _build(self.root, tensors, np.dtype(dtype))

    def evaluate(
        self, values: Mapping[str, float], dtype=np.float64
    ) -> tuple[Tensor, dict[str, Variable]]:
        """(output tensor, {name: Variable}) for the given values, graph recorded."""
        variables = {
            name: Variable(np.asarray(values[name], dtype=dtype), dtype=dtype, name=name)
            for name in self.variables if name in values
        }
        return self.build(variables, dtype), variables

    def trace(self, values: Mapping[str, float], dtype=np.float64) -> Trace:
        """Evaluate and list the computation graph by walking `tensor.op.inputs` from the output.

        Nodes come in topological order (every node after its inputs); a tensor used
        twice (a variable in two places) is one node with two consumers.
        """
        output, variables = self.evaluate(values, dtype)
        names = {id(v): name for name, v in variables.items()}
        order: list[Tensor] = []
        index: dict[int, int] = {}
        stack: list[tuple[Tensor, bool]] = [(output, False)]
        seen: set[int] = set()
        while stack:  # iterative post-order DFS
            tensor, expanded = stack.pop()
            if expanded:
                index[id(tensor)] = len(order)
                order.append(tensor)
                continue
            if id(tensor) in seen:
                continue
            seen.add(id(tensor))
            stack.append((tensor, True))
            if tensor.op is not None:
                for parent in reversed(tensor.op.inputs):
                    if id(parent) not in seen:
                        stack.append((parent, False))
        nodes = []
        for tensor in order:
            if tensor.op is not None:
                label, kind = tensor.op.name, "op"
                inputs = tuple(index[id(t)] for t in tensor.op.inputs)
            elif id(tensor) in names:
                label, kind, inputs = names[id(tensor)], "variable", ()
            else:
                label, kind, inputs = tensor.name or _number_text(tensor.value), "constant", ()
            nodes.append(TraceNode(tensor, label, kind, inputs))
        return Trace(output, variables, tuple(nodes))

    def to_sympy(self):
        """The same expression as a sympy object, built node by node (no sympify of text)."""
        import sympy

        symbols = {name: sympy.Symbol(name, real=True) for name in self.variables}
        return _to_sympy(self.root, sympy, symbols)

    def sympy_symbols(self) -> dict:
        """{name: sympy.Symbol} matching `to_sympy`."""
        import sympy

        return {name: sympy.Symbol(name, real=True) for name in self.variables}


def _number_text(value) -> str:
    return f"{float(np.asarray(value).reshape(-1)[0]):g}"


def _build(node: Node, tensors: Mapping[str, Tensor], dtype: np.dtype) -> Tensor:
    if node.kind == "variable":
        return tensors[node.name]
    if node.kind == "constant":
        return Tensor(np.asarray(node.value, dtype=dtype), dtype=dtype, name=node.name)
    args = [_build(arg, tensors, dtype) for arg in node.args]
    if node.kind == "unary":
        return en.negative(args[0])
    if node.kind == "binary":
        return _ENGINE_BINARY[node.name](*args)
    return FUNCTIONS[node.name].engine(*args)


def _to_sympy(node: Node, sp, symbols: dict):
    if node.kind == "variable":
        return symbols[node.name]
    if node.kind == "constant":
        if node.name == "pi":
            return sp.pi
        if node.name == "e":
            return sp.E
        value = node.value
        if float(value).is_integer() and abs(value) < 1e15:
            return sp.Integer(int(value))
        return sp.Float(repr(float(value)))  # the exact decimal the user typed
    args = [_to_sympy(arg, sp, symbols) for arg in node.args]
    if node.kind == "unary":
        return -args[0]
    if node.kind == "binary":
        a, b = args
        if node.name == "+":
            return a + b
        if node.name == "-":
            return a - b
        if node.name == "*":
            return a * b
        if node.name == "/":
            return a / b
        return sp.Pow(a, b)
    return FUNCTIONS[node.name].sympy(sp, *args)


# ----------------------------------------------------------------------------------
# parsing


def parse(text: str) -> Expression:
    """Parse and check `text`; raise ExpressionError saying what is wrong and where."""
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"the expression is too long: {len(text)} characters, at most {MAX_LENGTH}"
        )
    for i, char in enumerate(text):
        if not (" " <= char <= "~" or char == "\t"):
            what = "non-ASCII character" if ord(char) > 127 else "control character"
            raise ExpressionError(
                f"{what} {char!r} (U+{ord(char):04X}) at column {i + 1}: use plain ASCII "
                "letters, digits and + - * / ** ( ) ,"
            )
    if not text.strip():
        raise ExpressionError("the expression is empty: type something like sin(x) - y**3")
    try:
        # Only builds a syntax tree: nothing in the text is run or looked up. Warnings
        # about odd literals ("'\\d'") would only clutter the terminal.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        stripped = text.strip()
        offset = exc.offset or 0
        where = (f"at column {offset + (len(text) - len(text.lstrip()))}"
                 if 1 <= offset <= len(stripped) else "at the end")
        raise ExpressionError(f"not a valid expression: {exc.msg} {where}: {text.strip()!r}") \
            from None
    source = text.strip()
    shift = len(text) - len(text.lstrip())  # columns are reported in the text as typed
    count = _count_parts(tree.body)
    if count > MAX_NODES:
        raise ExpressionError(
            f"the expression has too many parts: {count}, at most {MAX_NODES}"
        )
    _check_depth(tree.body, source, shift)
    names: set[str] = set()
    root = _convert(tree.body, source, shift, names)
    return Expression(text.strip(), root, tuple(sorted(names)))


def _snippet(node: ast.AST, source: str) -> str:
    segment = ast.get_source_segment(source, node) or ""
    return segment if len(segment) <= 40 else segment[:37] + "..."


def _where(node: ast.AST, source: str, shift: int) -> str:
    return f"{_snippet(node, source)!r} at column {getattr(node, 'col_offset', 0) + 1 + shift}"


def _count_parts(root: ast.AST) -> int:
    """How many expression nodes the tree has. (Not ast.walk: it imports on first use,
    and parsing is meant to touch nothing outside this module.)"""
    count, stack = 0, [root]
    while stack:
        node = stack.pop()
        count += isinstance(node, ast.expr)
        stack.extend(ast.iter_child_nodes(node))
    return count


def _check_depth(root: ast.AST, source: str, shift: int) -> None:
    stack = [(root, 1)]
    while stack:  # iterative, so depth is measured before any recursion
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(
                f"the expression is nested too deeply: more than {MAX_DEPTH} levels, "
                f"at {_where(node, source, shift)}"
            )
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                stack.append((child, depth + 1))


def _convert(node: ast.AST, source: str, shift: int, names: set[str]) -> Node:
    where = _where(node, source, shift)
    column = getattr(node, "col_offset", 0) + 1 + shift
    text = _snippet(node, source)
    if isinstance(node, ast.Constant):
        return Node("constant", text, value=_number(node, where), text=text, column=column)
    if isinstance(node, ast.Name):
        name = node.id
        if name in CONSTANTS:
            return Node("constant", name, value=CONSTANTS[name], text=text, column=column)
        if name in FUNCTIONS:
            raise ExpressionError(f"{name} is a function, call it like {name}(x): {where}")
        _check_variable_name(name, where)
        names.add(name)
        return Node("variable", name, text=text, column=column)
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.UAdd):
            return _convert(node.operand, source, shift, names)
        if not isinstance(node.op, ast.USub):
            symbol = "not" if isinstance(node.op, ast.Not) else "~"
            raise ExpressionError(f"the operator {symbol!r} is not allowed: {where}")
        operand = _convert(node.operand, source, shift, names)
        if operand.kind == "constant" and operand.name not in CONSTANTS:
            # -2 is the number -2 (one node), as in x**-1
            return Node("constant", text, value=-operand.value, text=text, column=column)
        return Node("unary", "-", (operand,), text=text, column=column)
    if isinstance(node, ast.BinOp):
        op_type = type(node.op)
        if op_type in _REFUSED_BINARY:
            symbol, hint = _REFUSED_BINARY[op_type]
            raise ExpressionError(f"the operator {symbol!r} is not allowed ({hint}): {where}")
        if op_type not in _BINARY:
            raise ExpressionError(f"this operator is not allowed: {where}")
        left = _convert(node.left, source, shift, names)
        right = _convert(node.right, source, shift, names)
        symbol = _BINARY[op_type]
        if symbol == "**":
            _check_power(left, right, where)
        return Node("binary", symbol, (left, right), text=text, column=column)
    if isinstance(node, ast.Call):
        return _convert_call(node, source, shift, names, where, text, column)
    for kind, reason in _REFUSED_SYNTAX.items():
        if isinstance(node, kind):
            raise ExpressionError(f"{reason}: {where}")
    raise ExpressionError(f"{type(node).__name__} is not allowed: {where}")


def _convert_call(node: ast.Call, source: str, shift: int, names: set[str], where: str,
                  text: str, column: int) -> Node:
    func = node.func
    if not isinstance(func, ast.Name):
        if isinstance(func, ast.Attribute):
            raise ExpressionError(
                f"attribute access is not allowed: {_where(func, source, shift)}"
            )
        raise ExpressionError(f"only the listed functions can be called, by name: {where}")
    name = func.id
    if name.startswith("_"):
        raise ExpressionError(
            f"names starting with an underscore are not allowed: {_where(func, source, shift)}"
        )
    if name in CONSTANTS:
        raise ExpressionError(f"{name} is a constant, not a function: {where}")
    if name not in FUNCTIONS:
        raise ExpressionError(
            f"unknown function {name!r}: {where}; the functions are "
            f"{', '.join(FUNCTIONS)}"
        )
    if node.keywords:
        keyword = node.keywords[0]
        raise ExpressionError(
            f"keyword arguments are not allowed: {_where(keyword, source, shift)} "
            f"in {name}(...)"
        )
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise ExpressionError(
                f"starred (*) arguments are not allowed: {_where(arg, source, shift)}"
            )
    function = FUNCTIONS[name]
    if len(node.args) != function.arity:
        plural = "argument" if function.arity == 1 else "arguments"
        raise ExpressionError(
            f"{name} takes {function.arity} {plural}, got {len(node.args)}: {where}"
        )
    args = tuple(_convert(arg, source, shift, names) for arg in node.args)
    return Node("call", name, args, text=text, column=column)


def _number(node: ast.Constant, where: str) -> float:
    value = node.value
    if isinstance(value, bool) or value is None:
        raise ExpressionError(f"{value} is not a number: {where}")
    if isinstance(value, str):
        raise ExpressionError(f"strings are not allowed: {where}")
    if isinstance(value, bytes):
        raise ExpressionError(f"bytes are not allowed: {where}")
    if isinstance(value, complex):
        raise ExpressionError(f"complex numbers are not allowed: {where}")
    if not isinstance(value, int | float):
        raise ExpressionError(f"only numbers are allowed: {where}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or abs(number) > 1e300:
        raise ExpressionError(f"the number is too large: {where}")
    return number


def _check_variable_name(name: str, where: str) -> None:
    if name.startswith("_"):
        raise ExpressionError(f"names starting with an underscore are not allowed: {where}")
    if not _VARIABLE_NAME.fullmatch(name):
        raise ExpressionError(
            f"variable names are lowercase letters, digits and _ (like x, w1, b): {where}"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ExpressionError(
            f"the variable name is too long (at most {MAX_NAME_LENGTH} characters): {where}"
        )


def _constant_value(node: Node) -> float | None:
    """The value of a part without variables (engine, float64), None if it has variables."""
    if _has_variables(node):
        return None
    with np.errstate(all="ignore"), en.no_grad():
        value = _build(node, {}, np.dtype(np.float64)).value
    return float(value)


def _has_variables(node: Node) -> bool:
    stack = [node]
    while stack:
        current = stack.pop()
        if current.kind == "variable":
            return True
        stack.extend(current.args)
    return False


def _check_power(base: Node, exponent: Node, where: str) -> None:
    """Refuse exponents that can only overflow: |constant exponent| > MAX_EXPONENT, also
    when nested powers multiply up, as in (x**50)**50 or 9**9**9."""
    value = _constant_value(exponent)
    if value is None:
        return
    if not math.isfinite(value) or abs(value) > MAX_EXPONENT:
        raise ExpressionError(
            f"the exponent is too large: {exponent.text!r} is {value:.6g}, at most "
            f"{MAX_EXPONENT:g} in absolute value, in {where}"
        )
    total = value
    inner = base
    while inner.kind == "binary" and inner.name == "**":
        inner_value = _constant_value(inner.args[1])
        if inner_value is None:
            break
        total *= inner_value
        inner = inner.args[0]
    if abs(total) > MAX_EXPONENT:
        raise ExpressionError(
            f"nested powers amount to an exponent of {total:.6g}, at most "
            f"{MAX_EXPONENT:g} in absolute value: {where}"
        )
