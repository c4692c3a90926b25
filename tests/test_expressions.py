"""The safe expression parser: what it accepts evaluates like numpy and differentiates like
the engine and sympy; what it refuses is refused with a message that names the problem,
and parsing has no side effects (nothing imported, opened, evaluated or run)."""

import builtins
import math
import os

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import engine as en
from engine.expressions import MAX_LENGTH, ExpressionError, parse

POINT = {"x": 0.7, "y": 1.3, "w": -0.4, "b": 0.2}


def _sig(t):
    return 1 / (1 + np.exp(-t))


x, y, w, b = (POINT[k] for k in "xywb")
# expression -> (numpy value, {variable: analytic derivative})
ACCEPTED = {
    "2*x - y": (2 * x - y, {"x": 2.0, "y": -1.0}),
    "sin(x) - y**3": (np.sin(x) - y**3, {"x": np.cos(x), "y": -3 * y**2}),
    "exp(-x**2/2)": (np.exp(-x**2 / 2), {"x": -x * np.exp(-x**2 / 2)}),
    "sigmoid(w*x + b)": (
        _sig(w * x + b),
        {"w": _sig(w * x + b) * (1 - _sig(w * x + b)) * x,
         "x": _sig(w * x + b) * (1 - _sig(w * x + b)) * w,
         "b": _sig(w * x + b) * (1 - _sig(w * x + b))},
    ),
    "log(1 + exp(x))": (np.log(1 + np.exp(x)), {"x": _sig(x)}),
    "sqrt(x**2 + y**2)": (np.hypot(x, y), {"x": x / np.hypot(x, y), "y": y / np.hypot(x, y)}),
    "-x": (-x, {"x": -1.0}),
    "x**-1": (1 / x, {"x": -1 / x**2}),
    "maximum(x, 0)": (x, {"x": 1.0}),
    "minimum(x, y)": (x, {"x": 1.0, "y": 0.0}),
    "tan(x)": (np.tan(x), {"x": 1 / np.cos(x) ** 2}),
    "tanh(x) * cos(y)": (np.tanh(x) * np.cos(y),
                         {"x": (1 - np.tanh(x) ** 2) * np.cos(y), "y": -np.tanh(x) * np.sin(y)}),
    "softplus(x) + relu(-y) + abs(y - 2)": (np.log1p(np.exp(x)) + 0.0 + abs(y - 2),
                                           {"x": _sig(x), "y": -1.0}),
    "square(x) / y": (x**2 / y, {"x": 2 * x / y, "y": -(x**2) / y**2}),
    "pi*x + e": (np.pi * x + np.e, {"x": np.pi}),
    "+x * 1.5e-1": (0.15 * x, {"x": 0.15}),
}


@pytest.mark.parametrize("text", list(ACCEPTED))
def test_accepted_expressions_match_numpy_and_analytic_gradients(text):
    expected_value, expected_grads = ACCEPTED[text]
    expr = parse(text)
    assert expr.variables == tuple(sorted(expected_grads))
    out, variables = expr.evaluate(POINT)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.value, expected_value, rtol=1e-13, atol=1e-15)
    names = list(expr.variables)
    grads = en.gradients(out, [variables[n] for n in names])
    for name, grad in zip(names, grads):
        np.testing.assert_allclose(grad, expected_grads[name], rtol=1e-12, atol=1e-15,
                                   err_msg=f"d/d{name} of {text}")


@pytest.mark.parametrize("text", list(ACCEPTED))
def test_sympy_form_differentiates_to_the_engine_gradient(text):
    expr = parse(text)
    f = expr.to_sympy()
    symbols = expr.sympy_symbols()
    subs = {symbols[n]: POINT[n] for n in expr.variables}
    assert float(f.evalf(subs=subs)) == pytest.approx(ACCEPTED[text][0], rel=1e-12)
    out, variables = expr.evaluate(POINT)
    grads = en.gradients(out, [variables[n] for n in expr.variables])
    for name, grad in zip(expr.variables, grads):
        derivative = sympy.diff(f, symbols[name])
        assert float(derivative.evalf(subs=subs)) == pytest.approx(float(grad), rel=1e-12,
                                                                    abs=1e-15)


def test_the_seed_example_through_the_parser_equals_the_engine_written_by_hand():
    out, v = parse("sin(x) - y**3").evaluate({"x": 3.0, "y": 5.0})
    xv, yv = en.Variable(3.0, dtype=np.float64), en.Variable(5.0, dtype=np.float64)
    by_hand = en.sin(xv) - yv**3
    assert float(out.value) == float(by_hand.value)
    assert [float(g) for g in en.gradients(out, [v["x"], v["y"]])] == \
        [float(g) for g in en.gradients(by_hand, [xv, yv])]
    np.testing.assert_allclose(en.gradients(out, [v["x"], v["y"]]), [math.cos(3), -75.0])


def test_the_graph_is_listed_inputs_first_by_walking_op_inputs():
    trace = parse("sin(x) - y**3").trace({"x": 3, "y": 5})
    labels = [n.label for n in trace.nodes]
    assert labels == ["x", "Sin", "y", "3", "Pow", "Sub"]
    assert [n.kind for n in trace.nodes] == ["variable", "op", "variable", "constant", "op", "op"]
    assert trace.nodes[-1].inputs == (1, 4) and trace.nodes[4].inputs == (2, 3)
    assert trace.nodes[-1].tensor is trace.output
    # a variable used twice is one node with two consumers
    trace = parse("x * x + x").trace({"x": 2})
    assert [n.label for n in trace.nodes] == ["x", "Mul", "Add"]
    assert trace.nodes[1].inputs == (0, 0) and trace.nodes[2].inputs == (1, 0)


def test_variables_are_sorted_names_and_constants_are_not_variables():
    assert parse("y + a*x + w1 - pi*e").variables == ("a", "w1", "x", "y")


def test_exponent_limits_and_a_long_but_allowed_input():
    assert parse("x**100").variables == ("x",)
    assert parse("x**-100").variables == ("x",)
    assert parse("(x**20)**5").variables == ("x",)
    for text in ("x**101", "x**-101", "(x**20)**6", "x**(2**7)", "2**x**200"):
        with pytest.raises(ExpressionError, match="exponent"):
            parse(text)
    assert parse("x" + " " * (MAX_LENGTH - 1)).variables == ("x",)
    with pytest.raises(ExpressionError, match="too long"):
        parse("x" + " " * MAX_LENGTH)


# (input, words the message must contain). Each names the problem; most quote the part.
REFUSED = [
    ("__import__('os')", ["underscore", "'__import__'", "column 1"]),
    ("os.system('ls')", ["attribute access is not allowed", "'os.system'", "column 1"]),
    ("x.__class__", ["attribute access", "'x.__class__'"]),
    ("().__class__.__bases__", ["attribute access", "__bases__"]),
    ("9**9**9", ["exponent is too large", "'9**9'", "3.8742e+08"]),
    ("10**1000", ["exponent is too large", "'1000'"]),
    ("x**99999", ["exponent is too large", "'99999'"]),
    ("x" * 100_000, ["too long", "100000 characters"]),
    ("lambda: 1", ["lambda is not allowed"]),
    ("[x for x in y]", ["comprehensions are not allowed"]),
    ("x[0]", ["indexing is not allowed", "'x[0]'"]),
    ('"abc"', ["strings are not allowed"]),
    ('f"{x}"', ["f-strings are not allowed"]),
    ("open('f')", ["unknown function 'open'", "the functions are sin"]),
    ("eval('1')", ["unknown function 'eval'"]),
    ("exec('1')", ["unknown function 'exec'"]),
    ("globals()", ["unknown function 'globals'"]),
    ("print(1)", ["unknown function 'print'"]),
    ("x if y else 1", ["conditional expressions"]),
    ("x < y", ["comparisons are not allowed", "'x < y'"]),
    ("x and y", ["boolean operators"]),
    ("(x := 1)", ["assignment (:=) is not allowed", "column 2"]),
    ("*x", ["not a valid expression", "column 1"]),
    ("sin(*x)", ["starred", "'*x'", "column 5"]),
    ("sin(x, y, z)", ["sin takes 1 argument, got 3"]),
    ("sin()", ["sin takes 1 argument, got 0"]),
    ("maximum(x)", ["maximum takes 2 arguments, got 1"]),
    ("sin(x=1)", ["keyword arguments are not allowed", "'x=1'", "column 5"]),
    ("1 +", ["not a valid expression", "at the end"]),
    (")(", ["not a valid expression", "unmatched ')'"]),
    ("x @ y", ["'@' is not allowed"]),
    ("x ^ 2", ["'^' is not allowed", "use ** for powers"]),
    ("x // 2", ["'//' is not allowed"]),
    ("(" * 1000 + "x" + ")" * 1000, ["too long"]),
    ("-" * 150 + "x", ["nested too deeply", "more than 100 levels"]),
    ("sin(" * 120 + "x" + ")" * 120, ["too long"]),
    ("+".join(["x"] * 130), ["too many parts"]),
    ("\u0455in(x)", ["non-ASCII character", "U+0455", "column 1"]),  # Cyrillic dze
    ("x + \uff59", ["non-ASCII character", "U+FF59", "column 5"]),  # fullwidth y -> 'y' in ast
    ("\u0430 * 2", ["non-ASCII character", "U+0430"]),  # Cyrillic a
    ("x\n+ 1", ["control character", "column 2"]),
    ("True", ["not a number"]),
    ("1j", ["complex numbers"]),
    ("1e400", ["number is too large"]),
    ("", ["empty"]),
    ("X + 1", ["lowercase", "'X'"]),
    ("sin + 1", ["sin is a function"]),
    ("pi(2)", ["pi is a constant"]),
    ("(lambda: 1)()", ["only the listed functions can be called"]),
    ("{'a': 1}", ["dictionaries are not allowed"]),
    ("(x, y)", ["tuples are not allowed"]),
    ("not x", ["'not' is not allowed"]),
    ("_x + 1", ["underscore"]),
    ("await x", ["await is not allowed"]),
    ("(x**50)**50", ["nested powers", "2500"]),
    ("x**exp(10)", ["exponent is too large", "'exp(10)'"]),
    ("sin.__globals__", ["attribute access"]),
    ("x = 1", ["not a valid expression"]),
]


class _Tripwire:
    """Replaces builtins that parsing must never reach; records any call."""

    NAMES = ("__import__", "open", "eval", "exec")

    def __init__(self):
        self.calls = []
        self.saved = {}

    def __enter__(self):
        for name in self.NAMES:
            self.saved[name] = getattr(builtins, name)

            def trap(*args, _name=name, **kwargs):
                self.calls.append((_name, args[:1]))
                raise RuntimeError(f"{_name} called during parsing")

            setattr(builtins, name, trap)
        self.saved_system = os.system
        os.system = lambda *a: self.calls.append(("os.system", a)) or 0
        return self

    def __exit__(self, *exc):
        for name, value in self.saved.items():
            setattr(builtins, name, value)
        os.system = self.saved_system
        return False


def _parse_guarded(text):
    """Parse with the tripwire armed; return (error, calls) without importing anything."""
    error = None
    with _Tripwire() as wire:
        try:
            parse(text)
        except ExpressionError as exc:
            error = exc
        except Exception as exc:  # any other exception is a failure, reported below
            error = exc
    return error, wire.calls


@pytest.mark.parametrize("text,words", REFUSED, ids=[t[:20] for t, _ in REFUSED])
def test_hostile_or_malformed_input_is_refused_with_a_named_reason(text, words):
    error, calls = _parse_guarded(text)
    assert calls == [], f"parsing {text[:40]!r} reached {calls}"
    assert isinstance(error, ExpressionError), f"{text[:40]!r} gave {error!r}"
    assert isinstance(error, ValueError)
    message = str(error)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert len(message) < 400


def test_at_least_twenty_kinds_of_refusal():
    assert len(REFUSED) >= 20


def test_refused_input_creates_no_file(tmp_path):
    sentinel = tmp_path / "sentinel"
    for text in (f"open('{sentinel}', 'w')", f"__import__('pathlib').Path('{sentinel}').touch()",
                 f"exec(\"open('{sentinel}', 'w')\")"):
        error, calls = _parse_guarded(text)
        assert isinstance(error, ExpressionError) and calls == []
    assert not sentinel.exists()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="xy12()+-*/.,e ^sinpo_@[]'\"=<lambd:", max_size=40))
def test_any_text_parses_or_is_refused_cleanly(text):
    try:
        expr = parse(text)
    except ExpressionError as exc:
        assert str(exc)
        return
    with np.errstate(all="ignore"):
        out, variables = expr.evaluate(dict.fromkeys(expr.variables, 0.5))
        en.gradients(out, list(variables.values()))
