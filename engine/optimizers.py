"""Optimizers: SGD, Adam, Adagrad, Adadelta and RMSprop, with PyTorch's update rules.

Each follows the pseudo-code of torch.optim (and its default hyper-parameters), so a
run here and the same run in PyTorch follow the same trajectory up to float rounding.
The interface is TensorFlow's decomposition:

    opt = en.optimizers.Adam(lr=1e-3)
    grads_and_vars = opt.compute_gradients(loss, model.trainable_variables)
    opt.apply_gradients(grads_and_vars)      # or: opt.minimize(loss, var_list)

Variables are updated in place (views of their values stay valid), under `no_grad`,
in the Variable's dtype (float32 by default), with in-place numpy ops into scratch
buffers kept per Variable, because these run live while the user watches.

`opt.lr` is read at every step: a number (or array) that may be changed between steps,
or a function of no arguments called at every step (as Keras takes a callable learning
rate), so a live setting is followed without copying it by hand:
``Adam(lr=lambda: config.learning_rate)``.

Populations (K models in one set of Variables with a leading member axis): `lr` may
be an array of shape (K,) -- it broadcasts over each Variable's trailing axes -- or
pass ``population=K``. A member whose loss (or gradient) is not finite is frozen:
``opt.frozen[k]`` becomes True, its parameters and optimizer state stop changing,
and its non-finite values are masked out (``np.where``) before any arithmetic, so
they never reach the other members. Frozen members stay frozen until `reset`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence

import numpy as np

from engine.autodiff import gradients
from engine.tensor import EngineError, Tensor, Variable, no_grad

log = logging.getLogger(__name__)

GradsAndVars = list[tuple[np.ndarray, Variable]]


class Optimizer:
    """Base class: keeps per-Variable state and runs the subclass' `_update` on each."""

    #: names of the per-element state arrays a subclass keeps (all shaped like the var)
    slots: tuple[str, ...] = ()

    def __init__(self, lr, population: int | None = None) -> None:
        self.lr = lr
        lr_array = np.asarray(lr() if callable(lr) else lr)
        if lr_array.ndim > 1:
            raise EngineError(f"lr must be a number or an array of shape (K,), got {lr_array.shape}")
        if population is None and lr_array.ndim == 1:
            population = lr_array.shape[0]
        self.population: int | None = population
        #: members whose loss or gradient went non-finite (None without a population)
        self.frozen: np.ndarray | None = (
            np.zeros(population, dtype=bool) if population is not None else None
        )
        self.state: dict[int, dict] = {}
        self.iterations = 0

    # -- public interface -------------------------------------------------------------
    @property
    def diverged(self) -> np.ndarray | None:
        """The members frozen because they diverged (same array as `frozen`)."""
        return self.frozen

    def compute_gradients(self, loss: Tensor, var_list: Iterable[Variable]) -> GradsAndVars:
        """[(gradient as a numpy array, variable)] of `loss` (summed if not a scalar).

        For a population, a loss of shape (K,) freezes the members whose loss is not
        finite. The arrays returned are writable: editing one changes the update.
        """
        var_list = list(var_list)
        if self.population is not None and loss.shape == (self.population,):
            self._freeze(~np.isfinite(loss.value))
        grads = gradients(loss, var_list)
        return [(g if g.flags.writeable else g.copy(), v) for g, v in zip(grads, var_list)]

    def apply_gradients(self, grads_and_vars: Iterable[tuple[np.ndarray, Variable]]) -> None:
        """Update each variable in place from its gradient (a None gradient is skipped)."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        self.iterations += 1
        with no_grad():
            if self.population is None:
                lr = self._scalar_lr()
                for g, var in pairs:
                    if not isinstance(g, np.ndarray):
                        g = np.asarray(g)
                    self._update(g, var.value, self._state(var), lr)
            else:
                self._apply_population(pairs)

    def minimize(self, loss: Tensor, var_list: Iterable[Variable]) -> GradsAndVars:
        """compute_gradients then apply_gradients; returns the gradients used."""
        grads_and_vars = self.compute_gradients(loss, var_list)
        self.apply_gradients(grads_and_vars)
        return grads_and_vars

    def reset(self) -> None:
        """Forget all state (moments, step counts) and unfreeze every member."""
        self.state.clear()
        self.iterations = 0
        if self.frozen is not None:
            self.frozen[:] = False

    def get_state(self, var: Variable) -> dict:
        """The state kept for `var` (its slots and step count)."""
        return self._state(var)

    # -- helpers -------------------------------------------------------------------------
    def current_lr(self):
        """The learning rate of the next step (the function's value, if lr is one)."""
        return self.lr() if callable(self.lr) else self.lr

    def _scalar_lr(self) -> float:
        lr = self.current_lr()
        if isinstance(lr, float | int):
            return float(lr)
        lr = np.asarray(lr)
        if lr.ndim:
            raise EngineError(
                f"lr has shape {lr.shape} but this optimizer has no population; "
                "pass population=K"
            )
        return float(lr)

    def _state(self, var: Variable) -> dict:
        state = self.state.get(id(var))
        if state is None or state["var"] is not var:
            value = var.value
            state = {"var": var, "step": 0}
            for name in self.slots:
                state[name] = self._initial_slot(name, value)
            self.state[id(var)] = state
        return state

    def _initial_slot(self, name: str, value: np.ndarray) -> np.ndarray:
        return np.zeros_like(value)

    @staticmethod
    def _scratch(state: dict, key: str, like: np.ndarray) -> np.ndarray:
        buf = state.get(key)
        if buf is None:
            buf = state[key] = np.empty_like(like)
        return buf

    def _freeze(self, bad: np.ndarray) -> None:
        newly = bad & ~self.frozen
        if newly.any():
            log.info("population members %s diverged and are frozen", np.flatnonzero(newly))
            self.frozen |= newly

    def _apply_population(self, pairs: Sequence[tuple[np.ndarray, Variable]]) -> None:
        k = self.population
        lr = np.asarray(self.current_lr(), dtype=np.float64)
        if lr.ndim and lr.shape != (k,):
            raise EngineError(f"lr has shape {lr.shape} for a population of {k}")
        grads = []
        for g, var in pairs:
            g = np.asarray(g)
            if var.ndim == 0 or var.shape[0] != k:
                raise EngineError(
                    f"variable {var.name or ''} of shape {var.shape} has no leading axis "
                    f"of {k} members"
                )
            finite = np.isfinite(g).reshape(k, -1).all(axis=1)
            self._freeze(~finite)
            grads.append(g)
        frozen = np.flatnonzero(self.frozen)
        for g, (_, var) in zip(grads, pairs):
            value = var.value
            state = self._state(var)
            member = (k,) + (1,) * (value.ndim - 1)
            var_lr = lr.reshape(member).astype(value.dtype) if lr.ndim else float(lr)
            if not frozen.size:
                self._update(g, value, state, var_lr)
                continue
            # Keep the frozen members' rows, update everyone on masked (finite) gradients,
            # then put the kept rows back: their parameters and state never change.
            keep = self.frozen.reshape(member)
            g = np.where(keep, 0, g)
            saved = [value[frozen]] + [state[name][frozen] for name in self.slots]
            with np.errstate(all="ignore"):
                self._update(g, value, state, var_lr)
            value[frozen] = saved[0]
            for name, rows in zip(self.slots, saved[1:]):
                state[name][frozen] = rows

    def _with_weight_decay(self, g: np.ndarray, p: np.ndarray, state: dict, wd: float):
        """g + wd * p, in a scratch buffer (the caller's gradient is left as it is)."""
        if not wd:
            return g
        buf = self._scratch(state, "_grad", p)
        np.multiply(p, wd, out=buf)
        buf += g
        return buf

    def _update(self, g: np.ndarray, p: np.ndarray, state: dict, lr) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr!r})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov and L2.

    torch.optim.SGD: g <- g + wd p; with momentum mu: b <- g at the first step, else
    b <- mu b + (1 - dampening) g; g <- g + mu b (Nesterov) or b; then p <- p - lr g.
    """

    def __init__(
        self,
        lr=1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        population: int | None = None,
    ) -> None:
        if nesterov and (momentum <= 0 or dampening != 0):
            raise EngineError("SGD: Nesterov momentum needs momentum > 0 and dampening 0")
        super().__init__(lr, population)
        self.momentum = float(momentum)
        self.dampening = float(dampening)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)
        self.slots = ("momentum_buffer",) if self.momentum else ()

    def _update(self, g, p, state, lr) -> None:
        state["step"] += 1
        if self.weight_decay:
            g = self._with_weight_decay(g, p, state, self.weight_decay)
        tmp = state.get("_tmp")
        if tmp is None:
            tmp = state["_tmp"] = np.empty_like(p)
        mu = self.momentum
        if mu:
            buf = state["momentum_buffer"]
            if state["step"] == 1:
                np.copyto(buf, g)
            else:
                buf *= mu
                if self.dampening:
                    np.multiply(g, 1 - self.dampening, out=tmp)
                    buf += tmp
                else:
                    buf += g
            if self.nesterov:
                np.multiply(buf, mu, out=tmp)
                tmp += g
                tmp *= lr
                p -= tmp
                return
            g = buf
        np.multiply(g, lr, out=tmp)
        p -= tmp


class Adam(Optimizer):
    """Adam (Kingma and Ba 2015) as torch.optim.Adam (weight decay is the L2 kind, not AdamW).

    g <- g + wd p; m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    With amsgrad (Reddi et al. 2018), as torch: v_max <- max(v_max, v), and v_max
    takes the place of v in the step, so no element's step size ever grows back.
    """

    def __init__(
        self,
        lr=1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        population: int | None = None,
    ) -> None:
        super().__init__(lr, population)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.amsgrad = bool(amsgrad)
        self.slots = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())

    def _update(self, g, p, state, lr) -> None:
        state["step"] = t = state["step"] + 1
        beta1, beta2 = self.betas
        g = self._with_weight_decay(g, p, state, self.weight_decay)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        tmp = self._scratch(state, "_tmp", p)
        # m <- m + (1 - b1)(g - m), torch's lerp
        np.subtract(g, m, out=tmp)
        tmp *= 1 - beta1
        m += tmp
        # v <- b2 v + (1 - b2) g^2
        v *= beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - beta2
        v += tmp
        if self.amsgrad:
            # torch keeps the largest v seen (before bias correction) and steps with it
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        step_size = lr / (1 - beta1**t)
        bias_correction2_sqrt = math.sqrt(1 - beta2**t)
        # m / (sqrt(v) / c2 + eps) = m c2 / (sqrt(v) + eps c2): one pass fewer over the arrays
        np.sqrt(v, out=tmp)
        tmp += self.eps * bias_correction2_sqrt
        np.divide(m, tmp, out=tmp)
        tmp *= step_size * bias_correction2_sqrt
        p -= tmp


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011) as torch.optim.Adagrad.

    clr = lr / (1 + (t - 1) lr_decay); g <- g + wd p; s <- s + g^2;
    p <- p - clr g / (sqrt(s) + eps), with s starting at initial_accumulator_value.
    """

    slots = ("sum",)

    def __init__(
        self,
        lr=1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        population: int | None = None,
    ) -> None:
        super().__init__(lr, population)
        self.lr_decay = float(lr_decay)
        self.weight_decay = float(weight_decay)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.eps = float(eps)

    def _initial_slot(self, name, value):
        return np.full_like(value, self.initial_accumulator_value)

    def _update(self, g, p, state, lr) -> None:
        state["step"] = t = state["step"] + 1
        g = self._with_weight_decay(g, p, state, self.weight_decay)
        clr = lr / (1 + (t - 1) * self.lr_decay)
        total = state["sum"]
        tmp = self._scratch(state, "_tmp", p)
        np.multiply(g, g, out=tmp)
        total += tmp
        np.sqrt(total, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        tmp *= clr
        p -= tmp


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012) as torch.optim.Adadelta.

    g <- g + wd p; v <- rho v + (1 - rho) g^2;
    d = sqrt(u + eps) / sqrt(v + eps) * g; u <- rho u + (1 - rho) d^2; p <- p - lr d.
    """

    slots = ("square_avg", "acc_delta")

    def __init__(
        self,
        lr=1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        population: int | None = None,
    ) -> None:
        super().__init__(lr, population)
        self.rho = float(rho)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)

    def _update(self, g, p, state, lr) -> None:
        state["step"] += 1
        rho, eps = self.rho, self.eps
        g = self._with_weight_decay(g, p, state, self.weight_decay)
        v, u = state["square_avg"], state["acc_delta"]
        tmp = self._scratch(state, "_tmp", p)
        delta = self._scratch(state, "_delta", p)
        v *= rho
        np.multiply(g, g, out=tmp)
        tmp *= 1 - rho
        v += tmp
        # delta = sqrt(u + eps) / sqrt(v + eps) * g
        np.add(v, eps, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.add(u, eps, out=delta)
        np.sqrt(delta, out=delta)
        delta /= tmp
        delta *= g
        u *= rho
        np.multiply(delta, delta, out=tmp)
        tmp *= 1 - rho
        u += tmp
        delta *= lr
        p -= delta


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e) as torch.optim.RMSprop.

    g <- g + wd p; v <- alpha v + (1 - alpha) g^2; centered: a <- alpha a + (1 - alpha) g,
    denominator sqrt(v - a^2) + eps, else sqrt(v) + eps; with momentum mu:
    b <- mu b + g / denominator, p <- p - lr b; else p <- p - lr g / denominator.
    """

    def __init__(
        self,
        lr=1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        population: int | None = None,
    ) -> None:
        super().__init__(lr, population)
        self.alpha = float(alpha)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.momentum = float(momentum)
        self.centered = bool(centered)
        self.slots = (
            ("square_avg",)
            + (("grad_avg",) if self.centered else ())
            + (("momentum_buffer",) if self.momentum else ())
        )

    def _update(self, g, p, state, lr) -> None:
        state["step"] += 1
        alpha = self.alpha
        g = self._with_weight_decay(g, p, state, self.weight_decay)
        v = state["square_avg"]
        tmp = self._scratch(state, "_tmp", p)
        v *= alpha
        np.multiply(g, g, out=tmp)
        tmp *= 1 - alpha
        v += tmp
        if self.centered:
            a = state["grad_avg"]
            np.subtract(g, a, out=tmp)  # a <- a + (1 - alpha)(g - a), torch's lerp
            tmp *= 1 - alpha
            a += tmp
            np.multiply(a, a, out=tmp)
            np.subtract(v, tmp, out=tmp)
            np.sqrt(tmp, out=tmp)
        else:
            np.sqrt(v, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        if self.momentum:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += tmp
            np.multiply(buf, lr, out=tmp)
        else:
            tmp *= lr
        p -= tmp


_BY_NAME = {
    "sgd": SGD,
    "adam": Adam,
    "adagrad": Adagrad,
    "adadelta": Adadelta,
    "rmsprop": RMSprop,
}
# SGD with momentum, named as the labs offer them: torch's usual 0.9.
_PRESETS = {
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9, "nesterov": True},
}


def get(name: str, **kwargs) -> Optimizer:
    """An optimizer by name, in any case: "sgd", "momentum" and "nesterov" (SGD with
    momentum 0.9), "adam", "adagrad", "adadelta", "rmsprop"; `kwargs` go to its class
    (lr, population, ...). The one lookup every experiment uses."""
    key = name.strip().lower()
    if key in _PRESETS:
        return SGD(**{**_PRESETS[key], **kwargs})
    try:
        cls = _BY_NAME[key]
    except KeyError:
        known = ", ".join([*_BY_NAME, *_PRESETS])
        raise ValueError(f"unknown optimizer {name!r}; known: {known}") from None
    return cls(**kwargs)
