"""2-D convolution and max pooling on NHWC images with HWIO kernels, as TensorFlow.

The convolution is im2col + one matrix product: every kh x kw patch of the (padded)
input is laid out as a row (a strided view, copied once into a contiguous matrix),
and that matrix times the kernel, reshaped to (kh*kw*Cin, Cout), is the output. The
backward pass gets dW = patches^T dY from the same matrix, and the input's gradient
one kernel tap at a time: tap (i, j) touched a shifted, strided grid of input pixels,
which receives dY W[i, j]^T (col2im, without building the big matrix of patch gradients).

Both ops accept an optional leading population axis K (DESIGN.md, "Populations"):
w of shape (K, kh, kw, Cin, Cout) with x of shape (K, N, H, W, Cin) or (N, H, W, Cin)
trains K models in one batched matrix product.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.registry import register_gradient
from engine.tensor import EngineError, Tensor, as_tensor, record


def _two_ints(name: str, what: str, value) -> tuple[int, int]:
    """`value` as a (rows, columns) pair of positive ints; one int means both."""
    pair = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int | np.integer) and v >= 1 for v in pair):
        raise EngineError(f"{name}: {what} must be a positive int or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME: output ceil(size / stride); the odd pixel of padding goes last."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _patches(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int) -> np.ndarray:
    """Every kh x kw window of the padded input, as a view of shape (..., Ho, Wo, kh, kw, C)."""
    windows = sliding_window_view(xp, (kh, kw), axis=(-3, -2))  # (..., H', W', C, kh, kw)
    windows = windows[..., ::sh, ::sw, :, :, :]
    return np.moveaxis(windows, -3, -1)  # channels last, matching the HWIO kernel's order


def _taps(kh: int, kw: int, stride: tuple[int, int], out_h: int, out_w: int):
    """For each kernel offset (i, j), in row-major order: the slices of rows and columns
    of the (padded) input that offset touches in the out_h x out_w windows."""
    sh, sw = stride
    for i in range(kh):
        for j in range(kw):
            rows = slice(i, i + sh * (out_h - 1) + 1, sh)
            columns = slice(j, j + sw * (out_w - 1) + 1, sw)
            yield (i, j), (rows, columns)


def _pad(x: np.ndarray, pad_h: tuple[int, int], pad_w: tuple[int, int]) -> np.ndarray:
    """Zero-pad the H and W axes of (..., H, W, C) images (no copy when there is no padding)."""
    if not any(pad_h) and not any(pad_w):
        return x
    return np.pad(x, [(0, 0)] * (x.ndim - 3) + [pad_h, pad_w, (0, 0)])


def conv2d(x, w, stride: int | tuple[int, int] = 1, padding: str = "VALID") -> Tensor:
    """2-D cross-correlation (what deep learning calls convolution), as tf.nn.conv2d.

    x: (N, H, W, Cin) images (or (K, N, H, W, Cin)); w: (kh, kw, Cin, Cout) kernel
    (or (K, kh, kw, Cin, Cout)). padding "VALID" uses only whole windows; "SAME"
    zero-pads so the output is ceil(H / stride) x ceil(W / stride).
    Returns (N, Ho, Wo, Cout), with a leading K if either input has one.
    """
    x = as_tensor(x)
    w = as_tensor(w, like=x)
    if x.ndim not in (4, 5) or w.ndim not in (4, 5):
        raise EngineError(
            f"conv2d: needs NHWC images (N, H, W, Cin) and an HWIO kernel (kh, kw, Cin, Cout), "
            f"each optionally with a leading population axis; got {x.shape} and {w.shape}"
        )
    kh, kw, cin, cout = w.shape[-4:]
    height, width = x.shape[-3:-1]
    if x.shape[-1] != cin:
        raise EngineError(
            f"conv2d: input {x.shape} has {x.shape[-1]} channels, kernel {w.shape} expects {cin}"
        )
    sh, sw = _two_ints("conv2d", "stride", stride)
    mode = str(padding).upper()
    if mode == "SAME":
        pad_h, pad_w = _same_padding(height, kh, sh), _same_padding(width, kw, sw)
    elif mode == "VALID":
        pad_h = pad_w = (0, 0)
    else:
        raise EngineError(f"conv2d: padding must be 'VALID' or 'SAME', got {padding!r}")
    if height + sum(pad_h) < kh or width + sum(pad_w) < kw:
        raise EngineError(f"conv2d: kernel {kh}x{kw} is larger than the input {height}x{width}")

    # (..., N, Ho, Wo, kh, kw, Cin): a view of the padded input, nothing copied yet.
    patches = _patches(_pad(x.value, pad_h, pad_w), kh, kw, sh, sw)
    out_h, out_w = patches.shape[-5:-3]
    # im2col: one row per output pixel (the only big copy), then one matrix product.
    cols = patches.reshape(*x.shape[:-4], -1, kh * kw * cin)
    kernel = w.value.reshape(*w.shape[:-4], kh * kw * cin, cout)
    try:
        out = np.matmul(cols, kernel)  # (..., N*Ho*Wo, Cout)
    except ValueError:
        raise EngineError(
            f"conv2d: population axes of input {x.shape} and kernel {w.shape} do not match"
        ) from None
    value = out.reshape(*out.shape[:-2], x.shape[-4], out_h, out_w, cout)
    return record("Conv2D", value, (x, w), stride=(sh, sw), pad_h=pad_h, pad_w=pad_w)


@register_gradient("Conv2D")
def _conv2d_grad(op, grad):
    """With P the im2col patch matrix and Y = P W (W the kernel as a matrix):
    dW = P^T dY.  For the input, kernel tap (i, j) of every window saw the input pixel
    (i + sh*r, j + sw*c), so that pixel gets dY W[i, j]^T; windows overlap, so these
    add up (col2im). Finally the padding is cut off.
    """
    x, w = op.inputs
    kh, kw, cin, cout = w.shape[-4:]
    pad_h, pad_w = op.attrs["pad_h"], op.attrs["pad_w"]
    height, width = x.shape[-3:-1]
    out_h, out_w = grad.shape[-3:-1]
    dy = np.ascontiguousarray(grad).reshape(*grad.shape[:-4], -1, cout)  # (..., N*Ho*Wo, Cout)

    xp = _pad(x.value, pad_h, pad_w)
    # Recomputing the patch matrix costs one copy; keeping it from the forward pass
    # would hold kh*kw times the input in memory for as long as the graph lives.
    cols = _patches(xp, kh, kw, *op.attrs["stride"]).reshape(*x.shape[:-4], -1, kh * kw * cin)
    dw = np.matmul(np.swapaxes(cols, -1, -2), dy)
    dw = dw.reshape(*dw.shape[:-2], kh, kw, cin, cout)

    # One small product per kernel tap, added straight onto the pixels it touched: no
    # (N*Ho*Wo, kh*kw*Cin) matrix of patch gradients is ever made.
    dxp = np.zeros((*grad.shape[:-3], *xp.shape[-3:]), dtype=dy.dtype)
    for (i, j), (rows, columns) in _taps(kh, kw, op.attrs["stride"], out_h, out_w):
        tap_kernel_t = np.swapaxes(w.value[..., i, j, :, :], -1, -2)  # (..., Cout, Cin)
        tap_grad = np.matmul(dy, tap_kernel_t)  # (..., N*Ho*Wo, Cin)
        dxp[..., rows, columns, :] += tap_grad.reshape(*grad.shape[:-1], cin)
    top, left = pad_h[0], pad_w[0]
    dx = dxp[..., top : top + height, left : left + width, :]
    return [dx, dw]


def max_pool2d(x, size: int | tuple[int, int] = 2, stride: int | tuple[int, int] = 2) -> Tensor:
    """Max over each window of NHWC images, windows `stride` apart (VALID).

    `size` and `stride` are an int or a (rows, columns) pair, as in `conv2d`.
    x: (N, H, W, C), or with a leading population axis. Returns (N, Ho, Wo, C) with
    Ho = (H - size_rows) // stride_rows + 1 (rows and columns that fit no whole window
    are dropped).
    """
    x = as_tensor(x)
    kh, kw = _two_ints("max_pool2d", "size", size)
    sh, sw = _two_ints("max_pool2d", "stride", stride)
    if x.ndim not in (4, 5):
        raise EngineError(f"max_pool2d: needs NHWC images (N, H, W, C), got shape {x.shape}")
    height, width = x.shape[-3:-1]
    if height < kh or width < kw:
        raise EngineError(f"max_pool2d: window {kh}x{kw} is larger than {height}x{width}")
    out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
    # The elementwise max of the kh*kw strided views, one per window offset:
    # a few passes over the data, no window array is ever built.
    taps = _taps(kh, kw, (sh, sw), out_h, out_w)
    value = functools.reduce(np.maximum, (x.value[..., r, c, :] for _, (r, c) in taps))
    return record("MaxPool2D", value, (x,), size=(kh, kw), stride=(sh, sw))


@register_gradient("MaxPool2D")
def _max_pool2d_grad(op, grad):
    """Each window's gradient goes to its largest input (the first one on ties); the
    other inputs of the window get 0. Overlapping windows add up.
    """
    (x,) = op.inputs
    y = op.output.value
    (kh, kw), stride = op.attrs["size"], op.attrs["stride"]
    dx = np.zeros(x.shape, dtype=grad.dtype)
    taken = np.zeros(y.shape, dtype=bool)  # windows whose maximum was found already
    # Visit the window offsets in row-major order, so the first maximum wins a tie.
    for _, (rows, columns) in _taps(kh, kw, stride, *y.shape[-3:-1]):
        first = (x.value[..., rows, columns, :] == y) & ~taken
        dx[..., rows, columns, :] += grad * first
        taken |= first
    return [dx]
