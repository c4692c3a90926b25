"""Losses and regularizers: values against formulas written here, gradients against
central differences (float64), reductions, and numerical stability for huge logits."""

import numpy as np
import pytest
from gradcheck import check_gradient as shared_check_gradient
from gradcheck import rand

import engine as en
from engine import losses, regularizers


def check_gradient(f, *values, rtol=1e-5, atol=1e-7):
    shared_check_gradient(f, *values, rtol=rtol, atol=atol)


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# ---------------------------------------------------------------------------------
# regression losses

PRED, TARGET = rand(1, (5, 3)), rand(2, (5, 3))


def huber_formula(d, delta):
    return np.where(np.abs(d) <= delta, 0.5 * d**2, delta * (np.abs(d) - 0.5 * delta))


@pytest.mark.parametrize(
    "loss,formula",
    [
        (losses.mse, lambda d: d**2),
        (losses.mae, np.abs),
        (losses.huber, lambda d: huber_formula(d, 1.0)),
        (lambda p, t, **kw: losses.huber(p, t, delta=0.4, **kw), lambda d: huber_formula(d, 0.4)),
    ],
    ids=["mse", "mae", "huber", "huber_delta_0.4"],
)
def test_regression_loss_values_reductions_and_gradients(loss, formula):
    terms = formula(PRED - TARGET)
    assert loss(PRED, TARGET).dtype == np.float64
    np.testing.assert_allclose(loss(PRED, TARGET).value, terms.mean(), rtol=1e-12)
    np.testing.assert_allclose(loss(PRED, TARGET, reduction="sum").value, terms.sum(), rtol=1e-12)
    np.testing.assert_allclose(loss(PRED, TARGET, reduction="none").value, terms, rtol=1e-12)
    # gradient with respect to both the predictions and the targets
    check_gradient(lambda p, t: loss(p, t), PRED, TARGET)
    weights = rand(3, (5, 3))
    check_gradient(lambda p: loss(p, TARGET, reduction="none") * weights, PRED)
    check_gradient(lambda p: loss(p, TARGET, reduction="sum"), PRED)


def test_regression_loss_float32_and_mismatched_target_refused():
    p = en.Variable(np.ones((4, 1), dtype=np.float32))
    assert losses.mse(p, np.zeros((4, 1))).dtype == np.float32
    with pytest.raises(en.EngineError, match="target shape"):
        losses.mse(p, np.zeros(4))  # would silently broadcast to (4, 4)
    with pytest.raises(en.EngineError, match="reduction"):
        losses.mse(p, np.zeros((4, 1)), reduction="average")


def test_member_reduction_gives_each_member_its_own_mean():
    pred = rand(4, (3, 5, 2))  # (K, batch, out)
    target = rand(5, (5, 2))  # shared by the members
    per_member = losses.mse(pred, target, reduction="member")
    assert per_member.shape == (3,)
    np.testing.assert_allclose(per_member.value, ((pred - target) ** 2).mean(axis=(1, 2)))
    check_gradient(lambda p: losses.mse(p, target, reduction="member"), pred)
    # The gradient of the sum is each member's own gradient of its mean loss.
    p = en.Variable(pred)
    (g,) = en.gradients(losses.mse(p, target, reduction="member"), [p])
    for k in range(3):
        q = en.Variable(pred[k])
        (gk,) = en.gradients(losses.mse(q, target), [q])
        np.testing.assert_allclose(g[k], gk, rtol=1e-12)


# ---------------------------------------------------------------------------------
# softmax cross-entropy

LOGITS = rand(6, (4, 5), -3, 3)
CODES = np.array([0, 3, 4, 1])
ONE_HOT = np.eye(5)[CODES]


def test_softmax_cross_entropy_value_and_gradient():
    expected = -log_softmax(LOGITS)[np.arange(4), CODES]
    loss = losses.softmax_cross_entropy(LOGITS, CODES)
    np.testing.assert_allclose(loss.value, expected.mean(), rtol=1e-12)
    np.testing.assert_allclose(
        losses.softmax_cross_entropy(LOGITS, CODES, reduction="none").value, expected, rtol=1e-12
    )
    np.testing.assert_allclose(
        losses.softmax_cross_entropy(LOGITS, CODES, reduction="sum").value, expected.sum()
    )
    check_gradient(lambda z: losses.softmax_cross_entropy(z, CODES), LOGITS)
    weights = rand(7, 4)
    check_gradient(lambda z: losses.softmax_cross_entropy(z, CODES, reduction="none") * weights,
                   LOGITS)
    # The analytic form: (softmax - onehot) / batch.
    z = en.Variable(LOGITS)
    (g,) = en.gradients(losses.softmax_cross_entropy(z, CODES), [z])
    np.testing.assert_allclose(g, (np.exp(log_softmax(LOGITS)) - ONE_HOT) / 4, rtol=1e-12)


def test_softmax_cross_entropy_codes_equal_one_hot_rows():
    for dtype in (np.float32, np.float64):
        z = LOGITS.astype(dtype)
        a = losses.softmax_cross_entropy(z, CODES)
        b = losses.softmax_cross_entropy(z, ONE_HOT.astype(dtype))
        assert a.value == b.value
        za, zb = en.Variable(z.copy()), en.Variable(z.copy())
        (ga,) = en.gradients(losses.softmax_cross_entropy(za, CODES), [za])
        (gb,) = en.gradients(losses.softmax_cross_entropy(zb, ONE_HOT), [zb])
        np.testing.assert_array_equal(ga, gb)
    # Soft labels (rows not one-hot) get their gradient too, logits and labels alike.
    soft = rand(8, (4, 5), 0.1, 1.0)
    soft /= soft.sum(axis=1, keepdims=True)
    check_gradient(lambda z, y: losses.softmax_cross_entropy(z, y), LOGITS, soft)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_finite_for_huge_logits(dtype):
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0]], dtype=dtype)
    codes = np.array([1, 2])
    v = en.Variable(z)
    loss = losses.softmax_cross_entropy(v, codes)
    (g,) = en.gradients(loss, [v])
    assert np.isfinite(loss.value) and np.all(np.isfinite(g))
    # Example 0 puts 2000 below the winner on the true class: loss 2000; example 1: 0.
    np.testing.assert_allclose(loss.value, (2000.0 + 0.0) / 2, rtol=1e-6)
    np.testing.assert_allclose(g, [[0.5, -0.5, 0], [0, 0, 0]], atol=1e-6)


def test_softmax_cross_entropy_from_probabilities():
    probs = np.exp(log_softmax(LOGITS))
    loss = losses.softmax_cross_entropy(probs, CODES, from_logits=False)
    np.testing.assert_allclose(loss.value, -np.log(probs[np.arange(4), CODES]).mean(), rtol=1e-10)
    np.testing.assert_allclose(
        loss.value, losses.softmax_cross_entropy(LOGITS, CODES).value, rtol=1e-10
    )
    check_gradient(lambda p: losses.softmax_cross_entropy(p, ONE_HOT, from_logits=False), probs)
    # A probability of exactly 0 on the true class is clipped: large but finite.
    hard = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    loss = losses.softmax_cross_entropy(hard, np.array([1, 1]), from_logits=False)
    assert np.isfinite(loss.value)
    np.testing.assert_allclose(loss.value, -np.log(np.float32(1e-7)) / 2, rtol=1e-3)


def test_softmax_cross_entropy_population_and_bad_labels():
    logits = rand(9, (3, 4, 5))  # (K, batch, classes), shared labels
    per_member = losses.softmax_cross_entropy(logits, CODES, reduction="member")
    expected = -log_softmax(logits)[:, np.arange(4), CODES].mean(axis=1)
    np.testing.assert_allclose(per_member.value, expected, rtol=1e-12)
    check_gradient(lambda z: losses.softmax_cross_entropy(z, CODES, reduction="member"), logits)
    with pytest.raises(en.EngineError, match="class codes"):
        losses.softmax_cross_entropy(LOGITS, np.array([0, 1, 2, 5]))


# ---------------------------------------------------------------------------------
# binary cross-entropy

X = rand(10, (6,), -4, 4)
T = np.array([0.0, 1.0, 1.0, 0.0, 0.3, 1.0])


def bce_formula(x, t):
    p = 1 / (1 + np.exp(-x))
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def test_binary_cross_entropy_from_logits():
    np.testing.assert_allclose(
        losses.binary_cross_entropy(X, T).value, bce_formula(X, T).mean(), rtol=1e-12
    )
    np.testing.assert_allclose(
        losses.binary_cross_entropy(X, T, reduction="none").value, bce_formula(X, T), rtol=1e-12
    )
    check_gradient(lambda x, t: losses.binary_cross_entropy(x, t), X, T)
    x = en.Variable(X)
    (g,) = en.gradients(losses.binary_cross_entropy(x, T), [x])
    np.testing.assert_allclose(g, (1 / (1 + np.exp(-X)) - T) / 6, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_finite_for_huge_logits(dtype):
    v = en.Variable(np.array([1000.0, -1000.0, 1000.0, -1000.0], dtype=dtype))
    t = np.array([1.0, 0.0, 0.0, 1.0])
    loss = losses.binary_cross_entropy(v, t, reduction="none")
    np.testing.assert_allclose(loss.value, [0, 0, 1000, 1000])
    (g,) = en.gradients(loss, [v])
    np.testing.assert_allclose(g, [0, 0, 1, -1])
    assert loss.dtype == dtype


def test_binary_cross_entropy_from_probabilities():
    p = 1 / (1 + np.exp(-X))
    loss = losses.binary_cross_entropy(p, T, from_logits=False)
    np.testing.assert_allclose(loss.value, bce_formula(X, T).mean(), rtol=1e-9)
    check_gradient(lambda q: losses.binary_cross_entropy(q, T, from_logits=False), p)
    edge = losses.binary_cross_entropy(np.array([0.0, 1.0]), np.array([1.0, 0.0]),
                                       from_logits=False)
    assert np.isfinite(edge.value)


# ---------------------------------------------------------------------------------
# regularizers

W = rand(11, (3, 4))


@pytest.mark.parametrize(
    "reg,formula",
    [
        (regularizers.l1(0.3), lambda w: 0.3 * np.abs(w).sum()),
        (regularizers.l2(0.3), lambda w: 0.3 * (w**2).sum()),
        (regularizers.elastic_net(0.2, 0.05), lambda w: 0.2 * np.abs(w).sum() + 0.05 * (w**2).sum()),
    ],
    ids=["l1", "l2", "elastic_net"],
)
def test_regularizer_value_and_gradient(reg, formula):
    w = en.Variable(W)
    value = reg(w)
    assert value.shape == ()
    np.testing.assert_allclose(value.value, formula(W), rtol=1e-12)
    check_gradient(lambda v: reg(v), W)
    (g,) = en.gradients(reg(w), [w])
    np.testing.assert_allclose(g, reg.l1 * np.sign(W) + 2 * reg.l2 * W, rtol=1e-12)


def test_regularizer_with_population_coefficients():
    lam = np.array([0.0, 0.1, 1.0])
    w = rand(12, (3, 2, 4))  # (K, in, out)
    value = regularizers.l2(lam)(en.Variable(w))
    assert value.shape == (3,)
    np.testing.assert_allclose(value.value, lam * (w**2).sum(axis=(1, 2)), rtol=1e-12)
    check_gradient(lambda v: regularizers.elastic_net(lam, lam[::-1])(v), w)
    # a scalar lam can still give per-member terms
    per_member = regularizers.l1(0.5)(en.Variable(w), population=True)
    np.testing.assert_allclose(per_member.value, 0.5 * np.abs(w).sum(axis=(1, 2)), rtol=1e-12)
    # penalty() puts several weights in one op, with the same value and gradients
    a, b = en.Variable(w), en.Variable(rand(13, (3, 4)))
    total = regularizers.penalty([(regularizers.l2(lam), a), (regularizers.l1(lam), b)])
    np.testing.assert_allclose(
        total.value, lam * ((w**2).sum(axis=(1, 2)) + np.abs(b.value).sum(axis=1)), rtol=1e-12
    )
    check_gradient(
        lambda p, q: regularizers.penalty([(regularizers.l2(lam), p), (regularizers.l1(lam), q)]),
        w, b.value,
    )
