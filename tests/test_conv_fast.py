"""engine.nn.conv's two ways of convolving (shifted rows and im2col) against each other,
the naive loop and central differences; dtypes kept; gradients nobody asks for not made."""

import numpy as np
import pytest
from gradcheck import check_gradient, rand
from test_nn import naive_conv2d

import engine as en
import engine.nn as nn
from engine.nn import conv


@pytest.fixture
def shifted_rows_always(monkeypatch):
    """Every stride-1 convolution of a frozen kernel, and every stride-1 input gradient,
    by shifted rows, however few the input channels and small the images."""
    monkeypatch.setattr(conv, "SHIFTED_ROWS_MIN_CHANNELS", 1)
    monkeypatch.setattr(conv, "SHIFTED_ROWS_MIN_PIXELS", 1)


@pytest.fixture
def shifted_rows_for_wide_inputs(monkeypatch):
    """The default choice, but for images of any size (tests use small ones)."""
    monkeypatch.setattr(conv, "SHIFTED_ROWS_MIN_PIXELS", 1)


@pytest.fixture
def im2col_always(monkeypatch):
    """Every convolution and every gradient by im2col and col2im."""
    monkeypatch.setattr(conv, "_shifted_rows", lambda *args: None)


def conv_and_gradients(x, kernel, padding, stride=1, weights=None):
    """Output, dX and dW of sum(conv2d(x, kernel) * weights), as arrays."""
    xv, wv = en.Variable(x), en.Variable(kernel)
    y = nn.conv2d(xv, wv, stride=stride, padding=padding)
    weights = rand(3, y.shape) if weights is None else weights
    dx, dw = en.gradients(en.sum(y * en.Tensor(weights.astype(y.dtype))), [xv, wv])
    return y.value, dx, dw


SHAPES = [  # (N, H, W, Cin, Cout, kh, kw)
    (2, 6, 5, 2, 3, 3, 3),
    (1, 7, 7, 3, 4, 2, 2),
    (2, 5, 6, 2, 3, 3, 2),
    (1, 6, 6, 2, 2, 1, 1),
    (1, 7, 5, 2, 3, 5, 3),
]


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("shape", SHAPES)
def test_shifted_rows_matches_the_naive_loop_and_central_differences(shifted_rows_always,
                                                                     shape, padding):
    n, h, w, cin, cout, kh, kw = shape
    x, kernel = rand(1, (n, h, w, cin)), en.Tensor(rand(2, (kh, kw, cin, cout)))
    y = nn.conv2d(en.Variable(x), kernel, padding=padding)
    assert "cols" not in y.op.attrs  # a frozen kernel: shifted rows, no patch matrix
    np.testing.assert_allclose(y.value, naive_conv2d(x, kernel.value, 1, padding), atol=1e-12)
    weights = rand(3, y.shape)
    check_gradient(lambda a: nn.conv2d(a, kernel, padding=padding) * weights, x)
    # A trained kernel: im2col forward and dW, shifted-rows dX.
    check_gradient(lambda a, b: nn.conv2d(a, b, padding=padding) * weights, x, kernel.value)


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_shifted_rows_and_im2col_agree_on_a_wide_layer(shifted_rows_for_wide_inputs, padding,
                                                       monkeypatch):
    """A 3x3 layer with 40 input channels: frozen (shifted rows), trained (im2col with
    shifted-rows dX) and all im2col/col2im agree."""
    x, kernel = rand(4, (2, 9, 8, 40)), rand(5, (3, 3, 40, 7))
    trained = conv_and_gradients(x, kernel, padding)
    xv = en.Variable(x)
    y = nn.conv2d(xv, en.Tensor(kernel), padding=padding)
    frozen = (y.value, en.gradients(en.sum(y * en.Tensor(rand(3, y.shape))), [xv])[0])
    monkeypatch.setattr(conv, "_shifted_rows", lambda *args: None)
    general = conv_and_gradients(x, kernel, padding)
    for a, b in [*zip(trained, general), *zip(frozen, general)]:
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(frozen[0], naive_conv2d(x, kernel, 1, padding), atol=1e-11)


def test_wide_layer_gradients_match_central_differences(shifted_rows_for_wide_inputs):
    x, kernel = rand(6, (1, 4, 3, 32)), rand(7, (3, 3, 32, 2), -0.5, 0.5)
    weights = rand(8, (1, 4, 3, 2))
    check_gradient(lambda a, b: nn.conv2d(a, b, padding="SAME") * weights, x, kernel)
    frozen = en.Tensor(kernel)
    check_gradient(lambda a: nn.conv2d(a, frozen, padding="SAME") * weights, x)


@pytest.mark.parametrize("stride,padding", [(1, "SAME"), (1, "VALID"), (2, "SAME")])
def test_col2im_path_still_checks(im2col_always, stride, padding):
    x, kernel = rand(9, (2, 5, 6, 3)), rand(10, (3, 3, 3, 2))
    y = nn.conv2d(x, kernel, stride=stride, padding=padding)
    weights = rand(11, y.shape)
    check_gradient(lambda a, b: nn.conv2d(a, b, stride=stride, padding=padding) * weights,
                   x, kernel)


def frozen_conv_and_input_gradient(x, kernel, weights):
    xv = en.Variable(x)
    y = nn.conv2d(xv, en.Tensor(kernel), padding="SAME")
    return y.value, en.gradients(en.sum(y * en.Tensor(weights.astype(y.dtype))), [xv])[0]


@pytest.mark.parametrize("cin", [3, 40])
def test_float32_stays_float32_and_agrees_with_float64(shifted_rows_for_wide_inputs, cin):
    x64, kernel64 = rand(12, (2, 8, 7, cin)), rand(13, (3, 3, cin, 5), -0.3, 0.3)
    weights = rand(14, (2, 8, 7, 5))
    x32, kernel32 = x64.astype(np.float32), kernel64.astype(np.float32)
    pairs = [
        (conv_and_gradients(x32, kernel32, "SAME", weights=weights),
         conv_and_gradients(x64, kernel64, "SAME", weights=weights)),
        (frozen_conv_and_input_gradient(x32, kernel32, weights),
         frozen_conv_and_input_gradient(x64, kernel64, weights)),
    ]
    for single, reference in pairs:
        for a, b in zip(single, reference):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4 * np.abs(b).max())


def test_a_population_with_wide_inputs_is_k_separate_convolutions():
    x, kernels = rand(15, (2, 1, 5, 5, 33)), rand(16, (2, 3, 3, 33, 3), -0.3, 0.3)
    xv, wv = en.Variable(x), en.Variable(kernels)
    y = nn.conv2d(xv, wv, padding="SAME")
    weights = rand(17, y.shape)
    dx, dw = en.gradients(en.sum(y * en.Tensor(weights)), [xv, wv])
    for k in range(2):
        value, dx_k, dw_k = conv_and_gradients(x[k], kernels[k], "SAME", weights=weights[k])
        np.testing.assert_allclose(y.value[k], value, atol=1e-11)
        np.testing.assert_allclose(dx[k], dx_k, atol=1e-11)
        np.testing.assert_allclose(dw[k], dw_k, atol=1e-11)


def test_non_contiguous_inputs_convolve_as_their_copies(shifted_rows_for_wide_inputs):
    base = rand(18, (1, 6, 7, 36))
    x = np.swapaxes(base, 1, 2)  # (1, 7, 6, 36), a strided view
    kernel = rand(19, (3, 3, 36, 4))
    y = nn.conv2d(x, kernel, padding="SAME")
    np.testing.assert_allclose(y.value, naive_conv2d(np.ascontiguousarray(x), kernel, 1, "SAME"),
                               atol=1e-11)


def _refuse(*args, **kwargs):
    raise AssertionError("the kernel's gradient was computed, but nobody asked for it")


@pytest.mark.parametrize("cin", [3, 40])
def test_a_constant_kernels_gradient_is_never_computed(shifted_rows_for_wide_inputs, cin,
                                                        monkeypatch):
    """A network that optimises only its input (style transfer) pays for dX alone."""
    x = en.Variable(rand(20, (1, 6, 6, cin)))
    kernel = en.Tensor(rand(21, (3, 3, cin, 4)))
    expected = conv_and_gradients(x.value, kernel.value, "SAME",
                                  weights=np.ones((1, 6, 6, 4)))[1]
    monkeypatch.setattr(conv, "_im2col_kernel_gradient", _refuse)
    y = nn.conv2d(x, kernel, padding="SAME")
    assert "cols" not in y.op.attrs  # no patch matrix held for a kernel without a gradient
    (dx,) = en.gradients(en.sum(y), [x])
    np.testing.assert_allclose(dx, expected, atol=1e-12)


def test_a_data_batchs_gradient_is_never_computed(shifted_rows_for_wide_inputs, monkeypatch):
    """Training: the images are data, only the kernel's gradient is wanted."""
    monkeypatch.setattr(conv._ShiftedRows, "input_gradient", _refuse)
    monkeypatch.setattr(conv, "_col2im_input_gradient", _refuse)
    for cin in (1, 40):
        x = en.Tensor(rand(22, (2, 6, 6, cin)))
        kernel = en.Variable(rand(23, (3, 3, cin, 4)))
        (dw,) = en.gradients(en.sum(nn.conv2d(x, kernel)), [kernel])
        assert dw.shape == (3, 3, cin, 4)


def test_a_frozen_kernels_gradient_is_still_given_when_asked_for(shifted_rows_for_wide_inputs):
    x, kernel = rand(26, (1, 5, 5, 40)), en.Tensor(rand(27, (3, 3, 40, 2)))
    y = nn.conv2d(x, kernel, padding="SAME")
    (dw,) = en.gradients(en.sum(y), [kernel])
    expected = conv_and_gradients(x, kernel.value, "SAME", weights=np.ones(y.shape))[2]
    np.testing.assert_allclose(dw, expected, atol=1e-11)


def test_im2col_keeps_its_patch_matrix_for_the_kernel_gradient():
    x = en.Tensor(rand(24, (2, 5, 5, 2)))
    kernel = en.Variable(rand(25, (3, 3, 2, 4)))
    y = nn.conv2d(x, kernel, stride=2)
    cols = y.op.attrs["cols"]
    assert cols.shape == (2 * 2 * 2, 3 * 3 * 2)
    (dw,) = en.gradients(en.sum(y), [kernel])
    np.testing.assert_allclose(dw.reshape(-1, 4), cols.T @ np.ones((8, 4)), atol=1e-12)


def test_small_images_and_strides_go_by_im2col_and_col2im():
    x = en.Variable(rand(29, (2, 31, 33, 40)))  # 1023 output pixels: one short of the grid
    kernel = en.Tensor(rand(30, (3, 3, 40, 2)))
    assert conv._shifted_rows(x.value, kernel.value, (1, 1), (1, 1), (1, 1)) is None
    assert conv._shifted_rows(x.value, kernel.value, (2, 2), (1, 1), (1, 1)) is None
    wide = rand(31, (1, 32, 32, 40))
    assert conv._shifted_rows(wide, kernel.value, (1, 1), (1, 1), (1, 1)) is not None
    y = nn.conv2d(x, kernel, padding="SAME")
    np.testing.assert_allclose(y.value, naive_conv2d(x.value, kernel.value, 1, "SAME"),
                               atol=1e-11)


@pytest.mark.parametrize("cin", [3, 64])  # window-view copy, tap-by-tap copy
def test_both_ways_of_building_the_patch_matrix_give_the_naive_convolution(cin):
    x, kernel = rand(32, (2, 7, 6, cin)), rand(33, (3, 2, cin, 2), -0.3, 0.3)
    xv, wv = en.Variable(x), en.Variable(kernel)
    y = nn.conv2d(xv, wv, stride=2, padding="SAME")
    np.testing.assert_allclose(y.value, naive_conv2d(x, kernel, 2, "SAME"), atol=1e-11)
    weights = en.Tensor(rand(34, y.shape))
    assert y.op.attrs["cols"].shape == (2 * 4 * 3, 3 * 2 * cin)
    (dw,) = en.gradients(en.sum(y * weights), [wv])  # from the kept patch matrix
    (numeric,) = en.numerical_gradients(
        lambda b: en.sum(nn.conv2d(x, b, stride=2, padding="SAME") * weights), [wv])
    np.testing.assert_allclose(dw, numeric, rtol=1e-5, atol=1e-6)


def test_keep_freed_memory_is_asked_once_and_answers_a_bool():
    assert isinstance(conv.keep_freed_memory(), bool)
    assert conv.keep_freed_memory() is conv.keep_freed_memory()


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 3), ((1, 2), (3, 2)), (2, 3)])
def test_disjoint_pool_windows_give_each_tie_to_its_first_maximum(size, stride):
    """Windows that do not overlap (the stride at least the window): each window's
    gradient goes to its first maximum only, in float32 as in float64."""
    x = np.zeros((2, 7, 8, 3))  # all ties, as after a dead ReLU
    x[0, 3, 4, 1] = 2.0
    y = nn.max_pool2d(x, size=size, stride=stride)
    weights = rand(28, y.shape)
    (kh, kw), (sh, sw) = np.broadcast_to(size, 2), np.broadcast_to(stride, 2)
    expected = np.zeros_like(x)
    for r in range(y.shape[1]):
        for c in range(y.shape[2]):
            window = x[:, r * sh : r * sh + kh, c * sw : c * sw + kw, :]
            flat = window.reshape(2, -1, 3)
            first = flat.argmax(axis=1)  # numpy's argmax: the first maximum
            for n in range(2):
                for ch in range(3):
                    i, j = divmod(first[n, ch], kw)
                    expected[n, r * sh + i, c * sw + j, ch] += weights[n, r, c, ch]
    for dtype in (np.float64, np.float32):
        xv = en.Variable(x.astype(dtype))
        (dx,) = en.gradients(nn.max_pool2d(xv, size=size, stride=stride), [xv],
                             weights.astype(dtype))
        assert dx.dtype == dtype
        np.testing.assert_allclose(dx, expected, rtol=1e-6)
