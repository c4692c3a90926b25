"""2-D convolution and max pooling on NHWC images with HWIO kernels, as TensorFlow.

Two ways to compute a convolution, both a few large matrix products (BLAS does the
arithmetic; numpy only moves data):

* Shifted rows (stride 1, a kernel that wants no gradient, enough input channels:
  the frozen filters of style transfer): the zero-padded images are laid out as one
  matrix of pixel rows, Wp (padded width) pixels to an image row. Kernel tap (i, j)
  then reads the same matrix shifted down by i*Wp + j rows, a contiguous slice: the
  output is the sum over taps of slice @ W[i, j], accumulated in place by BLAS's gemm
  (beta = 1), with no patch matrix at all. Outputs are computed on the padded grid and
  the few columns past the image's edge are dropped.
* im2col (otherwise): every kh x kw patch becomes a row of a matrix, copied once
  into one new buffer, times the kernel reshaped to (kh*kw*Cin, Cout). When the
  kernel will want its gradient (training), the matrix is kept with the op, so
  dW = patches^T dY is one product.

The input's gradient of a stride-1 convolution is the shifted-rows sum run backwards:
each tap adds dY W[i, j]^T onto the rows it read, in place, nine products and no
patch matrix. Other strides add dY W[i, j]^T onto each tap's strided grid of input
pixels (col2im, without a matrix of patch gradients).

Gradients are Deferred: one nobody asks for (the kernel of a network that only
optimises its input image, or a data batch) is never computed. Everything stays in
the inputs' dtype: float32 in, float32 temporaries and float32 out.

Both ops accept an optional leading population axis K (docs/labs.md, "Engine conventions"):
w of shape (K, kh, kw, Cin, Cout) with x of shape (K, N, H, W, Cin) or (N, H, W, Cin)
trains K models in one batched matrix product (im2col path).
"""

from __future__ import annotations

import ctypes
import functools
import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.autodiff import Deferred
from engine.registry import register_gradient
from engine.tensor import EngineError, Tensor, Variable, as_tensor, is_recording, record


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


# The shifted-rows products have Cin as their inner dimension: below this many input
# channels they are too thin for BLAS to run near its peak, and im2col's single product
# with an inner dimension of kh*kw*Cin is faster.
SHIFTED_ROWS_MIN_CHANNELS = 32
# Below this many output pixels per image, the padded grid's extra columns and rows are
# a large share of the work and the products are short: im2col (and col2im) win.
SHIFTED_ROWS_MIN_PIXELS = 32 * 32


# Convolutions of real images make and free arrays of tens of MB at every step. glibc
# hands any block over its mmap threshold (at most 32 MB) back to the system when it is
# freed, and the next step's array of the same size is faulted back in 4 KB page by
# page: a third of a 256 px style step went to that. Past this many bytes of input or
# output (taking stride 1) in one convolution, glibc is told to keep freed memory for
# reuse instead; the process then holds on to its largest heap until it ends.
LARGE_CONVOLUTION_BYTES = 2 * 2**20


@functools.cache
def keep_freed_memory() -> bool:
    """Tell glibc's malloc to reuse freed blocks rather than return them to the system
    (mallopt M_MMAP_THRESHOLD and M_TRIM_THRESHOLD at 1 GiB). Once per process; False
    where there is no glibc (nothing changes there)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    return bool(mallopt(m_mmap_threshold, 2**30)) and bool(mallopt(m_trim_threshold, 2**30))


@functools.cache
def _gemm(dtype: np.dtype):
    """BLAS's gemm for this dtype (C = alpha op(A) op(B) + beta C, in place on a
    Fortran-ordered C), or None. numpy's matmul cannot accumulate into its output."""
    from scipy.linalg import blas

    return {np.dtype(np.float32): blas.sgemm, np.dtype(np.float64): blas.dgemm}.get(dtype)


class _ShiftedRows:
    """Geometry of a stride-1 convolution on the padded images as rows of pixels.

    The padded images (N, Hp, Wp, C) are stored as one (N*Hp*Wp + kw - 1, C) matrix
    (the extra zero rows let the last taps' slices run past the end). Output pixel
    (n, r, c) is computed at row p = (n*Hp + r)*Wp + c of an (N*Hp*Wp, Cout) grid;
    tap (i, j) reads input row p + i*Wp + j. Only the first `rows` grid rows are
    computed; the grid's columns c >= Wo (and rows r >= Ho) are dropped.

    All products are done transposed, because BLAS is column-major: a C-ordered
    (rows, C) matrix is a Fortran-ordered (C, rows) one, so `a.T` passes without a copy.
    """

    def __init__(self, shape, kh: int, kw: int, pad_h, pad_w) -> None:
        self.n, self.h, self.w, _ = shape
        self.kh, self.kw, self.pad_h, self.pad_w = kh, kw, pad_h, pad_w
        self.hp, self.wp = self.h + sum(pad_h), self.w + sum(pad_w)
        self.out_h, self.out_w = self.hp - kh + 1, self.wp - kw + 1
        self.grid = self.n * self.hp * self.wp
        self.rows = self.grid - (kh - 1) * self.wp  # the last image's bottom rows: unused
        self.offsets = [i * self.wp + j for i in range(kh) for j in range(kw)]

    def padded(self, x: np.ndarray) -> np.ndarray:
        """x (N, H, W, C) as the zero-padded row matrix."""
        flat = np.zeros((self.grid + self.kw - 1, x.shape[-1]), x.dtype)
        top, left = self.pad_h[0], self.pad_w[0]
        flat[: self.grid].reshape(self.n, self.hp, self.wp, -1)[
            :, top : top + self.h, left : left + self.w] = x
        return flat

    def on_grid(self, y: np.ndarray) -> np.ndarray:
        """y (N, Ho, Wo, C) placed on the (grid, C) output grid, zeros elsewhere."""
        out = np.zeros((self.grid, y.shape[-1]), y.dtype)
        out.reshape(self.n, self.hp, self.wp, -1)[:, : self.out_h, : self.out_w] = y
        return out

    def off_grid(self, grid: np.ndarray) -> np.ndarray:
        """The (N, Ho, Wo, C) outputs of a (grid, C) matrix: a view (the next op makes
        a new array anyway; a copy here would cost a pass over the output)."""
        images = grid[: self.grid].reshape(self.n, self.hp, self.wp, -1)
        return images[:, : self.out_h, : self.out_w]

    def forward(self, x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        """sum over taps of shifted rows @ W[i, j]: (N, Ho, Wo, Cout)."""
        gemm = _gemm(x.dtype)
        flat = self.padded(x)
        kernel = np.ascontiguousarray(kernel).reshape(self.kh * self.kw, *kernel.shape[-2:])
        out = np.empty((self.grid, kernel.shape[-1]), x.dtype)
        acc = out[: self.rows].T  # (Cout, rows), Fortran-ordered
        for tap, offset in enumerate(self.offsets):
            # acc = W[i, j]^T @ rows^T (+ acc): W[i, j] (Cin, Cout) C-ordered is W^T Fortran.
            acc = gemm(1.0, kernel[tap].T, flat[offset : offset + self.rows].T,
                       beta=0.0 if tap == 0 else 1.0, c=acc, overwrite_c=1)
        if not np.shares_memory(acc, out):  # never happens: BLAS wrote to a copy
            out[: self.rows] = acc.T
        return self.off_grid(out)

    def input_gradient(self, dy_grid: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        """dX: each tap adds dY W[i, j]^T onto the rows it read. (N, H, W, Cin)."""
        gemm = _gemm(dy_grid.dtype)
        kernel = np.ascontiguousarray(kernel).reshape(self.kh * self.kw, *kernel.shape[-2:])
        dflat = np.zeros((self.grid + self.kw - 1, kernel.shape[-2]), dy_grid.dtype)
        dy_t = dy_grid[: self.rows].T  # (Cout, rows), Fortran-ordered
        for tap, offset in enumerate(self.offsets):
            target = dflat[offset : offset + self.rows].T  # (Cin, rows), a view
            # target += W[i, j] @ dY^T (kernel[tap].T is W[i, j] Fortran-ordered, transposed)
            result = gemm(1.0, kernel[tap].T, dy_t, beta=1.0, c=target, overwrite_c=1,
                          trans_a=1)
            if not np.shares_memory(result, dflat):  # never happens: BLAS wrote to a copy
                target[...] = result
        top, left = self.pad_h[0], self.pad_w[0]
        images = dflat[: self.grid].reshape(self.n, self.hp, self.wp, -1)
        return images[:, top : top + self.h, left : left + self.w]


# From this many input channels on, im2col copies a whole tap at a time (long runs of
# channels); below, one copy of the strided window view, in the matrix's order, is faster.
IM2COL_TAP_COPY_MIN_CHANNELS = 64


def _im2col(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, out_h: int,
            out_w: int) -> np.ndarray:
    """(..., N*Ho*Wo, kh*kw*C): every window of the padded input as a row, channels
    last within a tap and taps in row-major order (the HWIO kernel's order), copied
    once into one new buffer."""
    channels = xp.shape[-1]
    if channels < IM2COL_TAP_COPY_MIN_CHANNELS:
        windows = sliding_window_view(xp, (kh, kw), axis=(-3, -2))  # (..., H', W', C, kh, kw)
        windows = np.moveaxis(windows[..., ::sh, ::sw, :, :, :], -3, -1)
        return windows.reshape(*xp.shape[:-4], -1, kh * kw * channels)  # the copy
    cols = np.empty((*xp.shape[:-3], out_h, out_w, kh, kw, channels), xp.dtype)
    for (i, j), (rows, columns) in _taps(kh, kw, (sh, sw), out_h, out_w):
        cols[..., i, j, :] = xp[..., rows, columns, :]
    return cols.reshape(*xp.shape[:-4], -1, kh * kw * channels)


def _may_need_gradient(t: Tensor) -> bool:
    """A Variable or an op's output can be asked for its gradient; a constant cannot."""
    return t.op is not None or isinstance(t, Variable)


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
    if x.ndim == 5 and w.ndim == 5 and x.shape[0] != w.shape[0]:
        raise EngineError(
            f"conv2d: population axes of input {x.shape} and kernel {w.shape} do not match"
        )
    attrs = {"stride": (sh, sw), "pad_h": pad_h, "pad_w": pad_w}
    if max(x.value.nbytes, x.value.nbytes // max(cin, 1) * cout) >= LARGE_CONVOLUTION_BYTES:
        keep_freed_memory()

    # A kernel that will want its gradient (training) goes by im2col: the patch matrix
    # is kept, and dW = patches^T dY is one product, faster than nine thin ones.
    keep_patches = is_recording() and _may_need_gradient(w)
    if not keep_patches and cin >= SHIFTED_ROWS_MIN_CHANNELS:
        shifted = _shifted_rows(x.value, w.value, (sh, sw), pad_h, pad_w)
        if shifted is not None:
            return record("Conv2D", shifted.forward(x.value, w.value), (x, w), **attrs)

    xp = _pad(x.value, pad_h, pad_w)
    out_h, out_w = (xp.shape[-3] - kh) // sh + 1, (xp.shape[-2] - kw) // sw + 1
    cols = _im2col(xp, kh, kw, sh, sw, out_h, out_w)  # (..., N*Ho*Wo, kh*kw*Cin)
    kernel = w.value.reshape(*w.shape[:-4], kh * kw * cin, cout)
    out = np.matmul(cols, kernel)  # (..., N*Ho*Wo, Cout)
    value = out.reshape(*out.shape[:-2], x.shape[-4], out_h, out_w, cout)
    if keep_patches:
        attrs["cols"] = cols
    return record("Conv2D", value, (x, w), **attrs)


def _shifted_rows(x: np.ndarray, w: np.ndarray, stride, pad_h, pad_w) -> _ShiftedRows | None:
    """The shifted-rows geometry when it applies (stride 1, no population axis, a
    dtype BLAS has, images large enough), else None."""
    if stride != (1, 1) or x.ndim != 4 or w.ndim != 4 or x.dtype != w.dtype:
        return None
    if _gemm(x.dtype) is None:
        return None
    shifted = _ShiftedRows(x.shape, *w.shape[:2], pad_h, pad_w)
    return shifted if shifted.out_h * shifted.out_w >= SHIFTED_ROWS_MIN_PIXELS else None


@register_gradient("Conv2D")
def _conv2d_grad(op, grad):
    """With P the im2col patch matrix and Y = P W (W the kernel as a matrix):
    dW = P^T dY (P kept from the forward pass when the kernel was expected to want
    it). For the input, kernel tap (i, j) of every window saw the input pixel
    (i + sh*r, j + sw*c), so that pixel gets dY W[i, j]^T; windows overlap, so these
    add up (by shifted rows at stride 1, col2im otherwise). Finally the padding is cut
    off. Both are Deferred: computed only if the reverse walk wants them.
    """
    x, w = op.inputs
    pad_h, pad_w, stride = op.attrs["pad_h"], op.attrs["pad_w"], op.attrs["stride"]
    grad = np.asarray(grad, dtype=np.result_type(x.dtype, w.dtype))
    shifted = _shifted_rows(x.value, w.value, stride, pad_h, pad_w)
    if shifted is not None:
        dx = Deferred(lambda: shifted.input_gradient(shifted.on_grid(grad), w.value))
    else:
        dx = Deferred(lambda: _col2im_input_gradient(grad, w.value, x.shape, stride, pad_h,
                                                     pad_w))

    def patches() -> np.ndarray:
        cols = op.attrs.get("cols")
        if cols is None:  # a kernel that was not expected to want its gradient
            cols = _im2col(_pad(x.value, pad_h, pad_w), *w.shape[-4:-2], *stride,
                           *grad.shape[-3:-1])
        return cols

    dw = Deferred(lambda: _im2col_kernel_gradient(patches(), grad, w.shape))
    return [dx, dw]


def _im2col_kernel_gradient(cols: np.ndarray, grad: np.ndarray, w_shape) -> np.ndarray:
    """dW = P^T dY, with a population axis in either if the op had one."""
    dy = np.ascontiguousarray(grad).reshape(*grad.shape[:-4], -1, grad.shape[-1])
    dw = np.matmul(np.swapaxes(cols, -1, -2), dy)
    return dw.reshape(*dw.shape[:-2], *w_shape[-4:])


def _col2im_input_gradient(grad, kernel, x_shape, stride, pad_h, pad_w) -> np.ndarray:
    """One small product per kernel tap, added straight onto the pixels it touched: no
    (N*Ho*Wo, kh*kw*Cin) matrix of patch gradients is ever made."""
    kh, kw, cin, cout = kernel.shape[-4:]
    height, width = x_shape[-3:-1]
    out_h, out_w = grad.shape[-3:-1]
    dy = np.ascontiguousarray(grad).reshape(*grad.shape[:-4], -1, cout)  # (..., N*Ho*Wo, Cout)
    padded = (height + sum(pad_h), width + sum(pad_w), cin)
    dxp = np.zeros((*grad.shape[:-3], *padded), dtype=dy.dtype)
    for (i, j), (rows, columns) in _taps(kh, kw, stride, out_h, out_w):
        tap_kernel_t = np.swapaxes(kernel[..., i, j, :, :], -1, -2)  # (..., Cout, Cin)
        tap_grad = np.matmul(dy, tap_kernel_t)  # (..., N*Ho*Wo, Cin)
        dxp[..., rows, columns, :] += tap_grad.reshape(*grad.shape[:-1], cin)
    top, left = pad_h[0], pad_w[0]
    return dxp[..., top : top + height, left : left + width, :]


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
    # The elementwise max of the kh*kw strided views, one per window offset, into one
    # array: a few passes over the data, no window array is ever built.
    views = [x.value[..., r, c, :] for _, (r, c) in _taps(kh, kw, (sh, sw), out_h, out_w)]
    value = views[0].copy() if len(views) == 1 else np.maximum(views[0], views[1])
    for view in views[2:]:
        np.maximum(value, view, out=value)
    return record("MaxPool2D", value, (x,), size=(kh, kw), stride=(sh, sw))


@register_gradient("MaxPool2D")
def _max_pool2d_grad(op, grad):
    """Each window's gradient goes to its largest input (the first one on ties); the
    other inputs of the window get 0. Overlapping windows add up.
    """
    (x,) = op.inputs
    y = op.output.value
    (kh, kw), stride = op.attrs["size"], op.attrs["stride"]
    taps = list(_taps(kh, kw, stride, *y.shape[-3:-1]))
    if stride[0] >= kh and stride[1] >= kw:  # windows do not overlap (2x2, stride 2)
        covered = (kh, kw) == tuple(stride) and y.shape[-3] * kh == x.shape[-3] \
            and y.shape[-2] * kw == x.shape[-2]
        return [_disjoint_max_pool2d_grad(x.value, y, grad, taps, covered)]
    dx = np.zeros(x.shape, dtype=grad.dtype)
    taken = np.zeros(y.shape, dtype=bool)  # windows whose maximum was found already
    # Visit the window offsets in row-major order, so the first maximum wins a tie.
    for _, (rows, columns) in taps:
        first = (x.value[..., rows, columns, :] == y) & ~taken
        dx[..., rows, columns, :] += grad * first
        taken |= first
    return [dx]


def _disjoint_max_pool2d_grad(x: np.ndarray, y: np.ndarray, grad: np.ndarray, taps: list,
                              covered: bool) -> np.ndarray:
    """The gradient of a pool whose windows do not overlap: every input pixel is in at
    most one window, so each offset's share is written, not added (no boolean passes
    over the input, none on the gradient). `covered`: the windows cover every pixel."""
    dx = (np.empty if covered else np.zeros)(x.shape, dtype=grad.dtype)
    taken = None  # windows whose maximum has its gradient already (ties: the first wins)
    for _, (rows, columns) in taps:
        first = np.equal(x[..., rows, columns, :], y)
        if taken is not None:
            np.greater(first, taken, out=first)  # equal, and not taken before
        np.multiply(grad, first, out=dx[..., rows, columns, :])
        taken = first if taken is None else np.logical_or(taken, first, out=taken)
    return dx
