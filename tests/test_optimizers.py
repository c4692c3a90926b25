"""Optimizers: 20-step trajectories on a fixed least-squares problem against each
update rule written out here in plain numpy (torch.optim's pseudo-code), live changes
of lr, edited gradients, float32 in place, and per-member learning rates with freezing."""

import numpy as np
import pytest

import engine as en
from engine import optimizers

RNG = np.random.default_rng(0)
A = RNG.normal(size=(6, 4))
B = RNG.normal(size=6)
W0 = RNG.normal(size=4)
STEPS = 20


def loss_of(w):
    r = en.matmul(en.Tensor(A, dtype=w.dtype), w) - en.Tensor(B, dtype=w.dtype)
    return en.sum(r * r)


def grad_of(w):
    """d/dw sum((A w - b)^2) = 2 A^T (A w - b)."""
    return 2 * A.T @ (A @ w - B)


def engine_trajectory(opt, steps=STEPS, dtype=np.float64, lr_at=None):
    w = en.Variable(W0.astype(dtype))
    view = w.value
    out = []
    for t in range(steps):
        if lr_at is not None:
            opt.lr = lr_at(t)
        opt.minimize(loss_of(w), [w])
        out.append(w.value.copy())
    assert w.value is view and w.dtype == dtype  # updated in place, dtype kept
    return np.array(out)


# --- the update rules, written independently -------------------------------------------


def ref_sgd(lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, lr_at=None):
    w, buf, out = W0.copy(), None, []
    for t in range(STEPS):
        lr_t = lr_at(t) if lr_at else lr
        g = grad_of(w) + weight_decay * w
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        w = w - lr_t * g
        out.append(w)
    return np.array(out)


def ref_adam(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, lr_at=None):
    w, m, v, out = W0.copy(), np.zeros(4), np.zeros(4), []
    for t in range(1, STEPS + 1):
        lr_t = lr_at(t - 1) if lr_at else lr
        g = grad_of(w) + weight_decay * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - lr_t * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return np.array(out)


def ref_adam_amsgrad(lr, b1, b2, eps=1e-8, weight_decay=0.0):
    """torch.optim.Adam(amsgrad=True): the running maximum of v (before bias
    correction) replaces v in the step."""
    w, m, v, v_max, out = W0.copy(), np.zeros(4), np.zeros(4), np.zeros(4), []
    for t in range(1, STEPS + 1):
        g = grad_of(w) + weight_decay * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_max = np.maximum(v_max, v)
        denom = np.sqrt(v_max) / np.sqrt(1 - b2**t) + eps
        w = w - lr / (1 - b1**t) * m / denom
        out.append(w)
    return np.array(out)


def ref_adagrad(lr=1e-2, lr_decay=0.0, initial=0.0, eps=1e-10, weight_decay=0.0):
    w, s, out = W0.copy(), np.full(4, initial), []
    for t in range(1, STEPS + 1):
        g = grad_of(w) + weight_decay * w
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g
        w = w - clr * g / (np.sqrt(s) + eps)
        out.append(w)
    return np.array(out)


def ref_adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    w, v, u, out = W0.copy(), np.zeros(4), np.zeros(4), []
    for _ in range(STEPS):
        g = grad_of(w) + weight_decay * w
        v = rho * v + (1 - rho) * g * g
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        w = w - lr * delta
        out.append(w)
    return np.array(out)


def ref_rmsprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    w, v, a, buf, out = W0.copy(), np.zeros(4), np.zeros(4), np.zeros(4), []
    for _ in range(STEPS):
        g = grad_of(w) + weight_decay * w
        v = alpha * v + (1 - alpha) * g * g
        if centered:
            a = alpha * a + (1 - alpha) * g
            denom = np.sqrt(v - a * a) + eps
        else:
            denom = np.sqrt(v) + eps
        if momentum:
            buf = momentum * buf + g / denom
            w = w - lr * buf
        else:
            w = w - lr * g / denom
        out.append(w)
    return np.array(out)


CASES = {
    "sgd": (lambda: optimizers.SGD(0.01), lambda: ref_sgd(0.01)),
    "sgd_momentum_dampening_wd": (
        lambda: optimizers.SGD(0.01, momentum=0.9, dampening=0.2, weight_decay=0.1),
        lambda: ref_sgd(0.01, momentum=0.9, dampening=0.2, weight_decay=0.1),
    ),
    "sgd_nesterov": (
        lambda: optimizers.SGD(0.01, momentum=0.8, nesterov=True, weight_decay=0.05),
        lambda: ref_sgd(0.01, momentum=0.8, nesterov=True, weight_decay=0.05),
    ),
    "adam_defaults": (lambda: optimizers.Adam(), lambda: ref_adam()),
    "adam_wd": (
        lambda: optimizers.Adam(0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
        lambda: ref_adam(0.05, 0.8, 0.99, 1e-6, weight_decay=0.1),
    ),
    "adam_amsgrad": (
        lambda: optimizers.Adam(0.05, betas=(0.9, 0.6), amsgrad=True),
        lambda: ref_adam_amsgrad(0.05, 0.9, 0.6),
    ),
    "adam_amsgrad_defaults_wd": (
        lambda: optimizers.Adam(0.1, amsgrad=True, weight_decay=0.1),
        lambda: ref_adam_amsgrad(0.1, 0.9, 0.999, weight_decay=0.1),
    ),
    "adagrad_defaults": (lambda: optimizers.Adagrad(), lambda: ref_adagrad()),
    "adagrad_lr_decay": (
        lambda: optimizers.Adagrad(0.1, lr_decay=0.05, initial_accumulator_value=0.2,
                                   weight_decay=0.1),
        lambda: ref_adagrad(0.1, lr_decay=0.05, initial=0.2, weight_decay=0.1),
    ),
    "adadelta_defaults": (lambda: optimizers.Adadelta(), lambda: ref_adadelta()),
    "adadelta_wd": (
        lambda: optimizers.Adadelta(0.5, rho=0.8, eps=1e-5, weight_decay=0.1),
        lambda: ref_adadelta(0.5, 0.8, 1e-5, weight_decay=0.1),
    ),
    "rmsprop_defaults": (lambda: optimizers.RMSprop(), lambda: ref_rmsprop()),
    "rmsprop_centered_momentum": (
        lambda: optimizers.RMSprop(0.01, alpha=0.9, momentum=0.8, centered=True, weight_decay=0.1),
        lambda: ref_rmsprop(0.01, alpha=0.9, momentum=0.8, centered=True, weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_trajectory_matches_update_rule(case):
    make, reference = CASES[case]
    expected = reference()
    ours = engine_trajectory(make())
    assert not np.allclose(expected[-1], W0)  # the run actually moved
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)
    # float32 follows the float64 path closely and stays float32
    ours32 = engine_trajectory(make(), dtype=np.float32)
    np.testing.assert_allclose(ours32, expected, rtol=1e-3, atol=1e-4)


def test_amsgrad_changes_the_path_once_v_falls():
    """With b2 = 0.6, v follows the shrinking gradient down; amsgrad keeps the maximum,
    so its steps are smaller than plain Adam's and the two paths part."""
    plain = engine_trajectory(optimizers.Adam(0.05, betas=(0.9, 0.6)))
    ams = engine_trajectory(optimizers.Adam(0.05, betas=(0.9, 0.6), amsgrad=True))
    assert np.abs(plain - ams).max() > 1e-3
    assert optimizers.Adam().amsgrad is False


def test_defaults_are_torchs():
    assert optimizers.Adam().lr == 1e-3 and optimizers.Adam().betas == (0.9, 0.999)
    assert optimizers.Adam().eps == 1e-8
    assert optimizers.Adagrad().lr == 1e-2 and optimizers.Adagrad().eps == 1e-10
    assert optimizers.Adadelta().lr == 1.0 and optimizers.Adadelta().rho == 0.9
    assert optimizers.Adadelta().eps == 1e-6
    rms = optimizers.RMSprop()
    assert (rms.lr, rms.alpha, rms.eps, rms.momentum, rms.centered) == (1e-2, 0.99, 1e-8, 0, False)
    assert isinstance(optimizers.get("adam", lr=0.1), optimizers.Adam)


def test_changing_lr_between_steps_takes_effect_next_step():
    def schedule(t):
        return 0.01 if t < 7 else (0.05 if t < 14 else 0.002)

    ours = engine_trajectory(optimizers.SGD(0.01, momentum=0.9), lr_at=schedule)
    np.testing.assert_allclose(ours, ref_sgd(0.01, momentum=0.9, lr_at=schedule), rtol=1e-10)
    ours = engine_trajectory(optimizers.Adam(0.01), lr_at=schedule)
    np.testing.assert_allclose(ours, ref_adam(0.01, lr_at=schedule), rtol=1e-10)
    # and the change is not retroactive: the first 7 steps equal a constant-lr run
    np.testing.assert_allclose(ours[:7], ref_adam(0.01)[:7], rtol=1e-12)


def test_a_function_as_lr_is_read_at_every_step():
    """lr=lambda: setting follows a live setting without copying it into the optimizer."""
    def schedule(t):
        return 0.01 if t < 7 else (0.05 if t < 14 else 0.002)

    setting = {"lr": schedule(0)}

    def step_and_advance(opt, w, t):
        opt.minimize(loss_of(w), [w])
        setting["lr"] = schedule(t + 1)  # the "app" changes the setting between steps

    for make, ref in [(lambda lr: optimizers.SGD(lr, momentum=0.9),
                       lambda: ref_sgd(0.01, momentum=0.9, lr_at=schedule)),
                      (optimizers.Adam, lambda: ref_adam(0.01, lr_at=schedule))]:
        setting["lr"] = schedule(0)
        opt = make(lambda: setting["lr"])
        w = en.Variable(W0.copy())
        out = []
        for t in range(STEPS):
            step_and_advance(opt, w, t)
            out.append(w.value.copy())
        np.testing.assert_allclose(np.array(out), ref(), rtol=1e-10)
        assert opt.current_lr() == schedule(STEPS)


def test_a_function_as_lr_may_give_one_rate_per_member():
    lrs = np.array([0.001, 0.01, 0.03])
    w = en.Variable(np.repeat(W0[None], 3, axis=0))
    opt = optimizers.Adam(lambda: lrs)
    assert opt.population == 3
    for _ in range(STEPS):
        r = en.matmul(en.Tensor(A), en.reshape(w, (3, 4, 1)))[..., 0] - B
        opt.minimize(en.sum(r * r, axis=1), [w])
    for k, lr in enumerate(lrs):
        np.testing.assert_allclose(w.value[k], ref_adam(lr)[-1], rtol=1e-10)


def test_edited_gradient_is_what_gets_applied():
    a, b = en.Variable(np.array([1.0, 2.0])), en.Variable(np.array([[3.0]]))
    opt = optimizers.SGD(0.1)
    before = b.value.copy()
    loss = en.sum(a * a) + en.sum(b * b * b)
    grads_and_vars = opt.compute_gradients(loss, [a, b])
    np.testing.assert_allclose(grads_and_vars[0][0], [2.0, 4.0])
    grads_and_vars[1][0][...] = 0  # zero b's gradient in place
    opt.apply_gradients(grads_and_vars)
    np.testing.assert_array_equal(b.value, before)
    np.testing.assert_allclose(a.value, [0.8, 1.6])
    # A broadcast (read-only) gradient comes back writable too.
    c = en.Variable(np.ones(3))
    ((g, _),) = opt.compute_gradients(en.sum(c), [c])
    g[0] = 5.0


def test_population_learning_rates_match_separate_runs():
    lrs = np.array([0.001, 0.01, 0.03])
    w = en.Variable(np.repeat(W0[None], 3, axis=0))  # (K, 4)
    opt = optimizers.Adam(lrs)
    assert opt.population == 3 and not opt.frozen.any()
    for _ in range(STEPS):
        r = en.matmul(en.Tensor(A), en.reshape(w, (3, 4, 1)))[..., 0] - B  # (K, 6)
        opt.minimize(en.sum(r * r, axis=1), [w])
    for k, lr in enumerate(lrs):
        np.testing.assert_allclose(w.value[k], ref_adam(lr)[-1], rtol=1e-10)


@pytest.mark.parametrize("make", [
    lambda lr: optimizers.SGD(lr, momentum=0.9),
    lambda lr: optimizers.Adam(lr),
    lambda lr: optimizers.RMSprop(lr, centered=True, momentum=0.5),
], ids=["sgd", "adam", "rmsprop"])
def test_non_finite_member_is_frozen_and_others_unaffected(make):
    lrs = np.array([0.01, 0.02, 0.03], dtype=np.float32)
    w = en.Variable(np.repeat(W0[None], 3, axis=0).astype(np.float32))
    opt = make(lrs)
    grad = np.repeat(grad_of(W0)[None], 3, axis=0).astype(np.float32)
    opt.apply_gradients([(grad, w)])
    state_before = {k: v.copy() for k, v in opt.get_state(w).items()
                    if isinstance(v, np.ndarray) and not k.startswith("_")}
    frozen_value = w.value[1].copy()
    bad = grad.copy()
    bad[1, 2] = np.nan
    opt.apply_gradients([(bad, w)])
    assert opt.frozen.tolist() == [False, True, False]
    np.testing.assert_array_equal(w.value[1], frozen_value)
    for name, value in state_before.items():
        np.testing.assert_array_equal(opt.get_state(w)[name][1], value[1])
    # the others took a normal second step: same as a run that never saw the NaN
    twin = en.Variable(np.repeat(W0[None], 3, axis=0).astype(np.float32))
    other = make(lrs)
    opt2 = [(grad, twin)]
    other.apply_gradients(opt2)
    other.apply_gradients(opt2)
    np.testing.assert_array_equal(w.value[[0, 2]], twin.value[[0, 2]])
    assert np.all(np.isfinite(w.value))
    # and a non-finite loss freezes its member too
    loss = en.Tensor(np.array([1.0, 2.0, np.inf], dtype=np.float32))
    opt.compute_gradients(loss, [w])
    assert opt.frozen.tolist() == [False, True, True]
    opt.reset()
    assert not opt.frozen.any()


def test_lr_array_without_population_is_refused():
    opt = optimizers.SGD(0.1)
    opt.lr = np.array([0.1, 0.2])
    w = en.Variable(np.ones(2))
    with pytest.raises(en.EngineError, match="population"):
        opt.minimize(en.sum(w), [w])
