"""Layers built on en.nn: Conv2D, MaxPool2D, Flatten, Dropout, Activation and PReLU,
the seed conv net's shapes, and conv populations."""

import math

import numpy as np
import pytest

import engine as en
from engine import layers, losses, nn, optimizers


def seed_conv_net(seed=0, **kw):
    """docs/labs.md, "Optimizers": conv 3x3x1x32, conv 3x3x32x64, max-pool 2, flatten,
    dense 128, dense 47; ReLU, he_uniform weights, zero biases."""
    return layers.Sequential(
        [
            layers.Conv2D(32, 3, activation="relu", kernel_initializer="he_uniform"),
            layers.Conv2D(64, 3, activation="relu", kernel_initializer="he_uniform"),
            layers.MaxPool2D(2),
            layers.Flatten(),
            layers.Dense(128, activation="relu", kernel_initializer="he_uniform"),
            layers.Dense(47, kernel_initializer="he_uniform"),
        ],
        input_shape=(28, 28, 1), seed=seed, **kw,
    )


def test_seed_conv_net_shapes():
    model = seed_conv_net()
    assert [v.shape for v in model.trainable_variables] == [
        (3, 3, 1, 32), (32,), (3, 3, 32, 64), (64,), (9216, 128), (128,), (128, 47), (47,)
    ]
    assert model.output_shape == (47,)
    model.record_activations = True
    x = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    y = model(x)
    assert y.shape == (2, 47)
    assert [a.shape for _, a in model.activations] == [
        (2, 26, 26, 32), (2, 24, 24, 64), (2, 12, 12, 64), (2, 9216), (2, 128), (2, 47)
    ]
    assert [n for n, _ in model.preactivations] == ["conv2d_1", "conv2d_2", "dense_1", "dense_2"]
    text = model.summary()
    assert "(None, 12, 12, 64)" in text and "(None, 9216)" in text
    # he_uniform with fan_in = 3*3*32 for the second conv
    assert np.abs(model.trainable_variables[2].value).max() <= math.sqrt(6 / 288)


@pytest.mark.parametrize("padding,stride,out", [("VALID", 1, 5), ("SAME", 1, 7), ("SAME", 2, 4)])
def test_conv2d_layer_matches_nn_and_gradients(padding, stride, out):
    layer = layers.Conv2D(3, 3, stride=stride, padding=padding, activation="tanh",
                          bias_initializer="ones")
    x = en.Variable(np.random.default_rng(1).normal(size=(2, 7, 7, 2)))
    layer.build((7, 7, 2), init=0, dtype=np.float64)
    y = layer(x)
    assert y.shape == (2, out, out, 3)
    assert layer.compute_output_shape((7, 7, 2)) == (out, out, 3)
    expected = np.tanh(nn.conv2d(x, layer.kernel, stride, padding).value + 1.0)
    np.testing.assert_allclose(y.value, expected, rtol=1e-12)
    weights = np.random.default_rng(2).normal(size=y.shape)

    def f(*_):
        return layer(x) * weights

    params = [x, layer.kernel, layer.bias]
    for a, n in zip(en.gradients(f(), params), en.numerical_gradients(f, params)):
        np.testing.assert_allclose(a, n, rtol=1e-5, atol=1e-8)


def test_dropout_layer():
    layer = layers.Dropout(0.6, rng=np.random.default_rng(0))
    x = np.ones((50, 40), dtype=np.float32)
    np.testing.assert_array_equal(layer(x).value, x)  # identity at test time
    assert layer.last_mask is None
    y = layer(x, training=True)
    mask = layer.last_mask
    assert mask.shape == x.shape and mask.dtype == bool
    assert abs(mask.mean() - 0.6) < 0.03
    np.testing.assert_allclose(y.value, np.where(mask, 1 / 0.6, 0), rtol=1e-6)
    np.testing.assert_array_equal(nn.dropout_mask(y), mask)
    layer(x)  # a test-time call keeps the last training mask
    assert layer.last_mask is mask
    with en.no_grad():
        layer(x, training=True)
    assert layer.last_mask is not mask  # known even without a recorded op
    # seeded from the model: two models with the same seed draw the same masks
    a = layers.Sequential([layers.Dense(5), layers.Dropout(0.5)], input_shape=(3,), seed=1)
    b = layers.Sequential([layers.Dense(5), layers.Dropout(0.5)], input_shape=(3,), seed=1)
    xs = np.ones((4, 3))
    np.testing.assert_array_equal(a(xs, training=True).value, b(xs, training=True).value)
    # and the mask generator does not shift the initial weights of a lazily built model
    c = layers.Sequential([layers.Dense(5), layers.Dropout(0.5), layers.Dense(2)], seed=1)
    c(xs, training=True)
    d = layers.Sequential([layers.Dense(5), layers.Dropout(0.5), layers.Dense(2)],
                          input_shape=(3,), seed=1)
    for u, v in zip(c.get_weights(), d.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_activation_layers():
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    np.testing.assert_allclose(layers.Activation("gelu")(x).value, nn.gelu(x).value, rtol=1e-5)
    np.testing.assert_allclose(layers.Activation("softmax")(x).value.sum(axis=1), 1, rtol=1e-6)
    rrelu = layers.Activation("rrelu", rng=np.random.default_rng(0))
    np.testing.assert_allclose(rrelu(x).value, np.where(x >= 0, x, x * (1 / 8 + 1 / 3) / 2),
                               rtol=1e-6)
    with pytest.raises(en.EngineError, match="unknown activation"):
        layers.Activation("relux")


def test_prelu_slope_shapes_and_learning():
    per_channel = layers.PReLU()
    per_channel.build((4,), init=0)
    assert per_channel.alpha.shape == (4,) and np.all(per_channel.alpha.value == 0.25)
    shared = layers.PReLU(shared=True)
    shared.build((4,), init=0)
    assert shared.alpha.shape == (1,)
    x = np.array([[-2.0, -1.0, 0.5, 3.0]], dtype=np.float32)
    np.testing.assert_allclose(per_channel(x).value, [[-0.5, -0.25, 0.5, 3.0]])
    # The target wants slope 0.5 on negative inputs: training moves alpha there.
    model = layers.Sequential([layers.PReLU(shared=True)], input_shape=(1,), seed=0)
    xs = np.linspace(-2, 2, 9, dtype=np.float32)[:, None]
    ys = np.where(xs > 0, xs, 0.5 * xs)
    opt = optimizers.SGD(0.1)
    for _ in range(100):
        opt.minimize(losses.mse(model(xs, training=True), ys), model.trainable_variables)
    (alpha,) = model.trainable_variables
    assert alpha.name == "prelu_1/alpha"
    np.testing.assert_allclose(alpha.value, [0.5], rtol=1e-3)


def test_conv_population_members_equal_separate_models():
    def make():
        return [
            layers.Conv2D(4, 3, activation="relu"),
            layers.PReLU(),
            layers.MaxPool2D(2),
            layers.Flatten(),
            layers.Dense(3),
        ]

    seeds = [0, 1, 0]
    pop = layers.Sequential(make(), input_shape=(8, 8, 1), seeds=seeds)
    assert pop.trainable_variables[0].shape == (3, 3, 3, 1, 4)
    assert pop.trainable_variables[1].shape == (3, 1, 1, 1, 4)
    assert pop.trainable_variables[2].shape == (3, 1, 1, 1, 4)  # PReLU slopes
    x = np.random.default_rng(3).random((5, 8, 8, 1), dtype=np.float32)
    labels = np.array([0, 1, 2, 1, 0])
    lrs = np.array([0.1, 0.05, 0.01], dtype=np.float32)
    opt = optimizers.Adam(lrs)
    for _ in range(3):
        out = pop(x, training=True)
        assert out.shape == (3, 5, 3)
        opt.minimize(losses.softmax_cross_entropy(out, labels, reduction="member"),
                     pop.trainable_variables)
    for k, seed in enumerate(seeds):
        single = layers.Sequential(make(), input_shape=(8, 8, 1), seed=seed)
        single_opt = optimizers.Adam(float(lrs[k]))
        for _ in range(3):
            single_opt.minimize(losses.softmax_cross_entropy(single(x, training=True), labels),
                                single.trainable_variables)
        for a, b in zip(pop.member_weights(k), single.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
