"""Gradients of graphs that reuse intermediate tensors.

A non-leaf tensor that reaches an op both directly and through another operand (a
residual sum, x * sigmoid(x) on a computed x, a hand-written softmax) must collect the
gradient of every consumer before the reverse walk goes on from it. These tests
build such graphs on purpose: the named reproductions first, then random programs
(hypothesis) whose every step may reuse any earlier tensor, checked in float64
against central differences.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine as en

# -- named reproductions ----------------------------------------------------------------


def _grad_at_two(build):
    x = en.Variable(2.0)
    a = 3.0 * x
    return float(en.gradients(build(a), [x])[0])


def test_sum_of_node_and_its_square_either_order():
    # d/dx (a + a^2) with a = 3x at x = 2: 3 + 2 * 6 * 3 = 39
    assert _grad_at_two(lambda a: a + a * a) == pytest.approx(39.0)
    assert _grad_at_two(lambda a: a * a + a) == pytest.approx(39.0)


def test_node_minus_its_power():
    # 3 - 2 * 6 * 3 = -33
    assert _grad_at_two(lambda a: a - a**2) == pytest.approx(-33.0)


def test_node_times_function_of_itself():
    # d/dx (a sin a) = 3 (sin a + a cos a) at a = 6
    expected = 3 * (np.sin(6.0) + 6.0 * np.cos(6.0))
    assert expected == pytest.approx(16.4448, abs=1e-4)
    assert _grad_at_two(lambda a: a * en.sin(a)) == pytest.approx(expected, rel=1e-5)


def test_hand_written_softmax_divides_by_sum_of_same_node():
    z = en.Variable(np.array([1.0, 2.0, 3.0]))
    e = en.exp(z)
    grad = en.gradients((e / en.sum(e))[0], [z])[0]
    p = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    expected = p[0] * (np.eye(3)[0] - p)  # d softmax_0 / dz
    np.testing.assert_allclose(grad, expected, rtol=1e-12)
    np.testing.assert_allclose(grad, [0.0819, -0.0220, -0.0599], atol=1e-4)


def test_residual_block_on_computed_tensor():
    rng = np.random.default_rng(0)
    x = en.Variable(rng.normal(size=(4, 3)))
    w = en.Variable(rng.normal(size=(3, 3)))

    def f(x, w):
        h = en.tanh(x @ w)
        h = h + en.nn.relu(h @ w)  # residual: h used directly and through the branch
        return en.sum(h * en.nn.sigmoid(h))  # swish on a computed tensor

    _assert_matches_numerical(f, [x, w])


# -- random programs ----------------------------------------------------------------------

SHAPE = (2, 3)


def _unary(name):
    return {
        "tanh": en.tanh,
        "sin": en.sin,
        "sigmoid": en.nn.sigmoid,
        "square_damped": lambda a: a * a / (1.0 + a * a),
        "swish": lambda a: a * en.nn.sigmoid(a),  # node times a function of itself
        "residual": lambda a: a + en.tanh(a),  # node plus a function of itself
        "softmax_rows": lambda a: en.exp(a) / en.sum(en.exp(a), axis=1, keepdims=True),
        "centre": lambda a: a - en.mean(a, axis=0, keepdims=True),
        "reshape_round_trip": lambda a: en.reshape(en.reshape(a, (6,)) * 0.5, SHAPE) + a,
        "transpose_round_trip": lambda a: en.transpose(en.transpose(a)) * a,
        "index_and_concat": lambda a: en.concat([a[1:], a[:1] * a[1:]], axis=0),
        "columns_reused": lambda a: en.concat([a[:, :1] * a[:, 2:], a[:, 1:]], axis=1),
        "fancy_index": lambda a: a[:, [2, 0, 0]] + a,
        "divide_by_own_norm": lambda a: a / en.sqrt(en.sum(a * a) + 1.0),
    }[name]


def _binary(name):
    return {
        "add": lambda a, b: a + b,
        "subtract": lambda a, b: a - b,
        "multiply": lambda a, b: a * b,
        "divide": lambda a, b: a / (1.0 + b * b),
        "matmul_back": lambda a, b: 0.5 * (a @ en.transpose(b)) @ a,
        "broadcast_sum": lambda a, b: a * en.sum(b, axis=0),
        "maximum_smooth": lambda a, b: a * en.exp(-b * b),
    }[name]


UNARY = ["tanh", "sin", "sigmoid", "square_damped", "swish", "residual", "softmax_rows",
         "centre", "reshape_round_trip", "transpose_round_trip", "index_and_concat",
         "columns_reused", "fancy_index", "divide_by_own_norm"]
BINARY = ["add", "subtract", "multiply", "divide", "matmul_back", "broadcast_sum",
          "maximum_smooth"]

# One step of a program: ("u", op, i) applies a unary op to node i, ("b", op, i, j) a
# binary op to nodes i and j. Indices are taken modulo the number of nodes so far, so
# any earlier node (leaf or intermediate, the same one twice) can be an operand.
step = st.one_of(
    st.tuples(st.just("u"), st.sampled_from(UNARY), st.integers(0, 50)),
    st.tuples(st.just("b"), st.sampled_from(BINARY), st.integers(0, 50), st.integers(0, 50)),
)


def _run_program(program, leaves, outputs):
    nodes = list(leaves)
    for instruction in program:
        if instruction[0] == "u":
            _, name, i = instruction
            nodes.append(_unary(name)(nodes[i % len(nodes)]))
        else:
            _, name, i, j = instruction
            nodes.append(_binary(name)(nodes[i % len(nodes)], nodes[j % len(nodes)]))
    # Sum the last node and a few earlier ones: gradient reaches them by several paths.
    total = en.sum(nodes[-1])
    for k in outputs:
        total = total + 0.3 * en.sum(en.tanh(nodes[k % len(nodes)]))
    return total


def _assert_matches_numerical(f, xs, rtol=1e-5, atol=1e-7):
    analytic = en.gradients(f(*xs), xs)
    numeric = en.numerical_gradients(f, xs)
    for a, n in zip(analytic, numeric):
        scale = max(1.0, float(np.max(np.abs(n))))
        np.testing.assert_allclose(a, n, rtol=rtol, atol=atol * scale)


@settings(max_examples=150, deadline=None)
@given(
    program=st.lists(step, min_size=1, max_size=8),
    outputs=st.lists(st.integers(0, 50), max_size=3),
    n_leaves=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_random_programs_reusing_intermediates_match_numerical(program, outputs, n_leaves, seed):
    rng = np.random.default_rng(seed)
    leaves = [en.Variable(rng.uniform(-1.5, 1.5, size=SHAPE)) for _ in range(n_leaves)]
    _assert_matches_numerical(lambda *xs: _run_program(program, xs, outputs), leaves)


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_chain_of_self_reuse_in_every_position(depth, seed):
    """h <- f(h, h) for a random f each layer: each h is used twice by one op and
    once more by the running total, the worst case for a walk that goes on too early."""
    rng = np.random.default_rng(seed)
    names = rng.choice(BINARY, size=depth)
    x = en.Variable(rng.uniform(-1.0, 1.0, size=SHAPE))

    def f(x):
        h = 0.7 * x
        total = en.sum(h)
        for name in names:
            h = en.tanh(_binary(name)(h, h))
            total = total + en.sum(h)
        return total

    _assert_matches_numerical(f, [x])


def test_gradient_with_respect_to_a_reused_intermediate():
    x = en.Variable(np.array([0.5, -1.0]))
    a = en.sin(x)
    y = a * a + a
    ga, gx = en.gradients(y, [a, x])
    np.testing.assert_allclose(ga, 2 * np.sin([0.5, -1.0]) + 1)
    np.testing.assert_allclose(gx, (2 * np.sin([0.5, -1.0]) + 1) * np.cos([0.5, -1.0]))
