"""The Gradient lab's experiment: three ways to a derivative, and the chain rule step by step.

The user types an expression in some variables (parsed safely by
`engine.expressions`). One snapshot carries everything the lab draws:

- the computation graph the engine recorded (walked through `tensor.op.inputs`), with
  each node's forward value and its adjoint d(output)/d(node) from `en.gradients`;
  snapshot k of the run shows the adjoints of the first k nodes in reverse
  topological order, so Step walks the backward pass one node at a time;
- the derivative of the output by each variable three ways: numerical (central
  differences with step h), symbolic (sympy's derivative, evaluated) and automatic
  (the engine's reverse mode), plus the error of central differences against the
  automatic value for h from 1e-12 to 1e-1 (truncation error falls with h, round-off
  rises as h shrinks: a V on log-log axes);
- f and df/dv along one variable over a range, the others held;
- one optimizer step written out as `compute_gradients`, an edit of the gradients,
  and `apply_gradients`, next to `minimize` on the same start.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator

import numpy as np

import engine as en
from engine import expressions, optimizers
from engine.experiments.settings import SettingError, setting
from engine.expressions import Expression, ExpressionError

TITLE = "Gradients"
SUMMARY = ("Type an expression: see its graph, step through the backward pass, and compare "
           "numerical, symbolic and automatic derivatives.")

# The two worked examples (docs/labs.md, "Gradients"): expression and values.
PRESETS: dict[str, tuple[str, str]] = {
    "2*x - y": ("2*x - y", "x=1, y=2"),
    "sin(x) - y**3": ("sin(x) - y**3", "x=3, y=5"),
    "sigmoid(w*x + b)": ("sigmoid(w*x + b)", "w=0.5, x=2, b=-1"),
    "exp(-x**2/2)": ("exp(-x**2/2)", "x=1"),
}
PRESET_CHOICES = ("custom", *PRESETS)
EDIT_CHOICES = ("none", "zero", "clip", "negate")
DEFAULT_VALUE = 1.0  # for a variable the values setting does not mention

# Steps of the error-versus-h curve: log-spaced over the range where the V shows.
H_GRID = np.logspace(-12, -1, 45)
CURVE_POINTS = 401

_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclasses.dataclass
class Config:
    preset: str = setting(
        "custom", "a worked example; any choice but custom replaces expression and values",
        choices=PRESET_CHOICES)
    expression: str = setting(
        "sin(x) - y**3",
        "f of your variables: + - * / ** and sin cos tan exp log tanh sqrt abs square "
        "sigmoid relu softplus maximum(a, b) minimum(a, b), constants pi and e")
    values: str = setting("x=3, y=5", "the point to differentiate at, e.g. x=3, y=5 "
                          f"(a variable left out is {DEFAULT_VALUE:g})")
    log10_h: float = setting(-5.0, "step of the central difference: h = 10**log10_h",
                             low=-15.0, high=0.0)
    plot_along: str = setting("x", "the variable the f and df plots run along (others held)")
    x_min: float = setting(-5.0, "start of the plotted range", low=-1e6, high=1e6)
    x_max: float = setting(5.0, "end of the plotted range", low=-1e6, high=1e6)
    learning_rate: float = setting(0.01, "SGD step of the compute / apply panel",
                                   low=1e-6, high=10.0, log_scale=True)
    edit_gradient: str = setting(
        "zero", "what to do to the computed gradients before applying them "
        "(clip: to [-1, 1]; negate: climb instead of descend)", choices=EDIT_CHOICES)
    edit_variables: str = setting(
        "x", "whose gradients to edit, e.g. x or x, y (empty: every variable)")

    def resolved(self) -> tuple[str, str]:
        """The expression and values in use: the preset's, unless preset is custom."""
        if self.preset != "custom":
            return PRESETS[self.preset]
        return self.expression, self.values

    def check(self) -> None:
        try:
            expression = expressions.parse(self.expression)
        except ExpressionError as exc:
            raise SettingError(f"setting 'expression': {exc}") from None
        if not expression.variables:
            raise SettingError(
                "setting 'expression': it has no variables, so there is nothing to "
                "differentiate; use a name such as x"
            )
        parse_values(self.values)
        parse_names(self.edit_variables, "edit_variables")
        if self.plot_along.strip() and not _NAME.fullmatch(self.plot_along.strip()):
            raise SettingError(
                f"setting 'plot_along': {self.plot_along!r} is not a variable name"
            )
        if not self.x_min < self.x_max:
            raise SettingError(
                f"x_min ({self.x_min:g}) must be below x_max ({self.x_max:g})"
            )


def parse_values(text: str) -> dict[str, float]:
    """'x=3, y=5' -> {'x': 3.0, 'y': 5.0}; SettingError naming the bad part otherwise."""
    values: dict[str, float] = {}
    if len(text) > 1000:
        raise SettingError("setting 'values': too long (at most 1000 characters)")
    for part in re.split(r"[,;]", text):
        part = part.strip()
        if not part:
            continue
        name, sep, number = part.partition("=")
        name, number = name.strip(), number.strip()
        if not sep or not _NAME.fullmatch(name):
            raise SettingError(
                f"setting 'values': expected name=number, like x=3, got {part!r}"
            )
        try:
            value = float(number)
        except ValueError:
            raise SettingError(
                f"setting 'values': {number!r} (for {name}) is not a number"
            ) from None
        if not math.isfinite(value):
            raise SettingError(f"setting 'values': {name} must be finite, got {number!r}")
        if name in values:
            raise SettingError(f"setting 'values': {name} is given twice")
        values[name] = value
    return values


def parse_names(text: str, setting_name: str) -> tuple[str, ...]:
    """'x, y' -> ('x', 'y'), checking each is a variable name."""
    names = tuple(p.strip() for p in re.split(r"[,;\s]+", text) if p.strip())
    for name in names:
        if not _NAME.fullmatch(name):
            raise SettingError(f"setting {setting_name!r}: {name!r} is not a variable name")
    return names


@dataclasses.dataclass(frozen=True)
class GraphNode:
    """A node of the recorded graph as the lab draws it."""

    label: str  # variable name, constant, or op name (Sin, Mul, ...)
    kind: str  # "variable", "constant" or "op"
    inputs: tuple[int, ...]  # indices into Snapshot.nodes
    value: float  # forward value
    adjoint: float  # d(output)/d(this node) from en.gradients (nan for constants)
    rule: str  # the registered gradient's formula (its docstring), for ops


@dataclasses.dataclass(frozen=True)
class Snapshot:
    step: int  # how many nodes (in reverse_order) have their adjoint shown
    expression: str
    variables: tuple[str, ...]
    values: tuple[float, ...]  # at which point, one per variable
    defaulted: tuple[str, ...]  # variables the values setting left out (DEFAULT_VALUE)
    unused: tuple[str, ...]  # names in the values setting the expression does not use
    output: float
    nodes: tuple[GraphNode, ...]  # topological order: inputs first
    reverse_order: tuple[int, ...]  # the backward pass: nodes in the order adjoints finish
    # What each op sends back to each of its inputs: (consumer, input position, input
    # node, value) = the op's registered gradient applied to the op's adjoint.
    messages: tuple[tuple[int, int, int, float], ...]
    # Per message: the local derivative d consumer / d input as a formula ("cos x",
    # "3y^2") and its value; the message is that value times the consumer's adjoint.
    local_texts: tuple[str, ...]
    local_values: tuple[float, ...]
    automatic: np.ndarray  # (V,) d output / d variable, en.gradients
    numerical: np.ndarray  # (V,) central differences with step h
    symbolic: np.ndarray  # (V,) sympy's derivative evaluated at the point
    symbolic_text: tuple[str, ...]  # sympy's derivative per variable
    sympy_text: str  # the expression as sympy writes it
    kinks: tuple[str, ...]  # where f is evaluated on a kink: "abs at x = 0", ...
    # Per variable: "" where numerical and automatic agree, else why they do not.
    mismatch_notes: tuple[str, ...]
    # Per variable: "" where the error-vs-h curve shows, else why it cannot (all zero).
    error_notes: tuple[str, ...]
    h: float
    h_grid: np.ndarray  # (H,) steps for the error curve
    h_errors: np.ndarray  # (V, H) |numerical(h) - automatic|
    curve_variable: str  # the variable the f / df curves run along
    curve_x: np.ndarray
    curve_f: np.ndarray
    curve_df: np.ndarray  # df / d curve_variable, from en.gradients on the whole grid
    learning_rate: float
    edit: str
    edited: tuple[str, ...]  # variables whose gradient the edit touched
    grads_computed: np.ndarray  # (V,) compute_gradients
    grads_applied: np.ndarray  # (V,) after the edit, what apply_gradients received
    after_apply: np.ndarray  # (V,) variable values after apply_gradients
    after_minimize: np.ndarray  # (V,) after minimize from the same start
    f_after_apply: float
    f_after_minimize: float

    @property
    def current(self) -> int | None:
        """The node whose adjoint this step revealed (None before the backward pass)."""
        return self.reverse_order[self.step - 1] if self.step else None

    def shown(self, index: int) -> bool:
        """Whether node `index` has its adjoint shown at this step."""
        return index in self.reverse_order[: self.step]


def run(config: Config) -> Iterator[Snapshot]:
    """Yield the forward pass (step 0), then one more adjoint per snapshot."""
    config.check()
    text, values_text = config.resolved()
    expression = expressions.parse(text)
    given = parse_values(values_text)
    names = expression.variables
    point = {name: given.get(name, DEFAULT_VALUE) for name in names}
    with np.errstate(all="ignore"):  # log(-1) is nan on screen, not a warning
        base = _snapshot(config, expression, point, given)
    for step in range(len(base.reverse_order) + 1):
        yield dataclasses.replace(base, step=step)


def _snapshot(config: Config, expression: Expression, point: dict[str, float],
              given: dict[str, float]) -> Snapshot:
    names = expression.variables
    trace = expression.trace(point)
    nodes_t = trace.nodes
    var_list = [trace.variables[name] for name in names]

    # Adjoints of every variable and op output: en.gradients takes intermediate tensors.
    differentiable = [i for i, n in enumerate(nodes_t) if n.kind != "constant"]
    adjoints = en.gradients(trace.output, [nodes_t[i].tensor for i in differentiable])
    adjoint = dict.fromkeys(range(len(nodes_t)), math.nan)
    for i, g in zip(differentiable, adjoints):
        adjoint[i] = float(g)
    nodes = tuple(
        GraphNode(n.label, n.kind, n.inputs, float(n.tensor.value), adjoint[i],
                  _rule(n.label) if n.kind == "op" else "")
        for i, n in enumerate(nodes_t)
    )
    reverse_order = tuple(i for i in reversed(range(len(nodes))) if nodes[i].kind != "constant")

    # What each op sends to its inputs: its registered gradient, given its adjoint.
    messages, local_texts, local_values = [], [], []
    with en.no_grad():
        for i, n in enumerate(nodes_t):
            if n.kind != "op":
                continue
            op = n.tensor.op
            upstream = np.asarray(adjoints[differentiable.index(i)])
            grads = en.get_gradient(op.name)(op, upstream)
            # The same rule given an adjoint of 1: the local derivative alone.
            local = en.get_gradient(op.name)(op, np.ones_like(upstream))
            operands = [_operand_name(nodes[j]) for j in n.inputs]
            for position, (source, g, d) in enumerate(zip(n.inputs, grads, local)):
                if g is not None and nodes[source].kind != "constant":
                    messages.append((i, position, source, float(np.sum(g))))
                    local_texts.append(local_derivative_text(n.label, position, operands))
                    local_values.append(float(np.sum(d)) if d is not None else math.nan)

    automatic = np.array(en.gradients(trace.output, var_list), dtype=np.float64).reshape(-1)
    h = 10.0 ** config.log10_h
    numerical = numerical_derivatives(expression, point, h)
    h_errors = np.stack([np.abs(numerical_derivatives(expression, point, step) - automatic)
                         for step in H_GRID], axis=1) if names else np.zeros((0, len(H_GRID)))

    symbolic, symbolic_text, sympy_text = _symbolic(expression, point)
    kinks = find_kinks(nodes, trace, names)
    curve_variable = config.plot_along.strip()
    if curve_variable not in names:
        curve_variable = names[0]
    curve_x, curve_f, curve_df = _curve(expression, point, curve_variable,
                                        config.x_min, config.x_max)

    edit_names = parse_names(config.edit_variables, "edit_variables") or names
    edited = tuple(n for n in names if n in edit_names) if config.edit_gradient != "none" else ()
    panel = _compute_apply(expression, point, config.learning_rate, config.edit_gradient, edited)

    return Snapshot(
        step=0, expression=expression.text, variables=names,
        values=tuple(point[n] for n in names),
        defaulted=tuple(n for n in names if n not in given),
        unused=tuple(n for n in given if n not in names),
        output=float(trace.output.value), nodes=nodes, reverse_order=reverse_order,
        messages=tuple(messages), local_texts=tuple(local_texts),
        local_values=tuple(local_values), automatic=automatic, numerical=numerical,
        symbolic=symbolic, symbolic_text=symbolic_text, sympy_text=sympy_text,
        kinks=kinks,
        mismatch_notes=tuple(mismatch_note(v, numerical[k], automatic[k], h, kinks)
                             for k, v in enumerate(names)),
        error_notes=tuple(error_note(v, h_errors[k], kinks) for k, v in enumerate(names)),
        h=h,
        h_grid=H_GRID.copy(), h_errors=h_errors, curve_variable=curve_variable,
        curve_x=curve_x, curve_f=curve_f, curve_df=curve_df,
        learning_rate=float(config.learning_rate), edit=config.edit_gradient, edited=edited,
        **panel,
    )


def _operand_name(node: GraphNode) -> str:
    """How a local derivative names an operand: a variable or number as itself, an
    intermediate result by its op (Mul, Sin, ...)."""
    return node.label


def _wrap(name: str) -> str:
    """`name` ready to stand after a function name or before a power: x, 3, or (Mul)."""
    simple = _NAME.fullmatch(name) or re.fullmatch(r"[0-9.]+", name)
    return name if simple else f"({name})"


def local_derivative_text(op: str, position: int, operands: list[str]) -> str:
    """d op / d operand `position` as a short formula in the operands' names, e.g.
    ("Sin", 0, ["x"]) -> "cos x" and ("Pow", 0, ["y", "3"]) -> "3y^2". Minus signs are
    ASCII, as in the numbers beside them."""
    return _local_derivative_text(op, position, operands).replace("−", "-")


def _local_derivative_text(op: str, position: int, operands: list[str]) -> str:
    a = _wrap(operands[0])
    b = _wrap(operands[1]) if len(operands) > 1 else ""
    sep = lambda f, arg: f"{f} {arg}" if not arg.startswith("(") else f"{f}{arg}"  # noqa: E731
    one_arg = {
        "Sin": sep("cos", a), "Cos": "−" + sep("sin", a), "Tan": "1 + " + sep("tan²", a),
        "Exp": sep("exp", a), "Log": f"1/{a}", "Tanh": "1 − " + sep("tanh²", a),
        "Sqrt": f"1/(2√{a})", "Abs": sep("sign", a), "Square": f"2{a}",
        "Sigmoid": f"σ({operands[0]})(1 − σ({operands[0]}))", "Relu": f"[{a} > 0]",
        "Softplus": f"σ({operands[0]})", "Neg": "−1",
    }
    if op in one_arg:
        return one_arg[op]
    if op == "Add":
        return "1"
    if op == "Sub":
        return "1" if position == 0 else "−1"
    if op == "Mul":
        return b if position == 0 else a
    if op == "Div":
        return f"1/{b}" if position == 0 else f"−{a}/{b}²"
    if op == "Pow":
        if position == 1:
            return f"{a}^{b}·ln {a}"
        try:
            exponent = float(operands[1])
        except ValueError:
            return f"{b}·{a}^({b} − 1)"
        lower = exponent - 1
        if lower == 0:
            return _number(exponent)
        power = "" if lower == 1 else f"^{_number(lower)}"
        factor = _number(exponent)
        joiner = "" if _NAME.fullmatch(operands[0]) and factor.isdigit() else "·"
        return f"{factor}{joiner}{a}{power}"
    if op == "Maximum":
        return f"[{a} ≥ {b}]" if position == 0 else f"[{b} > {a}]"
    if op == "Minimum":
        return f"[{a} ≤ {b}]" if position == 0 else f"[{b} < {a}]"
    return f"d{op}/d{a}"


def _number(value: float) -> str:
    return f"{value:g}"


# Ops whose derivative jumps at a point: (op, the condition that puts an input on it).
KINKED_OPS = ("Abs", "Relu", "Maximum", "Minimum")


def find_kinks(nodes: tuple[GraphNode, ...], trace, names: tuple[str, ...]) -> tuple[str, ...]:
    """Where the point puts a kinked op exactly on its kink: "abs at x = 0", ...

    There f has no derivative: the slopes on the two sides differ, central differences
    give their average and the engine one side's (a subgradient).
    """
    found = []
    for node in nodes:
        if node.kind != "op" or node.label not in KINKED_OPS:
            continue
        args = [nodes[j] for j in node.inputs]
        described = " and ".join(_describe(a) for a in args)
        if node.label in ("Abs", "Relu") and args[0].value == 0:
            found.append(f"{node.label.lower()} of {described} = 0")
        elif node.label in ("Maximum", "Minimum") and args[0].value == args[1].value:
            found.append(f"{node.label.lower()} of {described}, equal at "
                         f"{_number(args[0].value)}")
    return tuple(found)


def _describe(node: GraphNode) -> str:
    return node.label if node.kind != "op" else f"a {node.label} result"


def mismatch_note(variable: str, numerical: float, automatic: float, h: float,
                  kinks: tuple[str, ...]) -> str:
    """Why numerical and automatic differ for this variable ("" when they agree as well
    as central differences can: within about h² and the rounding of f divided by h)."""
    if not (math.isfinite(numerical) and math.isfinite(automatic)):
        if math.isfinite(numerical) == math.isfinite(automatic) and (
                numerical == automatic):
            return ""
        return (f"df/d{variable}: numerical {numerical:.6g}, automatic {automatic:.6g}: "
                "the derivative is not finite here (f is not differentiable at this point, "
                "e.g. sqrt at 0).")
    tolerance = 1e-4 * max(1.0, abs(automatic)) + 1e3 * h * h
    if abs(numerical - automatic) <= tolerance:
        return ""
    why = (f"A kink ({'; '.join(kinks)}): central differences average the slopes of the two "
           "sides, the engine takes one side's (a subgradient); no h brings them together."
           if kinks else
           f"h = {h:.0e} is too large or too small for f here (see the error against h).")
    return (f"df/d{variable}: numerical {numerical:.6g} ≠ automatic {automatic:.6g}. "
            + why)


def error_note(variable: str, errors: np.ndarray, kinks: tuple[str, ...] = ()) -> str:
    """Why the error-vs-h curve of this variable is missing, or flat ("" when it shows
    the usual V)."""
    finite = np.isfinite(errors)
    if not finite.any():
        return f"df/d{variable}: no curve: the derivative is not finite here."
    if np.all(errors[finite] == 0):
        return (f"df/d{variable}: no curve: the error is exactly 0 for every h (a log axis "
                "has no 0).")
    if np.all(errors[finite] > 0) and finite.all():
        low, high = float(errors.min()), float(errors.max())
        if kinks and high > 1e-3 and high <= 1.01 * low:
            return f"df/d{variable}: flat at {low:.3g} for every h: a kink, not a bad h."
        return ""
    return f"df/d{variable}: gaps where the error is exactly 0 (a log axis has no 0)."


def split_terms(text: str) -> tuple[str, ...]:
    """sympy's text cut into its top-level terms, each with its sign, so a view can wrap
    between terms and never inside one: "a*b + c*(d - e) - f" -> ("a*b", "+ c*(d - e)",
    "- f"). A ' + ' or ' - ' inside brackets belongs to its term."""
    terms, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith((" + ", " - "), i) and i > start:
            terms.append(text[start:i].strip())
            start = i + 1  # the sign starts the next term
            i += 2
        i += 1
    terms.append(text[start:].strip())
    return tuple(t for t in terms if t)


def _rule(op_name: str) -> str:
    """The first line of the registered gradient's docstring: its formula."""
    fn = en.get_gradient(op_name)
    doc = (fn.__doc__ or "").strip().splitlines() if fn is not None else []
    return doc[0] if doc else ""


def numerical_derivatives(expression: Expression, point: dict[str, float],
                          h: float) -> np.ndarray:
    """Central differences (f(v + h) - f(v - h)) / 2h per variable, by en.numerical_gradients."""
    names = expression.variables
    variables = [en.Variable(np.array(point[n], dtype=np.float64), name=n) for n in names]

    def f(*vs):
        return expression.build(dict(zip(names, vs)))

    grads = en.numerical_gradients(f, variables, eps=h)
    return np.array([float(g) for g in grads], dtype=np.float64)


def _symbolic(expression: Expression, point: dict[str, float]):
    """sympy's derivative by each variable, as text and evaluated at the point."""
    import sympy

    f = expression.to_sympy()
    symbols = expression.sympy_symbols()
    at = {symbols[n]: np.float64(point[n]) for n in expression.variables}
    texts, numbers = [], []
    for name in expression.variables:
        derivative = sympy.diff(f, symbols[name])
        texts.append(sympy.sstr(derivative))
        numbers.append(sympy_value(derivative, at))
    return np.array(numbers, dtype=np.float64), tuple(texts), sympy.sstr(f)


def sympy_value(expr, at: dict) -> float:
    """A sympy expression evaluated in float64 at {symbol: value}.

    Walks the expression tree itself: sympy's evalf computes with as many digits as the
    answer needs, which for exp(exp(exp(x))) and the like never ends, and lambdify
    generates code and exec's it. Anything it does not know is nan.
    """
    import sympy

    functions = {
        sympy.sin: np.sin, sympy.cos: np.cos, sympy.tan: np.tan, sympy.exp: np.exp,
        sympy.log: np.log, sympy.tanh: np.tanh, sympy.sinh: np.sinh, sympy.cosh: np.cosh,
        sympy.Abs: np.abs, sympy.sign: np.sign, sympy.sec: lambda a: 1 / np.cos(a),
        sympy.Heaviside: lambda a, h0=0.5: np.heaviside(a, h0),
        sympy.Max: lambda *a: np.max(a), sympy.Min: lambda *a: np.min(a),
    }

    def value(node) -> np.float64:
        if node.is_Symbol:
            return at[node]
        if node.is_Number or isinstance(node, sympy.NumberSymbol):
            try:
                return np.float64(float(node))
            except (OverflowError, TypeError):
                return np.float64(math.nan)
        args = [value(a) for a in node.args]
        if node.is_Add:
            return np.sum(args, dtype=np.float64)
        if node.is_Mul:
            return np.prod(args, dtype=np.float64)
        if node.is_Pow:
            return np.power(args[0], args[1])
        fn = functions.get(node.func)
        return fn(*args) if fn is not None else np.float64(math.nan)

    with np.errstate(all="ignore"):
        return float(value(expr))


def _curve(expression: Expression, point: dict[str, float], along: str, lo: float,
           hi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f and df/d(along) on a grid: one evaluation with an array-valued variable."""
    grid = np.linspace(lo, hi, CURVE_POINTS)
    tensors = {n: en.Variable(np.array(point[n], dtype=np.float64), name=n)
               for n in expression.variables}
    tensors[along] = en.Variable(grid.copy(), name=along)
    out = expression.build(tensors)
    # The output is elementwise in the grid, so d(sum f)/d grid_i = f'(grid_i).
    (derivative,) = en.gradients(out, [tensors[along]])
    f = np.broadcast_to(out.value, grid.shape).astype(np.float64)
    df = np.asarray(derivative, dtype=np.float64)
    f = np.where(np.isfinite(f), f, np.nan)
    df = np.where(np.isfinite(df), df, np.nan)
    return grid, f, df


def _compute_apply(expression: Expression, point: dict[str, float], lr: float, edit: str,
                   edited: tuple[str, ...]) -> dict:
    """One SGD step as compute_gradients -> edit -> apply_gradients, and one minimize."""
    names = expression.variables

    def fresh():
        return [en.Variable(np.array(point[n], dtype=np.float64), name=n) for n in names]

    variables = fresh()
    optimizer = optimizers.SGD(lr)
    loss = expression.build(dict(zip(names, variables)))
    grads_and_vars = optimizer.compute_gradients(loss, variables)
    computed = np.array([float(g) for g, _ in grads_and_vars])
    # Between compute and apply the (gradient, variable) pairs are ours to edit. (A 0-d
    # gradient may come back as a numpy scalar, which cannot be written in place, so
    # each edited gradient is a new array.)
    edited_pairs = []
    for g, var in grads_and_vars:
        g = np.array(g, dtype=np.float64)
        if var.name in edited:
            if edit == "zero":
                g = np.zeros_like(g)
            elif edit == "clip":
                g = np.clip(g, -1.0, 1.0)
            elif edit == "negate":
                g = -g
        edited_pairs.append((g, var))
    grads_and_vars = edited_pairs
    applied = np.array([float(g) for g, _ in grads_and_vars])
    optimizer.apply_gradients(grads_and_vars)
    after_apply = np.array([float(v.value) for v in variables])

    plain = fresh()
    plain_loss = expression.build(dict(zip(names, plain)))
    optimizers.SGD(lr).minimize(plain_loss, plain)
    after_minimize = np.array([float(v.value) for v in plain])

    with en.no_grad():
        f_apply = float(expression.build(dict(zip(names, variables))).value)
        f_minimize = float(expression.build(dict(zip(names, plain))).value)
    return {"grads_computed": computed, "grads_applied": applied, "after_apply": after_apply,
            "after_minimize": after_minimize, "f_after_apply": f_apply,
            "f_after_minimize": f_minimize}
