"""Shared by the engine's tests: gradients checked against central differences."""

import numpy as np

import engine as en


def check_gradient(f, *values, rtol=1e-5, atol=1e-6):
    """Assert that `gradients` of sum(f(*xs)) matches numerical_gradients, in float64."""
    xs = [en.Variable(np.array(v, dtype=np.float64)) for v in values]
    analytic = en.gradients(f(*xs), xs)
    numeric = en.numerical_gradients(f, xs)
    for a, n, x in zip(analytic, numeric, xs):
        assert a.shape == x.shape
        np.testing.assert_allclose(a, n, rtol=rtol, atol=atol)


def rand(seed, shape, low=-2.0, high=2.0):
    """Seeded uniform values: every check is reproducible."""
    return np.random.default_rng(seed).uniform(low, high, size=shape)
