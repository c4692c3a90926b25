"""The engine core: every math op's gradient against central differences, and the
behaviour of `gradients` (accumulation, independence, long chains, clear errors)."""

import sys

import numpy as np
import pytest
from gradcheck import check_gradient, rand
from hypothesis import given, settings
from hypothesis import strategies as st

import engine as en
from engine import ops as engine_ops

shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


@st.composite
def broadcast_shapes(draw):
    """Two shapes that broadcast together: some axes of one set to 1 or dropped."""
    shape = draw(shapes)
    other = [1 if draw(st.booleans()) else n for n in shape]
    drop = draw(st.integers(0, len(other)))
    other = tuple(other[drop:])
    return (shape, other) if draw(st.booleans()) else (other, shape)


def away_from_zero(seed, shape, low=0.3, high=2.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=shape) * rng.choice([-1, 1], size=shape)


BINARY = {
    "Add": en.add,
    "Sub": en.subtract,
    "Mul": en.multiply,
    "Div": en.divide,
    "Maximum": en.maximum,
    "Minimum": en.minimum,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=15, deadline=None)
@given(pair=broadcast_shapes(), seed=st.integers(0, 2**16))
def test_binary_op_gradients_with_broadcasting(name, pair, seed):
    a = rand(seed, pair[0])
    b = away_from_zero(seed + 1, pair[1])  # keeps division and ties well away from 0
    check_gradient(BINARY[name], a, b)


UNARY = {
    "Neg": (en.negative, rand),
    "Exp": (en.exp, rand),
    "Log": (en.log, lambda s, sh: rand(s, sh, 0.2, 3.0)),
    "Sin": (en.sin, rand),
    "Cos": (en.cos, rand),
    "Tanh": (en.tanh, rand),
    "Sqrt": (en.sqrt, lambda s, sh: rand(s, sh, 0.2, 3.0)),
    "Square": (en.square, rand),
    "Abs": (en.abs, away_from_zero),
    "Clip": (lambda x: en.clip(x, -0.5, 0.7), rand),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=10, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_unary_op_gradients(name, shape, seed):
    fn, make = UNARY[name]
    check_gradient(fn, make(seed, shape))


@settings(max_examples=15, deadline=None)
@given(pair=broadcast_shapes(), seed=st.integers(0, 2**16))
def test_power_gradient_in_base_and_exponent(pair, seed):
    base = rand(seed, pair[0], 0.3, 2.0)
    exponent = rand(seed + 1, pair[1], -2.0, 2.0)
    check_gradient(en.power, base, exponent)


@st.composite
def shape_and_axis(draw):
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))
    axis = draw(
        st.one_of(
            st.none(),
            st.integers(-len(shape), len(shape) - 1),
            st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True).map(tuple),
        )
    )
    return shape, axis, draw(st.booleans())


@pytest.mark.parametrize("reduce", [en.sum, en.mean, en.max], ids=["Sum", "Mean", "Max"])
@settings(max_examples=20, deadline=None)
@given(case=shape_and_axis(), seed=st.integers(0, 2**16))
def test_reduction_gradients_over_axes(reduce, case, seed):
    shape, axis, keepdims = case
    weights = rand(seed + 7, np.sum(np.zeros(shape), axis=axis, keepdims=keepdims).shape)
    # Weighting the reduced output makes each output element's gradient distinct.
    check_gradient(lambda x: reduce(x, axis=axis, keepdims=keepdims) * weights, rand(seed, shape))


def test_max_shares_gradient_among_ties():
    x = en.Variable(np.array([1.0, 3.0, 3.0, 2.0]))
    (g,) = en.gradients(en.max(x), [x])
    np.testing.assert_array_equal(g, [0, 0.5, 0.5, 0])


@pytest.mark.parametrize(
    "a_shape,b_shape",
    [((3, 4), (4, 2)), ((4,), (4, 3)), ((3, 4), (4,)), ((4,), (4,)), ((5, 3, 4), (4, 2)),
     ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (6, 4, 2))],
)
def test_matmul_gradient_including_batch_broadcast(a_shape, b_shape):
    check_gradient(en.matmul, rand(1, a_shape), rand(2, b_shape))


def test_shape_op_gradients():
    x = rand(3, (2, 3, 4))
    w = rand(4, (4, 3, 2))
    check_gradient(lambda t: en.transpose(t) * w, x)
    check_gradient(lambda t: en.transpose(t, (1, 0, 2)) * rand(5, (3, 2, 4)), x)
    check_gradient(lambda t: en.reshape(t, (6, 4)) * rand(6, (6, 4)), x)
    check_gradient(lambda t: t.T * w, x)
    check_gradient(lambda a, b: en.concat([a, b], axis=1) * rand(7, (2, 5, 4)), x, rand(8, (2, 2, 4)))
    check_gradient(lambda a, b: en.stack([a, b], axis=2) * rand(9, (2, 3, 2, 4)), x, rand(10, (2, 3, 4)))
    check_gradient(lambda t: en.broadcast_to(t, (5, 2, 3, 4)) * rand(11, (5, 2, 3, 4)), x)


def test_indexing_gradients_basic_and_fancy():
    x = rand(12, (4, 5))
    check_gradient(lambda t: t[1:3, ::2] * rand(13, (2, 3)), x)
    check_gradient(lambda t: t[2], x)
    # Fancy indexing that picks row 1 twice: its gradient is added twice.
    check_gradient(lambda t: t[np.array([1, 1, 3])] * rand(14, (3, 5)), x)
    v = en.Variable(np.ones((4, 5)))
    (g,) = en.gradients(v[np.array([1, 1, 3])], [v])
    np.testing.assert_array_equal(g[:, 0], [0, 2, 0, 1])


def test_where_routes_gradient_by_condition():
    cond = np.array([True, False, True])
    check_gradient(lambda a, b: en.where(cond, a, b) * rand(15, 3), rand(16, 3), rand(17, 3))


def test_every_math_op_has_a_gradient_check_here():
    """Each op registered by engine/ops.py is exercised above (a new op needs a check)."""
    checked = set(BINARY) | set(UNARY) | {
        "Pow", "Sum", "Mean", "Max", "MatMul", "Transpose", "Reshape", "Concat", "Pack",
        "BroadcastTo", "GetItem", "Select",
    }
    from_ops_module = {
        name for name in en.registered_ops()
        if en.get_gradient(name).__module__ == engine_ops.__name__
    }
    assert from_ops_module <= checked, from_ops_module - checked


# ---------------------------------------------------------------------------------
# the reference examples (docs/labs.md, "Gradients")


def test_reference_example_linear():
    x, y = en.Variable(1.0), en.Variable(2.0)
    z = 2 * x - y
    assert z.item() == 0.0
    dx, dy = en.gradients(z, [x, y])
    assert dx == 2.0 and dy == -1.0


def test_reference_example_sin_minus_cube():
    x, y = en.Variable(3.0), en.Variable(5.0)
    dx, dy = en.gradients(en.sin(x) - y**3, [x, y])
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, -0.9899925, rtol=1e-6)
    assert dy == -75.0


# ---------------------------------------------------------------------------------
# behaviour of gradients()


def test_independent_variable_gets_zeros_of_its_shape():
    x = en.Variable(np.ones((2, 3)))
    unrelated = en.Variable(np.ones((4, 1)))
    gx, gu = en.gradients(en.sum(x * 3), [x, unrelated])
    np.testing.assert_array_equal(gx, np.full((2, 3), 3.0))
    assert gu.shape == (4, 1) and not gu.any()


def test_reused_tensor_accumulates_gradient():
    x = en.Variable(2.0)
    h = x * x  # used three times below
    z = h + h * 3 + en.sin(h)
    (g,) = en.gradients(z, [x])
    expected = (1 + 3 + np.cos(4.0)) * 2 * 2.0
    np.testing.assert_allclose(g, expected, rtol=1e-6)


def test_list_of_ys_is_summed_and_grad_ys_weights_them():
    x = en.Variable(np.array([1.0, 2.0]))
    y1, y2 = x * 2, x * x
    (g,) = en.gradients([y1, y2], [x])
    np.testing.assert_array_equal(g, [2 + 2, 2 + 4])
    (g,) = en.gradients([y1, y2], [x], grad_ys=[np.array([1.0, 0.0]), 10.0])
    np.testing.assert_array_equal(g, [2 + 20, 0 + 40])


def test_gradient_with_respect_to_an_intermediate_tensor():
    x = en.Variable(3.0)
    h = en.square(x)
    z = en.sin(h)
    gh, gx = en.gradients(z, [h, x])
    np.testing.assert_allclose(gh, np.cos(9.0), rtol=1e-6)
    np.testing.assert_allclose(gx, np.cos(9.0) * 6, rtol=1e-5)


def test_long_chain_does_not_hit_recursion_limit():
    length = max(200, sys.getrecursionlimit() + 100)
    x = en.Variable(0.5, dtype=np.float64)
    y = x
    for _ in range(length):
        y = y * 1.001 + 0.0
    (g,) = en.gradients(y, [x])
    np.testing.assert_allclose(g, 1.001**length, rtol=1e-9)


def test_no_grad_records_nothing():
    x = en.Variable(2.0)
    with en.no_grad():
        y = x * 3
    assert y.op is None
    (g,) = en.gradients(y, [x])
    assert g == 0.0


def test_default_dtype_float32_and_float64_when_given():
    assert en.Variable(1.0).dtype == np.float32
    assert en.Tensor([1, 2]).dtype == np.float32
    assert en.Variable(np.zeros(3)).dtype == np.float64
    # A plain number takes the tensor's dtype instead of upcasting it.
    assert (en.Variable(1.0) * 2.5).dtype == np.float32
    assert (np.float64(2.0) * en.Variable(1.0)).dtype == np.float32


SCALARS = {
    "python float": 2.5,
    "numpy float64 scalar": np.float64(2.5),
    "numpy float16 scalar": np.float16(2.5),
    "0-d float64 array": np.array(2.5),
    "0-d int array": np.array(2),
}


@pytest.mark.parametrize("scalar", list(SCALARS.values()), ids=list(SCALARS))
@pytest.mark.parametrize("name", [*sorted(BINARY), "Pow"])
@pytest.mark.parametrize("scalar_first", [False, True])
def test_float32_stays_float32_with_any_scalar(name, scalar, scalar_first):
    """Scalars (numbers, numpy scalars, 0-d arrays) do not promote a tensor, on either
    side of an op, and the gradient comes back in the variable's dtype."""
    op = {**BINARY, "Pow": en.power}[name]
    x = en.Variable(np.array([0.5, 1.5, 2.0], dtype=np.float32))
    y = op(scalar, x) if scalar_first else op(x, scalar)
    assert y.dtype == np.float32
    (g,) = en.gradients(en.sum(y), [x])
    assert g.dtype == np.float32


def test_arrays_with_axes_promote_as_numpy_does():
    x = en.Variable(np.ones(3, dtype=np.float32))
    assert (x * np.ones(3)).dtype == np.float64
    assert (x * np.ones(3, dtype=np.float32)).dtype == np.float32
    assert en.gradients(en.sum(x * np.ones(3)), [x])[0].dtype == np.float32


def test_user_registered_op_and_gradient():
    name = "CubeForTest"

    def cube(x):
        x = en.as_tensor(x)
        return en.record(name, x.value**3, (x,))

    @en.register_gradient(name)
    def _cube_grad(op, grad):
        """d x^3 = 3 x^2 dx."""
        (x,) = op.inputs
        return [grad * 3 * x.value**2]

    check_gradient(cube, rand(18, (3, 2)))
    x = en.Variable(2.0)
    (g,) = en.gradients(cube(x) + en.sin(x), [x])
    np.testing.assert_allclose(g, 12 + np.cos(2.0), rtol=1e-6)


# ---------------------------------------------------------------------------------
# clear errors


def test_duplicate_registration_is_refused():
    with pytest.raises(KeyError, match="Sin"):
        en.register_gradient("Sin")(lambda op, grad: [grad])


def test_missing_gradient_names_the_op():
    x = en.Variable(1.0)
    y = en.record("NoSuchGradOp", x.value * 2, (x,))
    with pytest.raises(LookupError, match="NoSuchGradOp"):
        en.gradients(y, [x])


def test_non_differentiable_ops_pass_no_gradient():
    x = en.Variable(np.array([1.0, -2.0]))
    z = en.stop_gradient(x) * x + en.sign(x)
    (g,) = en.gradients(z, [x])
    np.testing.assert_array_equal(g, [1.0, -2.0])


def test_mismatched_matmul_names_op_and_shapes():
    with pytest.raises(en.EngineError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        en.Variable(np.ones((2, 3))) @ en.Tensor(np.ones((4, 5)))


def test_mismatched_broadcast_names_op_and_shapes():
    with pytest.raises(en.EngineError, match=r"add.*\(2, 3\).*\(4,\)"):
        en.Variable(np.ones((2, 3))) + np.ones(4)


def test_non_numeric_values_are_refused_clearly():
    for bad in ["abc", {"a": 1}, [1, "x"], None]:
        with pytest.raises(en.EngineError, match="needs numbers|floating"):
            en.Tensor(bad)
    with pytest.raises(en.EngineError, match="reshape"):
        en.reshape(en.Tensor(np.ones(6)), (4, 2))
    with pytest.raises(en.EngineError, match="axis 3"):
        en.sum(en.Tensor(np.ones((2, 2))), axis=3)
    with pytest.raises(en.EngineError, match="index"):
        en.Tensor(np.ones(3))[5]


def test_variable_assign_keeps_shape():
    v = en.Variable(np.zeros((2, 2)))
    view = v.value
    v.assign(np.ones((2, 2)))
    assert view.sum() == 4.0  # updated in place
    with pytest.raises(en.EngineError, match="shape"):
        v.assign(np.ones(3))


def test_no_grad_in_one_thread_leaves_another_recording():
    import threading

    inside = threading.Event()
    release = threading.Event()

    def hold_no_grad():
        with en.no_grad():
            inside.set()
            release.wait(5)

    worker = threading.Thread(target=hold_no_grad)
    worker.start()
    inside.wait(5)
    x = en.Variable(2.0)
    (g,) = en.gradients(x * x, [x])
    release.set()
    worker.join()
    assert g == 4.0


def test_returned_gradients_are_writable_arrays_of_their_own():
    x, y = en.Variable(np.ones((2, 3))), en.Variable(3.0, dtype=np.float64)
    gx, gy = en.gradients(en.sum(x) + x[0, 0] * 0 + y * y, [x, y])
    assert isinstance(gy, np.ndarray) and gy.shape == () and gy == 6.0
    gx[0, 0] = 100.0  # an edit in place touches nothing else
    gy[...] = 0.0
    a, b = en.Variable(1.0), en.Variable(2.0)
    ga, gb = en.gradients(a + b, [a, b])  # Add hands the same gradient to both
    ga[...] = 5.0
    assert gb == 1.0
    (again,) = en.gradients(en.sum(x), [x])
    assert again.flags.writeable and again.sum() == 6.0
