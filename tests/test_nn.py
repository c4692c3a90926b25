"""engine.nn: every activation, softmax, convolution, pooling and dropout op against
central differences, naive loop implementations and the numbers in docs/labs.md."""

import math
import warnings

import numpy as np
import pytest
from gradcheck import check_gradient, rand

import engine as en
import engine.nn as nn


def away_from_zero(seed, shape, low=0.2, high=3.0):
    """Values of both signs, none near the kink at 0 of the ReLU family."""
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=shape) * rng.choice([-1, 1], size=shape)


def grad_of(f, value):
    x = en.Variable(np.asarray(value, dtype=np.float64))
    return en.gradients(f(x), [x])[0]


# ---------------------------------------------------------------------------------
# activations

ELEMENTWISE = {
    "sigmoid": nn.sigmoid,
    "tanh": nn.tanh,
    "relu": nn.relu,
    "leaky_relu": nn.leaky_relu,
    "leaky_relu(0.2)": lambda x: nn.leaky_relu(x, alpha=0.2),
    "elu": nn.elu,
    "elu(0.5)": lambda x: nn.elu(x, alpha=0.5),
    "selu": nn.selu,
    "gelu": nn.gelu,
    "gelu(tanh)": lambda x: nn.gelu(x, approximate=True),
    "silu": nn.silu,
    "softplus": nn.softplus,
    "rrelu(test)": lambda x: nn.rrelu(x, training=False),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_activation_gradients(name):
    weights = rand(1, (3, 4))  # distinct weights make every element's gradient count
    check_gradient(lambda x: ELEMENTWISE[name](x) * weights, away_from_zero(2, (3, 4)))


def test_activation_values_match_their_formulas():
    x = np.linspace(-4, 4, 17)
    erf = np.vectorize(math.erf)
    expected = {
        nn.sigmoid: 1 / (1 + np.exp(-x)),
        nn.relu: np.maximum(x, 0),
        nn.leaky_relu: np.where(x > 0, x, 0.01 * x),
        nn.elu: np.where(x > 0, x, np.exp(x) - 1),
        nn.selu: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(x) - 1)),
        nn.gelu: 0.5 * x * (1 + erf(x / np.sqrt(2))),
        nn.silu: x / (1 + np.exp(-x)),
        nn.softplus: np.log(1 + np.exp(x)),
        nn.tanh: np.tanh(x),
    }
    for fn, want in expected.items():
        np.testing.assert_allclose(fn(x).value, want, rtol=1e-6, atol=1e-7, err_msg=fn.__name__)
    # The tanh approximation of GELU stays within 1e-3 of the exact form.
    np.testing.assert_allclose(nn.gelu(x, approximate=True).value, expected[nn.gelu], atol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_are_stable_for_huge_inputs(dtype):
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning fails the test
        for name, fn in nn.ACTIVATIONS.items():
            y = fn(en.Tensor(x))
            assert y.dtype == dtype, name
            assert np.all(np.isfinite(y.value)), name
            assert np.all(np.isfinite(grad_of(fn, x))), name
        np.testing.assert_array_equal(nn.sigmoid(x).value[[0, -1]], [0.0, 1.0])
        np.testing.assert_array_equal(nn.softplus(x).value[[0, -1]], [0.0, 1000.0])
        np.testing.assert_array_equal(nn.elu(x).value[[0, -1]], [-1.0, 1000.0])


def test_sigmoid_derivative_is_at_most_a_quarter_at_zero():
    x = np.linspace(-6, 6, 121)  # contains 0 exactly
    g = grad_of(nn.sigmoid, x)
    assert g.max() == 0.25
    assert x[np.argmax(g)] == 0.0


def test_relu_derivative_is_zero_for_negative_and_one_for_positive():
    np.testing.assert_array_equal(grad_of(nn.relu, [-2.0, -0.1, 0.1, 3.0]), [0, 0, 1, 1])
    np.testing.assert_array_equal(grad_of(nn.leaky_relu, [-2.0, 3.0]), [0.01, 1])


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
def test_elu_derivative_is_f_plus_alpha_for_nonpositive_x(alpha):
    x = np.array([-5.0, -1.0, -0.3, 0.0, 0.5, 2.0])
    f = nn.elu(x, alpha=alpha).value
    g = grad_of(lambda t: nn.elu(t, alpha=alpha), x)
    nonpositive = x <= 0
    np.testing.assert_allclose(g[nonpositive], f[nonpositive] + alpha, rtol=1e-12)
    np.testing.assert_array_equal(g[~nonpositive], 1.0)


def test_prelu_gradient_for_a_shared_slope():
    check_gradient(lambda x, a: nn.prelu(x, a) * rand(3, (4, 5)), away_from_zero(4, (4, 5)), 0.25)


def test_prelu_gradient_for_one_slope_per_channel():
    x = away_from_zero(5, (2, 3, 3, 4))  # NHWC with 4 channels
    slopes = np.array([0.25, 0.1, 0.5, -0.2])
    check_gradient(lambda x, a: nn.prelu(x, a) * rand(6, x.shape), x, slopes)
    # d/d alpha_c is the sum of the channel's negative inputs (times the upstream gradient).
    xv, av = en.Tensor(x), en.Variable(slopes)
    (ga,) = en.gradients(nn.prelu(xv, av), [av])
    np.testing.assert_allclose(ga, np.sum(np.minimum(x, 0), axis=(0, 1, 2)), rtol=1e-12)


def test_prelu_refuses_slopes_that_do_not_fit_the_channels():
    with pytest.raises(en.EngineError, match="prelu"):
        nn.prelu(en.Tensor(np.ones((2, 4))), en.Variable(np.ones(3)))


def test_rrelu_in_training_draws_one_slope_per_element_in_range():
    x = away_from_zero(7, (50, 40))
    y = nn.rrelu(en.Tensor(x), rng=np.random.default_rng(0))
    slopes = y.op.attrs["slopes"]
    assert slopes.shape == x.shape
    assert slopes.min() >= 1 / 8 and slopes.max() <= 1 / 3
    assert len(np.unique(slopes)) > 1000  # per element, not one shared slope
    negative = x < 0
    np.testing.assert_allclose(y.value[negative], (slopes * x)[negative], rtol=1e-12)
    np.testing.assert_array_equal(y.value[~negative], x[~negative])
    # The gradient uses the very slopes drawn in the forward pass.
    g = en.gradients(y, [y.op.inputs[0]])[0]
    np.testing.assert_allclose(g, np.where(negative, slopes, 1.0), rtol=1e-12)
    def same_draws_every_call(t):  # so the numerical gradient sees one fixed function
        return nn.rrelu(t, rng=np.random.default_rng(1)) * rand(8, (3, 4))

    check_gradient(same_draws_every_call, away_from_zero(9, (3, 4)))


def test_rrelu_at_test_time_uses_the_mean_slope():
    y = nn.rrelu(np.array([-1.0, -2.0, 3.0]), training=False)
    np.testing.assert_allclose(y.value, [-0.2291666666666667, -0.4583333333333333, 3.0], rtol=1e-15)
    np.testing.assert_allclose(grad_of(lambda t: nn.rrelu(t, training=False), [-1.0, 2.0]),
                               [(1 / 8 + 1 / 3) / 2, 1.0])


def test_activation_lookup_by_name():
    expected = {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "silu",
                "softplus", "linear", "identity"}
    assert set(nn.ACTIVATIONS) == expected
    x = en.Tensor(np.array([-1.0, 2.0]))
    for name in expected:
        assert nn.activation(name) is nn.ACTIVATIONS[name]
        assert nn.activation(name)(x).shape == (2,)
    assert nn.activation("ReLU") is nn.relu
    np.testing.assert_array_equal(nn.activation("linear")(x).value, [-1.0, 2.0])
    assert nn.activation(nn.silu) is nn.silu  # a callable passes through
    with pytest.raises(en.EngineError, match=r"swish.*elu, gelu, identity, leaky_relu"):
        nn.activation("swish")


# ---------------------------------------------------------------------------------
# softmax, log_softmax, logsumexp


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_softmax_family_gradients_along_each_axis(axis):
    x = rand(9, (2, 3, 4))
    weights = rand(10, (2, 3, 4))  # softmax sums to 1: unweighted, its gradient is 0
    check_gradient(lambda t: nn.softmax(t, axis=axis) * weights, x)
    check_gradient(lambda t: nn.log_softmax(t, axis=axis) * weights, x)
    for keepdims in (False, True):
        reduced = np.sum(weights, axis=axis, keepdims=keepdims)
        check_gradient(lambda t, k=keepdims, r=reduced: nn.logsumexp(t, axis, k) * r, x)


@pytest.mark.parametrize(
    "logits,probabilities,tolerance",
    [
        ([3, 0.7, 0.5], [0.846, 0.085, 0.069], dict(atol=5e-4)),
        ([1.2, 1, 1.5], [0.316, 0.258, 0.426], dict(atol=5e-4)),
        ([1.5] + [1.2] * 9, [0.130] + [0.0966] * 9, dict(rtol=5e-3)),
        ([1.2, 0.9, 0.4], [0.457, 0.338, 0.205], dict(atol=5e-4)),
        ([1, 3, 2], [0.09003057, 0.66524096, 0.24472847], dict(atol=1e-7)),
        ([1, 5, 6, 4, 2, 2.6, 6],
         [0.00263032, 0.14361082, 0.39037468, 0.05283147, 0.00714996, 0.01302808, 0.39037468],
         dict(atol=1e-7)),
    ],
)
def test_softmax_reference_values(logits, probabilities, tolerance):
    p = nn.softmax(np.array(logits, dtype=np.float64)).value
    np.testing.assert_allclose(p, probabilities, **tolerance)
    assert abs(p.sum() - 1) < 1e-12
    assert np.argmax(p) == np.argmax(logits)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_is_finite_for_huge_logits(dtype):
    logits = np.array(
        [[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [1000.0, 1000.0, 999.0]], dtype=dtype
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = nn.softmax(logits).value
        logp = nn.log_softmax(logits).value
        lse = nn.logsumexp(logits).value
        for f in (nn.softmax, nn.log_softmax, nn.logsumexp):
            assert np.all(np.isfinite(grad_of(f, logits)))
    assert p.dtype == logp.dtype == lse.dtype == dtype
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(logp))
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(p[0], [1, 0, 0])
    np.testing.assert_allclose(logp[0], [0, -2000, -1000], rtol=1e-6)
    np.testing.assert_allclose(p[1], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(lse, [1000, -1000 + math.log(3), 1000 + math.log(2 + math.exp(-1))],
                               rtol=1e-6)


def test_log_softmax_is_log_of_softmax_and_logsumexp_keeps_dims():
    x = rand(11, (3, 5))
    np.testing.assert_allclose(nn.log_softmax(x, axis=0).value, np.log(nn.softmax(x, axis=0).value))
    assert nn.logsumexp(x, axis=0).shape == (5,)
    assert nn.logsumexp(x, axis=1, keepdims=True).shape == (3, 1)
    np.testing.assert_allclose(nn.logsumexp(x).value, np.log(np.exp(x).sum(axis=-1)))
    with pytest.raises(en.EngineError, match="axis 2"):
        nn.softmax(x, axis=2)


# ---------------------------------------------------------------------------------
# convolution and pooling


def naive_conv2d(x, w, stride, padding):
    """The definition, one output number at a time (with TensorFlow's SAME padding)."""
    n, h, wd, _ = x.shape
    kh, kw, _, cout = w.shape
    if padding == "SAME":
        out_h, out_w = -(-h // stride), -(-wd // stride)
        ph = max((out_h - 1) * stride + kh - h, 0)
        pw = max((out_w - 1) * stride + kw - wd, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        out_h, out_w = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, out_h, out_w, cout))
    for b in range(n):
        for r in range(out_h):
            for c in range(out_w):
                patch = x[b, r * stride : r * stride + kh, c * stride : c * stride + kw, :]
                for o in range(cout):
                    out[b, r, c, o] = np.sum(patch * w[:, :, :, o])
    return out


CONV_CASES = [
    (h, w, k, stride, padding)
    for (h, w) in [(5, 6), (7, 7)]
    for k in (3, 2)
    for stride in (1, 2)
    for padding in ("VALID", "SAME")
]


@pytest.mark.parametrize("h,w,k,stride,padding", CONV_CASES)
def test_conv2d_forward_matches_the_naive_loop(h, w, k, stride, padding):
    x, kernel = rand(12, (2, h, w, 2)), rand(13, (k, k, 2, 3))
    y = nn.conv2d(x, kernel, stride=stride, padding=padding)
    expected = naive_conv2d(x, kernel, stride, padding)
    np.testing.assert_allclose(y.value, expected, rtol=1e-12, atol=1e-12)
    if padding == "SAME":
        assert y.shape == (2, -(-h // stride), -(-w // stride), 3)


@pytest.mark.parametrize("h,w,k,stride,padding", CONV_CASES)
def test_conv2d_gradients(h, w, k, stride, padding):
    out_shape = naive_conv2d(np.zeros((2, h, w, 2)), np.zeros((k, k, 2, 3)), stride, padding).shape
    weights = rand(14, out_shape)
    check_gradient(
        lambda x, kernel: nn.conv2d(x, kernel, stride=stride, padding=padding) * weights,
        rand(15, (2, h, w, 2)),
        rand(16, (k, k, 2, 3)),
    )


def test_conv2d_same_padding_puts_the_odd_pixel_bottom_right_as_tensorflow():
    x = np.arange(1.0, 7.0).reshape(1, 1, 6, 1)  # one row: 1..6
    kernel = np.ones((1, 3, 1, 1))
    # total padding (3-1)*2 + 3 - 6 = 1, all of it on the right: windows 123, 345, 56_
    y = nn.conv2d(x, kernel, stride=2, padding="SAME")
    np.testing.assert_array_equal(y.value.ravel(), [6, 12, 11])
    np.testing.assert_array_equal(nn.conv2d(x, kernel, stride=2).value.ravel(), [6, 12])


def test_conv2d_with_a_population_axis_is_k_separate_convolutions():
    x, shared_x = rand(17, (3, 2, 5, 5, 2)), rand(18, (2, 5, 5, 2))
    kernels = rand(19, (3, 3, 3, 2, 4))
    y = nn.conv2d(x, kernels, padding="SAME").value
    y_shared = nn.conv2d(shared_x, kernels, stride=2).value
    for k in range(3):
        np.testing.assert_allclose(y[k], naive_conv2d(x[k], kernels[k], 1, "SAME"), atol=1e-12)
        np.testing.assert_allclose(y_shared[k], naive_conv2d(shared_x, kernels[k], 2, "VALID"),
                                   atol=1e-12)
    weights = rand(20, (3, 2, 2, 2, 4))
    check_gradient(lambda a, b: nn.conv2d(a, b, stride=2) * weights, shared_x, kernels)
    check_gradient(lambda a, b: nn.conv2d(a, b, stride=2) * weights, x, kernels)
    check_gradient(lambda a, b: nn.conv2d(a, b, stride=2) * weights, x, kernels[0])


def test_conv2d_float32_stays_float32_and_bad_shapes_are_refused():
    x = en.Tensor(np.ones((1, 4, 4, 2), dtype=np.float32))
    w = en.Variable(np.ones((3, 3, 2, 5), dtype=np.float32))
    y = nn.conv2d(x, w)
    assert y.dtype == np.float32 and y.shape == (1, 2, 2, 5)
    assert all(g.dtype == np.float32 for g in en.gradients(y, [x, w]))
    with pytest.raises(en.EngineError, match="channels"):
        nn.conv2d(x, np.ones((3, 3, 3, 5)))
    with pytest.raises(en.EngineError, match="padding"):
        nn.conv2d(x, w, padding="FULL")
    with pytest.raises(en.EngineError, match="stride"):
        nn.conv2d(x, w, stride=0)
    with pytest.raises(en.EngineError, match="larger"):
        nn.conv2d(x, np.ones((5, 5, 2, 1)))
    with pytest.raises(en.EngineError, match="NHWC"):
        nn.conv2d(np.ones((4, 4, 2)), w)


def naive_max_pool2d(x, size, stride):
    (kh, kw), (sh, sw) = np.broadcast_to(size, 2), np.broadcast_to(stride, 2)
    n, h, w, c = x.shape
    out_h, out_w = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((n, out_h, out_w, c))
    for r in range(out_h):
        for col in range(out_w):
            window = x[:, r * sh : r * sh + kh, col * sw : col * sw + kw, :]
            out[:, r, col, :] = window.max(axis=(1, 2))
    return out


@pytest.mark.parametrize("shape,size,stride", [
    ((2, 6, 6, 3), 2, 2), ((2, 7, 5, 3), 2, 2), ((1, 7, 7, 2), 3, 2), ((2, 6, 5, 2), 3, 3),
    ((1, 5, 5, 2), 2, 1),
    # (rows, columns) pairs, as conv2d takes them
    ((2, 6, 7, 2), (2, 3), (2, 3)), ((1, 7, 6, 2), (3, 2), 1), ((2, 8, 5, 1), (1, 2), (3, 1)),
    ((1, 5, 9, 2), 2, (1, 2)),
])
def test_max_pool2d_matches_the_naive_loop_and_its_gradient_checks(shape, size, stride):
    x = rand(21, shape)
    y = nn.max_pool2d(x, size=size, stride=stride)
    np.testing.assert_array_equal(y.value, naive_max_pool2d(x, size, stride))
    weights = rand(22, y.shape)
    check_gradient(lambda t: nn.max_pool2d(t, size=size, stride=stride) * weights, x)


def test_max_pool2d_with_a_population_axis_pools_each_member():
    x = rand(26, (3, 2, 6, 6, 2))
    y = nn.max_pool2d(x)
    for k in range(3):
        np.testing.assert_array_equal(y.value[k], naive_max_pool2d(x[k], 2, 2))
    check_gradient(lambda t: nn.max_pool2d(t) * rand(27, y.shape), x)


def test_max_pool2d_refuses_bad_pairs_clearly():
    x = np.zeros((1, 4, 4, 1))
    for size in [(2, 0), (2, 2, 2), (2.0, 2)]:
        with pytest.raises(en.EngineError, match="size"):
            nn.max_pool2d(x, size=size)
    with pytest.raises(en.EngineError, match="3x5 is larger than 4x4"):
        nn.max_pool2d(x, size=(3, 5))


def test_max_pool2d_gradient_goes_to_the_first_maximum_of_a_tie():
    x = np.zeros((1, 4, 4, 1))  # every window is a four-way tie (as after a dead ReLU)
    x[0, 2, 3, 0] = 5.0
    g = grad_of(nn.max_pool2d, x)[0, :, :, 0]
    np.testing.assert_array_equal(g, [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 0, 1], [0, 0, 0, 0]])


# ---------------------------------------------------------------------------------
# dropout


def test_inverted_dropout_reference_example():
    units = en.Variable(np.arange(1.0, 9.0))
    mask = np.zeros(8, dtype=bool)
    mask[[0, 3, 4, 6]] = True  # keeps units 1, 4, 5 and 7
    y = nn.dropout(units, keep_prob=0.5, mask=mask)
    np.testing.assert_array_equal(y.value, [2, 0, 0, 8, 10, 0, 14, 0])
    assert y.value.sum() == 34 and units.value.sum() == 36
    np.testing.assert_array_equal(nn.dropout_mask(y), mask)
    (g,) = en.gradients(y, [units])
    np.testing.assert_array_equal(g, mask / 0.5)


def test_dropout_draws_its_mask_from_the_generator_and_exposes_it():
    x = en.Variable(np.ones((200, 50), dtype=np.float32))
    y = nn.dropout(x, keep_prob=0.8, rng=np.random.default_rng(3))
    mask = nn.dropout_mask(y)
    assert mask.dtype == bool and mask.shape == x.shape
    assert y.op.attrs["mask"] is mask
    assert abs(mask.mean() - 0.8) < 0.01
    np.testing.assert_array_equal(mask, np.random.default_rng(3).random((200, 50)) < 0.8)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.value, mask / np.float32(0.8))
    assert nn.dropout(x, np.float64(0.5), rng=np.random.default_rng(0)).dtype == np.float32
    check_gradient(lambda t: nn.dropout(t, 0.7, rng=np.random.default_rng(4)) * rand(23, (4, 5)),
                   rand(24, (4, 5)))


def test_dropout_is_the_identity_at_test_time_and_for_keep_prob_one():
    x = en.Variable(rand(25, (3, 4)))
    y = nn.dropout(x, 0.5, training=False)
    np.testing.assert_array_equal(y.value, x.value)
    assert nn.dropout_mask(y) is None
    y = nn.dropout(x, 1.0, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(y.value, x.value)
    assert nn.dropout_mask(y).all()
    assert nn.dropout_mask(nn.relu(x)) is None


@pytest.mark.parametrize("keep_prob", [0, -0.1, 1.5, float("nan")])
def test_dropout_refuses_keep_prob_outside_zero_one(keep_prob):
    with pytest.raises(en.EngineError, match=r"keep_prob.*\(0, 1\]"):
        nn.dropout(en.Tensor(np.ones(3)), keep_prob)


def test_dropout_refuses_a_mask_of_the_wrong_shape():
    with pytest.raises(en.EngineError, match="mask"):
        nn.dropout(en.Tensor(np.ones(3)), 0.5, mask=np.ones(4, dtype=bool))


# ---------------------------------------------------------------------------------


# the fused ops the layers record (one op for x @ W + b and its activation)
@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("population", [False, True])
def test_fused_dense_gradients(activation, population):
    kernel_shape, bias_shape = ((3, 4, 2), (3, 1, 2)) if population else ((4, 2), (2,))
    x = rand(1, (5, 4)) + 0.05  # no pre-activation sits exactly at relu's kink
    check_gradient(lambda x, w, b: nn.dense(x, w, b, activation),
                   x, rand(2, kernel_shape), rand(3, bias_shape))
    check_gradient(lambda x, w: nn.dense(x, w, None, activation), x, rand(4, kernel_shape))


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "sigmoid"])
def test_fused_bias_activation_gradients(activation):
    y, bias = rand(5, (2, 3, 3, 4)) + 0.05, rand(6, (4,))  # bias broadcast over N, H, W
    check_gradient(lambda y, b: nn.bias_activation(y, b, activation), y, bias)
    check_gradient(lambda y: nn.bias_activation(y, None, activation), y)


def test_fused_ops_refuse_activations_they_cannot_fuse():
    with pytest.raises(en.EngineError, match="fused activation"):
        nn.dense(np.ones((1, 2)), en.Variable(np.ones((2, 2))), None, "gelu")
    with pytest.raises(en.EngineError, match="activation must be one of"):
        nn.bias_activation(np.ones((1, 2)), None, "elu")


def test_every_nn_op_has_a_gradient_check_here():
    """Each op registered by engine.nn is exercised above (a new op needs a check)."""
    checked = {"Sigmoid", "Relu", "LeakyRelu", "PRelu", "RRelu", "Elu", "Selu", "Gelu", "Silu",
               "Softplus", "Softmax", "LogSoftmax", "LogSumExp", "Conv2D", "MaxPool2D", "Dropout",
               "Dense", "BiasActivation"}
    from_nn = {
        name for name in en.registered_ops()
        if en.get_gradient(name).__module__.startswith("engine.nn")
    }
    assert from_nn == checked
